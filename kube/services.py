"""Kubernetes clusters of an account: found in discovery (EKS), registered by hand (self-managed), checked
for what spotopt may do in them, and the access (endpoint, CA, token) every call is made with."""

import base64
import binascii
import logging
import re

from cryptography import x509
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from kubernetes import client as k8s

from accounts.roles import Capability
from spotopt import aws, kube
from spotopt.errors import DomainError, NotFound, PermissionRefused

from .choices import ClusterSource, ClusterState
from .models import KubeCluster

logger = logging.getLogger(__name__)

MAX_CA_BYTES = 64 * 1024
MAX_TOKEN_BYTES = 16 * 1024
CLUSTER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
# What a drain and a switch do in a cluster: checked with SelfSubjectAccessReview, reported when missing.
NEEDED_ACCESS = (
    ("get", "nodes", ""),
    ("list", "nodes", ""),
    ("patch", "nodes", ""),
    ("list", "pods", ""),
    ("create", "pods", "eviction"),
)


def access_for(cluster: KubeCluster) -> kube.ClusterAccess:
    """How to reach `cluster`: an EKS token made now from the account's AWS session, or the registered
    token decrypted now (never kept on the object)."""
    if cluster.source == ClusterSource.EKS:
        account, name = cluster.account, cluster.name
        region = cluster.region or account.region or settings.AWS_DEFAULT_REGION

        def token():
            with aws.aws_errors(f"sign a token for the EKS cluster {name}"):
                return kube.eks_token(credentials=aws.credentials_for(account), cluster_name=name, region=region)

    else:

        def token():
            try:
                return cluster.get_token()
            except Exception:
                raise kube.KubeError(
                    f"The token of the cluster {cluster.name} cannot be decrypted: register it again.",
                    code="kubernetes_token_undecryptable",
                ) from None

    return kube.ClusterAccess(name=cluster.name, endpoint=cluster.endpoint, ca_pem=cluster.ca_pem, token=token)


def cluster_mark(
    cluster: KubeCluster, *, reachable: bool, detail: str = "", version: str | None = None, limited: bool = False
) -> None:
    """Record what the last call found: reachable, reachable but refused by RBAC (`limited`), or not."""
    now = timezone.now()
    state = ClusterState.LIMITED if limited else (ClusterState.REACHABLE if reachable else ClusterState.UNREACHABLE)
    fields = {
        "state": state,
        "state_detail": "" if state == ClusterState.REACHABLE else detail[:2000],
        "checked_at": now,
        "updated_at": now,
    }
    if version is not None:
        fields["server_version"] = version[:40]
    KubeCluster.objects.filter(pk=cluster.pk).update(**fields)
    for key, value in fields.items():
        setattr(cluster, key, value)


def cluster_check(*, cluster: KubeCluster) -> KubeCluster:
    """Reach the cluster, read its version and ask it (SelfSubjectAccessReview) whether spotopt may do what a
    drain needs; the answer is the cluster's state and, when something is missing, what to grant."""
    access = access_for(cluster)
    try:
        with kube.kube_errors(f"check the cluster {cluster.name}", access), kube.api_for(access) as api:
            version = api.version()
            reviews = k8s.AuthorizationV1Api(api.api_client)
            missing = []
            for verb, resource, subresource in NEEDED_ACCESS:
                review = reviews.create_self_subject_access_review(
                    {
                        "apiVersion": "authorization.k8s.io/v1",
                        "kind": "SelfSubjectAccessReview",
                        "spec": {
                            "resourceAttributes": {"verb": verb, "resource": resource, "subresource": subresource}
                        },
                    },
                    _request_timeout=(5, 15),
                )
                if not review.status.allowed:
                    missing.append(f"{verb} {resource}{'/' + subresource if subresource else ''}")
    except DomainError as failure:
        cluster_mark(cluster, reachable=False, detail=failure.message)
        return cluster
    if missing:
        cluster_mark(
            cluster,
            reachable=True,
            limited=True,
            version=version,
            detail=f"Reachable ({version}), but RBAC does not allow: {', '.join(missing)}. Bind spotopt's identity "
            "to the ClusterRole spotopt-node-drainer (README, 'Kubernetes clusters').",
        )
    else:
        cluster_mark(cluster, reachable=True, version=version)
    return cluster


def _check_ca(ca_pem: str) -> str:
    ca_pem = (ca_pem or "").strip()
    if not ca_pem:
        raise DomainError("The cluster's CA certificate is required (PEM).", code="invalid_ca")
    if len(ca_pem.encode()) > MAX_CA_BYTES:
        raise DomainError("The CA data is larger than 64 KiB.", code="invalid_ca")
    try:
        x509.load_pem_x509_certificates(ca_pem.encode())
    except ValueError:
        raise DomainError("The CA data is not a PEM certificate.", code="invalid_ca") from None
    return ca_pem + "\n"


def cluster_register(*, user, account, name: str, endpoint: str, ca_pem: str, token: str) -> KubeCluster:
    """A self-managed cluster of `account`, reached with a service-account token (stored encrypted, never
    shown again), checked at once: registered even when unreachable, with the reason."""
    if not user.can(Capability.MANAGE_ACCOUNTS):
        raise PermissionRefused("Only those who manage the account register its clusters.")
    name = (name or "").strip()
    if not CLUSTER_NAME.match(name):
        raise DomainError(
            "A cluster name is 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit.",
            code="invalid_name",
        )
    endpoint = (endpoint or "").strip().rstrip("/")
    if not re.match(r"^https://[^\s/]+(:\d+)?(/\S*)?$", endpoint):
        raise DomainError("The API server URL must be https://host[:port].", code="invalid_endpoint")
    token = (token or "").strip()
    if not token or len(token.encode()) > MAX_TOKEN_BYTES or any(c.isspace() for c in token):
        raise DomainError("The token must be one line of at most 16 KiB.", code="invalid_token")
    cluster = KubeCluster(
        account=account, name=name, source=ClusterSource.REGISTERED, endpoint=endpoint, ca_pem=_check_ca(ca_pem)
    )
    cluster.set_token(token)
    if KubeCluster.objects.filter(account=account, name=name, source=ClusterSource.REGISTERED).exists():
        raise DomainError(f"The account already has a cluster named {name}.", code="duplicate_cluster")
    try:
        with transaction.atomic():
            cluster.save()
    except IntegrityError:
        raise DomainError(f"The account already has a cluster named {name}.", code="duplicate_cluster") from None
    logger.info("cluster %s registered for account %s by %s", name, account.account_id, user.pk)
    return cluster_check(cluster=cluster)


def cluster_delete(*, user, cluster: KubeCluster) -> None:
    if not user.can(Capability.MANAGE_ACCOUNTS):
        raise PermissionRefused("Only those who manage the account remove its clusters.")
    if cluster.source == ClusterSource.EKS:
        raise DomainError(
            "EKS clusters come from discovery: they go when the cluster is gone from the account.", code="eks_cluster"
        )
    logger.info("cluster %s of account %s removed by %s", cluster.name, cluster.account.account_id, user.pk)
    cluster.delete()


def clusters_discover(*, account, region: str) -> int:
    """The account's EKS clusters in `region` (ListClusters, DescribeCluster): endpoint and CA kept, the rows
    of clusters no longer listed removed. Returns how many there are."""
    eks = aws.client_for(account, "eks", region)
    names = [name for page in eks.get_paginator("list_clusters").paginate() for name in page["clusters"]]
    KubeCluster.objects.filter(account=account, source=ClusterSource.EKS, region=region).exclude(
        name__in=names
    ).delete()
    for name in names:
        found = eks.describe_cluster(name=name)["cluster"]
        ca = (found.get("certificateAuthority") or {}).get("data") or ""
        try:
            ca_pem = base64.b64decode(ca).decode() if ca else ""
        except (binascii.Error, UnicodeDecodeError):
            ca_pem = ""
        if "-----BEGIN CERTIFICATE-----" not in ca_pem:
            ca_pem = ""  # not a certificate: the cluster's page says the CA is missing
        KubeCluster.objects.update_or_create(
            account=account,
            region=region,
            name=name,
            source=ClusterSource.EKS,
            defaults={"endpoint": found.get("endpoint") or "", "ca_pem": ca_pem},
        )
    return len(names)


def cluster_for(instance) -> KubeCluster:
    """The cluster a Kubernetes node belongs to (by its cluster-name tag), or NotFound with what to do."""
    name = (instance.cluster_membership or {}).get("cluster_name")
    if not name:
        raise NotFound(f"{instance.instance_id} carries no cluster-name tag: spotopt cannot tell its cluster.")
    # A registered cluster of that name is the operator's word; else the EKS cluster of the node's region.
    known = KubeCluster.objects.filter(account=instance.account, name=name).select_related("account")
    cluster = next(
        (c for c in known if c.source == ClusterSource.REGISTERED),
        next((c for c in known if c.source == ClusterSource.EKS and c.region == instance.region), None),
    )
    if cluster is None:
        raise NotFound(
            f"The cluster {name} of {instance.instance_id} is not known to spotopt: an EKS cluster appears after "
            "discovery (the role needs eks:ListClusters and eks:DescribeCluster); register a self-managed one on "
            "the account's Kubernetes page."
        )
    return cluster
