"""Kubernetes nodes end to end: moto for AWS (an EKS-style node group as an Auto Scaling group), the real
kube-apiserver for the cluster, and the kubelet stand-in joining new instances as Ready nodes and finishing
evicted pods.

- An optimizer switch of a node: the replacement is launched, attached, InService, Ready as a node, and only
  then is the old node tainted, cordoned and drained, detached and terminated; capacity never below N.
- A drain a PodDisruptionBudget blocks until the deadline rolls the switch back and uncordons the old node.
- A replacement that never becomes a Ready node rolls back too.
- An interruption warning on a node: drained (timeline on the instance), then replaced in its group.
"""

import boto3
import pytest
from django.urls import reverse

from fleet.choices import OrchestratorType, SwitchStatus
from fleet.execution import optimizer_cycle
from fleet.models import Instance, Switch
from kube.choices import DrainStatus, DrainTrigger
from kube.drain import TAINT_KEYS
from kube.models import NodeDrain
from risk.choices import RiskEventType
from risk.safety import event_react
from tests.fleet.conftest import REGION
from tests.fleet.test_execution import CHEAP, automatic, market, state_of, subnet_in
from tests.risk.factories import make_event

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.kube, pytest.mark.usefixtures("moto", "catalog")]

NODE_GROUP_TAGS = {"eks:cluster-name": "shop", "eks:nodegroup-name": "workers"}


@pytest.fixture(autouse=True)
def quick(settings):
    settings.KUBE_EVICTION_BACKOFF_SECONDS = 0.2
    settings.KUBE_POD_GRACE_SECONDS = 0
    settings.KUBE_NODE_READY_TIMEOUT_SECONDS = 20


@pytest.fixture
def ec2():
    return boto3.client("ec2", region_name=REGION)


@pytest.fixture
def asg():
    return boto3.client("autoscaling", region_name=REGION)


def node_group(ec2, asg, size=2):
    asg.create_launch_configuration(LaunchConfigurationName="nodes", ImageId="ami-12345678", InstanceType="m5.large")
    asg.create_auto_scaling_group(
        AutoScalingGroupName="eks-workers",
        LaunchConfigurationName="nodes",
        MinSize=1,
        MaxSize=size,
        DesiredCapacity=size,
        VPCZoneIdentifier=subnet_in(ec2),
        Tags=[
            {"Key": key, "Value": value, "PropagateAtLaunch": True, "ResourceId": "eks-workers"}
            for key, value in NODE_GROUP_TAGS.items()
        ],
    )


def group(asg) -> dict:
    return asg.describe_auto_scaling_groups(AutoScalingGroupNames=["eks-workers"])["AutoScalingGroups"][0]


def nodes_of(account, asg) -> list[Instance]:
    from fleet.services import instance_record_from_aws

    ids = [m["InstanceId"] for m in group(asg)["Instances"]]
    for instance_id in ids:
        instance_record_from_aws(account=account, region=REGION, instance_id=instance_id)
    return list(Instance.objects.select_related("account").filter(instance_id__in=ids).order_by("instance_id"))


@pytest.fixture
def cluster_fleet(catalog_account, ec2, asg, kubelet, register_cluster):
    """Two nodes of the node group `workers`, each running a web pod, the cluster registered."""
    account = automatic(catalog_account)
    node_group(ec2, asg)
    nodes = nodes_of(account, asg)
    assert {n.orchestrator_type for n in nodes} == {OrchestratorType.KUBERNETES}
    assert {n.cluster_membership.get("asg_name") for n in nodes} == {"eks-workers"}
    kubelet.join_launched(ec2, "shop")
    for index, node in enumerate(nodes):
        kubelet.run_pod("shop", f"web-{index}", node=node.instance_metadata["private_dns_name"], labels={"app": "web"})
    return account, nodes, register_cluster(account)


def names(switch):
    return [step["step"] for step in switch.steps]


def test_a_node_switch_waits_for_the_new_node_ready_then_drains_and_retires_the_old(
    cluster_fleet, models, ec2, asg, kubelet
):
    account, nodes, _ = cluster_fleet
    market(nodes[0], **CHEAP)
    kubelet.start(ec2=ec2, cluster_name="shop")

    optimizer_cycle(account=account, inline=True)

    switch = Switch.objects.select_related("instance", "replacement").get()
    assert switch.status == SwitchStatus.SUCCEEDED, (switch.error_message, switch.steps)
    steps = names(switch)
    assert steps.index("in service") < steps.index("node ready") < steps.index("drained old")
    assert steps.index("drained old") < steps.index("detached old") < steps.index("terminated old")
    assert all(step["capacity"] >= step["floor"] for step in switch.steps)
    drain = NodeDrain.objects.get(switch=switch)
    assert drain.status == DrainStatus.DRAINED and drain.trigger == DrainTrigger.SWITCH
    ready_at = next(s["at"] for s in switch.steps if s["step"] == "node ready")
    assert ready_at <= drain.started_at.isoformat()
    old_node = kubelet.node(switch.instance.instance_metadata["private_dns_name"])
    assert old_node.spec.unschedulable is True
    assert TAINT_KEYS[DrainTrigger.SWITCH] in {t.key for t in old_node.spec.taints}
    assert kubelet.pods_on(old_node.metadata.name) == []
    members = {m["InstanceId"] for m in group(asg)["Instances"]}
    assert switch.replacement.instance_id in members and switch.instance.instance_id not in members
    assert state_of(ec2, switch.instance.instance_id) in ("shutting-down", "terminated")


def test_a_drain_a_budget_blocks_rolls_the_switch_back_and_uncordons_the_old_node(
    cluster_fleet, models, ec2, asg, kubelet, settings
):
    settings.KUBE_DRAIN_DEADLINE_SECONDS = 2
    account, nodes, _ = cluster_fleet
    market(nodes[0], **CHEAP)
    kubelet.pdb("shop", "web", match_labels={"app": "web"}, allowed=0)
    kubelet.start(ec2=ec2, cluster_name="shop")

    optimizer_cycle(account=account, inline=True)

    switch = Switch.objects.select_related("instance", "replacement").get()
    assert switch.status == SwitchStatus.ROLLED_BACK, switch.steps
    assert "deadline" in switch.error_message and "the old node stays" in switch.error_message
    old_node = kubelet.node(switch.instance.instance_metadata["private_dns_name"])
    assert not old_node.spec.unschedulable
    assert TAINT_KEYS[DrainTrigger.SWITCH] not in {t.key for t in old_node.spec.taints or []}
    assert state_of(ec2, switch.replacement.instance_id) in ("shutting-down", "terminated")
    assert switch.instance.instance_id in {m["InstanceId"] for m in group(asg)["Instances"]}


def test_a_replacement_that_never_joins_the_cluster_rolls_back(cluster_fleet, models, ec2, asg, kubelet, settings):
    settings.KUBE_NODE_READY_TIMEOUT_SECONDS = 1
    account, nodes, _ = cluster_fleet
    market(nodes[0], **CHEAP)
    kubelet.start()  # no joining: the new instance never becomes a node

    optimizer_cycle(account=account, inline=True)

    switch = Switch.objects.get()
    assert switch.status == SwitchStatus.ROLLED_BACK
    assert "did not become a Ready node of shop" in switch.error_message
    assert not NodeDrain.objects.exists()


def test_a_karpenter_node_or_an_unknown_cluster_is_evaluated_and_logged_only(
    catalog_account, models, ec2, make_instance
):
    from mlgov.models import ExperimentLog
    from tests.fleet.test_execution import launch

    account = automatic(catalog_account)
    karpenter = launch(
        ec2,
        account,
        orchestrator_type=OrchestratorType.KUBERNETES,
        cluster_membership={"cluster_name": "shop", "nodepool": "default"},
    )
    unknown = launch(
        ec2,
        account,
        zone="us-east-1b",
        orchestrator_type=OrchestratorType.KUBERNETES,
        cluster_membership={"cluster_name": "elsewhere"},
    )
    market(karpenter, **CHEAP)
    market(unknown, **CHEAP)

    optimizer_cycle(account=account, inline=True)

    assert not Switch.objects.exists()
    assert ExperimentLog.objects.get(instance=karpenter).features_used["execution"].startswith("Karpenter node")
    assert "cannot reach that cluster" in ExperimentLog.objects.get(instance=unknown).features_used["execution"]


def test_an_interruption_warning_on_a_node_drains_it_then_replaces_it_in_its_group(
    cluster_fleet, ec2, asg, kubelet, client
):
    account, nodes, _ = cluster_fleet
    kubelet.start(ec2=ec2, cluster_name="shop")
    doomed = nodes[0]
    event = make_event(
        account,
        event_id="itn-node-1",
        event_type=RiskEventType.TERMINATION_NOTICE,
        instance_id=doomed.instance_id,
        availability_zone=doomed.availability_zone,
        instance_type=doomed.instance_type,
    )

    reaction = event_react(event=event)

    drain = NodeDrain.objects.get(event=event)
    assert drain.status == DrainStatus.DRAINED and drain.pods_evicted == 1
    node = kubelet.node(doomed.instance_metadata["private_dns_name"])
    assert ("aws-node-termination-handler/spot-itn", "itn-node-1") in {(t.key, t.value) for t in node.spec.taints}
    assert reaction.action == "asg_replaced" and "drained: pods evicted 1/1" in reaction.detail
    assert reaction.replacement_id in {m["InstanceId"] for m in group(asg)["Instances"]}
    owner = account.user
    client.force_login(owner)
    page = client.get(reverse("instance_detail", args=[doomed.pk])).content.decode()
    assert "Node drains" in page and "aws-node-termination-handler/spot-itn" in page and "pods evicted 1/1" in page


def test_a_rollback_leaves_a_node_someone_else_had_cordoned_as_it_was(cluster_fleet, models, ec2, kubelet, settings):
    settings.KUBE_DRAIN_DEADLINE_SECONDS = 2
    account, nodes, _ = cluster_fleet
    market(nodes[0], **CHEAP)
    for node in nodes:  # an operator's maintenance cordon
        kubelet.core.patch_node(node.instance_metadata["private_dns_name"], {"spec": {"unschedulable": True}})
    kubelet.pdb("shop", "web", match_labels={"app": "web"}, allowed=0)
    kubelet.start(ec2=ec2, cluster_name="shop")

    optimizer_cycle(account=account, inline=True)

    switch = Switch.objects.select_related("instance").get()
    assert switch.status == SwitchStatus.ROLLED_BACK
    drain = NodeDrain.objects.get(switch=switch)
    assert any(s["step"] == "cordoned" and "already cordoned" in s["detail"] for s in drain.steps)
    assert kubelet.node(switch.instance.instance_metadata["private_dns_name"]).spec.unschedulable is True
