"""The demo's cluster against the real kube-apiserver: the seed registers it through the product (reachable,
checked), waits for the kubelet stand-in to join the account's instances of acme-prod-eks as nodes, puts the
workloads on them, and an interruption warning on a node-group node then drains it."""

import json

import boto3
import pytest

from accounts.choices import Role
from demo.estate import PROD_CLUSTER
from demo.kubernetes import demo_kubernetes_seed
from fleet.services import instance_record_from_aws
from kube.choices import ClusterSource, ClusterState, DrainStatus
from kube.models import KubeCluster, NodeDrain
from risk.choices import RiskEventType
from risk.safety import event_react
from tests.fleet.conftest import REGION
from tests.fleet.test_execution import subnet_in
from tests.risk.factories import make_event

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.kube, pytest.mark.usefixtures("moto")]


def test_the_demo_registers_its_cluster_places_workloads_and_drains_a_node(
    settings, tmp_path, apiserver, kubelet, catalog_account, make_user
):
    settings.VAR_DIR = tmp_path
    settings.KUBE_POD_GRACE_SECONDS = 0
    kube_dir = tmp_path / "kube"
    (kube_dir / "certs").mkdir(parents=True)
    (kube_dir / "certs" / "apiserver.crt").write_text(apiserver.ca_pem)
    (kube_dir / "access.json").write_text(
        json.dumps({"endpoint": apiserver.endpoint, "ca_pem": apiserver.ca_pem, "token": apiserver.admin_token})
    )
    ec2 = boto3.client("ec2", region_name=REGION)
    tags = [{"Key": "eks:cluster-name", "Value": PROD_CLUSTER}, {"Key": "eks:nodegroup-name", "Value": "general"}]
    raws = ec2.run_instances(
        ImageId="ami-12345678",
        MinCount=2,
        MaxCount=2,
        InstanceType="r5.large",
        SubnetId=subnet_in(ec2),
        TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
    )["Instances"]
    nodes = [
        instance_record_from_aws(account=catalog_account, region=REGION, instance_id=r["InstanceId"]) for r in raws
    ]
    kubelet.start(ec2=ec2, cluster_name=PROD_CLUSTER)
    said = []

    seed = demo_kubernetes_seed(prod=catalog_account, registrar=make_user(Role.ADMIN), progress=said.append)

    assert seed.available and seed.nodes == 2 and seed.pods == 6
    cluster = KubeCluster.objects.get(account=catalog_account, name=PROD_CLUSTER)
    assert cluster.source == ClusterSource.REGISTERED and cluster.state == ClusterState.REACHABLE
    assert any("registered on" in line and "reachable v1.20.2" in line for line in said)
    assert kubelet.has_pdb("shop", "web")
    assert json.loads((kube_dir / "join.json").read_text())["cluster"] == PROD_CLUSTER

    event = make_event(
        catalog_account,
        event_type=RiskEventType.TERMINATION_NOTICE,
        instance_id=nodes[0].instance_id,
        instance_type="r5.large",
    )
    reaction = event_react(event=event)
    drain = NodeDrain.objects.get(event=event)
    assert drain.status == DrainStatus.DRAINED and (drain.pods_total, drain.pods_evicted) == (2, 2)
    assert "tainted, cordoned and drained: pods evicted 2/2" in reaction.detail

    again = demo_kubernetes_seed(prod=catalog_account, registrar=make_user(Role.ADMIN), progress=said.append)
    # A rerun adds nothing: the drained node is cordoned, the other has its pods.
    assert again.pods == 0 and KubeCluster.objects.filter(name=PROD_CLUSTER).count() == 1
