"""The replica safety net: what spotopt does for the instance an interruption event names.

- A rebalance recommendation on an active PROD standalone instance launches a replica in the best
  non-poisoned compatible Spot pool (tagged, is_replica, replica_of, replica_expiry = now + 6 h). For an
  Auto Scaling group member the replacement is launched and attached before the doomed member is
  taken out (terminated in the group, its hooks and draining run), so the group's capacity never drops.
- A termination warning on an instance with a live replica promotes the replica: no downtime, nothing is
  logged. Without one an emergency replacement is launched (a safe Spot pool, else on-demand in the same
  zone) and the downtime is logged (cause no_replica) from the warning until the replacement runs.
- A Kubernetes node is tainted, cordoned and drained through its cluster's API (kube.drain, the timeline on
  the instance's page); then a node of a managed node group or Auto Scaling group is replaced as above
  (attached before the doomed one leaves), a Karpenter node is left to Karpenter, and any other node is
  only drained. A cluster spotopt cannot reach or does not know is recorded with what to grant.
- LAB accounts' events never act (they are logged only).

Every reaction is written on the instance (instance_metadata["interruption"]) for its page, and as an
EventReaction row with its reaction time (arrival -> launch request or promotion) for /metrics. A reaction
that fails (AWS refuses, no subnet) is recorded there too; the event itself is already stored.
"""

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from accounts.choices import EnvironmentType
from fleet.choices import Lifecycle, OrchestratorType
from fleet.launch import asg_member_replace, instance_is_running, instance_launch_like, instance_terminate
from fleet.models import Instance, InstanceTypeFacts
from sla.choices import DowntimeCause
from sla.services import downtime_close, downtime_open
from spotopt.errors import DomainError
from spotopt.q import enqueue_on_commit

from .choices import RiskEventType
from .gatekeeper import Pool, poisoned_pools
from .models import EventReaction, GlobalRiskEvent, SpotPoolRisk

logger = logging.getLogger(__name__)

REPLICA_LIFETIME = timedelta(hours=6)
PROMOTED = "replica_promoted"  # the reaction that hands a warned instance's work to its replica


@dataclass(frozen=True)
class Reaction:
    action: str  # what was done, for the instance page and the logs
    detail: str = ""
    replacement_id: str = ""
    launch_requested_at: datetime | None = None


# --- Pools ----------------------------------------------------------------------------------------------


INSTANCE_CLASS = re.compile(r"[a-z]*")  # the letters before the generation: "m" of m5, m6i, m5a


def _kinship(instance_type: str, candidate: str) -> int:
    """0: the same family (m5.large -> m5.xlarge), 1: the same class (m5 -> m6i, m5a), 2: another class.
    A replacement of the same kind behaves like the instance (and is priced like it); among equally fit
    types the catalog's alphabetical order would otherwise pick an unrelated one (a GPU type, say)."""
    family, other = instance_type.split(".")[0], candidate.split(".")[0]
    if family == other:
        return 0
    return 1 if INSTANCE_CLASS.match(family).group() == INSTANCE_CLASS.match(other).group() else 2


def replacement_pools(*, instance: Instance) -> list[Pool]:
    """Compatible Spot pools for `instance`, poisoned ones and its own pool left out, best first: fewest
    interruptions and rebalance recommendations remembered by the hive, then the closest fit (fewest vCPUs,
    least memory), then the kind closest to the instance's (same family, then same class)."""
    from fleet.catalog import compatible_spot_pools

    own = (instance.region, instance.availability_zone, instance.instance_type)
    candidates = [tuple(pool) for pool in compatible_spot_pools(instance=instance) if tuple(pool) != own]
    if not candidates:
        return []
    poisoned = poisoned_pools(candidates)
    safe = [pool for pool in candidates if pool not in poisoned]
    history = {
        (row.region, row.availability_zone, row.instance_type): row.interruption_count
        + int(row.pool_metadata.get("rebalance_count", 0))
        for row in SpotPoolRisk.objects.filter(
            region=instance.region, instance_type__in={pool[2] for pool in safe}
        ).only("region", "availability_zone", "instance_type", "interruption_count", "pool_metadata")
    }
    size = {
        row[0]: row[1:]
        for row in InstanceTypeFacts.objects.filter(
            region=instance.region, instance_type__in={pool[2] for pool in safe}
        ).values_list("instance_type", "vcpus", "memory_mib")
    }
    # sorted() is stable: equal keys keep the catalog's closest-fit order.
    return sorted(
        safe,
        key=lambda pool: (history.get(pool, 0), size.get(pool[2], ()), _kinship(instance.instance_type, pool[2])),
    )


# --- Reacting -------------------------------------------------------------------------------------------


def event_react(*, event: GlobalRiskEvent) -> Reaction | None:
    """Act on one stored event (None: nothing to do for it)."""
    account = event.account
    if account is None or account.environment_type != EnvironmentType.PROD:
        return None
    instance = (
        Instance.objects.select_related("account")
        .filter(account=account, instance_id=event.instance_id, is_active=True)
        .first()
    )
    if instance is None:
        return None
    try:
        if instance.orchestrator_type == OrchestratorType.KUBERNETES:
            reaction = _on_kubernetes_node(instance, event)
        elif event.event_type == RiskEventType.REBALANCE_NOTICE:
            reaction = _on_rebalance(instance)
        else:
            reaction = _on_termination(instance, event)
    except DomainError as exc:
        logger.warning("reaction to %s on %s failed: %s", event.event_id, instance.instance_id, exc.message)
        reaction = Reaction("failed", exc.message)
    _note(instance, event, reaction)
    return reaction


# An interruption warning comes two minutes before AWS reclaims the instance; the drain must end before.
WARNING_SECONDS = 120
WARNING_MARGIN_SECONDS = 10


def _drain_deadline(event: GlobalRiskEvent) -> float:
    """Seconds a node's drain may take: the setting, but for a warning never past two minutes after AWS
    sent it (a reaction delayed in a queue gets what is left, at least a few seconds to cordon)."""
    from django.conf import settings

    if event.event_type != RiskEventType.TERMINATION_NOTICE:
        return settings.KUBE_DRAIN_DEADLINE_SECONDS
    ends = event.reported_at + timedelta(seconds=WARNING_SECONDS - WARNING_MARGIN_SECONDS)
    return max(5.0, min(settings.KUBE_DRAIN_DEADLINE_SECONDS, (ends - timezone.now()).total_seconds()))


def _on_kubernetes_node(instance: Instance, event: GlobalRiskEvent) -> Reaction:
    """Drain the node through its cluster; a node-group node gets its replacement too. For a warning the
    replacement is launched and attached first, the node drained while it boots, then taken out of the group
    (the node is lost anyway); for a rebalance the node is drained first and replaced only once drained."""
    from kube.choices import DrainStatus, DrainTrigger
    from kube.drain import node_drain
    from kube.presentation import drain_summary
    from kube.services import cluster_for

    try:
        cluster = cluster_for(instance)
    except DomainError as unknown:
        return Reaction("cluster_unknown", unknown.message)
    rebalance = event.event_type == RiskEventType.REBALANCE_NOTICE
    trigger = DrainTrigger.REBALANCE_NOTICE if rebalance else DrainTrigger.TERMINATION_NOTICE
    membership = instance.cluster_membership or {}
    drains = []

    def drain():
        drains.append(
            node_drain(
                cluster=cluster,
                instance=instance,
                trigger=trigger,
                event=event,
                deadline_seconds=_drain_deadline(event),
            )
        )
        return drains[-1]

    if membership.get("asg_name") and not rebalance and not instance.account.kubernetes_dry_run:
        try:
            replaced = _node_replacement(instance, before_removal=drain)
        except DomainError as failure:
            done = drains[-1] if drains else drain()  # no replacement: the node is still drained
            return Reaction("failed", f"{drain_summary(done)}; the replacement failed: {failure.message}")
        return Reaction(
            replaced.action,
            f"{drain_summary(drains[-1])}; {replaced.detail}",
            replaced.replacement_id,
            replaced.launch_requested_at,
        )
    done = drain()
    summary = drain_summary(done)
    if done.status in (DrainStatus.DRY_RUN, DrainStatus.FAILED, DrainStatus.INCOMPLETE):
        return Reaction("node_drain_" + done.status.lower(), f"{summary}; no replacement was launched.")
    if membership.get("asg_name"):
        replaced = _on_rebalance(instance)
        return Reaction(
            replaced.action, f"{summary}; then {replaced.detail}", replaced.replacement_id, replaced.launch_requested_at
        )
    if membership.get("nodepool"):
        return Reaction("node_drained", f"{summary}; Karpenter replaces the node (its NodePool decides where).")
    return Reaction("node_drained", f"{summary}; the node is in no group that spotopt could replace it in.")


def _node_replacement(instance: Instance, *, before_removal) -> Reaction:
    """A warned node-group node's replacement: a safe Spot pool, else on-demand of its own type and zone,
    attached to the group before `before_removal` (the drain) and before the node leaves it. No downtime is
    logged: the node's pods were moved, nothing served from it alone."""
    pools = replacement_pools(instance=instance)
    if pools:
        _, zone, instance_type = pools[0]
        lifecycle = Lifecycle.SPOT
    else:
        zone, instance_type, lifecycle = instance.availability_zone, instance.instance_type, Lifecycle.ON_DEMAND
    launched = instance_launch_like(
        instance=instance,
        availability_zone=zone,
        instance_type=instance_type,
        lifecycle=lifecycle,
        purpose="asg-replacement",
        extra_tags={"spotopt:replica-of": instance.instance_id},
    )
    replacement = launched.instance
    asg_member_replace(doomed=instance, replacement=replacement, before_removal=before_removal)
    return Reaction(
        "asg_replaced",
        f"{replacement.instance_id} ({instance_type}, {zone}, {lifecycle}) was attached to the group before the "
        "node was drained and the group terminated it.",
        replacement.instance_id,
        launched.requested_at,
    )


def _live_replica(instance: Instance) -> Instance | None:
    return Instance.objects.filter(replica_of=instance, is_replica=True, is_active=True).order_by("-created_at").first()


def _on_rebalance(instance: Instance) -> Reaction:
    if instance.is_replica:
        return Reaction("none", "A replica itself is not replicated.")
    existing = _live_replica(instance)
    if existing:
        return Reaction("replica_exists", f"Replica {existing.instance_id} is standing by.", existing.instance_id)
    pools = replacement_pools(instance=instance)
    if not pools:
        return Reaction("no_safe_pool", "No compatible Spot pool is free of poison; no replica was launched.")
    _, zone, instance_type = pools[0]
    in_asg = bool((instance.cluster_membership or {}).get("asg_name"))
    launched = instance_launch_like(
        instance=instance,
        availability_zone=zone,
        instance_type=instance_type,
        purpose="asg-replacement" if in_asg else "replica",
        extra_tags={"spotopt:replica-of": instance.instance_id},
    )
    replica = launched.instance
    if in_asg:
        asg_member_replace(doomed=instance, replacement=replica)
        return Reaction(
            "asg_replaced",
            f"{replica.instance_id} ({instance_type}, {zone}) attached to the group before the group terminated "
            "this instance.",
            replica.instance_id,
            launched.requested_at,
        )
    Instance.objects.filter(pk=replica.pk).update(
        is_replica=True, replica_of=instance, replica_expiry=timezone.now() + REPLICA_LIFETIME
    )
    return Reaction(
        "replica_launched",
        f"Replica {replica.instance_id} ({instance_type}, {zone}) stands by for 6 hours.",
        replica.instance_id,
        launched.requested_at,
    )


def _on_termination(instance: Instance, event: GlobalRiskEvent) -> Reaction:
    replica = _live_replica(instance)
    if replica:
        Instance.objects.filter(pk=replica.pk).update(
            is_replica=False, replica_of=None, replica_expiry=None, updated_at=timezone.now()
        )
        return Reaction(PROMOTED, f"Replica {replica.instance_id} took over; no downtime.", replica.instance_id)
    return _emergency_replacement(instance, event)


def _emergency_replacement(instance: Instance, event: GlobalRiskEvent) -> Reaction:
    pools = replacement_pools(instance=instance)
    if pools:
        _, zone, instance_type = pools[0]
        lifecycle = Lifecycle.SPOT
    else:  # no safe Spot pool: on-demand capacity of the same type, in the same zone
        zone, instance_type, lifecycle = instance.availability_zone, instance.instance_type, Lifecycle.ON_DEMAND
    # Downtime counts from the warning: without a standby, the service on this instance is at risk from then
    # until its replacement runs.
    log = downtime_open(
        account=instance.account,
        instance=instance,
        cause=DowntimeCause.NO_REPLICA,
        started_at=event.reported_at,
        details=f"Interruption warning {event.event_id} without a replica standing by.",
    )
    launched = instance_launch_like(
        instance=instance,
        availability_zone=zone,
        instance_type=instance_type,
        lifecycle=lifecycle,
        purpose="emergency-replacement",
        extra_tags={"spotopt:replaces": instance.instance_id},
    )
    if (instance.cluster_membership or {}).get("asg_name"):
        asg_member_replace(doomed=instance, replacement=launched.instance)
    if instance_is_running(instance=launched.instance):
        downtime_close(log=log, ended_at=timezone.now())
    else:
        enqueue_on_commit("risk.tasks.close_downtime_when_running", str(log.pk), str(launched.instance.pk))
    return Reaction(
        "emergency_replacement",
        f"{launched.instance.instance_id} ({instance_type}, {zone}, {lifecycle}) replaces it; downtime logged.",
        launched.instance.instance_id,
        launched.requested_at,
    )


def _note(instance: Instance, event: GlobalRiskEvent, reaction: Reaction) -> None:
    note = {
        "event_id": event.event_id,
        "event_type": event.event_type,
        "reported_at": event.reported_at.isoformat(),
        "action": reaction.action,
        "detail": reaction.detail,
        "replacement_id": reaction.replacement_id,
        # When RunInstances (or the replica's launch) was sent: the moment the warning was acted on.
        "launch_requested_at": reaction.launch_requested_at.isoformat() if reaction.launch_requested_at else "",
        "at": timezone.now().isoformat(),
    }
    metadata = dict(Instance.objects.filter(pk=instance.pk).values_list("instance_metadata", flat=True).first() or {})
    metadata["interruption"] = note
    Instance.objects.filter(pk=instance.pk).update(instance_metadata=metadata, updated_at=timezone.now())
    if reaction.launch_requested_at is None and reaction.action != PROMOTED:
        return  # nothing was launched or promoted: no reaction time to count
    acted_at = reaction.launch_requested_at or timezone.now()
    EventReaction.objects.get_or_create(
        event_id=event.event_id,
        instance=instance,
        defaults={
            "account": instance.account,
            "event_type": event.event_type,
            "action": reaction.action,
            "replacement_id": reaction.replacement_id,
            "received_at": event.received_at,
            "acted_at": acted_at,
            "seconds": max((acted_at - event.received_at).total_seconds(), 0.0),
        },
    )


# --- False alarms ---------------------------------------------------------------------------------------


def false_alarm_replicas_retire(*, now: datetime | None = None) -> int:
    """The scheduled job: a replica whose primary still runs after replica_expiry was not needed: it is
    terminated, and the false alarm is counted in the primary's pool (the model learns from it)."""
    now = now or timezone.now()
    overdue = Instance.objects.select_related("account", "replica_of").filter(
        is_replica=True, is_active=True, replica_expiry__lte=now, replica_of__is_active=True
    )[:200]
    retired = 0
    for replica in overdue:
        primary = replica.replica_of
        try:
            instance_terminate(instance=replica, reason=f"false alarm: {primary.instance_id} still runs after 6 h")
        except DomainError as exc:
            logger.warning("could not retire replica %s: %s", replica.instance_id, exc.message)
            continue
        with transaction.atomic():
            pool, _ = SpotPoolRisk.objects.select_for_update().get_or_create(
                region=primary.region, availability_zone=primary.availability_zone, instance_type=primary.instance_type
            )
            pool.pool_metadata = dict(pool.pool_metadata) | {
                "false_alarms": int(pool.pool_metadata.get("false_alarms", 0)) + 1
            }
            pool.save(update_fields=["pool_metadata", "updated_at"])
        retired += 1
    return retired
