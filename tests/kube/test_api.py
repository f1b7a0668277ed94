"""The Kubernetes API under the API contract (/api/v1/clusters/, /api/v1/node-drains/), and registering a
self-managed cluster: the token is stored encrypted and never returned; another tenant's account is a 404."""

import uuid

import pytest
from django.utils import timezone

from accounts.choices import Role
from kube.choices import ClusterSource, ClusterState, DrainStatus, DrainTrigger
from kube.models import KubeCluster, NodeDrain
from tests.api_contract import ApiContract, Call, Endpoint, api_as, assert_error, environment_of
from tests.kube.certs import SELF_SIGNED_CA

pytestmark = pytest.mark.django_db

CLUSTERS = "/api/v1/clusters/"
DRAINS = "/api/v1/node-drains/"
ANYONE = frozenset(Role)
MANAGERS = frozenset({Role.CLIENT, Role.ADMIN, Role.SUPER_ADMIN})
REFUSAL = "Only those who manage an account register, check or remove its clusters."


def make_cluster(account, n: int) -> KubeCluster:
    cluster = KubeCluster(
        account=account,
        name=f"cluster-{n}-{uuid.uuid4().hex[:6]}",
        source=ClusterSource.REGISTERED,
        endpoint="https://127.0.0.1:1",  # nothing listens: a check answers "unreachable" at once
        ca_pem=SELF_SIGNED_CA,
    )
    cluster.set_token(f"token-of-cluster-{n}-{uuid.uuid4().hex}")
    cluster.save()
    return cluster


def make_drain(account, n: int) -> NodeDrain:
    cluster = make_cluster(account, n)
    return NodeDrain.objects.create(
        account=account,
        cluster=cluster,
        ec2_instance_id=f"i-{n:017x}",
        node_name=f"ip-10-0-0-{n}.ec2.internal",
        trigger=DrainTrigger.TERMINATION_NOTICE,
        status=DrainStatus.DRAINED,
        steps=[{"step": "done", "at": timezone.now().isoformat(), "detail": "pods evicted 2/2"}],
        pods_total=2,
        pods_evicted=2,
        started_at=timezone.now(),
    )


class TestClustersContract(ApiContract):
    endpoint = Endpoint(
        list_url=CLUSTERS,
        make=lambda tenant, n: make_cluster(tenant.account_in(environment_of(n)), n),
        models=(KubeCluster,),
        secrets=lambda row: [row.name, row.account.account_name, row.get_token()],
        writers=MANAGERS,
        write_refusal=REFUSAL,
        writes=(
            Call("check", "post", "{pk}/check/", ok=200, answer={"state": ClusterState.UNREACHABLE}),
            Call("destroy", "delete", "{pk}/", ok=204),
        ),
        not_allowed=(Call("update", "patch", "{pk}/", {"name": "renamed"}, roles=ANYONE),),
    )


class TestDrainsContract(ApiContract):
    endpoint = Endpoint(
        list_url=DRAINS,
        make=lambda tenant, n: make_drain(tenant.account_in(environment_of(n)), n),
        models=(NodeDrain,),
        secrets=lambda row: [row.node_name, row.ec2_instance_id, row.account.account_name],
        not_allowed=(
            Call("create", "post", "", {"node_name": "x"}, roles=ANYONE),
            Call("destroy", "delete", "{pk}/", roles=ANYONE),
        ),
        list_queries=("", "?status=DRAINED&trigger=TERMINATION_NOTICE"),
    )


def registration(account, **overrides):
    return {
        "account": str(account.pk),
        "name": "self-managed",
        "endpoint": "https://127.0.0.1:1",
        "ca_pem": SELF_SIGNED_CA,
        "token": "the-service-account-token-123",
    } | overrides


def test_registering_keeps_the_token_encrypted_and_never_returns_it(make_team):
    acme = make_team("Acme")
    response = api_as(acme.client).post(CLUSTERS, registration(acme.account), format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["has_token"] is True and body["source"] == ClusterSource.REGISTERED
    assert body["state"] == ClusterState.UNREACHABLE and "could not be reached" in body["state_detail"]
    assert "the-service-account-token-123" not in response.content.decode()
    cluster = KubeCluster.objects.get(pk=body["id"])
    assert "the-service-account-token-123" not in cluster.token_encrypted
    assert cluster.get_token() == "the-service-account-token-123"
    detail = api_as(acme.viewer).get(f"{CLUSTERS}{cluster.pk}/")
    assert "token" not in {key for key in detail.json() if key != "has_token"}


def test_registering_is_refused_on_another_tenants_account_for_a_viewer_and_with_bad_input(make_team):
    acme, globex = make_team("Acme"), make_team("Globex")
    assert_error(api_as(globex.client).post(CLUSTERS, registration(acme.account), format="json"), 404)
    assert_error(api_as(acme.viewer).post(CLUSTERS, registration(acme.account), format="json"), 403)
    bad_ca = api_as(acme.client).post(CLUSTERS, registration(acme.account, ca_pem="not a cert"), format="json")
    assert "not a PEM certificate" in assert_error(bad_ca, 400)["detail"]
    plain = api_as(acme.client).post(
        CLUSTERS, registration(acme.account, endpoint="http://10.0.0.1:6443"), format="json"
    )
    assert "https://" in assert_error(plain, 400)["detail"]
    api_as(acme.client).post(CLUSTERS, registration(acme.account), format="json")
    again = api_as(acme.client).post(CLUSTERS, registration(acme.account), format="json")
    assert "already has a cluster named" in assert_error(again, 400)["detail"]
    assert KubeCluster.objects.count() == 1


def test_an_eks_cluster_cannot_be_removed_through_the_api(make_team):
    acme = make_team("Acme")
    cluster = KubeCluster.objects.create(
        account=acme.account, name="eks-prod", source=ClusterSource.EKS, region="us-east-1", endpoint="https://x.eks"
    )
    assert "come from discovery" in assert_error(api_as(acme.client).delete(f"{CLUSTERS}{cluster.pk}/"), 400)["detail"]
    assert KubeCluster.objects.filter(pk=cluster.pk).exists()


def test_key_rotation_re_encrypts_registered_cluster_tokens(make_team, settings):
    import base64

    from accounts.services import credentials_rotate_key
    from spotopt import crypto

    old = "old:" + base64.b64encode(b"o" * 32).decode()
    new = "new:" + base64.b64encode(b"n" * 32).decode()
    settings.CREDENTIALS_ENCRYPTION_KEYS = [old]
    cluster = make_cluster(make_team("Acme").account, 1)
    token = cluster.get_token()
    settings.CREDENTIALS_ENCRYPTION_KEYS = [new, old]
    result = credentials_rotate_key()
    assert result["clusters_re_encrypted"] == 1
    cluster.refresh_from_db()
    assert crypto.key_id_of(cluster.token_encrypted) == "new"
    settings.CREDENTIALS_ENCRYPTION_KEYS = [new]
    assert cluster.get_token() == token
