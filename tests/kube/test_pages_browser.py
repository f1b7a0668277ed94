"""The Kubernetes pages in a real browser (Debian's chromium, headless) against the real kube-apiserver: a
client registers the self-managed cluster, sees it reachable with its version, a node of it is drained, and
the drain's timeline shows on the Kubernetes page, the drain's page and the node's Instance page."""

import pytest

from fleet.choices import OrchestratorType
from kube.choices import DrainTrigger
from kube.drain import node_drain
from kube.models import KubeCluster
from tests.browser import browser_page, expect, screenshot, sign_in  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.kube]

NODE = "ip-10-0-7-7.ec2.internal"


def test_a_client_registers_a_cluster_and_reads_a_drain_timeline(
    live_server,
    browser_page,  # noqa: F811
    apiserver,
    kubelet,
    client_user,
    make_account,
    make_instance,
):
    account = make_account(client_user, account_name="Shop production")
    node = make_instance(
        account,
        orchestrator_type=OrchestratorType.KUBERNETES,
        cluster_membership={"cluster_name": "shop", "node_group": "workers"},
        instance_metadata={"private_dns_name": NODE},
    )
    kubelet.add_node(NODE, instance_id=node.instance_id)
    kubelet.run_pod("shop", "web-1", node=NODE)
    kubelet.run_pod("system", "agent-1", node=NODE, daemonset=True)
    kubelet.start()
    page = browser_page
    sign_in(page, live_server, client_user.username)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Kubernetes").click()
    expect(page.get_by_text("No cluster yet")).to_be_visible()
    page.get_by_role("link", name="Register a cluster").click()
    page.get_by_label("Cluster name").fill("shop")
    page.get_by_label("API server URL").fill(apiserver.endpoint)
    page.get_by_label("CA certificate (PEM)").fill(apiserver.ca_pem)
    page.get_by_label("Service-account token").fill(apiserver.admin_token)
    page.get_by_role("button", name="Register and check").click()
    expect(page.get_by_role("heading", name="shop")).to_be_visible()
    expect(page.locator(".badge", has_text="Reachable")).to_be_visible()
    expect(page.get_by_text("v1.20.2").first).to_be_visible()
    assert apiserver.admin_token not in page.content()
    screenshot(page, "kube-01-cluster")

    node_drain(cluster=KubeCluster.objects.get(name="shop"), instance=node, trigger=DrainTrigger.REBALANCE_NOTICE)

    page.get_by_role("link", name="Kubernetes", exact=True).first.click()
    drains = page.locator("table.kube-drains tbody tr")
    expect(drains).to_have_count(1)
    expect(drains.first).to_contain_text("Drained")
    expect(drains.first).to_contain_text("1/1")
    drains.first.get_by_role("link").first.click()
    timeline = page.locator(".timeline")
    expect(timeline).to_contain_text("aws-node-termination-handler/rebalance-recommendation")
    expect(timeline).to_contain_text("1 DaemonSet pod(s)")
    expect(timeline).to_contain_text("pods evicted 1/1")
    screenshot(page, "kube-02-drain")

    page.goto(f"{live_server.url}/fleet/instances/{node.pk}/")
    expect(page.locator("#node-drains")).to_contain_text("pods evicted 1/1")
    screenshot(page, "kube-03-node")
