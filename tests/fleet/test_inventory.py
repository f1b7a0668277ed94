"""What an EC2 instance description means (fleet.inventory): cluster membership from tags, the columns
discovery writes, and whether an instance is authorized. Pure functions: no database, no AWS."""

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from fleet.choices import Lifecycle, OrchestratorType, PriceSource
from fleet.inventory import cluster_membership, instance_fields, is_authorized, tag_dict

K8S, STANDALONE = OrchestratorType.KUBERNETES, OrchestratorType.STANDALONE


@pytest.mark.parametrize(
    ("tags", "orchestrator", "membership"),
    [
        pytest.param({}, STANDALONE, {}, id="no tags"),
        pytest.param({"Name": "web-1", "ManagedBy": "SpotOptimizer"}, STANDALONE, {}, id="standalone"),
        pytest.param(
            {"aws:autoscaling:groupName": "web-asg"}, STANDALONE, {"asg_name": "web-asg"}, id="plain ASG member"
        ),
        pytest.param(
            {
                "eks:cluster-name": "prod",
                "eks:nodegroup-name": "ng-general",
                "kubernetes.io/cluster/prod": "owned",
                "aws:autoscaling:groupName": "eks-ng-general-1234",
            },
            K8S,
            {"cluster_name": "prod", "node_group": "ng-general", "asg_name": "eks-ng-general-1234"},
            id="EKS managed node group",
        ),
        pytest.param(
            {"aws:eks:cluster-name": "prod", "kubernetes.io/cluster/prod": "owned"},
            K8S,
            {"cluster_name": "prod"},
            id="aws:eks:cluster-name",
        ),
        pytest.param(
            {
                "alpha.eksctl.io/cluster-name": "dev",
                "alpha.eksctl.io/nodegroup-name": "ng-spot",
                "kubernetes.io/cluster/dev": "owned",
            },
            K8S,
            {"cluster_name": "dev", "node_group": "ng-spot"},
            id="eksctl unmanaged node group",
        ),
        pytest.param(
            {"karpenter.sh/nodepool": "default", "kubernetes.io/cluster/analytics": "owned"},
            K8S,
            {"cluster_name": "analytics", "nodepool": "default"},
            id="Karpenter v1 node",
        ),
        pytest.param(
            {"karpenter.sh/provisioner-name": "legacy", "karpenter.sh/cluster": "old"},
            K8S,
            {"cluster_name": "old", "nodepool": "legacy"},
            id="Karpenter v0 provisioner",
        ),
        pytest.param(
            {"kubernetes.io/cluster/self-managed": "shared"},
            K8S,
            {"cluster_name": "self-managed"},
            id="kubernetes.io/cluster/<name> only",
        ),
        pytest.param(
            {
                "k8s.io/cluster-autoscaler/enabled": "true",
                "k8s.io/cluster-autoscaler/kops-cluster": "owned",
                "aws:autoscaling:groupName": "nodes-a",
            },
            K8S,
            {"cluster_name": "kops-cluster", "asg_name": "nodes-a"},
            id="cluster-autoscaler tags (the 'enabled' key is not a cluster)",
        ),
        pytest.param(
            {"k8s.io/cluster-autoscaler/enabled": "true"},
            STANDALONE,
            {},
            id="cluster-autoscaler 'enabled' alone names no cluster",
        ),
        pytest.param(
            {"eks:cluster-name": "", "kubernetes.io/cluster/named-by-key": "owned"},
            K8S,
            {"cluster_name": "named-by-key"},
            id="an empty cluster-name tag falls back to the kubernetes.io key",
        ),
        pytest.param({"eks:nodegroup-name": "orphan"}, K8S, {"node_group": "orphan"}, id="node group without cluster"),
    ],
)
def test_cluster_membership_from_tags(tags, orchestrator, membership):
    assert cluster_membership(tags) == (orchestrator, membership)


def test_the_most_specific_cluster_name_tag_wins():
    tags = {
        "kubernetes.io/cluster/from-key": "owned",
        "alpha.eksctl.io/cluster-name": "from-eksctl",
        "eks:cluster-name": "from-eks",
    }
    assert cluster_membership(tags)[1] == {"cluster_name": "from-eks"}


def test_tag_dict():
    assert tag_dict({"Tags": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": ""}]}) == {"a": "1", "b": ""}
    assert tag_dict({}) == {}
    assert tag_dict({"Tags": None}) == {}


@pytest.mark.parametrize(
    ("rules", "tags", "authorized"),
    [
        (["ManagedBy=SpotOptimizer"], {"ManagedBy": "SpotOptimizer"}, True),
        (["ManagedBy=SpotOptimizer"], {"ManagedBy": "Other"}, False),
        (["ManagedBy=SpotOptimizer"], {"ManagedBy": "spotoptimizer"}, False),  # values are case-sensitive
        (["ManagedBy=SpotOptimizer"], {"managedby": "SpotOptimizer"}, False),  # so are keys, as in AWS
        (["ManagedBy=SpotOptimizer"], {}, False),
        (["Team"], {"Team": ""}, True),  # "Key" alone: any value, even empty
        (["Team"], {"Team": "payments"}, True),
        (["Team"], {"Owner": "payments"}, False),
        (["Team", "ManagedBy=SpotOptimizer"], {"ManagedBy": "SpotOptimizer"}, True),
        (["Team", "ManagedBy=SpotOptimizer"], {"ManagedBy": "Other"}, False),
        (["Url=https://x/?a=b"], {"Url": "https://x/?a=b"}, True),  # only the first "=" splits
        ([], {"ManagedBy": "SpotOptimizer"}, False),
    ],
)
def test_is_authorized_honours_the_setting(settings, rules, tags, authorized):
    settings.FLEET_AUTHORIZING_TAGS = rules
    assert is_authorized(tags) is authorized


def test_default_authorizing_tags(settings):
    assert settings.FLEET_AUTHORIZING_TAGS == [
        "ManagedBy=SpotOptimizer",
        "aws:autoscaling:groupName",
        "eks:cluster-name",
    ]
    assert is_authorized({"aws:autoscaling:groupName": "any-asg"})
    assert is_authorized({"eks:cluster-name": "prod"})
    assert not is_authorized({"Name": "hand-made"})


def _raw(**overrides):
    raw = {
        "InstanceId": "i-0123456789abcdef0",
        "InstanceType": "m5.large",
        "Placement": {"AvailabilityZone": "eu-west-1b"},
        "State": {"Name": "running"},
        "LaunchTime": datetime(2026, 3, 1, 14, 0, tzinfo=timezone(timedelta(hours=2))),
        "Tags": [{"Key": "Name", "Value": "api-1"}, {"Key": "eks:cluster-name", "Value": "prod"}],
        "SubnetId": "subnet-1",
        "VpcId": "vpc-1",
        "PrivateIpAddress": "10.0.0.7",
        "PrivateDnsName": "ip-10-0-0-7.eu-west-1.compute.internal",
        "ImageId": "ami-1",
        "Architecture": "x86_64",
        "PlatformDetails": "Linux/UNIX",
    }
    raw.update(overrides)
    return raw


def test_instance_fields_of_an_on_demand_instance():
    assert instance_fields(_raw(), "eu-west-1") == {
        "instance_type": "m5.large",
        "availability_zone": "eu-west-1b",
        "region": "eu-west-1",
        "lifecycle": Lifecycle.ON_DEMAND,
        "hourly_price": Decimal("0.1066"),  # the catalog's m5.large in eu-west-1
        "price_source": PriceSource.ON_DEMAND_LIST,
        "orchestrator_type": K8S,
        "cluster_membership": {"cluster_name": "prod"},
        "search_text": "i-0123456789abcdef0 m5.large api-1 prod",
        "instance_metadata": {
            "state": "running",
            "launch_time": "2026-03-01T12:00:00+00:00",  # normalised to UTC
            "tags": {"Name": "api-1", "eks:cluster-name": "prod"},
            "name": "api-1",
            "subnet_id": "subnet-1",
            "vpc_id": "vpc-1",
            "private_ip": "10.0.0.7",
            "private_dns_name": "ip-10-0-0-7.eu-west-1.compute.internal",
            "image_id": "ami-1",
            "architecture": "x86_64",
            "platform": "Linux/UNIX",
            "spot_price": "",
        },
    }


def test_instance_fields_of_a_spot_instance_carry_its_price():
    fields = instance_fields(_raw(InstanceLifecycle="spot", _spot_price="0.0312"), "eu-west-1")
    assert fields["lifecycle"] == Lifecycle.SPOT
    assert fields["instance_metadata"]["spot_price"] == "0.0312"


def test_instance_fields_of_a_sparse_description():
    # A stopped instance has no private IP in some cases; nothing optional may be required.
    raw = {"InstanceId": "i-0123456789abcdef1", "InstanceType": "t3.micro", "State": {"Name": "stopped"}}
    fields = instance_fields(raw, "us-east-1")
    assert fields["availability_zone"] == ""
    assert fields["orchestrator_type"] == STANDALONE
    assert fields["instance_metadata"]["state"] == "stopped"
    assert fields["instance_metadata"]["launch_time"] == ""
    assert fields["instance_metadata"]["tags"] == {}


def test_launch_time_is_iso_utc():
    fields = instance_fields(_raw(LaunchTime=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)), "eu-west-1")
    assert fields["instance_metadata"]["launch_time"] == "2026-01-02T03:04:05+00:00"
