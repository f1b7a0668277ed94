"""How clusters and drains look on the pages: badge tones and a drain's outcome in one sentence."""

from spotopt.presentation import register_badges

from .choices import ClusterState, DrainStatus
from .models import KubeCluster, NodeDrain

register_badges(
    KubeCluster,
    {
        "state": {
            ClusterState.UNKNOWN: "",
            ClusterState.REACHABLE: "ok",
            ClusterState.LIMITED: "warn",
            ClusterState.UNREACHABLE: "error",
        }
    },
)
register_badges(
    NodeDrain,
    {
        "status": {
            DrainStatus.RUNNING: "info",
            DrainStatus.DRAINED: "ok",
            DrainStatus.INCOMPLETE: "warn",
            DrainStatus.NODE_NOT_FOUND: "warn",
            DrainStatus.FAILED: "error",
            DrainStatus.DRY_RUN: "",
        }
    },
)


def drain_summary(drain: NodeDrain) -> str:
    """ "Node ip-… drained: pods evicted 3/3", or what blocked it."""
    node = drain.node_name or drain.ec2_instance_id
    if drain.status == DrainStatus.DRAINED:
        return f"Node {node} tainted, cordoned and drained: pods evicted {drain.pods_evicted}/{drain.pods_total}"
    if drain.status == DrainStatus.INCOMPLETE:
        return (
            f"Node {node} tainted and cordoned; the drain reached its deadline with pods evicted "
            f"{drain.pods_evicted}/{drain.pods_total} ({len(drain.pods_left)} left)"
        )
    if drain.status == DrainStatus.NODE_NOT_FOUND:
        return f"{drain.ec2_instance_id} is not a node of its cluster {drain.cluster.name if drain.cluster else ''}"
    if drain.status == DrainStatus.DRY_RUN:
        return f"Dry run: node {node} would be tainted, cordoned and {drain.pods_total} pod(s) evicted"
    if drain.status == DrainStatus.FAILED:
        return f"The drain of {node} failed: {drain.error_message}"
    return f"Draining node {node}"
