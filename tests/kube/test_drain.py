"""Taint, cordon and drain against a real kube-apiserver (1.20: Eviction only as policy/v1beta1, so every
drain here also shows the policy/v1 -> v1beta1 fallback). The kubelet stand-in removes pods whose deletion
was requested and sets budgets' status; everything else is the product's code against the real server."""

import threading
import time

import pytest

from fleet.choices import OrchestratorType
from kube.choices import ClusterState, DrainStatus, DrainTrigger
from kube.drain import TAINT_KEYS, node_drain
from kube.services import cluster_check

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.kube]

NODE = "ip-10-0-0-11.ec2.internal"


@pytest.fixture(autouse=True)
def quick(settings):
    settings.KUBE_EVICTION_BACKOFF_SECONDS = 0.2
    settings.KUBE_POD_GRACE_SECONDS = 0


@pytest.fixture
def node_instance(make_user, make_account, make_instance):
    account = make_account(make_user())
    return make_instance(
        account,
        orchestrator_type=OrchestratorType.KUBERNETES,
        cluster_membership={"cluster_name": "shop", "node_group": "workers"},
        instance_metadata={"private_dns_name": NODE},
    )


def shop(kubelet, node=NODE):
    """Two web pods (budget-protected in some tests), a worker, a DaemonSet pod and a mirror pod."""
    kubelet.run_pod("shop", "web-1", node=node, labels={"app": "web"})
    kubelet.run_pod("shop", "web-2", node=node, labels={"app": "web"})
    kubelet.run_pod("batch", "worker-1", node=node)
    kubelet.run_pod("system", "agent-x", node=node, daemonset=True)
    kubelet.run_pod("system", "kube-proxy-x", node=node, mirror=True)


def steps(drain):
    return [step["step"] for step in drain.steps]


def test_a_drain_taints_cordons_and_evicts_every_evictable_pod_leaving_daemonset_and_mirror_pods(
    kubelet, register_cluster, node_instance
):
    cluster = register_cluster(node_instance.account)
    kubelet.add_node(NODE, instance_id=node_instance.instance_id)
    shop(kubelet)
    kubelet.start()

    drain = node_drain(cluster=cluster, instance=node_instance, trigger=DrainTrigger.TERMINATION_NOTICE)

    assert drain.status == DrainStatus.DRAINED, drain.steps
    assert (drain.pods_total, drain.pods_evicted, drain.pods_left) == (3, 3, [])
    assert kubelet.pods_on(NODE) == ["system/agent-x", "system/kube-proxy-x"]
    node = kubelet.node(NODE)
    assert node.spec.unschedulable is True
    taints = {(t.key, t.effect) for t in node.spec.taints}
    assert (TAINT_KEYS[DrainTrigger.TERMINATION_NOTICE], "NoSchedule") in taints
    assert [s for s in steps(drain) if s != "eviction API"][:4] == ["event", "tainted", "cordoned", "evicting"]
    evicting = next(s for s in drain.steps if s["step"] == "evicting")
    assert "1 DaemonSet pod(s)" in evicting["detail"] and "1 mirror pod(s)" in evicting["detail"]
    assert drain.steps[-1]["step"] == "done" and drain.steps[-1]["detail"] == "pods evicted 3/3"
    assert drain.node_name == NODE and drain.finished_at is not None
    cluster.refresh_from_db()
    assert cluster.state == ClusterState.REACHABLE


def test_the_1_20_server_lacks_policy_v1_eviction_so_the_drain_falls_back_to_v1beta1(
    kubelet, register_cluster, node_instance
):
    cluster = register_cluster(node_instance.account)
    kubelet.add_node(NODE, instance_id=node_instance.instance_id)
    kubelet.run_pod("batch", "worker-1", node=NODE)
    kubelet.start()

    drain = node_drain(cluster=cluster, instance=node_instance, trigger=DrainTrigger.REBALANCE_NOTICE)

    assert drain.status == DrainStatus.DRAINED and drain.eviction_api == "policy/v1beta1"
    fallback = next(s for s in drain.steps if s["step"] == "eviction API")
    assert fallback["detail"].startswith("policy/v1 not served") and "using policy/v1beta1" in fallback["detail"]
    assert TAINT_KEYS[DrainTrigger.REBALANCE_NOTICE] in {t.key for t in kubelet.node(NODE).spec.taints}


def test_a_pod_disruption_budget_blocks_eviction_with_429_until_it_allows_it(kubelet, register_cluster, node_instance):
    cluster = register_cluster(node_instance.account)
    kubelet.add_node(NODE, instance_id=node_instance.instance_id)
    kubelet.run_pod("shop", "web-1", node=NODE, labels={"app": "web"})
    kubelet.pdb("shop", "web", match_labels={"app": "web"}, allowed=0)
    kubelet.start()
    threading.Timer(1.5, kubelet.pdb_allow, args=("shop", "web", 1)).start()

    drain = node_drain(
        cluster=cluster, instance=node_instance, trigger=DrainTrigger.TERMINATION_NOTICE, deadline_seconds=30
    )

    assert drain.status == DrainStatus.DRAINED, drain.steps
    blocked = [s for s in drain.steps if s["step"] == "eviction blocked"]
    assert blocked and "refused (429)" in blocked[0]["detail"]
    assert kubelet.pods_on(NODE) == []


def test_the_deadline_is_honoured_and_what_was_left_is_recorded(kubelet, register_cluster, node_instance):
    cluster = register_cluster(node_instance.account)
    kubelet.add_node(NODE, instance_id=node_instance.instance_id)
    shop(kubelet)
    kubelet.pdb("shop", "web", match_labels={"app": "web"}, allowed=0)  # never allows: the deadline ends it
    kubelet.start()

    started = time.monotonic()
    drain = node_drain(
        cluster=cluster, instance=node_instance, trigger=DrainTrigger.TERMINATION_NOTICE, deadline_seconds=2
    )
    took = time.monotonic() - started

    assert drain.status == DrainStatus.INCOMPLETE
    assert took < 6, f"the drain ran {took:.1f} s past a 2 s deadline"
    assert (drain.pods_total, drain.pods_evicted) == (3, 1)
    left = {f"{p['namespace']}/{p['name']}": p["why"] for p in drain.pods_left}
    assert set(left) == {"shop/web-1", "shop/web-2"}
    assert all("PodDisruptionBudget" in why for why in left.values())
    assert drain.steps[-1]["step"] == "deadline reached"
    assert drain.steps[-1]["detail"] == "pods evicted 1/3; 2 left"


def test_a_node_that_is_not_in_the_cluster_is_reported_without_crashing(kubelet, register_cluster, node_instance):
    cluster = register_cluster(node_instance.account)
    kubelet.add_node("ip-10-0-9-9.ec2.internal", instance_id="i-0someoneelse0000")

    drain = node_drain(cluster=cluster, instance=node_instance, trigger=DrainTrigger.TERMINATION_NOTICE)

    assert drain.status == DrainStatus.NODE_NOT_FOUND
    assert steps(drain) == ["event", "node not found"]
    assert node_instance.instance_id in drain.steps[-1]["detail"]


def test_the_node_is_found_by_provider_id_when_its_name_is_not_the_dns_name(kubelet, register_cluster, node_instance):
    cluster = register_cluster(node_instance.account)
    kubelet.add_node("karpenter-node-abc", instance_id=node_instance.instance_id)
    kubelet.start()

    drain = node_drain(cluster=cluster, instance=node_instance, trigger=DrainTrigger.REBALANCE_NOTICE)

    assert drain.status == DrainStatus.DRAINED and drain.node_name == "karpenter-node-abc"


def test_a_dry_run_records_what_would_be_done_and_writes_nothing(kubelet, register_cluster, node_instance):
    account = node_instance.account
    account.kubernetes_dry_run = True
    account.save(update_fields=["kubernetes_dry_run"])
    cluster = register_cluster(account)
    kubelet.add_node(NODE, instance_id=node_instance.instance_id)
    shop(kubelet)
    node_instance.refresh_from_db()

    drain = node_drain(cluster=cluster, instance=node_instance, trigger=DrainTrigger.TERMINATION_NOTICE)

    assert drain.status == DrainStatus.DRY_RUN and drain.dry_run
    assert steps(drain) == ["event", "would taint", "would cordon", "would evict"]
    node = kubelet.node(NODE)
    assert not node.spec.unschedulable
    assert not {t.key for t in node.spec.taints or []} & set(TAINT_KEYS.values())
    assert len(kubelet.pods_on(NODE)) == 5


def test_a_cluster_whose_rbac_denies_us_fails_the_drain_with_what_to_grant_and_no_token(
    apiserver, kubelet, register_cluster, node_instance
):
    cluster = register_cluster(node_instance.account, token=apiserver.nobody_token)
    kubelet.add_node(NODE, instance_id=node_instance.instance_id)

    drain = node_drain(cluster=cluster, instance=node_instance, trigger=DrainTrigger.TERMINATION_NOTICE)

    assert drain.status == DrainStatus.FAILED
    assert "403" in drain.error_message and "ClusterRole" in drain.error_message
    assert apiserver.nobody_token not in drain.error_message + str(drain.steps)
    cluster.refresh_from_db()
    assert cluster.state == ClusterState.LIMITED and "403" in cluster.state_detail


def test_an_unreachable_cluster_fails_the_drain_with_the_reason(kubelet, register_cluster, node_instance):
    cluster = register_cluster(node_instance.account)
    cluster.endpoint = "https://127.0.0.1:1"
    cluster.save(update_fields=["endpoint"])

    drain = node_drain(cluster=cluster, instance=node_instance, trigger=DrainTrigger.TERMINATION_NOTICE)

    assert drain.status == DrainStatus.FAILED and "could not be reached" in drain.error_message


def test_the_cluster_check_reads_the_version_and_names_missing_permissions(apiserver, register_cluster, node_instance):
    admin = cluster_check(cluster=register_cluster(node_instance.account))
    assert admin.state == ClusterState.REACHABLE and admin.server_version == "v1.20.2"

    nobody = cluster_check(cluster=register_cluster(node_instance.account, name="locked", token=apiserver.nobody_token))
    assert nobody.state == ClusterState.LIMITED
    assert "patch nodes" in nobody.state_detail and "create pods/eviction" in nobody.state_detail


def test_a_cluster_whose_certificate_the_ca_does_not_vouch_for_says_check_the_ca(register_cluster, node_instance):
    from tests.kube.certs import SELF_SIGNED_CA

    cluster = register_cluster(node_instance.account)
    cluster.ca_pem = SELF_SIGNED_CA  # another CA than the server's
    cluster.save(update_fields=["ca_pem"])
    checked = cluster_check(cluster=cluster)
    assert checked.state == ClusterState.UNREACHABLE and "check the CA data" in checked.state_detail


def test_an_event_id_that_is_no_label_value_still_makes_a_valid_taint(kubelet, register_cluster, node_instance):
    from kube.drain import taint_value
    from tests.risk.factories import make_event

    assert taint_value("webhook:acct/123:-") == "webhook-acct-123"
    assert len(taint_value("x" * 80)) == 63
    cluster = register_cluster(node_instance.account)
    kubelet.add_node(NODE, instance_id=node_instance.instance_id)
    event = make_event(node_instance.account, event_id="hook:2026/12/04 10:00:00#" + "z" * 60)
    drain = node_drain(cluster=cluster, instance=node_instance, trigger=DrainTrigger.TERMINATION_NOTICE, event=event)
    assert drain.status == DrainStatus.DRAINED, drain.steps
    (ours,) = [t for t in kubelet.node(NODE).spec.taints if t.key == TAINT_KEYS[DrainTrigger.TERMINATION_NOTICE]]
    assert ours.value.startswith("hook-2026-12-04-10-00-00") and len(ours.value) <= 63


def test_a_drain_a_dead_worker_left_running_is_closed_as_failed(node_instance, clock):
    from datetime import timedelta

    from kube.drain import drains_reap_stalled
    from kube.models import NodeDrain

    drain = NodeDrain.objects.create(
        account=node_instance.account,
        instance=node_instance,
        ec2_instance_id=node_instance.instance_id,
        trigger=DrainTrigger.REBALANCE_NOTICE,
        started_at=clock.now,
    )
    assert drains_reap_stalled() == 0
    clock.advance(seconds=90 + 121)
    assert drains_reap_stalled() == 1
    drain.refresh_from_db()
    assert drain.status == DrainStatus.FAILED and "worker stopped" in drain.error_message
    assert drain.finished_at == clock.now and timedelta(0) < drain.finished_at - drain.started_at
