"""The demo's Kubernetes cluster: Acme Production's `acme-prod-eks`, served by the local kube-apiserver that
scripts/run_demo.sh starts (demo.kube_local) when the binary has been built (`make kube-apiserver`).

Through the product's services: the cluster is registered with the server's CA and token
(kube.services.cluster_register, which checks it). The kubelet stand-in (demo.kubelet, in the server's
process) joins the account's instances tagged for the cluster as Ready nodes and finishes evicted pods;
this seed puts a few workloads on them (web pods under a PodDisruptionBudget that allows one disruption, a
DaemonSet agent, a batch pod on the Karpenter node). The interruption round (demo.interruptions) then warns
one node-group node and the Karpenter node: each is tainted, cordoned and drained, and the node-group node
is replaced in its group; the timelines are on the instances' pages and under Kubernetes.

Without the binary the run command says so, the cluster is not registered, and those warnings are recorded
with what is missing (no drain).
"""

import json
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from django.conf import settings

from accounts.models import Account, User
from fleet.choices import OrchestratorType
from fleet.models import Instance
from kube.models import KubeCluster
from kube.services import cluster_check, cluster_delete, cluster_register

from .estate import PROD_CLUSTER

JOIN_WAIT_SECONDS = 30


@dataclass
class KubernetesSeed:
    available: bool = False
    note: str = ""
    nodes: int = 0
    pods: int = 0


def kube_directory() -> Path:
    return Path(settings.VAR_DIR) / "kube"


def _access() -> dict | None:
    path = kube_directory() / "access.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _nodes_of(account: Account) -> list[Instance]:
    return list(
        Instance.objects.filter(
            account=account,
            is_active=True,
            orchestrator_type=OrchestratorType.KUBERNETES,
            cluster_membership__cluster_name=PROD_CLUSTER,
        ).order_by("instance_id")
    )


def demo_kubernetes_seed(*, prod: Account, registrar: User, progress) -> KubernetesSeed:
    seed = KubernetesSeed()
    access = _access()
    if access is None:
        seed.note = (
            "no local kube-apiserver (build it once with `make kube-apiserver`, about 12 minutes): "
            f"{PROD_CLUSTER} is not registered, and its nodes' interruption warnings are recorded without a drain"
        )
        progress(f"  Kubernetes: {seed.note}")
        return seed
    seed.available = True
    existing = KubeCluster.objects.filter(account=prod, name=PROD_CLUSTER).first()
    if existing is not None and existing.endpoint != access["endpoint"]:
        cluster_delete(user=registrar, cluster=existing)
        existing = None
    cluster = existing or cluster_register(
        user=registrar,
        account=prod,
        name=PROD_CLUSTER,
        endpoint=access["endpoint"],
        ca_pem=access["ca_pem"],
        token=access["token"],
    )
    cluster = cluster_check(cluster=cluster)
    progress(f"  Kubernetes: {PROD_CLUSTER} registered on {cluster.endpoint}: {cluster.state} {cluster.server_version}")
    # The kubelet stand-in joins the account's instances of the cluster as nodes (and later replacements).
    (kube_directory() / "join.json").write_text(
        json.dumps(
            {"cluster": PROD_CLUSTER, "region": "us-east-1", "role_arn": prod.role_arn, "external_id": prod.external_id}
        )
    )
    from .kubelet import Kubelet

    server = SimpleNamespace(endpoint=access["endpoint"], directory=kube_directory(), admin_token=access["token"])
    kubelet = Kubelet(server)
    nodes = _nodes_of(prod)
    deadline = time.monotonic() + JOIN_WAIT_SECONDS
    joined, cordoned = {}, set()
    while time.monotonic() < deadline:
        listed = kubelet.core.list_node().items
        by_provider = {n.spec.provider_id: n.metadata.name for n in listed}
        cordoned = {n.metadata.name for n in listed if n.spec.unschedulable}
        joined = {node.pk: by_provider.get(f"aws:///{node.availability_zone}/{node.instance_id}") for node in nodes}
        if all(joined.values()):
            break
        time.sleep(0.5)
    seed.nodes = sum(1 for name in joined.values() if name)
    existing_pods = set(kubelet.pods_on_all())
    for index, node in enumerate(nodes):
        name = joined.get(node.pk)
        if not name or name in cordoned:  # a drained node takes no new pods (the scheduler would not place any)
            continue
        karpenter = bool((node.cluster_membership or {}).get("nodepool"))
        wanted = (
            [("batch", f"report-{index}", {"app": "report"}, False)]
            if karpenter
            else [
                ("shop", f"web-{index}", {"app": "web"}, False),
                ("shop", f"cart-{index}", {"app": "cart"}, False),
                ("system", f"node-agent-{index}", {"app": "node-agent"}, True),
            ]
        )
        for namespace, pod, labels, daemonset in wanted:
            if f"{namespace}/{pod}" in existing_pods:
                continue
            kubelet.run_pod(namespace, pod, node=name, labels=labels, daemonset=daemonset)
            seed.pods += 1
    if not kubelet.has_pdb("shop", "web"):
        kubelet.pdb("shop", "web", match_labels={"app": "web"}, allowed=1)
    progress(f"  Kubernetes: {seed.nodes} node(s) Ready, {seed.pods} pod(s) placed (kubelet stand-in)")
    return seed
