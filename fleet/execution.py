"""Executing the optimizer's decisions: the 5-minute cycle, the plan for each decision, and the switch itself.

The cycle (`optimizer_cycle`, django-q2 every 5 minutes and `manage.py optimize`) evaluates the active
instances (fleet.optimizer), then plans what each SWITCH, FALLBACK_ONDEMAND and RETURN_TO_SPOT decision
leads to, and says so in the log row (features_used["execution"]):

- shadow-mode instances: logged only, never an AWS write;
- Kubernetes nodes: switched like any instance, with the cluster in the loop (below); a Karpenter node, a node
  of a cluster spotopt does not know, and an account in Kubernetes dry run are logged only, and say why;
- an instance with a switch already open, or an Auto Scaling group with its share of members planned or in
  flight (Account.switch_max_group_share, at least one): not now, the reason says which;
- PROD accounts without allow_automatic_switches: a Switch AWAITING_APPROVAL and a SWITCH_INSTANCE approval
  request (its executor below runs it once approved); LAB accounts and PROD accounts that allow it: QUEUED
  and run by a worker (or inline by the command).

A switch (`switch_execute`) follows one of two procedures, and records every step with the capacity seen:

- LINEAR (a standalone instance): launch the replacement like the old one into the chosen pool, wait until
  it runs and both status checks pass; when the old one is registered in load-balancer target groups,
  register the new one there (same port), wait until every group reports it healthy, deregister the old
  one; terminate the old one. Capacity: at least one of the two runs.
- CLUSTER (an Auto Scaling group member): launch, wait healthy, attach (N -> N+1; MaxSize raised by one
  for the moment when the group is full), wait until the group has it InService, detach the old one with
  ShouldDecrementDesiredCapacity (N+1 -> N), terminate it, put MaxSize back. Capacity: the group's healthy
  InService members, never below N. The database holds at most one running swap per group.

A Kubernetes node adds two steps before the old instance leaves (kube.drain, through the cluster's API): the
new node must be Ready in the cluster (KUBE_NODE_READY_TIMEOUT_SECONDS), then the old node is tainted,
cordoned and drained; a drain that does not finish (a PodDisruptionBudget, the deadline) rolls back, and the
rollback uncordons the old node. The database's one running swap per group is at most one node per node
group at a time.

Any failure before the old instance leaves rolls back (the new one detached and terminated, the old one
untouched: ROLLED_BACK); a capacity drop below N seen at a step is an outage spotopt caused, written as a
DowntimeLog row (cause optimizer_failure) from the last good step until capacity is back.
"""

import logging
import math
import time
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, F, OuterRef
from django.db.models.fields.json import KeyTextTransform
from django.utils import timezone

from accounts.choices import EnvironmentType
from approvals.choices import ActionType, ApprovalStatus, RiskLevel
from mlgov.choices import Decision
from risk.gatekeeper import poisoned_pools
from sla.choices import DowntimeCause
from sla.services import downtime_close, downtime_open
from spotopt import aws
from spotopt.errors import DomainError
from spotopt.q import enqueue_on_commit

from .choices import Lifecycle, OrchestratorType, PipelineMode, SwitchOutcome, SwitchStatus
from .launch import instance_launch_like, instance_terminate
from .models import SWITCH_OPEN, Instance, Switch
from .optimizer import (
    FALLBACK_PURPOSE,
    SWITCH_PURPOSE,
    experiment_logs_write,
    optimizer_evaluate,
    optimizer_instances,
)

logger = logging.getLogger(__name__)

EXECUTED_DECISIONS = (Decision.SWITCH, Decision.FALLBACK_ONDEMAND, Decision.RETURN_TO_SPOT)
EXECUTE_TASK = "fleet.tasks.execute_switch"
# How many instances one evaluation batch holds (memory stays flat for any fleet size).
CYCLE_BATCH = 2000
SWITCH_TAG = "spotopt:switch"
REPLACES_TAG = "spotopt:replaces"


# --- The cycle ------------------------------------------------------------------------------------------


@dataclass
class CycleResult:
    evaluated: int = 0
    decisions: dict = field(default_factory=dict)
    queued: list = field(default_factory=list)  # Switch ids
    awaiting_approval: int = 0
    executed: dict = field(default_factory=dict)  # Switch id -> final status (inline runs)
    cancelled: int = 0
    logs: list = field(default_factory=list)  # the dry run's unsaved rows

    def count(self, logs) -> None:
        self.evaluated += len(logs)
        for log in logs:
            self.decisions[log.decision] = self.decisions.get(log.decision, 0) + 1


def optimizer_cycle(
    *, account=None, now=None, dry_run: bool = False, inline: bool = False, keep_logs: bool = False
) -> CycleResult:
    """Evaluate every active instance (one account's with `account`), write the logs and plan the
    executions. `dry_run`: nothing is written and nothing is executed (the rows are returned unsaved).
    `inline`: queued switches run here, one after another, instead of on the workers. `keep_logs`: the
    rows are kept on the result (a dry run always keeps them)."""
    now = now or timezone.now()
    result = CycleResult()
    if not dry_run:
        result.cancelled = switches_cancel_undecided()
    instances = optimizer_instances(account=account)
    last_pk = None
    while True:
        batch_query = instances.order_by("pk")
        if last_pk is not None:
            batch_query = batch_query.filter(pk__gt=last_pk)
        batch = list(batch_query[:CYCLE_BATCH])
        if not batch:
            break
        last_pk = batch[-1].pk
        logs = optimizer_evaluate(instances=batch, now=now, write=False)
        result.count(logs)
        if dry_run or keep_logs:
            result.logs.extend(logs)
        if dry_run:
            continue
        with transaction.atomic():
            switches = _plan(logs, now=now)
            experiment_logs_write(logs)
            _file(switches, result, enqueue=not inline)
    if inline:
        for switch_id in result.queued:
            switch = switch_execute(switch_id=switch_id)
            result.executed[str(switch_id)] = switch.status if switch else "not run"
    logger.info(
        "optimizer cycle: %d evaluated, %d queued, %d awaiting approval",
        result.evaluated,
        len(result.queued),
        result.awaiting_approval,
    )
    return result


def _group_of(instance: Instance) -> str:
    return (instance.cluster_membership or {}).get("asg_name") or ""


def _group_load(instances) -> tuple[dict, dict]:
    """For the Auto Scaling groups of these instances: their active members and their open switches, each
    counted in one GROUP BY."""
    groups = {(i.account_id, _group_of(i)) for i in instances if _group_of(i)}
    if not groups:
        return {}, {}
    accounts = {account for account, _ in groups}
    names = {name for _, name in groups}
    members = {
        (row["account_id"], row["group"]): row["n"]
        for row in Instance.objects.filter(
            account_id__in=accounts, is_active=True, cluster_membership__asg_name__in=list(names)
        )
        .annotate(group=KeyTextTransform("asg_name", "cluster_membership"))
        .values("account_id", "group")
        .annotate(n=Count("id"))
        .order_by()
    }
    open_switches = {
        (row["account_id"], row["asg_name"]): row["n"]
        for row in Switch.objects.filter(account_id__in=accounts, asg_name__in=names, status__in=SWITCH_OPEN)
        .values("account_id", "asg_name")
        .annotate(n=Count("id"))
        .order_by()
    }
    return members, open_switches


def _known_clusters(instances) -> set[tuple]:
    """(account id, cluster name, region: "" for a registered cluster) of the clusters spotopt can reach for
    these nodes (one query)."""
    from kube.models import KubeCluster

    nodes = [i for i in instances if i.orchestrator_type == OrchestratorType.KUBERNETES]
    if not nodes:
        return set()
    found = set()
    for account_id, name, region, source in KubeCluster.objects.filter(
        account_id__in={i.account_id for i in nodes}
    ).values_list("account_id", "name", "region", "source"):
        found.add((account_id, name, region if source == "EKS" else ""))
    return found


def _kubernetes_refusal(instance: Instance, clusters: set[tuple]) -> str:
    """Why a Kubernetes node's decision is logged only ("" when it can be switched)."""
    membership = instance.cluster_membership or {}
    name = membership.get("cluster_name", "")
    if membership.get("nodepool") and not membership.get("asg_name"):
        return (
            "Karpenter node: Karpenter chooses its nodes' pools (its NodePool); spotopt evaluates it and feeds the "
            "hive, and drains it on an interruption warning"
        )
    if (instance.account_id, name, "") not in clusters and (instance.account_id, name, instance.region) not in clusters:
        return (
            f"Kubernetes node of {name or 'an unnamed cluster'}: spotopt cannot reach that cluster yet (EKS clusters "
            "come with discovery; register a self-managed one on the Kubernetes page), so nothing is switched"
        )
    if instance.account.kubernetes_dry_run:
        return (
            "Kubernetes dry run: the switch would launch the replacement, wait for its node to be Ready, drain this "
            "node and retire it; nothing was done"
        )
    return ""


def _plan(logs, *, now) -> list[Switch]:
    """Say in each executable log row what happens to it, and build (unsaved) the switches to run."""
    deciding = [log for log in logs if log.decision in EXECUTED_DECISIONS]
    for log in logs:
        if log.decision not in EXECUTED_DECISIONS:
            log.features_used["execution"] = "nothing to execute"
    if not deciding:
        return []
    open_by_instance = dict(
        Switch.objects.filter(instance__in=[log.instance for log in deciding], status__in=SWITCH_OPEN).values_list(
            "instance_id", "status"
        )
    )
    resting = _resting([log.instance for log in deciding], now=now)
    clusters = _known_clusters([log.instance for log in deciding])
    members, open_in_group = _group_load([log.instance for log in deciding])
    switches = []
    for log in deciding:
        instance, account = log.instance, log.instance.account
        group = _group_of(instance)
        if instance.is_shadow_mode:
            log.features_used["execution"] = "shadow mode: logged only, no AWS write"
            continue
        if instance.orchestrator_type == OrchestratorType.KUBERNETES:
            refusal = _kubernetes_refusal(instance, clusters)
            if refusal:
                log.features_used["execution"] = refusal
                continue
        if instance.pk in open_by_instance:
            status = SwitchStatus(open_by_instance[instance.pk]).label.lower()
            log.features_used["execution"] = f"not now: a switch of this instance is already {status}"
            continue
        if instance.pk in resting:
            log.features_used["execution"] = resting[instance.pk]
            continue
        if group:
            size = members.get((account.pk, group), 1)
            limit = max(1, math.floor(float(account.switch_max_group_share) * size))
            busy = open_in_group.get((account.pk, group), 0)
            if busy >= limit:
                log.features_used["execution"] = (
                    f"not now: {busy} of the {size} members of the Auto Scaling group {group} are planned or in "
                    f"flight (at most {limit}, {float(account.switch_max_group_share) * 100:.0f} % of the group)"
                )
                continue
            open_in_group[(account.pk, group)] = busy + 1
        needs_approval = account.environment_type == EnvironmentType.PROD and not account.allow_automatic_switches
        target_lifecycle = Lifecycle.ON_DEMAND if log.decision == Decision.FALLBACK_ONDEMAND else Lifecycle.SPOT
        switch = Switch(
            account=account,
            instance=instance,
            experiment_log=log,
            model=log.model,
            decision=log.decision,
            pipeline_mode=PipelineMode.CLUSTER if group else PipelineMode.LINEAR,
            asg_name=group,
            target_instance_type=log.selected_instance_type or instance.instance_type,
            target_availability_zone=log.selected_availability_zone or instance.availability_zone,
            target_lifecycle=target_lifecycle,
            old_hourly_price=log.old_spot_price,
            new_hourly_price=log.new_spot_price,
            status=SwitchStatus.AWAITING_APPROVAL if needs_approval else SwitchStatus.QUEUED,
        )
        log.features_used["execution"] = (
            "awaiting approval: a SWITCH_INSTANCE request was filed" if needs_approval else "queued for execution"
        )
        if log.decision == Decision.FALLBACK_ONDEMAND:
            # The fallback runs on-demand in the same pool: the log names where it goes.
            log.selected_instance_type = switch.target_instance_type
            log.selected_availability_zone = switch.target_availability_zone
        switches.append(switch)
    return switches


def _resting(instances, *, now) -> dict:
    """Instances whose last switch was refused (rejected or expired request) or failed recently: the optimizer
    does not ask again every 5 minutes. One query; the reason names when it asks again."""
    refused_since = now - timedelta(hours=settings.SWITCH_REFUSED_PAUSE_HOURS)
    failed_since = now - timedelta(minutes=settings.SWITCH_FAILED_PAUSE_MINUTES)
    recent = (
        Switch.objects.filter(instance__in=instances, finished_at__gte=min(refused_since, failed_since))
        .filter(status__in=[SwitchStatus.CANCELLED, SwitchStatus.ROLLED_BACK, SwitchStatus.FAILED])
        .order_by("instance_id", "-finished_at")
        .values_list("instance_id", "status", "finished_at")
    )
    resting = {}
    settled_since = now - timedelta(minutes=settings.SWITCH_SETTLE_MINUTES)
    for instance_id, finished_at in Switch.objects.filter(
        replacement__in=instances, status=SwitchStatus.SUCCEEDED, finished_at__gte=settled_since
    ).values_list("replacement_id", "finished_at"):
        until = finished_at + timedelta(minutes=settings.SWITCH_SETTLE_MINUTES)
        resting[instance_id] = (
            f"not now: a switch launched it at {finished_at:%H:%M} UTC; it settles until {until:%Y-%m-%d %H:%M} UTC"
        )
    for instance_id, status, finished_at in recent:
        if instance_id in resting:
            continue
        refused = status == SwitchStatus.CANCELLED
        if finished_at < (refused_since if refused else failed_since):
            continue
        pause = (
            timedelta(hours=settings.SWITCH_REFUSED_PAUSE_HOURS)
            if refused
            else timedelta(minutes=settings.SWITCH_FAILED_PAUSE_MINUTES)
        )
        what = (
            "its last switch request was refused" if refused else f"its last switch {status.lower().replace('_', ' ')}"
        )
        resting[instance_id] = f"not now: {what}; asked again after {(finished_at + pause):%Y-%m-%d %H:%M} UTC"
    return resting


def _payload(switch: Switch) -> dict:
    return {
        "instance_id": switch.instance.instance_id,
        "target_instance_type": switch.target_instance_type,
        "target_availability_zone": switch.target_availability_zone,
        "target_lifecycle": switch.target_lifecycle,
        "current_hourly_price": str(switch.old_hourly_price) if switch.old_hourly_price is not None else None,
        "target_hourly_price": str(switch.new_hourly_price) if switch.new_hourly_price is not None else None,
        "reason": switch.experiment_log.decision_reason[:2000] if switch.experiment_log else "",
    }


def _file(switches: list[Switch], result: CycleResult, *, enqueue: bool) -> None:
    """Store the planned switches; file one approval request for each that needs one (one digest email);
    queued ones go to the workers after commit (`enqueue`) or are left to the caller."""
    from approvals.registry import validate_payload
    from approvals.services import approval_requests_create

    gated, items = [], []
    for switch in [s for s in switches if s.status == SwitchStatus.AWAITING_APPROVAL]:
        payload = {k: v for k, v in _payload(switch).items() if v is not None}
        try:
            validate_payload(ActionType.SWITCH_INSTANCE, payload)
        except DomainError as refusal:  # one odd instance must not stop the cycle for everyone else
            switch.experiment_log.features_used["execution"] = f"not executed: {refusal.message}"
            switches.remove(switch)
            continue
        gated.append(switch)
        items.append((payload, switch.instance))
    if gated:
        requests = approval_requests_create(
            action_type=ActionType.SWITCH_INSTANCE, items=items, risk_level=RiskLevel.MEDIUM
        )
        for switch, request in zip(gated, requests, strict=True):
            switch.approval = request
        result.awaiting_approval += len(gated)
    Switch.objects.bulk_create(switches)
    for switch in switches:
        if switch.status == SwitchStatus.QUEUED:
            result.queued.append(switch.pk)
            if enqueue:
                enqueue_on_commit(EXECUTE_TASK, str(switch.pk))


def switches_cancel_undecided() -> int:
    """Switches whose approval request was rejected or expired are cancelled (the instance is free again)."""
    return Switch.objects.filter(
        status=SwitchStatus.AWAITING_APPROVAL,
        approval__status__in=[ApprovalStatus.REJECTED, ApprovalStatus.EXPIRED],
    ).update(status=SwitchStatus.CANCELLED, finished_at=timezone.now(), updated_at=timezone.now())


# --- One switch -----------------------------------------------------------------------------------------


class SwitchAborted(DomainError):
    code = "switch_aborted"


def _poll_seconds() -> float:
    return settings.SWITCH_POLL_SECONDS


def _in_service(group: dict) -> int:
    members = group.get("Instances") or []
    return sum(1 for m in members if m["LifecycleState"] == "InService" and m["HealthStatus"] == "Healthy")


class SwitchRun:
    """The steps of one switch, each recorded with the capacity seen then (Switch.steps)."""

    def __init__(self, switch: Switch, *, recovering: bool = False):
        self.switch = switch
        self.old = switch.instance
        self.account = switch.account
        self.ec2 = aws.client_for(self.account, "ec2", self.old.region)
        self.asg = aws.client_for(self.account, "autoscaling", self.old.region) if switch.asg_name else None
        self.new: Instance | None = None
        self.attached = False
        self.old_gone = False  # past this point there is no rollback: the old instance has left
        self.raised_max: int | None = None  # the group's MaxSize before it was raised
        self.target_groups: list[tuple[str, int]] = []  # (ARN, port) the old instance serves behind
        self.registered: list[tuple[str, int]] = []  # where the new one was registered
        self.elb = None
        self.floor = 1  # the capacity the steps must never go below
        self.last_good_at = timezone.now()
        self.downtime = None
        # A Kubernetes node: its cluster, and the old node once it was cordoned (a rollback uncordons it).
        self.kube_cluster = None
        self.cordoned_node: str | None = None
        if self.old.orchestrator_type == OrchestratorType.KUBERNETES:
            from kube.services import cluster_for

            try:
                self.kube_cluster = cluster_for(self.old)
            except DomainError:
                if not recovering:
                    raise
                # Undoing a dead worker's switch whose cluster was removed since: the AWS side is still
                # rolled back; the old node's cordon cannot be undone from here.
                logger.warning("switch %s: its cluster is gone, the old node stays as it is", switch.pk)

    # Capacity ----------------------------------------------------------------------------------------------

    def _group(self) -> dict:
        groups = self.asg.describe_auto_scaling_groups(AutoScalingGroupNames=[self.switch.asg_name])[
            "AutoScalingGroups"
        ]
        if not groups:
            raise SwitchAborted(f"The Auto Scaling group {self.switch.asg_name} no longer exists.")
        return groups[0]

    def capacity(self) -> int:
        if self.asg is not None:
            return _in_service(self._group())
        ids = [self.old.instance_id] + ([self.new.instance_id] if self.new else [])
        reservations = self.ec2.describe_instances(InstanceIds=ids)["Reservations"]
        return sum(1 for r in reservations for i in r["Instances"] if i["State"]["Name"] == "running")

    def step(self, name: str, detail: str = "", **extra) -> None:
        now = timezone.now()
        seen = self.capacity()
        self.switch.steps.append(
            {"step": name, "at": now.isoformat(), "capacity": seen, "floor": self.floor, "detail": detail, **extra}
        )
        Switch.objects.filter(pk=self.switch.pk).update(steps=self.switch.steps, updated_at=now)
        if seen < self.floor and self.downtime is None:
            # Below the floor: an outage the platform caused, counted from the last step that was fine.
            self.downtime = downtime_open(
                account=self.account,
                instance=self.old,
                cause=DowntimeCause.OPTIMIZER_FAILURE,
                started_at=self.last_good_at,
                details=f"Switch {self.switch.pk}: capacity {seen} < {self.floor} at step '{name}'.",
            )
            raise SwitchAborted(f"Capacity fell to {seen}, below {self.floor}, at step '{name}'.")
        if seen >= self.floor:
            self.last_good_at = now
            if self.downtime is not None:
                downtime_close(log=self.downtime, ended_at=now)

    # Waiting -----------------------------------------------------------------------------------------------

    def wait(self, what: str, ready) -> None:
        deadline = time.monotonic() + settings.SWITCH_HEALTHY_TIMEOUT_SECONDS
        while not ready():
            if time.monotonic() >= deadline:
                raise SwitchAborted(f"{what} did not happen within {settings.SWITCH_HEALTHY_TIMEOUT_SECONDS} s.")
            time.sleep(_poll_seconds())

    def new_is_healthy(self) -> bool:
        statuses = self.ec2.describe_instance_status(InstanceIds=[self.new.instance_id], IncludeAllInstances=True)[
            "InstanceStatuses"
        ]
        if not statuses:
            return False
        status = statuses[0]
        state = status.get("InstanceState", {}).get("Name")
        if state in ("shutting-down", "terminated", "stopping", "stopped"):
            raise SwitchAborted(f"The new instance {self.new.instance_id} is {state}.")
        return (
            state == "running"
            and status.get("InstanceStatus", {}).get("Status") == "ok"
            and status.get("SystemStatus", {}).get("Status") == "ok"
        )

    def _in_group(self, instance_id: str) -> bool:
        try:
            return any(m["InstanceId"] == instance_id for m in self._group().get("Instances") or [])
        except Exception:  # cannot tell: try the detach, its error is reported
            return True

    def new_in_service(self) -> bool:
        members = {m["InstanceId"]: m for m in self._group().get("Instances") or []}
        member = members.get(self.new.instance_id)
        return member is not None and member["LifecycleState"] == "InService" and member["HealthStatus"] == "Healthy"

    # The procedures ----------------------------------------------------------------------------------------

    def launch(self) -> None:
        switch = self.switch
        purpose = FALLBACK_PURPOSE if switch.target_lifecycle == Lifecycle.ON_DEMAND else SWITCH_PURPOSE
        launched = instance_launch_like(
            instance=self.old,
            availability_zone=switch.target_availability_zone,
            instance_type=switch.target_instance_type,
            lifecycle=switch.target_lifecycle,
            purpose=purpose,
            extra_tags={REPLACES_TAG: self.old.instance_id, SWITCH_TAG: str(switch.pk)},
        )
        self.new = launched.instance
        if self.new.lifecycle != switch.target_lifecycle:
            # The old instance's launch template asks for a market of its own (a Spot template on a fallback).
            raise SwitchAborted(
                f"{self.new.instance_id} was launched {self.new.lifecycle}, not {switch.target_lifecycle}: the "
                "launch template of the old instance sets its own market options."
            )
        # The replacement carries on as the instance did: its Lab model, pipeline and shadow setting.
        Instance.objects.filter(pk=self.new.pk).update(
            assigned_model_version=self.old.assigned_model_version,
            pipeline_mode=self.old.pipeline_mode,
            is_shadow_mode=self.old.is_shadow_mode,
            orchestrator_type=self.old.orchestrator_type,
        )
        switch.replacement = self.new
        Switch.objects.filter(pk=switch.pk).update(replacement=self.new)
        self.step("launched", f"{self.new.instance_id} ({switch.target_lifecycle})")
        self.wait(f"{self.new.instance_id} running with both status checks ok", self.new_is_healthy)
        self.step("healthy", "running, status checks ok")

    def preflight(self) -> None:
        """Before anything is launched: the old instance runs, and (standalone) nothing routes to it that the
        switch cannot move."""
        raw = self.ec2.describe_instances(InstanceIds=[self.old.instance_id])["Reservations"]
        state = next((i["State"]["Name"] for r in raw for i in r["Instances"]), "gone")
        if state != "running":
            raise SwitchAborted(f"{self.old.instance_id} is {state}, not running: nothing to switch.")
        if not self.switch.asg_name:
            addresses = self.ec2.describe_addresses(
                Filters=[{"Name": "instance-id", "Values": [self.old.instance_id]}]
            )["Addresses"]
            if addresses:
                raise SwitchAborted(
                    f"{self.old.instance_id} holds the Elastic IP {addresses[0].get('PublicIp')}: moving an address "
                    "is not automated, so the switch was not started."
                )

    def linear(self) -> None:
        self.target_groups = self.old_target_groups()
        served = f", behind {len(self.target_groups)} target group(s)" if self.target_groups else ""
        self.step(
            "started", f"{self.old.instance_id} alone{served}", target_groups=[list(g) for g in self.target_groups]
        )
        self.launch()
        self.node_handover()
        if self.target_groups:
            self.serve_like_old()
        self.retire_old()

    # Load balancers (LINEAR: an Auto Scaling group registers its own members) ---------------------------------

    def old_target_groups(self) -> list[tuple[str, int]]:
        """The instance-type target groups of the old instance's VPC that have it registered, with its port:
        its replacement must serve there before it goes."""
        elb = aws.client_for(self.account, "elbv2", self.old.region)
        vpc = (self.old.instance_metadata or {}).get("vpc_id")
        found = []
        for page in elb.get_paginator("describe_target_groups").paginate():
            for group in page["TargetGroups"]:
                if group.get("TargetType", "instance") != "instance" or (vpc and group.get("VpcId") != vpc):
                    continue
                for target in elb.describe_target_health(
                    TargetGroupArn=group["TargetGroupArn"], Targets=[{"Id": self.old.instance_id}]
                )["TargetHealthDescriptions"]:
                    if target["TargetHealth"].get("Reason") != "Target.NotRegistered":
                        found.append((group["TargetGroupArn"], target["Target"].get("Port") or group.get("Port")))
        self.elb = elb
        return found

    def new_serves(self) -> bool:
        for arn, port in self.target_groups:
            health = self.elb.describe_target_health(
                TargetGroupArn=arn, Targets=[{"Id": self.new.instance_id, "Port": port}]
            )["TargetHealthDescriptions"]
            if not health or health[0]["TargetHealth"]["State"] != "healthy":
                return False
        return True

    def serve_like_old(self) -> None:
        for arn, port in self.target_groups:
            self.elb.register_targets(TargetGroupArn=arn, Targets=[{"Id": self.new.instance_id, "Port": port}])
            self.registered.append((arn, port))
        self.step("registered", f"{self.new.instance_id} in {len(self.registered)} target group(s)")
        self.wait(f"{self.new.instance_id} healthy in its target groups", self.new_serves)
        self.step("serving", "healthy in every target group")
        self.old_gone = True  # from the first deregistration on, the old instance stops serving
        for arn, port in self.target_groups:
            self.elb.deregister_targets(TargetGroupArn=arn, Targets=[{"Id": self.old.instance_id, "Port": port}])
        self.step("deregistered old", self.old.instance_id)

    # Kubernetes --------------------------------------------------------------------------------------------

    def new_node_ready(self, api) -> str | None:
        from kube.drain import node_is_ready, node_name_for

        name = node_name_for(api, self.new)
        return name if name is not None and node_is_ready(api.node(name)) else None

    def node_handover(self) -> None:
        """A Kubernetes node: the new node Ready in the cluster first, then the old one drained."""
        if self.kube_cluster is None:
            return
        from kube.choices import DrainStatus, DrainTrigger
        from kube.drain import cordoned_by_us, node_drain
        from kube.presentation import drain_summary
        from kube.services import access_for
        from spotopt import kube

        access = access_for(self.kube_cluster)
        timeout = settings.KUBE_NODE_READY_TIMEOUT_SECONDS
        deadline = time.monotonic() + timeout
        with kube.kube_errors(f"wait for the node of {self.new.instance_id}", access), kube.api_for(access) as api:
            while (ready := self.new_node_ready(api)) is None:
                if time.monotonic() >= deadline:
                    raise SwitchAborted(
                        f"{self.new.instance_id} did not become a Ready node of {self.kube_cluster.name} within "
                        f"{timeout} s (does its launch template join the cluster?)."
                    )
                time.sleep(max(_poll_seconds(), 0.2))
        self.step("node ready", f"{ready} Ready in {self.kube_cluster.name}")
        drain = node_drain(
            cluster=self.kube_cluster, instance=self.old, trigger=DrainTrigger.SWITCH, switch=self.switch
        )
        self.cordoned_node = drain.node_name if cordoned_by_us(drain) else None
        if drain.status not in (DrainStatus.DRAINED, DrainStatus.NODE_NOT_FOUND):
            raise SwitchAborted(f"{drain_summary(drain)}: the old node stays.")
        self.step("drained old", drain_summary(drain), drain=str(drain.pk))

    def release_old_node(self) -> None:
        """A rollback: our taint off the old node, and the cordon too when this switch's drain set it."""
        if self.kube_cluster is None:
            return
        from kube.choices import DrainTrigger
        from kube.drain import cordoned_by_us, node_release, tainted_by
        from kube.models import NodeDrain

        touched = [d for d in NodeDrain.objects.filter(switch=self.switch) if d.node_name and tainted_by(d)]
        for drain in touched:
            node_release(
                cluster=self.kube_cluster,
                node_name=drain.node_name,
                trigger=DrainTrigger.SWITCH,
                uncordon=cordoned_by_us(drain),
            )
        self.cordoned_node = None

    def cluster(self) -> None:
        group = self._group()
        self.floor = _in_service(group)
        desired = group["DesiredCapacity"]
        self.step("started", f"group {self.switch.asg_name}: desired {desired}, {self.floor} in service")
        self.launch()
        if desired >= group["MaxSize"]:
            self.raised_max = group["MaxSize"]
            self.asg.update_auto_scaling_group(AutoScalingGroupName=self.switch.asg_name, MaxSize=group["MaxSize"] + 1)
        self.attached = True  # before the call: a timeout after AWS attached it still gets it detached
        self.asg.attach_instances(AutoScalingGroupName=self.switch.asg_name, InstanceIds=[self.new.instance_id])
        self.step(
            "attached", f"{self.new.instance_id} in {self.switch.asg_name} (N -> N+1)", raised_max=self.raised_max
        )
        self.wait(f"{self.new.instance_id} InService in {self.switch.asg_name}", self.new_in_service)
        self.step("in service")
        self.node_handover()
        self.asg.detach_instances(
            AutoScalingGroupName=self.switch.asg_name,
            InstanceIds=[self.old.instance_id],
            ShouldDecrementDesiredCapacity=True,
        )
        self.old_gone = True
        self.step("detached old", f"{self.old.instance_id} out of the group (N+1 -> N)")
        self.retire_old()
        self.restore_max_size()

    def retire_old(self) -> None:
        self.old_gone = True
        self.ec2.terminate_instances(InstanceIds=[self.old.instance_id])
        now = timezone.now()
        Instance.objects.filter(pk=self.old.pk).update(is_active=False, updated_at=now)
        if self.switch.asg_name:
            membership = dict(self.new.cluster_membership or {}) | {"asg_name": self.switch.asg_name}
            Instance.objects.filter(pk=self.new.pk).update(cluster_membership=membership, updated_at=now)
        self.step("terminated old", self.old.instance_id)

    def restore_max_size(self) -> None:
        if self.raised_max is not None:
            self.asg.update_auto_scaling_group(AutoScalingGroupName=self.switch.asg_name, MaxSize=self.raised_max)
            self.raised_max = None

    def rollback(self) -> None:
        """Undo what was done: the new instance out of the group and terminated, MaxSize back; the old one
        is left exactly as it was. Each undo is tried even when an earlier one fails."""
        problems = []
        try:
            self.release_old_node()
        except Exception as error:  # keep undoing the rest
            problems.append(f"releasing the old node (taint, cordon): {error}")
        for arn, port in self.registered:
            try:
                self.elb.deregister_targets(TargetGroupArn=arn, Targets=[{"Id": self.new.instance_id, "Port": port}])
            except Exception as error:  # keep undoing the rest
                problems.append(f"deregistering {self.new.instance_id}: {error}")
        if self.new is not None and self.attached and self._in_group(self.new.instance_id):
            try:
                self.asg.detach_instances(
                    AutoScalingGroupName=self.switch.asg_name,
                    InstanceIds=[self.new.instance_id],
                    ShouldDecrementDesiredCapacity=True,
                )
            except Exception as error:  # keep undoing the rest
                problems.append(f"detaching {self.new.instance_id}: {error}")
        if self.new is not None:
            try:
                instance_terminate(instance=self.new, reason=f"rollback of switch {self.switch.pk}")
            except Exception as error:
                problems.append(f"terminating {self.new.instance_id}: {error}")
        try:
            self.restore_max_size()
        except Exception as error:
            problems.append(f"restoring MaxSize: {error}")
        try:
            self.step("rolled back", "; ".join(problems) or "new instance terminated, old one untouched")
        except DomainError:
            pass  # already recorded as downtime; the status says rolled back
        except Exception as error:
            problems.append(f"reading capacity: {error}")
        if problems:
            raise SwitchAborted("The rollback was incomplete: " + "; ".join(problems))

    def finish_after_old_left(self) -> list[str]:
        """A failure once the old instance has left: no rollback (the new one serves), but the group's MaxSize
        goes back and a detached old instance is terminated; what could not be done is returned."""
        problems = []
        try:
            self.restore_max_size()
        except Exception as error:
            problems.append(f"restoring MaxSize of {self.switch.asg_name}: {error}")
        if "terminated old" not in {s["step"] for s in self.switch.steps}:
            try:
                self.ec2.terminate_instances(InstanceIds=[self.old.instance_id])
                Instance.objects.filter(pk=self.old.pk).update(is_active=False, updated_at=timezone.now())
            except Exception as error:
                problems.append(f"terminating {self.old.instance_id}: {error}")
        return problems

    @classmethod
    def resume(cls, switch: Switch) -> "SwitchRun":
        """A run rebuilt from the steps a switch recorded (its worker died): enough to undo or finish it."""
        run = cls(switch, recovering=True)
        names = [s["step"] for s in switch.steps]
        run.new = switch.replacement
        run.attached = "attached" in names
        run.old_gone = any(name in names for name in ("detached old", "deregistered old", "terminated old"))
        for step in switch.steps:
            if step.get("raised_max") is not None:
                run.raised_max = step["raised_max"]
            if step.get("target_groups"):
                run.target_groups = [tuple(g) for g in step["target_groups"]]
        if "registered" in names:
            run.registered = list(run.target_groups)
            run.elb = aws.client_for(switch.account, "elbv2", switch.instance.region)
        if switch.asg_name:
            run.floor = next((s["floor"] for s in switch.steps), 1)
        return run


def _recheck(switch: Switch) -> None:
    """What may have changed since the decision (an approval can come hours later)."""
    old = switch.instance
    if not old.is_active:
        raise SwitchAborted(f"{old.instance_id} is no longer active.")
    if old.is_shadow_mode:
        raise SwitchAborted(f"{old.instance_id} is in shadow mode now: no AWS write.")
    if old.orchestrator_type == OrchestratorType.KUBERNETES:
        refusal = _kubernetes_refusal(old, _known_clusters([old]))
        if refusal:
            raise SwitchAborted(f"{old.instance_id}: {refusal}.")
    if not switch.account.is_active:
        raise SwitchAborted("The account was deactivated since the decision.")
    pool = (old.region, switch.target_availability_zone, switch.target_instance_type)
    if switch.target_lifecycle == Lifecycle.SPOT and poisoned_pools({pool}):
        raise SwitchAborted(
            f"The target pool {switch.target_instance_type} in {switch.target_availability_zone} was poisoned by "
            "the hive since the decision; nothing was changed."
        )


def _claim(switch_id) -> bool:
    now = timezone.now()
    try:
        with transaction.atomic():
            return bool(
                Switch.objects.filter(pk=switch_id, status=SwitchStatus.QUEUED).update(
                    status=SwitchStatus.RUNNING, started_at=now, updated_at=now
                )
            )
    except IntegrityError:  # another member of the group is being swapped: this one waits its turn
        logger.info("switch %s waits: its Auto Scaling group has a swap running", switch_id)
        return False


def switch_execute(*, switch_id) -> Switch | None:
    """Run one queued switch to its end (None when it is not queued, or waits for its group's turn)."""
    if not _claim(switch_id):
        return None
    switch = Switch.objects.select_related("account", "instance__account", "experiment_log").get(pk=switch_id)
    run = None
    try:
        with aws.aws_errors(f"switching {switch.instance.instance_id}"):
            _recheck(switch)
            run = SwitchRun(switch)
            run.preflight()
            run.cluster() if switch.asg_name else run.linear()
        status, error = SwitchStatus.SUCCEEDED, ""
    except Exception as failure:  # every failure ends in a recorded state, never a RUNNING row
        error = failure.message if isinstance(failure, DomainError) else f"{type(failure).__name__}: {failure}"
        if not isinstance(failure, DomainError):
            logger.exception("switch %s crashed", switch_id)
        status, error = _undo(run, switch, error)
    return _finish(switch, status, error=error, downtime=run.downtime if run else None)


def _undo(run: "SwitchRun | None", switch: Switch, error: str) -> tuple[str, str]:
    """After a failure: roll back while the old instance is in place, else tidy up what the switch left."""
    if run is None or not run.switch.steps:
        return SwitchStatus.ROLLED_BACK, error  # refused before its first step: nothing was touched
    if run.old_gone:
        problems = run.finish_after_old_left()
        error += (
            f" The old instance {switch.instance.instance_id} had already left; the replacement "
            f"{run.new.instance_id if run.new else '(none)'} stays."
        )
        if problems:
            error += " Not done: " + "; ".join(problems) + "."
        return SwitchStatus.FAILED, error
    try:
        with aws.aws_errors(f"rolling back the switch of {switch.instance.instance_id}"):
            run.rollback()
    except DomainError as undo:
        return SwitchStatus.FAILED, f"{error} {undo.message}"
    return SwitchStatus.ROLLED_BACK, error


def switches_reap_stalled(*, now=None) -> int:
    """Switches left RUNNING by a worker that died (no step for longer than a task may run): rolled back from
    their recorded steps while the old instance is in place, otherwise tidied up and FAILED. Run by the
    cycle's task."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.Q_CLUSTER["timeout"] + 60)
    stalled = Switch.objects.filter(status=SwitchStatus.RUNNING, updated_at__lt=cutoff).select_related(
        "account", "instance__account", "replacement"
    )[:50]
    for switch in stalled:
        last = switch.steps[-1]["step"] if switch.steps else "(none)"
        error = f"The worker stopped during the switch (last step: {last})."
        try:
            with aws.aws_errors(f"recovering the switch of {switch.instance.instance_id}"):
                run = SwitchRun.resume(switch)
        except DomainError as failure:
            _finish(switch, SwitchStatus.FAILED, error=f"{error} {failure.message}", downtime=None)
            continue
        status, error = _undo(run, switch, error)
        _finish(switch, status, error=error, downtime=run.downtime)
    return len(stalled)


def _finish(switch: Switch, status: str, *, error: str, downtime) -> Switch:
    switch.refresh_from_db()
    switch.move_to(status)
    switch.finished_at = timezone.now()
    switch.error_message = error[:4000]
    switch.downtime = downtime
    if downtime is not None and downtime.ended_at is None:
        downtime_close(log=downtime, ended_at=switch.finished_at)
    if status == SwitchStatus.SUCCEEDED and switch.target_lifecycle != Lifecycle.SPOT:
        switch.outcome = SwitchOutcome.NOT_APPLICABLE  # nothing to interrupt: on-demand capacity
    switch.save()
    logger.info("switch %s of %s: %s %s", switch.pk, switch.instance.instance_id, status, error)
    if switch.asg_name:
        _start_next_in_group(switch)
    return switch


def _start_next_in_group(switch: Switch) -> None:
    """The group's next queued swap, now that this one is done."""
    following = (
        Switch.objects.filter(account=switch.account, asg_name=switch.asg_name, status=SwitchStatus.QUEUED)
        .order_by("created_at")
        .values_list("pk", flat=True)
        .first()
    )
    if following:
        enqueue_on_commit(EXECUTE_TASK, str(following))


def switches_resume_queued() -> int:
    """Queued switches nobody runs (their group was busy when they were queued): queued again. Run by the
    cycle's task."""
    stale = list(
        Switch.objects.filter(
            status=SwitchStatus.QUEUED, updated_at__lt=timezone.now() - timedelta(minutes=5)
        ).values_list("pk", flat=True)[:500]
    )
    for pk in stale:
        enqueue_on_commit(EXECUTE_TASK, str(pk))
    return len(stale)


# --- Approvals ------------------------------------------------------------------------------------------


def switch_approved(request) -> dict:
    """The SWITCH_INSTANCE executor: run the switch the approved request asks for. The optimizer's requests
    have their Switch already; a person's request (filed through the API) gets one from its payload."""
    from approvals.registry import ExecutionFailed

    switch = Switch.objects.filter(approval=request).select_related("instance").first()
    if switch is None:
        switch = _switch_from_request(request)
    elif switch.status in (SwitchStatus.AWAITING_APPROVAL, SwitchStatus.ROLLED_BACK):
        switch.move_to(SwitchStatus.QUEUED)
        switch.save(update_fields=["status", "updated_at"])
    elif switch.status == SwitchStatus.SUCCEEDED:
        return _result(switch)  # a success is never repeated
    finished = switch_execute(switch_id=switch.pk)
    if finished is None:
        raise DomainError(
            f"The switch could not start: it is {Switch.objects.get(pk=switch.pk).get_status_display().lower()} "
            "(another swap of its Auto Scaling group may be running; retry later).",
            code="switch_not_started",
        )
    if finished.status != SwitchStatus.SUCCEEDED:
        message = finished.error_message or f"The switch ended {finished.get_status_display().lower()}."
        raise ExecutionFailed(message, result=_result(finished))
    return _result(finished)


def _result(switch: Switch) -> dict:
    return {
        "switch_id": str(switch.pk),
        "status": switch.status,
        "replacement_instance_id": switch.replacement.instance_id if switch.replacement_id else "",
        "steps": len(switch.steps),
    }


def _switch_from_request(request) -> Switch:
    payload = request.action_payload
    instance = (
        Instance.objects.select_related("account")
        .filter(account=request.account, instance_id=payload["instance_id"], is_active=True)
        .first()
    )
    if instance is None:
        raise DomainError(f"{payload['instance_id']} is not an active instance of this account.", code="not_found")
    if Switch.objects.filter(instance=instance, status__in=SWITCH_OPEN).exists():
        raise DomainError(f"{instance.instance_id} already has a switch open.", code="switch_open")
    group = _group_of(instance)
    lifecycle = payload.get("target_lifecycle", Lifecycle.SPOT)
    return Switch.objects.create(
        account=instance.account,
        instance=instance,
        approval=request,
        decision=Decision.FALLBACK_ONDEMAND if lifecycle == Lifecycle.ON_DEMAND else Decision.SWITCH,
        pipeline_mode=PipelineMode.CLUSTER if group else PipelineMode.LINEAR,
        asg_name=group,
        target_instance_type=payload["target_instance_type"],
        target_availability_zone=payload["target_availability_zone"],
        target_lifecycle=lifecycle,
        old_hourly_price=payload.get("current_hourly_price"),
        new_hourly_price=payload.get("target_hourly_price"),
        status=SwitchStatus.QUEUED,
    )


# --- Outcomes -------------------------------------------------------------------------------------------

OUTCOME_WINDOW = timedelta(hours=24)


def switch_outcomes_settle(*, now=None) -> dict:
    """The scheduled job: a Spot switch whose new instance got an interruption warning within 24 h of the
    switch is a failure (settled as soon as the warning is there), one that ran 24 h without one a
    success. The models that chose them count both (success_count, failure_count)."""
    from mlgov.models import MLModel
    from risk.choices import RiskEventType
    from risk.models import GlobalRiskEvent

    now = now or timezone.now()
    pending = Switch.objects.filter(
        status=SwitchStatus.SUCCEEDED,
        outcome=SwitchOutcome.PENDING,
        target_lifecycle=Lifecycle.SPOT,
        replacement__isnull=False,
    )
    warned = GlobalRiskEvent.objects.filter(
        account_id=OuterRef("account_id"),
        instance_id=OuterRef("replacement__instance_id"),
        event_type=RiskEventType.TERMINATION_NOTICE,
        received_at__gte=OuterRef("finished_at"),
        received_at__lte=OuterRef("finished_at") + OUTCOME_WINDOW,
    )
    settled = {}
    for outcome, selection in (
        (SwitchOutcome.FAILURE, pending.filter(Exists(warned))),
        (SwitchOutcome.SUCCESS, pending.filter(~Exists(warned), finished_at__lte=now - OUTCOME_WINDOW)),
    ):
        with transaction.atomic():
            rows = list(selection.select_for_update(skip_locked=True, of=("self",)).values_list("pk", "model_id"))
            Switch.objects.filter(pk__in=[pk for pk, _ in rows]).update(
                outcome=outcome, outcome_settled_at=now, updated_at=now
            )
            per_model: dict = {}
            for _, model_id in rows:
                if model_id:
                    per_model[model_id] = per_model.get(model_id, 0) + 1
            counter = "failure_count" if outcome == SwitchOutcome.FAILURE else "success_count"
            for model_id, n in per_model.items():
                MLModel.objects.filter(pk=model_id).update(**{counter: F(counter) + n})
        settled[outcome] = len(rows)
    return settled
