"""Taint, cordon and drain a Kubernetes node through its cluster's API, the way
aws-node-termination-handler does for one cluster, recorded step by step on a NodeDrain.

1. Find the node: by the instance's private DNS name (EKS's node name), else by `spec.providerID`
   (`aws:///<zone>/<instance id>`). A node that is not in the cluster is recorded, never a crash.
2. Taint it with NTH's key for the trigger (`aws-node-termination-handler/spot-itn`,
   `.../rebalance-recommendation`; NoSchedule, value: the event id, at most 63 characters), so tooling that
   knows NTH recognises it, and cordon it (`spec.unschedulable`). Both are a read-modify-write of the node
   with its resourceVersion (a 409 conflict is read again and retried).
3. Evict every pod on it through the Eviction API: policy/v1, and policy/v1beta1 on servers that do not
   serve v1 (Kubernetes < 1.22); DaemonSet pods (their controller would put them back at once) and mirror
   pods (static pods the kubelet owns) are left alone, finished pods are skipped. A 429 (a
   PodDisruptionBudget allows no disruption now) is retried with a doubling backoff until the deadline.
4. Wait until the evicted pods are gone from the node (deleted or moved: another uid), until the deadline.

The deadline (KUBE_DRAIN_DEADLINE_SECONDS, 90 s) fits inside the two-minute warning; whatever is left then is
recorded with why (INCOMPLETE). A per-account dry run records what would be done and writes nothing.
"""

import logging
import re
import time
from dataclasses import dataclass, field
from datetime import timedelta

import urllib3
from django.conf import settings
from django.utils import timezone
from kubernetes.client.exceptions import ApiException

from spotopt import kube
from spotopt.errors import DomainError

from .choices import DrainStatus, DrainTrigger
from .models import KubeCluster, NodeDrain

logger = logging.getLogger(__name__)

# NTH's taint keys (pkg/node/node.go), so tooling that knows NTH recognises ours.
TAINT_KEYS = {
    DrainTrigger.TERMINATION_NOTICE: "aws-node-termination-handler/spot-itn",
    DrainTrigger.REBALANCE_NOTICE: "aws-node-termination-handler/rebalance-recommendation",
    DrainTrigger.SWITCH: "spotopt.io/switch",
}
TAINT_EFFECT = "NoSchedule"
MAX_TAINT_VALUE = 63
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
ALREADY_CORDONED = "already cordoned"  # by someone else: a rollback leaves it so
EVICTION_APIS = ("policy/v1", "policy/v1beta1")
MAX_BACKOFF_SECONDS = 8.0
CONFLICT_RETRIES = 5


@dataclass
class _Pod:
    namespace: str
    name: str
    uid: str
    requested: bool = False
    why: str = ""  # why it is still there (PDB, an error)
    failed: bool = False  # refused for good (not retried)


@dataclass
class DrainRun:
    """One drain in progress: the row, the API, the clock."""

    drain: NodeDrain
    api: kube.KubeApi
    deadline: float
    pods: list[_Pod] = field(default_factory=list)
    eviction_api: str = EVICTION_APIS[0]

    def step(self, name: str, detail: str = "") -> None:
        self.drain.steps.append({"step": name, "at": timezone.now().isoformat(), "detail": detail})
        NodeDrain.objects.filter(pk=self.drain.pk).update(steps=self.drain.steps, updated_at=timezone.now())

    def left(self) -> float:
        return self.deadline - time.monotonic()


# --- Finding the node -----------------------------------------------------------------------------------


def provider_id_matches(provider_id: str | None, instance_id: str) -> bool:
    return bool(provider_id) and provider_id.rstrip("/").rsplit("/", 1)[-1] == instance_id


def node_name_for(api: kube.KubeApi, instance) -> str | None:
    """The node of `instance` in the cluster (None: it is not there)."""
    dns = (instance.instance_metadata or {}).get("private_dns_name") or ""
    if dns:
        try:
            node = api.node(dns)
            if not node.spec.provider_id or provider_id_matches(node.spec.provider_id, instance.instance_id):
                return node.metadata.name
        except ApiException as exc:
            if exc.status != 404:
                raise
    for node in api.nodes():
        if provider_id_matches(node.spec.provider_id, instance.instance_id):
            return node.metadata.name
    return None


def node_is_ready(node) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in (node.status.conditions or []))


# --- Node writes ----------------------------------------------------------------------------------------


def _update_node(api: kube.KubeApi, name: str, change) -> bool:
    """Read the node, let `change(node) -> body or None` say what to patch, patch it with the node's
    resourceVersion; a conflict reads again. False when nothing needed changing."""
    for _ in range(CONFLICT_RETRIES):
        node = api.node(name)
        body = change(node)
        if body is None:
            return False
        body.setdefault("metadata", {})["resourceVersion"] = node.metadata.resource_version
        try:
            api.patch_node(name, body)
            return True
        except ApiException as exc:
            if exc.status != 409:
                raise
    raise kube.KubeError(f"The node {name} kept changing while spotopt tried to update it; try again.")


def _taints(node) -> list[dict]:
    return [
        {"key": t.key, "value": t.value, "effect": t.effect} | ({"timeAdded": t.time_added} if t.time_added else {})
        for t in (node.spec.taints or [])
    ]


def taint_value(value: str) -> str:
    """A taint's value is a label value: at most 63 of [A-Za-z0-9._-], alphanumeric at both ends (an event id
    from a webhook may hold ':' or '/')."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "-", value)[:MAX_TAINT_VALUE]
    return re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", cleaned)


def taint_node(api: kube.KubeApi, name: str, key: str, value: str) -> bool:
    def change(node):
        taints = _taints(node)
        if any(t["key"] == key and t["effect"] == TAINT_EFFECT for t in taints):
            return None
        taints.append({"key": key, "value": taint_value(value), "effect": TAINT_EFFECT})
        return {"spec": {"taints": taints}}

    return _update_node(api, name, change)


def cordon_node(api: kube.KubeApi, name: str, unschedulable: bool = True) -> bool:
    def change(node):
        return None if bool(node.spec.unschedulable) == unschedulable else {"spec": {"unschedulable": unschedulable}}

    return _update_node(api, name, change)


def untaint_node(api: kube.KubeApi, name: str, key: str) -> bool:
    def change(node):
        taints = _taints(node)
        kept = [t for t in taints if t["key"] != key]
        return None if len(kept) == len(taints) else {"spec": {"taints": kept}}

    return _update_node(api, name, change)


# --- Pods -----------------------------------------------------------------------------------------------


def _skip_reason(pod) -> str:
    if any(ref.kind == "DaemonSet" for ref in (pod.metadata.owner_references or [])):
        return "DaemonSet pod"
    if MIRROR_ANNOTATION in (pod.metadata.annotations or {}):
        return "mirror pod"
    if pod.status and pod.status.phase in ("Succeeded", "Failed"):
        return "finished pod"
    return ""


def _version_not_served(exc: ApiException) -> bool:
    """The server does not know Eviction in policy/v1 (Kubernetes < 1.22 answers 400 'no kind "Eviction" is
    registered for version "policy/v1"'); any other 400 is the pod's own problem."""
    reason = kube._server_reason(exc).lower()
    return exc.status in (400, 406) and ("policy/v1" in reason or "no kind" in reason or "not registered" in reason)


def _evict(run: DrainRun, pod: _Pod) -> None:
    """One eviction request; sets pod.requested or pod.why (why it must be tried again). Falls back to
    policy/v1beta1 once. A 5xx, a timeout or a refused connection is retried like a 429, within the deadline."""
    # A pod gets the grace period, but never more than the drain has left (AWS will not wait for it).
    grace = max(0, min(settings.KUBE_POD_GRACE_SECONDS, int(run.left())))
    try:
        run.api.evict(pod.namespace, pod.name, api_version=run.eviction_api, grace_seconds=grace)
        pod.requested, pod.why = True, ""
    except ApiException as exc:
        if exc.status == 404:
            pod.requested, pod.why = True, ""  # already gone
        elif exc.status == 429:
            pod.why = f"a PodDisruptionBudget allows no disruption now ({kube._server_reason(exc)})"
        elif run.eviction_api == EVICTION_APIS[0] and _version_not_served(exc):
            run.step("eviction API", f"{EVICTION_APIS[0]} not served ({exc.status}); using {EVICTION_APIS[1]}")
            run.eviction_api = EVICTION_APIS[1]
            _evict(run, pod)
        elif exc.status in (0, None) or exc.status >= 500:
            pod.why = f"the API server did not answer the eviction ({exc.status or 'no answer'})"
        else:
            pod.why, pod.failed = f"the eviction was refused ({exc.status}: {kube._server_reason(exc)})", True
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        pod.why = f"the API server did not answer the eviction ({type(exc).__name__})"


def _evict_all(run: DrainRun) -> None:
    backoff = settings.KUBE_EVICTION_BACKOFF_SECONDS
    while True:
        waiting = [pod for pod in run.pods if not pod.requested and not pod.failed]
        for pod in waiting:
            if run.left() <= 0:
                return
            _evict(run, pod)
        blocked = [pod for pod in run.pods if not pod.requested and not pod.failed]
        if not blocked or run.left() <= 0:
            return
        pause = min(backoff, max(run.left(), 0))
        pdb = sum(1 for pod in blocked if "PodDisruptionBudget" in pod.why)
        why = f"{pdb} refused (429)" + (f", {len(blocked) - pdb} unanswered" if len(blocked) > pdb else "")
        run.step("eviction blocked", f"{len(blocked)} pod(s): {why}; retrying in {pause:.1f} s")
        time.sleep(pause)
        backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)


def _wait_gone(run: DrainRun, node_name: str) -> set[str]:
    """Until the deadline: the uids of evicted pods that have left the node (a failed listing is tried again)."""
    requested = {pod.uid for pod in run.pods if pod.requested}
    gone: set[str] = set()
    first = True  # asked at least once, even when the evictions used up the deadline
    while first or run.left() > 0:
        first = False
        try:
            present = {p.metadata.uid for p in run.api.pods_on(node_name)}
        except (ApiException, urllib3.exceptions.HTTPError, OSError):
            present = None  # the server did not answer: ask again
        if present is not None:
            gone = requested - present
            if gone == requested:
                return gone
        time.sleep(min(0.5, max(run.left(), 0)))
    return gone


# --- The drain ------------------------------------------------------------------------------------------


def node_drain(
    *,
    cluster: KubeCluster,
    instance,
    trigger: str,
    event=None,
    switch=None,
    node_name: str | None = None,
    deadline_seconds: float | None = None,
) -> NodeDrain:
    """Taint, cordon and drain the node of `instance`; returns the finished NodeDrain (never raises for
    what the cluster answers: a refusal is a FAILED drain with the reason)."""
    from .services import access_for, cluster_mark

    account = instance.account
    drain = NodeDrain.objects.create(
        account=account,
        cluster=cluster,
        instance=instance,
        ec2_instance_id=instance.instance_id,
        node_name=node_name or "",
        trigger=trigger,
        event=event,
        switch=switch,
        dry_run=account.kubernetes_dry_run,
        started_at=timezone.now(),
        steps=[],
    )
    seconds = deadline_seconds if deadline_seconds is not None else settings.KUBE_DRAIN_DEADLINE_SECONDS
    why = f"{DrainTrigger(trigger).label}" + (f" {event.event_id}" if event is not None else "")
    access = access_for(cluster)
    try:
        with kube.kube_errors(f"drain the node of {instance.instance_id}", access), kube.api_for(access) as api:
            run = DrainRun(drain, api, time.monotonic() + seconds)
            api.deadline = run.deadline
            run.step(
                "event", f"{why}; deadline {seconds:.0f} s" + ("; dry run: nothing is written" if drain.dry_run else "")
            )
            status = _drain(run, instance, trigger, event, node_name)
        cluster_mark(cluster, reachable=True)
    except DomainError as failure:
        if failure.code == "kubernetes_forbidden":
            cluster_mark(cluster, reachable=True, limited=True, detail=failure.message)
        elif isinstance(failure, kube.KubeUnreachable) or failure.code == "kubernetes_unauthorized":
            cluster_mark(cluster, reachable=False, detail=failure.message)
        drain.steps.append({"step": "failed", "at": timezone.now().isoformat(), "detail": failure.message})
        drain.error_message = failure.message[:4000]
        status = DrainStatus.FAILED
    except Exception as failure:  # never a RUNNING row left behind: the drain ends FAILED, with what happened
        logger.exception("drain %s of %s crashed", drain.pk, instance.instance_id)
        message = f"The drain stopped on an unexpected error ({type(failure).__name__})."
        drain.steps.append({"step": "failed", "at": timezone.now().isoformat(), "detail": message})
        drain.error_message = message
        status = DrainStatus.FAILED
    drain.move_to(status)
    drain.finished_at = timezone.now()
    drain.save()
    logger.info("drain %s of %s: %s", drain.pk, instance.instance_id, drain.status)
    return drain


def _drain(run: DrainRun, instance, trigger: str, event, node_name: str | None) -> str:
    drain, api = run.drain, run.api
    name = node_name or node_name_for(api, instance)
    if name is None:
        run.step("node not found", f"no node of {instance.instance_id} in the cluster (by name or providerID)")
        return DrainStatus.NODE_NOT_FOUND
    drain.node_name = name
    NodeDrain.objects.filter(pk=drain.pk).update(node_name=name)
    key = TAINT_KEYS[trigger]
    value = taint_value(event.event_id if event is not None else str(drain.switch_id or drain.pk))
    if not drain.dry_run:
        # Tainted and cordoned before the pods are listed (as kubectl drain does): nothing new lands after.
        taint_node(api, name, key, value)
        run.step("tainted", f"{key}={value}:{TAINT_EFFECT}")
        changed = cordon_node(api, name)
        run.step("cordoned", name if changed else f"{name} ({ALREADY_CORDONED})")
    found = list(api.pods_on(name))
    evictable, skipped = [], {}
    for pod in found:
        reason = _skip_reason(pod)
        if reason:
            skipped[reason] = skipped.get(reason, 0) + 1
        else:
            evictable.append(_Pod(pod.metadata.namespace, pod.metadata.name, pod.metadata.uid))
    skipped_text = ", ".join(f"{count} {reason}(s)" for reason, count in sorted(skipped.items())) or "none"
    run.pods = evictable
    drain.pods_total = len(evictable)
    NodeDrain.objects.filter(pk=drain.pk).update(pods_total=len(evictable))
    if drain.dry_run:
        run.step("would taint", f"{key}={value}:{TAINT_EFFECT}")
        run.step("would cordon", name)
        run.step("would evict", f"{len(evictable)} pod(s); left alone: {skipped_text}")
        return DrainStatus.DRY_RUN
    run.step("evicting", f"{len(evictable)} pod(s); left alone: {skipped_text}")
    _evict_all(run)
    gone = _wait_gone(run, name) if any(p.requested for p in run.pods) else set()
    drain.eviction_api = run.eviction_api
    drain.pods_evicted = len(gone)
    left = []
    for pod in run.pods:
        if pod.uid in gone:
            continue
        why = pod.why or (
            "evicted, still terminating at the deadline" if pod.requested else "not evicted before the deadline"
        )
        left.append({"namespace": pod.namespace, "name": pod.name, "why": why})
    drain.pods_left = left
    NodeDrain.objects.filter(pk=drain.pk).update(
        eviction_api=drain.eviction_api, pods_evicted=drain.pods_evicted, pods_left=left
    )
    if left:
        run.step("deadline reached", f"pods evicted {len(gone)}/{len(run.pods)}; {len(left)} left")
        return DrainStatus.INCOMPLETE
    run.step("done", f"pods evicted {len(gone)}/{len(run.pods)}")
    return DrainStatus.DRAINED


def node_release(*, cluster: KubeCluster, node_name: str, trigger: str, uncordon: bool = True) -> None:
    """Undo our taint and (when it was ours) the cordon, for a rolled-back switch: the node takes pods again."""
    from .services import access_for

    access = access_for(cluster)
    with kube.kube_errors(f"uncordon the node {node_name}", access), kube.api_for(access) as api:
        untaint_node(api, node_name, TAINT_KEYS[trigger])
        if uncordon:
            cordon_node(api, node_name, unschedulable=False)


def tainted_by(drain: NodeDrain) -> bool:
    return any(s["step"] == "tainted" for s in drain.steps)


def drains_reap_stalled(*, now=None) -> int:
    """Drains left RUNNING by a worker that died (older than any drain may run): FAILED, saying so. The node
    stays cordoned (a person decides; a switch's rollback uncordons its own). Run by the optimizer's job."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.KUBE_DRAIN_DEADLINE_SECONDS + 120)
    stalled = list(NodeDrain.objects.filter(status=DrainStatus.RUNNING, started_at__lt=cutoff)[:200])
    for drain in stalled:
        message = "The worker stopped during the drain; the node may still be cordoned."
        drain.steps.append({"step": "failed", "at": now.isoformat(), "detail": message})
        drain.error_message = message
        drain.move_to(DrainStatus.FAILED)
        drain.finished_at = now
        drain.save(update_fields=["steps", "error_message", "status", "finished_at", "updated_at"])
    return len(stalled)


def cordoned_by_us(drain: NodeDrain) -> bool:
    """Whether this drain cordoned its node (not someone before it): only then may a rollback uncordon it."""
    return any(s["step"] == "cordoned" and ALREADY_CORDONED not in s.get("detail", "") for s in drain.steps)
