"""The one place that builds boto3 sessions and clients.

Every AWS call of the product goes through `client_for(account, service, region)` (or `platform_client`
for the platform's own identity). Sessions are per account: STS AssumeRole with the account's External
ID for iam_role accounts (cached until shortly before the credentials expire), decrypted access keys for
access_keys accounts. Clients use adaptive retries and connect/read timeouts, and honour
settings.AWS_ENDPOINT_URL (moto in the demo and tests). Secrets never appear in logs or errors.
"""

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import boto3
from botocore.config import Config
from django.conf import settings

logger = logging.getLogger(__name__)

ROLE_SESSION_NAME = "spotopt"
# Refresh assumed-role credentials this long before they expire.
CREDENTIAL_REFRESH_MARGIN = timedelta(minutes=5)
ASSUME_ROLE_DURATION_SECONDS = 3600


def client_config() -> Config:
    return Config(
        retries={"mode": "adaptive", "max_attempts": settings.AWS_MAX_ATTEMPTS},
        connect_timeout=settings.AWS_CONNECT_TIMEOUT,
        read_timeout=settings.AWS_READ_TIMEOUT,
        user_agent_extra="spotopt",
    )


def _endpoint_kwargs() -> dict:
    return {"endpoint_url": settings.AWS_ENDPOINT_URL} if settings.AWS_ENDPOINT_URL else {}


# Building a boto3 Session loads the service models (~0.1 s); one per thread is reused for every client,
# with the credentials passed to each client. Sessions are not thread-safe, hence one per thread.
_thread_local = threading.local()


def _shared_session() -> boto3.session.Session:
    session = getattr(_thread_local, "session", None)
    if session is None:
        session = _thread_local.session = boto3.session.Session()
    return session


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
    with _role_cache_lock:
        _role_cache.clear()


def credentials_for(account) -> dict:
    """Client keyword arguments that act in the customer's AWS account."""
    if account.connection_method == "access_keys":
        access_key_id, secret_access_key = account.get_access_keys()
        return {"aws_access_key_id": access_key_id, "aws_secret_access_key": secret_access_key}
    creds = assume_role(account.role_arn, account.external_id or "", session_name=f"spotopt-{account.pk}")
    return {
        "aws_access_key_id": creds.access_key_id,
        "aws_secret_access_key": creds.secret_access_key,
        "aws_session_token": creds.session_token,
    }


def client_for(account, service: str, region: str | None = None):
    """A client acting in the customer's AWS account, in `region` (default: the account's home region)."""
    return _shared_session().client(
        service,
        region_name=region or account.region or settings.AWS_DEFAULT_REGION,
        config=client_config(),
        **credentials_for(account),
        **_endpoint_kwargs(),
    )
