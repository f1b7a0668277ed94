"""What an EC2 instance description means for spotopt: orchestrator and cluster membership from tags,
lifecycle, the metadata we keep, and whether the instance is authorized. Pure functions, no I/O."""

from datetime import UTC, datetime

from django.conf import settings

from .choices import Lifecycle, OrchestratorType
from .pricing import instance_hourly

K8S_CLUSTER_TAG_PREFIX = "kubernetes.io/cluster/"
CLUSTER_AUTOSCALER_TAG_PREFIX = "k8s.io/cluster-autoscaler/"
# Cluster-name tags, most specific first (EKS managed node groups, eksctl, Karpenter, self-managed).
CLUSTER_NAME_TAGS = ("eks:cluster-name", "aws:eks:cluster-name", "alpha.eksctl.io/cluster-name", "karpenter.sh/cluster")
NODE_GROUP_TAGS = ("eks:nodegroup-name", "alpha.eksctl.io/nodegroup-name")
NODEPOOL_TAGS = ("karpenter.sh/nodepool", "karpenter.sh/provisioner-name")
# What cluster_membership may hold, in the order the search text lists it.
MEMBERSHIP_KEYS = ("cluster_name", "node_group", "nodepool", "asg_name")
# EC2 states of instances that exist (terminated ones are gone: the row becomes inactive).
LIVE_STATES = frozenset({"pending", "running", "stopping", "stopped", "shutting-down"})


def tag_dict(resource: dict) -> dict:
    return {tag["Key"]: tag["Value"] for tag in resource.get("Tags") or []}


def cluster_membership(tags: dict) -> tuple[str, dict]:
    """(orchestrator_type, membership) from an instance's tags."""
    cluster = next((tags[key] for key in CLUSTER_NAME_TAGS if tags.get(key)), "")
    if not cluster:
        for key in tags:
            for prefix in (K8S_CLUSTER_TAG_PREFIX, CLUSTER_AUTOSCALER_TAG_PREFIX):
                name = key.removeprefix(prefix)
                if key.startswith(prefix) and name not in ("enabled", ""):
                    cluster = name
                    break
            if cluster:
                break
    membership = {}
    if cluster:
        membership["cluster_name"] = cluster
    node_group = next((tags[key] for key in NODE_GROUP_TAGS if tags.get(key)), "")
    if node_group:
        membership["node_group"] = node_group
    nodepool = next((tags[key] for key in NODEPOOL_TAGS if tags.get(key)), "")
    if nodepool:
        membership["nodepool"] = nodepool
    if tags.get("aws:autoscaling:groupName"):
        membership["asg_name"] = tags["aws:autoscaling:groupName"]
    kubernetes = bool(cluster or node_group or nodepool)
    return (OrchestratorType.KUBERNETES if kubernetes else OrchestratorType.STANDALONE), membership


def authorizing_rule(tags: dict) -> str | None:
    """The first rule of settings.FLEET_AUTHORIZING_TAGS ("Key" or "Key=Value") the tags satisfy."""
    for rule in settings.FLEET_AUTHORIZING_TAGS:
        key, _, value = rule.partition("=")
        if key in tags and (not value or tags[key] == value):
            return rule
    return None


def is_authorized(tags: dict) -> bool:
    return authorizing_rule(tags) is not None


def authorized_condition(tags_path: str = "instance_metadata__tags"):
    """The same rules as `is_authorized`, as a database condition on the stored tags (so enforcement runs
    as set-based UPDATEs): a "Key" rule needs the key, a "Key=Value" rule the key with that value."""
    from django.db.models import Q

    condition = Q(pk__in=[])
    for rule in settings.FLEET_AUTHORIZING_TAGS:
        key, _, value = rule.partition("=")
        # has_key first: comparing a missing key gives NULL, which would make the negation (the rogue ones)
        # miss instances that lack the tag altogether.
        rule_condition = Q(**{f"{tags_path}__has_key": key})
        if value:
            rule_condition &= Q(**{f"{tags_path}__{key}": value})
        condition |= rule_condition
    return condition


def search_text(instance_id: str, instance_type: str, metadata: dict, membership: dict) -> str:
    """What the fleet's search box matches, lower case: id, type, Name tag, cluster, node group, nodepool, ASG."""
    metadata = metadata or {}
    name = metadata.get("name") or (metadata.get("tags") or {}).get("Name", "")
    parts = [instance_id, instance_type, name, *((membership or {}).get(key, "") for key in MEMBERSHIP_KEYS)]
    return " ".join(part for part in parts if part).lower()


def _iso(value) -> str:
    return value.astimezone(UTC).isoformat() if isinstance(value, datetime) else str(value or "")


def instance_fields(raw: dict, region: str) -> dict:
    """The Instance columns discovery writes, from one DescribeInstances entry."""
    tags = tag_dict(raw)
    orchestrator, membership = cluster_membership(tags)
    # Read per instance: the instance-lifecycle filter is not available everywhere (moto).
    lifecycle = Lifecycle.SPOT if raw.get("InstanceLifecycle") == "spot" else Lifecycle.ON_DEMAND
    price, price_source = instance_hourly(
        lifecycle=lifecycle, instance_type=raw["InstanceType"], region=region, spot_price=raw.get("_spot_price", "")
    )
    metadata = {
        "state": raw.get("State", {}).get("Name", ""),
        "launch_time": _iso(raw.get("LaunchTime")),
        "tags": tags,
        "name": tags.get("Name", ""),
        "subnet_id": raw.get("SubnetId", ""),
        "vpc_id": raw.get("VpcId", ""),
        "private_ip": raw.get("PrivateIpAddress", ""),
        # A Kubernetes node's name on EKS (kube.drain finds the node by it, else by its providerID).
        "private_dns_name": raw.get("PrivateDnsName", ""),
        "image_id": raw.get("ImageId", ""),
        "architecture": raw.get("Architecture", ""),
        "platform": raw.get("PlatformDetails", raw.get("Platform", "")),
        # Latest DescribeSpotPriceHistory price of the instance's pool (spot instances only).
        "spot_price": raw.get("_spot_price", ""),
    }
    return {
        "instance_type": raw["InstanceType"],
        "availability_zone": raw.get("Placement", {}).get("AvailabilityZone", ""),
        "region": region,
        "lifecycle": lifecycle,
        "hourly_price": price,
        "price_source": price_source,
        "orchestrator_type": orchestrator,
        "cluster_membership": membership,
        "search_text": search_text(raw["InstanceId"], raw["InstanceType"], metadata, membership),
        "instance_metadata": metadata,
    }
