"""Stands in for the parts of a cluster the local kube-apiserver (demo.kube_local) does not have.

There is no kubelet, scheduler or controller-manager behind the demo's and the tests' server, so this
helper plays them, and only them: it registers nodes and marks them Ready (a kubelet joining), places pods
on nodes and sets them Running (the scheduler and a kubelet), removes pods whose deletion was requested (a
kubelet finishing a pod's termination), and sets a PodDisruptionBudget's status (the disruption
controller). Everything spotopt does is done by the product's own code against the real API server.
"""

import contextlib
import json
import threading
import time

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException


class Kubelet:
    def __init__(self, server, token: str | None = None):
        config = k8s.Configuration()
        config.host = server.endpoint
        config.ssl_ca_cert = str(server.directory / "certs" / "apiserver.crt")
        config.api_key = {"BearerToken": token or server.admin_token}
        config.api_key_prefix = {"BearerToken": "Bearer"}
        self.api_client = k8s.ApiClient(config)
        self.core = k8s.CoreV1Api(self.api_client)
        self.apps = k8s.AppsV1Api(self.api_client)
        self._stop = threading.Event()
        self._thread = None

    # Nodes -------------------------------------------------------------------------------------------------

    def add_node(self, name: str, *, instance_id: str, zone: str = "us-east-1a", ready: bool = True):
        self.core.create_node(
            {
                "metadata": {"name": name, "labels": {"topology.kubernetes.io/zone": zone}},
                "spec": {"providerID": f"aws:///{zone}/{instance_id}"},
            }
        )
        if ready:
            self.mark_ready(name)
        return name

    def mark_ready(self, name: str) -> None:
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        condition = {
            "type": "Ready",
            "status": "True",
            "reason": "KubeletReady",
            "lastHeartbeatTime": now,
            "lastTransitionTime": now,
        }
        self.core.patch_node_status(name, {"status": {"conditions": [condition]}})

    def node(self, name: str):
        return self.core.read_node(name)

    # Pods --------------------------------------------------------------------------------------------------

    def ensure_namespace(self, name: str) -> None:
        try:
            self.core.create_namespace({"metadata": {"name": name}})
        except ApiException as exc:
            if exc.status != 409:
                raise

    def run_pod(
        self,
        namespace: str,
        name: str,
        *,
        node: str,
        labels: dict | None = None,
        daemonset: bool = False,
        mirror: bool = False,
    ):
        """A pod placed on `node` and Running, as the scheduler and the node's kubelet would leave it."""
        self.ensure_namespace(namespace)
        metadata = {"name": name, "labels": labels or {}}
        if daemonset:
            ds = self._daemonset(namespace)
            metadata["ownerReferences"] = [
                {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": ds.metadata.name, "uid": ds.metadata.uid}
            ]
        if mirror:
            metadata["annotations"] = {"kubernetes.io/config.mirror": "static"}
        self.core.create_namespaced_pod(
            namespace,
            {
                "metadata": metadata,
                "spec": {"nodeName": node, "containers": [{"name": "app", "image": "registry.local/app:1"}]},
            },
        )
        # Running and Ready, as a kubelet reports a started pod (an unready pod is evictable whatever its
        # budget says, when the budget is otherwise met).
        ready = {"type": "Ready", "status": "True"}
        self.core.patch_namespaced_pod_status(name, namespace, {"status": {"phase": "Running", "conditions": [ready]}})
        return name

    def _daemonset(self, namespace: str):
        try:
            return self.apps.read_namespaced_daemon_set("node-agent", namespace)
        except ApiException as exc:
            if exc.status != 404:
                raise
        labels = {"app": "node-agent"}
        return self.apps.create_namespaced_daemon_set(
            namespace,
            {
                "metadata": {"name": "node-agent"},
                "spec": {
                    "selector": {"matchLabels": labels},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {"containers": [{"name": "agent", "image": "registry.local/agent:1"}]},
                    },
                },
            },
        )

    def pods_on(self, node: str) -> list[str]:
        pods = self.core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={node}").items
        return sorted(f"{p.metadata.namespace}/{p.metadata.name}" for p in pods)

    def pods_on_all(self) -> list[str]:
        return sorted(
            f"{p.metadata.namespace}/{p.metadata.name}" for p in self.core.list_pod_for_all_namespaces().items
        )

    def has_pdb(self, namespace: str, name: str) -> bool:
        path = f"/apis/policy/v1beta1/namespaces/{namespace}/poddisruptionbudgets"
        return any(b["metadata"]["name"] == name for b in self._raw("GET", path).get("items", []))

    def finish_terminating(self) -> int:
        """Remove pods whose deletion was requested (what the kubelet does once their containers stopped)."""
        done = 0
        for pod in self.core.list_pod_for_all_namespaces().items:
            if pod.metadata.deletion_timestamp is not None:
                try:
                    self.core.delete_namespaced_pod(pod.metadata.name, pod.metadata.namespace, grace_period_seconds=0)
                    done += 1
                except ApiException as exc:
                    if exc.status != 404:
                        raise
        return done

    def join_launched(self, ec2, cluster_name: str) -> list[str]:
        """Register a Ready node for every running EC2 instance tagged for `cluster_name` that has none yet
        (what a new instance's kubelet does when its user data joins it to the cluster)."""
        known = {node.spec.provider_id for node in self.core.list_node().items}
        joined = []
        pages = ec2.get_paginator("describe_instances").paginate(
            Filters=[
                {"Name": "tag:eks:cluster-name", "Values": [cluster_name]},
                {"Name": "instance-state-name", "Values": ["running"]},
            ]
        )
        for page in pages:
            for reservation in page["Reservations"]:
                for raw in reservation["Instances"]:
                    zone = raw["Placement"]["AvailabilityZone"]
                    if f"aws:///{zone}/{raw['InstanceId']}" in known:
                        continue
                    name = raw.get("PrivateDnsName") or f"node-{raw['InstanceId']}"
                    joined.append(self.add_node(name, instance_id=raw["InstanceId"], zone=zone))
        return joined

    def join_from(self, spec: dict) -> list[str]:
        """`join_launched` for the demo: {"cluster", "region", "role_arn", "external_id"} (moto's STS)."""
        import boto3

        sts = boto3.client("sts", region_name=spec["region"])
        credentials = sts.assume_role(
            RoleArn=spec["role_arn"], RoleSessionName="demo-kubelet", ExternalId=spec.get("external_id", "")
        )["Credentials"]
        ec2 = boto3.client(
            "ec2",
            region_name=spec["region"],
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )
        return self.join_launched(ec2, spec["cluster"])

    def start(self, every: float = 0.1, *, ec2=None, cluster_name: str = "") -> "Kubelet":
        """Finish terminating pods in the background, as running kubelets would (and, given `ec2`, join new
        instances of `cluster_name` as Ready nodes)."""

        def loop():
            while not self._stop.is_set():
                with contextlib.suppress(Exception):  # the server is being torn down
                    self.finish_terminating()
                    if ec2 is not None:
                        self.join_launched(ec2, cluster_name)
                self._stop.wait(every)

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # PodDisruptionBudgets (served as policy/v1beta1 only by 1.20; the client has no API class for it) ---

    def _raw(self, method: str, path: str, body=None):
        answer = self.api_client.call_api(
            path,
            method,
            body=body,
            header_params={"Content-Type": "application/json", "Accept": "application/json"},
            auth_settings=["BearerToken"],
            _preload_content=False,
            _return_http_data_only=True,
        )
        return json.loads(answer.data or b"{}")

    def pdb(self, namespace: str, name: str, *, match_labels: dict, allowed: int) -> None:
        self.ensure_namespace(namespace)
        self._raw(
            "POST",
            f"/apis/policy/v1beta1/namespaces/{namespace}/poddisruptionbudgets",
            {
                "apiVersion": "policy/v1beta1",
                "kind": "PodDisruptionBudget",
                "metadata": {"name": name},
                "spec": {"minAvailable": 1, "selector": {"matchLabels": match_labels}},
            },
        )
        self.pdb_allow(namespace, name, allowed)

    def pdb_allow(self, namespace: str, name: str, allowed: int) -> None:
        """Set the budget's status as the disruption controller would: `allowed` disruptions now."""
        path = f"/apis/policy/v1beta1/namespaces/{namespace}/poddisruptionbudgets/{name}"
        current = self._raw("GET", path)
        current["status"] = {
            "observedGeneration": current["metadata"].get("generation", 1),
            "disruptionsAllowed": allowed,
            "currentHealthy": 1 + allowed,
            "desiredHealthy": 1,
            "expectedPods": 1 + allowed,
        }
        self._raw("PUT", f"{path}/status", current)

    def reset(self) -> None:
        """Remove what a test left: its namespaces' pods and budgets, and every node."""
        for pod in self.core.list_pod_for_all_namespaces().items:
            try:
                self.core.delete_namespaced_pod(pod.metadata.name, pod.metadata.namespace, grace_period_seconds=0)
            except ApiException as exc:
                if exc.status != 404:
                    raise
        for namespace in ("shop", "system", "batch"):
            path = f"/apis/policy/v1beta1/namespaces/{namespace}/poddisruptionbudgets"
            for budget in self._raw("GET", path).get("items", []):
                self._raw("DELETE", f"{path}/{budget['metadata']['name']}")
        for node in self.core.list_node().items:
            self.core.delete_node(node.metadata.name)
