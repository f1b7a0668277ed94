"""The Kubernetes pages: clusters, register, a cluster, the drains and a drain; the node's timeline on the
instance page. Tenancy (another tenant's cluster or drain is a 404), roles (viewers and lab users cannot
register, check or remove), CSRF, no token on any page, and constant query counts."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.choices import Role
from fleet.choices import OrchestratorType
from kube.models import KubeCluster
from tests.kube.certs import SELF_SIGNED_CA
from tests.kube.test_api import make_cluster, make_drain

pytestmark = pytest.mark.django_db


def signed_in(user, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


def html(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


@pytest.mark.parametrize("name", ["kube_cluster_list", "kube_drain_list", "kube_cluster_register"])
def test_the_pages_need_sign_in(client, name):
    assert client.get(reverse(name)).status_code == 302


def test_the_list_shows_the_tenants_clusters_and_drains_only(make_team):
    acme, globex = make_team("Acme"), make_team("Globex")
    mine = make_cluster(acme.account, 1)
    theirs = make_cluster(globex.account, 2)
    drain = make_drain(acme.account, 3)
    page = html(signed_in(acme.viewer).get(reverse("kube_cluster_list")))
    assert mine.name in page and drain.node_name in page and theirs.name not in page
    assert "Register a cluster" not in page  # a viewer cannot
    assert mine.get_token() not in page
    assert "Register a cluster" in html(signed_in(acme.client).get(reverse("kube_cluster_list")))


def test_an_empty_tenant_is_told_how_clusters_appear(make_team):
    page = html(signed_in(make_team("Acme").client).get(reverse("kube_cluster_list")))
    assert "No cluster yet" in page and "eks:ListClusters" in page and "No node has been drained yet" in page


def test_list_pages_make_the_same_number_of_queries_for_many_rows(make_team):
    acme = make_team("Acme")
    make_drain(acme.account, 0)
    client = signed_in(acme.client)
    counts = []
    for n in range(2):
        with CaptureQueriesContext(connection) as queries:
            html(client.get(reverse("kube_cluster_list")))
            html(client.get(reverse("kube_drain_list")))
        counts.append(len(queries))
        for i in range(10):
            make_drain(acme.account, 10 + i + n * 10)
    assert counts[0] == counts[1], counts


def test_another_tenants_cluster_and_drain_are_404s_and_actions_on_them_too(make_team):
    acme, globex = make_team("Acme"), make_team("Globex")
    cluster, drain = make_cluster(acme.account, 1), make_drain(acme.account, 2)
    outsider = signed_in(globex.client)
    assert outsider.get(reverse("kube_cluster_detail", args=[cluster.pk])).status_code == 404
    assert outsider.get(reverse("kube_drain_detail", args=[drain.pk])).status_code == 404
    assert outsider.post(reverse("kube_cluster_check", args=[cluster.pk])).status_code == 404
    assert outsider.post(reverse("kube_cluster_delete", args=[cluster.pk])).status_code == 404
    assert KubeCluster.objects.filter(pk=cluster.pk).exists()
    for name in ("kube_cluster_list", "kube_drain_list"):
        listed = html(outsider.get(reverse(name)))
        assert cluster.name not in listed and drain.node_name not in listed and drain.ec2_instance_id not in listed


@pytest.mark.parametrize("role", ["viewer", Role.LAB])
def test_roles_that_do_not_manage_accounts_cannot_register_check_or_remove(make_team, make_user, role):
    acme = make_team("Acme")
    cluster = make_cluster(acme.account, 1)
    user = acme.viewer if role == "viewer" else make_user(Role.LAB)
    client = signed_in(user)
    assert client.get(reverse("kube_cluster_register")).status_code == 403
    assert client.post(reverse("kube_cluster_delete", args=[cluster.pk])).status_code in (403, 404)
    assert client.post(reverse("kube_cluster_check", args=[cluster.pk])).status_code in (403, 404)
    assert KubeCluster.objects.filter(pk=cluster.pk).exists()


def test_a_client_registers_checks_and_removes_a_cluster_and_the_token_is_never_shown(make_team):
    acme = make_team("Acme")
    client = signed_in(acme.client)
    form = html(client.get(reverse("kube_cluster_register")))
    assert "spotopt-node-drainer" in form and "pods/eviction" in form
    response = client.post(
        reverse("kube_cluster_register"),
        {
            "account": acme.account.pk,
            "name": "on-prem",
            "endpoint": "https://127.0.0.1:1",
            "ca_pem": SELF_SIGNED_CA,
            "token": "very-secret-sa-token",
        },
    )
    cluster = KubeCluster.objects.get(name="on-prem")
    assert response.status_code == 302 and response["Location"] == reverse("kube_cluster_detail", args=[cluster.pk])
    page = html(client.get(response["Location"]))
    assert "could not be reached" in page and "very-secret-sa-token" not in page
    assert "Unreachable" in page and "Check now" in page and "Remove" in page
    assert client.post(reverse("kube_cluster_check", args=[cluster.pk])).status_code == 302
    assert client.post(reverse("kube_cluster_delete", args=[cluster.pk])).status_code == 302
    assert not KubeCluster.objects.filter(pk=cluster.pk).exists()


def test_registering_on_another_tenants_account_or_with_a_bad_ca_is_a_form_error(make_team):
    acme, globex = make_team("Acme"), make_team("Globex")
    client = signed_in(acme.client)
    data = {"name": "x", "endpoint": "https://127.0.0.1:1", "ca_pem": SELF_SIGNED_CA, "token": "t"}
    response = client.post(reverse("kube_cluster_register"), {**data, "account": globex.account.pk})
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()
    bad = client.post(reverse("kube_cluster_register"), {**data, "account": acme.account.pk, "ca_pem": "nope"})
    assert bad.status_code == 400 and "not a PEM certificate" in bad.content.decode()
    assert not KubeCluster.objects.exists()


def test_posts_need_a_csrf_token(make_team):
    acme = make_team("Acme")
    cluster = make_cluster(acme.account, 1)
    client = signed_in(acme.client, enforce_csrf_checks=True)
    assert client.post(reverse("kube_cluster_delete", args=[cluster.pk])).status_code == 403
    assert KubeCluster.objects.filter(pk=cluster.pk).exists()


def test_the_instance_page_of_a_node_shows_its_drain_timeline(make_team, make_instance):
    acme = make_team("Acme")
    node = make_instance(
        acme.account, orchestrator_type=OrchestratorType.KUBERNETES, cluster_membership={"cluster_name": "shop"}
    )
    drain = make_drain(acme.account, 4)
    drain.instance = node
    drain.save(update_fields=["instance"])
    page = html(signed_in(acme.viewer).get(reverse("instance_detail", args=[node.pk])))
    assert "Node drains" in page and drain.node_name in page and "pods evicted 2/2" in page
    assert "Drained" in page
