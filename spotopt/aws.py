"""The one place that builds boto3 sessions and clients.

Every AWS call of the product goes through `client_for(account, service, region)` (or `platform_client`
for the platform's own identity). Sessions are per account: STS AssumeRole with the account's External
ID for iam_role accounts (cached until shortly before the credentials expire), decrypted access keys for
access_keys accounts. Clients use adaptive retries and connect/read timeouts, and honour
settings.AWS_ENDPOINT_URL (moto in the demo and tests). Secrets never appear in logs or errors.
"""

import hashlib
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)
from django.conf import settings

from .crypto import DecryptionError
from .errors import DomainError, ServiceUnavailable

logger = logging.getLogger(__name__)

ROLE_SESSION_NAME = "spotopt"
# Refresh assumed-role credentials this long before they expire.
CREDENTIAL_REFRESH_MARGIN = timedelta(minutes=5)
ASSUME_ROLE_DURATION_SECONDS = 3600


def client_config() -> Config:
    return Config(
        # AWS_MAX_ATTEMPTS counts every try, the first one included (AWS's own convention).
        retries={"mode": "adaptive", "total_max_attempts": max(1, settings.AWS_MAX_ATTEMPTS)},
        connect_timeout=settings.AWS_CONNECT_TIMEOUT,
        read_timeout=settings.AWS_READ_TIMEOUT,
        user_agent_extra="spotopt",
    )


def _endpoint_kwargs() -> dict:
    return {"endpoint_url": settings.AWS_ENDPOINT_URL} if settings.AWS_ENDPOINT_URL else {}


# Building a boto3 Session loads the service models (~0.1 s); one per thread is reused for every client,
# with the credentials passed to each client. Sessions are not thread-safe, hence one per thread.
_thread_local = threading.local()


# The service models (JSON, ~0.1 s to read for EC2) are the same for every thread: one loader, whose cache
# every thread's session shares, so a new thread's first client does not read them again.
_loader = None
_loader_lock = threading.Lock()


def _shared_loader():
    global _loader
    with _loader_lock:
        if _loader is None:
            _loader = botocore.loaders.create_loader()
        return _loader


def _shared_session() -> boto3.session.Session:
    session = getattr(_thread_local, "session", None)
    if session is None:
        core = botocore.session.get_session()
        core.register_component("data_loader", _shared_loader())
        # Failed calls are counted for /metrics (ops.aws_errors); clients copy the session's handlers.
        from ops.aws_errors import register

        register(core)
        session = _thread_local.session = boto3.session.Session(botocore_session=core)
    return session


def session_for_this_thread() -> boto3.session.Session:
    """This thread's session, made now (a long-running process warms its threads before it needs them)."""
    return _shared_session()


def platform_client(service: str, region: str | None = None):
    """A client under the platform's own identity (environment/instance profile): assumes customer roles."""
    return _shared_session().client(
        service, region_name=region or settings.AWS_DEFAULT_REGION, config=client_config(), **_endpoint_kwargs()
    )


@dataclass
class _CachedCredentials:
    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: datetime

    def fresh(self) -> bool:
        return datetime.now(UTC) < self.expiration - CREDENTIAL_REFRESH_MARGIN

    def __repr__(self):  # never print the secret parts
        return f"<credentials expiring {self.expiration.isoformat()}>"


_role_cache: dict[tuple[str, str], _CachedCredentials] = {}
_role_cache_lock = threading.Lock()


def assume_role(role_arn: str, external_id: str, *, session_name: str = ROLE_SESSION_NAME) -> _CachedCredentials:
    """AssumeRole with the External ID; cached per (role, external id) until shortly before expiry."""
    key = (role_arn, external_id)
    with _role_cache_lock:
        cached = _role_cache.get(key)
        if cached and cached.fresh():
            return cached
    response = platform_client("sts").assume_role(
        RoleArn=role_arn,
        RoleSessionName=session_name,
        ExternalId=external_id,
        DurationSeconds=ASSUME_ROLE_DURATION_SECONDS,
    )
    creds = response["Credentials"]
    expiration = creds["Expiration"]
    if expiration.tzinfo is None:
        expiration = expiration.replace(tzinfo=UTC)
    cached = _CachedCredentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"], expiration)
    with _role_cache_lock:
        _role_cache[key] = cached
    logger.info("assumed role %s (session %s)", role_arn, session_name)
    return cached


def forget_cached_credentials() -> None:
    """Drop cached role credentials and the platform identity (tests, or after rotating credentials)."""
    with _role_cache_lock:
        _role_cache.clear()
    _principal_cache.clear()
    forget_cached_clients()


def client_with_credentials(
    service: str, region: str | None, *, access_key_id: str, secret_access_key: str, session_token: str | None = None
):
    """A client acting with explicit credentials (verification of keys or of a freshly assumed role)."""
    return _shared_session().client(
        service,
        region_name=region or settings.AWS_DEFAULT_REGION,
        config=client_config(),
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
        aws_session_token=session_token,
        **_endpoint_kwargs(),
    )


def credentials_for(account) -> dict:
    """Client keyword arguments that act in the customer's AWS account."""
    if account.connection_method == "access_keys":
        try:
            access_key_id, secret_access_key = account.get_access_keys()
        except DecryptionError as exc:
            # Names the account and what to do; a task or page shows it instead of a stack trace.
            raise AwsError(str(exc), code="undecryptable_keys") from None
        return {"aws_access_key_id": access_key_id, "aws_secret_access_key": secret_access_key}
    creds = assume_role(account.role_arn, account.external_id or "", session_name=f"spotopt-{account.pk}")
    return {
        "aws_access_key_id": creds.access_key_id,
        "aws_secret_access_key": creds.secret_access_key,
        "aws_session_token": creds.session_token,
    }


# Building a client costs 40-80 ms of CPU (its service model, endpoint rules, retry handlers): the reaction to
# an interruption warning needs two or three, so clients are kept, by what they act with, for the process.
# A botocore client is thread-safe once built (boto3's documentation), its session is not: clients are
# built on the calling thread's session and then shared. New credentials (a refreshed role) make a new key.
CLIENT_CACHE_SIZE = 512
_clients: "OrderedDict[tuple, object]" = OrderedDict()
_clients_lock = threading.Lock()


def _cached_client(service: str, region: str, credentials: dict):
    fingerprint = hashlib.sha256("\x00".join(str(credentials.get(k, "")) for k in sorted(credentials)).encode())
    key = (
        service,
        region,
        settings.AWS_ENDPOINT_URL or "",
        settings.AWS_MAX_ATTEMPTS,
        settings.AWS_CONNECT_TIMEOUT,
        settings.AWS_READ_TIMEOUT,
        fingerprint.hexdigest(),
    )
    with _clients_lock:
        client = _clients.get(key)
        if client is not None:
            _clients.move_to_end(key)
            return client
    client = _shared_session().client(
        service, region_name=region, config=client_config(), **credentials, **_endpoint_kwargs()
    )
    with _clients_lock:
        client = _clients.setdefault(key, client)  # another thread may have built it meanwhile
        while len(_clients) > CLIENT_CACHE_SIZE:
            _clients.popitem(last=False)
    return client


def forget_cached_clients() -> None:
    """Drop the kept clients (tests that hook into a session's events want new ones)."""
    with _clients_lock:
        _clients.clear()


def client_for(account, service: str, region: str | None = None):
    """A client acting in the customer's AWS account, in `region` (default: the account's home region)."""
    return _cached_client(service, region or account.region or settings.AWS_DEFAULT_REGION, credentials_for(account))


# --- Errors a person can act on -----------------------------------------------------------------------


class AwsError(DomainError):
    code = "aws_error"


class AwsUnreachable(ServiceUnavailable):
    code = "aws_unreachable"


_CREDENTIAL_ERRORS = {
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "UnrecognizedClientException",
    "AuthFailure",
    "InvalidAccessKeyId",
    "ExpiredToken",
    "ExpiredTokenException",
}
_ACCESS_DENIED_ERRORS = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedAccess"}
_THROTTLING_ERRORS = {"Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException"}
_NETWORK_ERRORS = (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError, ConnectionClosedError)
# "... is not authorized to perform: ec2:DescribeInstances ..." names the missing IAM action.
_DENIED_ACTION = re.compile(r"perform: ([a-z0-9-]+:[A-Za-z0-9]+)")


def explain_aws_error(exc: Exception, *, doing: str) -> DomainError:
    """Turn a boto3/botocore exception into a domain error whose message says what to do.

    Messages name the AWS error code, operation and missing IAM action, never credentials."""
    if isinstance(exc, _NETWORK_ERRORS):
        return AwsUnreachable(
            f"AWS could not be reached while trying to {doing}. Check the platform's network access to AWS "
            "and try again in a few minutes."
        )
    if isinstance(exc, NoCredentialsError):
        return AwsError(
            f"The platform has no AWS credentials of its own, so it cannot {doing}. An operator must give the "
            "platform an AWS identity (environment variables or an instance profile).",
            code="aws_no_platform_credentials",
        )
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code", "Unknown")
        operation = exc.operation_name
        if code in _CREDENTIAL_ERRORS:
            return AwsError(
                f"AWS did not accept the credentials while trying to {doing} ({code}). Check that the access "
                "key is active and the secret is complete.",
                code="aws_invalid_credentials",
            )
        if code in _ACCESS_DENIED_ERRORS:
            match = _DENIED_ACTION.search(error.get("Message", ""))
            missing = f" The IAM policy must allow {match.group(1)}." if match else ""
            return AwsError(
                f"AWS denied {operation} while trying to {doing} ({code}).{missing}", code="aws_access_denied"
            )
        if code in _THROTTLING_ERRORS:
            return AwsUnreachable(f"AWS is throttling requests ({code}) while trying to {doing}; try again later.")
        return AwsError(f"AWS answered {code} to {operation} while trying to {doing}.")
    if isinstance(exc, BotoCoreError):
        return AwsError(f"The AWS client failed while trying to {doing} ({type(exc).__name__}).")
    raise exc


@contextmanager
def aws_errors(doing: str) -> Iterator[None]:
    """`with aws_errors("list instances in us-east-1"):` raises an explained domain error on failure."""
    try:
        yield
    except (BotoCoreError, ClientError) as exc:
        raise explain_aws_error(exc, doing=doing) from None


# --- Identities -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Identity:
    account_id: str
    arn: str


def _identity(sts_client) -> Identity:
    answer = sts_client.get_caller_identity()
    return Identity(account_id=answer["Account"], arn=answer["Arn"])


def identity_for_role(role_arn: str, external_id: str) -> Identity:
    """Assume the role now (never from the cache: this is a verification) and ask STS who we are."""
    response = platform_client("sts").assume_role(
        RoleArn=role_arn,
        RoleSessionName=f"{ROLE_SESSION_NAME}-verify",
        ExternalId=external_id,
        DurationSeconds=900,
    )
    creds = response["Credentials"]
    sts = client_with_credentials(
        "sts",
        None,
        access_key_id=creds["AccessKeyId"],
        secret_access_key=creds["SecretAccessKey"],
        session_token=creds["SessionToken"],
    )
    return _identity(sts)


def identity_for_keys(access_key_id: str, secret_access_key: str) -> Identity:
    sts = client_with_credentials("sts", None, access_key_id=access_key_id, secret_access_key=secret_access_key)
    return _identity(sts)


_ASSUMED_ROLE_ARN = re.compile(r"^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role/([^/]+)/.+$")


def principal_arn_from_identity(arn: str) -> str:
    """An assumed-role session ARN names its role; customer trust policies must name the role itself."""
    match = _ASSUMED_ROLE_ARN.match(arn)
    if match:
        partition, account, role = match.groups()
        return f"arn:{partition}:iam::{account}:role/{role}"
    return arn


# The platform's identity does not change while the process runs: ask STS once per endpoint.
_principal_cache: dict[str | None, str] = {}


def platform_principal_arn() -> str:
    """The IAM principal customer roles must trust: the setting, or the platform's own identity."""
    if settings.PLATFORM_AWS_PRINCIPAL_ARN:
        return settings.PLATFORM_AWS_PRINCIPAL_ARN
    endpoint = settings.AWS_ENDPOINT_URL
    if endpoint not in _principal_cache:
        with aws_errors("find the platform's own AWS identity"):
            _principal_cache[endpoint] = principal_arn_from_identity(_identity(platform_client("sts")).arn)
    return _principal_cache[endpoint]


def platform_principal_arn_or_unknown() -> str:
    """For error messages: the principal, or a description when even that cannot be found out."""
    try:
        return platform_principal_arn()
    except DomainError:
        return "the platform's AWS principal"
