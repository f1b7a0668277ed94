"""The one place that talks to customers' Kubernetes API servers (as spotopt/aws.py is for AWS).

`api_for(access)` gives a `KubeApi` over the official `kubernetes` client for one cluster: its endpoint, its
CA and a bearer token (an EKS token made from the account's own AWS session, or a self-managed cluster's
service-account token, decrypted only here). Every call has connect/read timeouts; every failure becomes a
DomainError that says what to grant or check (`kube_errors`). Tokens never appear in logs, pages or errors:
messages are built here from the status code and the server's own reason, never from the client's repr.

EKS tokens are made the way `aws eks get-token` makes them: an STS GetCallerIdentity URL presigned for 60
seconds with the `x-k8s-aws-id` header set to the cluster name, base64url without padding, prefixed
`k8s-aws-v1.`. Presigning needs no network; the URL names the real regional STS endpoint even when the
platform's AWS calls go to an emulator (EKS validates the token by calling that URL).
"""

import base64
import hashlib
import logging
import os
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import urllib3
from django.conf import settings
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from .errors import DomainError, ServiceUnavailable

logger = logging.getLogger(__name__)

EKS_TOKEN_PREFIX = "k8s-aws-v1."
K8S_AWS_ID_HEADER = "x-k8s-aws-id"
EKS_TOKEN_URL_SECONDS = 60

# What our role needs inside a cluster (the ClusterRole the README and the onboarding page give).
RBAC_NEEDED = "get/list/patch nodes, list/get pods, create pods/eviction"


class KubeError(DomainError):
    code = "kubernetes_error"


class KubeUnreachable(ServiceUnavailable):
    code = "kubernetes_unreachable"


class KubeNotFound(KubeError):
    code = "kubernetes_not_found"


@dataclass(frozen=True)
class ClusterAccess:
    """How to reach one cluster: what `api_for` needs. `token` is a callable so an EKS token is made when a
    client is built, never kept longer than one operation."""

    name: str
    endpoint: str
    ca_pem: str
    token: object  # () -> str

    def __repr__(self):  # never print the token
        return f"ClusterAccess({self.name!r}, {self.endpoint!r})"


# --- EKS tokens -----------------------------------------------------------------------------------------


def eks_token(*, credentials: dict, cluster_name: str, region: str) -> str:
    """A bearer token for an EKS cluster from AWS credentials (boto3 client keyword arguments)."""
    import boto3

    sts = boto3.session.Session().client(
        "sts", region_name=region, endpoint_url=f"https://sts.{region}.amazonaws.com", **credentials
    )

    def keep_cluster_id(params, context, **kwargs):
        if K8S_AWS_ID_HEADER in params:
            context[K8S_AWS_ID_HEADER] = params.pop(K8S_AWS_ID_HEADER)

    def sign_cluster_id(request, **kwargs):
        if K8S_AWS_ID_HEADER in request.context:
            request.headers[K8S_AWS_ID_HEADER] = request.context[K8S_AWS_ID_HEADER]

    sts.meta.events.register("provide-client-params.sts.GetCallerIdentity", keep_cluster_id)
    sts.meta.events.register("before-sign.sts.GetCallerIdentity", sign_cluster_id)
    url = sts.generate_presigned_url(
        "get_caller_identity",
        Params={K8S_AWS_ID_HEADER: cluster_name},
        ExpiresIn=EKS_TOKEN_URL_SECONDS,
        HttpMethod="GET",
    )
    return EKS_TOKEN_PREFIX + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


# --- Clients --------------------------------------------------------------------------------------------


def _ca_file(ca_pem: str) -> str:
    """The client reads its CA from a file: one per CA (public data), named by its hash."""
    directory = settings.VAR_DIR / "kube-ca"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{hashlib.sha256(ca_pem.encode()).hexdigest()}.pem"
    if not path.exists():  # written whole, then renamed: a concurrent reader never sees half a file
        partial = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        partial.write_text(ca_pem)
        os.replace(partial, path)
    return str(path)


def _timeouts(deadline: float | None = None) -> tuple[float, float]:
    """Connect and read timeouts, never past `deadline` (time.monotonic()) when one is set."""
    connect, read = settings.KUBE_CONNECT_TIMEOUT, settings.KUBE_READ_TIMEOUT
    if deadline is not None:
        left = max(deadline - time.monotonic(), 0.5)
        connect, read = min(connect, left), min(read, left)
    return (connect, read)


class KubeApi:
    """The calls spotopt makes to a cluster, each with timeouts; `core` is the CoreV1Api for the rest."""

    def __init__(self, access: ClusterAccess):
        config = k8s.Configuration()
        config.host = access.endpoint.rstrip("/")
        config.verify_ssl = True
        if access.ca_pem:
            config.ssl_ca_cert = _ca_file(access.ca_pem)
        config.api_key = {"BearerToken": access.token()}
        config.api_key_prefix = {"BearerToken": "Bearer"}  # client >= 36 reads the prefix by this name
        config.retries = False  # retried by the drain itself, within its deadline
        self.access = access
        self.deadline: float | None = None  # a drain sets it: no call then outlives the drain's deadline
        self.api_client = k8s.ApiClient(config)
        self.core = k8s.CoreV1Api(self.api_client)

    def close(self) -> None:
        self.api_client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def version(self) -> str:
        info = k8s.VersionApi(self.api_client).get_code(_request_timeout=_timeouts(self.deadline))
        return info.git_version

    def node(self, name: str):
        return self.core.read_node(name, _request_timeout=_timeouts(self.deadline))

    def nodes(self) -> Iterator:
        cursor = None
        while True:
            page = self.core.list_node(limit=500, _continue=cursor, _request_timeout=_timeouts(self.deadline))
            yield from page.items
            cursor = page.metadata._continue
            if not cursor:
                return

    def patch_node(self, name: str, body: dict):
        return self.core.patch_node(name, body, _request_timeout=_timeouts(self.deadline))

    def pods_on(self, node_name: str) -> list:
        pods, cursor = [], None
        while True:
            page = self.core.list_pod_for_all_namespaces(
                field_selector=f"spec.nodeName={node_name}",
                limit=500,
                _continue=cursor,
                _request_timeout=_timeouts(self.deadline),
            )
            pods.extend(page.items)
            cursor = page.metadata._continue
            if not cursor:
                return pods

    def pod(self, namespace: str, name: str):
        return self.core.read_namespaced_pod(name, namespace, _request_timeout=_timeouts(self.deadline))

    def evict(self, namespace: str, name: str, *, api_version: str, grace_seconds: int | None) -> None:
        """POST the pod's eviction subresource as `api_version` (policy/v1 or policy/v1beta1)."""
        body = {"apiVersion": api_version, "kind": "Eviction", "metadata": {"name": name, "namespace": namespace}}
        if grace_seconds is not None:
            body["deleteOptions"] = {"gracePeriodSeconds": grace_seconds}
        self.core.create_namespaced_pod_eviction(name, namespace, body, _request_timeout=_timeouts(self.deadline))


def api_for(access: ClusterAccess) -> KubeApi:
    with kube_errors(f"connect to the cluster {access.name}", access):
        return KubeApi(access)


# --- Errors a person can act on -------------------------------------------------------------------------


def _server_reason(exc: ApiException) -> str:
    """The server's own message (a Status object's `message`), never the request or its headers."""
    import json

    try:
        status = json.loads(exc.body or "{}")
    except (TypeError, ValueError):
        status = {}
    message = status.get("message") if isinstance(status, dict) else None
    return (message or exc.reason or "").strip()[:300]


def explain_kube_error(exc: Exception, *, doing: str, access: ClusterAccess | None = None) -> DomainError:
    where = f" at {access.endpoint}" if access is not None else ""
    if isinstance(exc, ApiException):
        reason = _server_reason(exc)
        if exc.status == 401:
            return KubeError(
                f"The cluster{where} did not accept spotopt's credentials while trying to {doing} (401). For EKS, "
                "give the role an access entry in the cluster; for a registered cluster, register a valid token.",
                code="kubernetes_unauthorized",
            )
        if exc.status == 403:
            return KubeError(
                f"The cluster's RBAC denied spotopt while trying to {doing} (403: {reason}). Bind the role to a "
                f"ClusterRole that allows {RBAC_NEEDED}.",
                code="kubernetes_forbidden",
            )
        if exc.status == 404:
            return KubeNotFound(f"The cluster{where} has no such object while trying to {doing} ({reason}).")
        if exc.status in (429, 500, 502, 503, 504):
            return KubeUnreachable(f"The cluster{where} answered {exc.status} while trying to {doing} ({reason}).")
        if (exc.status == 0 or exc.status is None) and (exc.reason or "").startswith("SSLError"):
            # The client turns urllib3's SSLError into a status-0 ApiException.
            return KubeUnreachable(
                f"The cluster{where} did not present a certificate its CA vouches for while trying to {doing} "
                "(check the CA data).",
                code="kubernetes_tls",
            )
        if exc.status == 0 or exc.status is None:
            return KubeUnreachable(f"The cluster{where} could not be reached while trying to {doing} ({reason}).")
        return KubeError(f"The cluster{where} answered {exc.status} while trying to {doing} ({reason}).")
    if isinstance(exc, urllib3.exceptions.HTTPError | ssl.SSLError | OSError):
        cause = exc.reason if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None else exc
        if isinstance(cause, urllib3.exceptions.SSLError | ssl.SSLError):
            return KubeUnreachable(
                f"The cluster{where} did not present a certificate its CA vouches for while trying to {doing} "
                "(check the CA data).",
                code="kubernetes_tls",
            )
        detail = type(cause).__name__
        return KubeUnreachable(
            f"The cluster{where} could not be reached while trying to {doing} ({detail}). Check the endpoint and "
            "that the platform's network reaches it."
        )
    raise exc


@contextmanager
def kube_errors(doing: str, access: ClusterAccess | None = None) -> Iterator[None]:
    """`with kube_errors("cordon node x", access):` raises an explained domain error on failure."""
    try:
        yield
    except (ApiException, urllib3.exceptions.HTTPError, ssl.SSLError, OSError) as exc:
        raise explain_kube_error(exc, doing=doing, access=access) from None
    except AttributeError as exc:
        # The client (36.x) decodes an ApiException's body even when there is none (a TLS failure is
        # status 0 without a body): the AttributeError it raises carries the real error as its context.
        if isinstance(exc.__context__, ApiException):
            raise explain_kube_error(exc.__context__, doing=doing, access=access) from None
        raise
