"""Executing the optimizer's decisions against moto: a LAB LINEAR switch and a CLUSTER swap end to end with
the capacity recorded (and checked) at every step, a rollback mid-swap, an outage logged as downtime,
shadow mode without any AWS write, a PROD switch behind its approval, the fallback to on-demand and the
return to Spot around a poisoned pool, the group limits, and the settling of outcomes."""

from datetime import timedelta
from decimal import Decimal

import boto3
import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from accounts.choices import EnvironmentType, Role
from approvals.choices import ActionType, ApprovalStatus, ExecutionStatus
from approvals.models import ApprovalRequest
from approvals.services import approval_approve, approval_reject
from fleet.catalog import compatible_spot_pools
from fleet.choices import Lifecycle, SwitchOutcome, SwitchStatus
from fleet.execution import (
    SwitchRun,
    optimizer_cycle,
    switch_execute,
    switch_outcomes_settle,
    switches_reap_stalled,
)
from fleet.models import Instance, Switch
from fleet.optimizer import FALLBACK_PURPOSE, PURPOSE_TAG
from fleet.services import instance_record_from_aws
from mlgov.choices import Decision, ModelStatus
from mlgov.models import ExperimentLog, MLModel
from mlgov.services import model_activate, model_move, model_upload
from risk.choices import RiskEventType
from risk.models import GlobalRiskEvent, SpotPoolRisk
from sla.choices import DowntimeCause
from sla.models import DowntimeLog
from tests.aws_fixtures import aws_calls, moto  # noqa: F401
from tests.fleet.conftest import REGION
from tests.fleet.test_optimizer import prices
from tests.mlgov.onnx_models import BASELINE
from tests.risk.factories import make_pool

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("moto", "catalog")]

WRITES = {
    "RunInstances",
    "TerminateInstances",
    "AttachInstances",
    "DetachInstances",
    "UpdateAutoScalingGroup",
    "CreateTags",
    "TerminateInstanceInAutoScalingGroup",
}
CHEAP = {"m5a.large": "0.030"}  # 69 % below m5.large's on-demand $0.096, and the baseline calls it calm


@pytest.fixture
def models(make_user):
    """The baseline as the production model, and a copy in TESTING for the Lab's instances."""
    lab, boss = make_user(Role.LAB), make_user(Role.SUPER_ADMIN)
    data = BASELINE.read_bytes()
    production = model_upload(user=lab, name="baseline", version="1", feature_schema_version="1", data=data)
    for status in (ModelStatus.TESTING, ModelStatus.GRADUATED):
        production = model_move(user=lab, model=production, status=status)
    production = model_activate(user=boss, model=model_move(user=boss, model=production, status=ModelStatus.ENABLED))
    testing = model_upload(user=lab, name="baseline-lab", version="1-lab", feature_schema_version="1", data=data)
    testing = model_move(user=lab, model=testing, status=ModelStatus.TESTING)
    return production, testing


@pytest.fixture
def ec2():
    return boto3.client("ec2", region_name=REGION)


@pytest.fixture
def asg():
    return boto3.client("autoscaling", region_name=REGION)


def subnet_in(ec2, zone="us-east-1a"):
    return next(s["SubnetId"] for s in ec2.describe_subnets()["Subnets"] if s["AvailabilityZone"] == zone)


def launch(ec2, account, *, spot=False, zone="us-east-1a", lab_model="", **fields) -> Instance:
    request = {"InstanceMarketOptions": {"MarketType": "spot"}} if spot else {}
    raw = ec2.run_instances(
        ImageId="ami-12345678",
        MinCount=1,
        MaxCount=1,
        InstanceType="m5.large",
        SubnetId=subnet_in(ec2, zone),
        **request,
    )["Instances"][0]
    instance = instance_record_from_aws(account=account, region=REGION, instance_id=raw["InstanceId"])
    Instance.objects.filter(pk=instance.pk).update(assigned_model_version=lab_model, **fields)
    return Instance.objects.select_related("account").get(pk=instance.pk)


def market(instance, **special):
    """A week of prices for the instance's candidate pools (each at $0.090 unless `special` says otherwise)."""
    pools = compatible_spot_pools(instance=instance, allowed=[], denied=[])
    prices(pools, "0.090", **special)
    return pools


def state_of(ec2, instance_id: str) -> str:
    return ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["State"]["Name"]


def lab(account):
    account.environment_type = EnvironmentType.LAB
    account.save()
    return account


def automatic(account):
    account.allow_automatic_switches = True
    account.save()
    return account


def make_group(ec2, asg, *, size=2, max_size=None):
    asg.create_launch_configuration(LaunchConfigurationName="web", ImageId="ami-12345678", InstanceType="m5.large")
    asg.create_auto_scaling_group(
        AutoScalingGroupName="web-asg",
        LaunchConfigurationName="web",
        MinSize=1,
        MaxSize=max_size or size,
        DesiredCapacity=size,
        VPCZoneIdentifier=subnet_in(ec2),
    )
    return group(asg)


def group(asg) -> dict:
    return asg.describe_auto_scaling_groups(AutoScalingGroupNames=["web-asg"])["AutoScalingGroups"][0]


def members_of(account, asg) -> list[Instance]:
    ids = [m["InstanceId"] for m in group(asg)["Instances"]]
    for instance_id in ids:
        instance_record_from_aws(account=account, region=REGION, instance_id=instance_id)
    return list(Instance.objects.select_related("account").filter(instance_id__in=ids).order_by("instance_id"))


# --- LINEAR -----------------------------------------------------------------------------------------------


def test_a_lab_linear_switch_runs_end_to_end(catalog_account, models, ec2):
    account = lab(catalog_account)
    old = launch(ec2, account, lab_model="1-lab")
    market(old, **CHEAP)

    result = optimizer_cycle(account=account, inline=True)

    log = ExperimentLog.objects.get(instance=old)
    assert log.decision == Decision.SWITCH and log.model == models[1]
    assert log.features_used["execution"] == "queued for execution"
    switch = Switch.objects.get(experiment_log=log)
    assert result.executed == {str(switch.pk): SwitchStatus.SUCCEEDED}
    assert switch.status == SwitchStatus.SUCCEEDED and switch.pipeline_mode == "LINEAR"
    new = switch.replacement
    assert (new.instance_type, new.availability_zone, new.lifecycle) == (
        log.selected_instance_type,
        log.selected_availability_zone,
        Lifecycle.SPOT,
    )
    assert new.is_active and new.assigned_model_version == "1-lab" and new.tags["spotopt:replaces"] == old.instance_id
    assert state_of(ec2, new.instance_id) == "running"
    assert state_of(ec2, old.instance_id) in ("shutting-down", "terminated")
    assert not Instance.objects.get(pk=old.pk).is_active
    assert [s["step"] for s in switch.steps] == ["started", "launched", "healthy", "terminated old"]
    assert all(s["capacity"] >= s["floor"] == 1 for s in switch.steps)
    assert switch.outcome == SwitchOutcome.PENDING and not DowntimeLog.objects.exists()
    # The replacement settles before it is switched again, even to a cheaper pool.
    optimizer_cycle(account=account, inline=True)
    again = ExperimentLog.objects.filter(instance=new).get()
    assert again.decision == Decision.HOLD or again.features_used["execution"].startswith("not now: a switch launched")


def test_shadow_mode_logs_the_decision_and_makes_no_aws_write(catalog_account, models, ec2, aws_calls):  # noqa: F811
    account = lab(catalog_account)
    old = launch(ec2, account, lab_model="1-lab", is_shadow_mode=True)
    market(old, **CHEAP)
    aws_calls.calls.clear()

    optimizer_cycle(account=account, inline=True)

    log = ExperimentLog.objects.get(instance=old)
    assert log.decision == Decision.SWITCH and log.is_shadow_run
    assert log.features_used["execution"] == "shadow mode: logged only, no AWS write"
    assert not Switch.objects.exists()
    assert not WRITES & {name for name, _ in aws_calls.calls}
    assert state_of(ec2, old.instance_id) == "running"


def test_a_node_of_a_cluster_spotopt_cannot_reach_is_evaluated_and_logged_only(catalog_account, models, ec2):
    """(Nodes of a reachable cluster are switched with the cluster in the loop: tests/kube/test_node_switch.py.)"""
    account = lab(catalog_account)
    node = launch(
        ec2, account, lab_model="1-lab", orchestrator_type="KUBERNETES", cluster_membership={"cluster_name": "shop"}
    )
    market(node, **CHEAP)
    optimizer_cycle(account=account, inline=True)
    log = ExperimentLog.objects.get(instance=node)
    assert log.decision == Decision.SWITCH
    assert log.features_used["execution"].startswith("Kubernetes node of shop: spotopt cannot reach that cluster")
    assert not Switch.objects.exists()


# --- CLUSTER ----------------------------------------------------------------------------------------------


def test_a_cluster_swap_never_drops_below_n_and_one_member_at_a_time(catalog_account, models, ec2, asg, monkeypatch):
    account = automatic(catalog_account)
    make_group(ec2, asg, size=2)  # full: MaxSize is raised by one for the swap and put back
    members = members_of(account, asg)
    assert all(m.cluster_membership["asg_name"] == "web-asg" for m in members)
    market(members[0], **CHEAP)
    seen = []  # capacity asked of AWS independently after every step the switch records
    original_step = SwitchRun.step

    def watched(run, name, detail="", **extra):
        original_step(run, name, detail, **extra)
        seen.append((name, sum(1 for m in group(asg)["Instances"] if m["LifecycleState"] == "InService")))

    monkeypatch.setattr(SwitchRun, "step", watched)

    optimizer_cycle(account=account, inline=True)

    logs = {log.instance_id: log for log in ExperimentLog.objects.filter(instance__in=members)}
    assert {log.decision for log in logs.values()} == {Decision.SWITCH}
    # 25 % of a group of two rounds down to one member at a time; the other waits.
    executions = sorted(log.features_used["execution"] for log in logs.values())
    assert executions[0] == (
        "not now: 1 of the 2 members of the Auto Scaling group web-asg are planned or in flight (at most 1, 25 % of "
        "the group)"
    )
    assert executions[1] == "queued for execution"
    switch = Switch.objects.get()
    assert switch.status == SwitchStatus.SUCCEEDED, switch.error_message
    assert switch.pipeline_mode == "CLUSTER" and switch.asg_name == "web-asg"
    assert [s["step"] for s in switch.steps] == [
        "started",
        "launched",
        "healthy",
        "attached",
        "in service",
        "detached old",
        "terminated old",
    ]
    assert all(s["capacity"] >= s["floor"] == 2 for s in switch.steps)
    assert [n for _, n in seen] == [2, 2, 2, 3, 3, 2, 2] and min(n for _, n in seen) >= 2
    after = group(asg)
    assert after["DesiredCapacity"] == 2 and after["MaxSize"] == 2
    in_group = {m["InstanceId"] for m in after["Instances"]}
    assert switch.instance.instance_id not in in_group and switch.replacement.instance_id in in_group
    assert state_of(ec2, switch.instance.instance_id) in ("shutting-down", "terminated")
    assert Instance.objects.get(pk=switch.replacement.pk).cluster_membership["asg_name"] == "web-asg"


def test_a_failure_mid_swap_rolls_back_and_leaves_the_old_member_untouched(
    catalog_account, models, ec2, asg, monkeypatch
):
    account = automatic(catalog_account)
    make_group(ec2, asg, size=2, max_size=2)
    members = members_of(account, asg)
    market(members[0], **CHEAP)
    # The group never reports the new member InService: the wait times out after it was attached.
    monkeypatch.setattr(SwitchRun, "new_in_service", lambda run: False)

    optimizer_cycle(account=account, inline=True)

    switch = Switch.objects.get()
    assert switch.status == SwitchStatus.ROLLED_BACK
    assert "InService in web-asg did not happen within 1 s" in switch.error_message
    assert [s["step"] for s in switch.steps][-2:] == ["attached", "rolled back"]
    assert all(s["capacity"] >= 2 for s in switch.steps)
    after = group(asg)
    assert after["DesiredCapacity"] == 2 and after["MaxSize"] == 2
    in_group = {m["InstanceId"] for m in after["Instances"]}
    assert switch.instance.instance_id in in_group and switch.replacement.instance_id not in in_group
    assert state_of(ec2, switch.instance.instance_id) == "running"
    assert state_of(ec2, switch.replacement.instance_id) in ("shutting-down", "terminated")
    assert Instance.objects.get(pk=switch.instance.pk).is_active
    assert not Instance.objects.get(pk=switch.replacement.pk).is_active
    assert not DowntimeLog.objects.exists()
    # The next cycle does not try this member again at once (the group's other member may go).
    optimizer_cycle(account=account, inline=True)
    assert Switch.objects.filter(instance=switch.instance).count() == 1
    latest = ExperimentLog.objects.filter(instance=switch.instance).latest("execution_time")
    assert latest.features_used["execution"].startswith("not now: its last switch rolled back; asked again after")


def test_a_capacity_drop_during_a_swap_is_downtime_the_platform_caused(catalog_account, models, ec2, asg, monkeypatch):
    account = automatic(catalog_account)
    make_group(ec2, asg, size=2, max_size=3)
    members = members_of(account, asg)
    market(members[0], **CHEAP)
    real_capacity = SwitchRun.capacity

    def failing_capacity(run):
        # AWS loses a member right after the old one was detached (the last step recorded is "in service").
        seen = real_capacity(run)
        return seen - 1 if run.switch.steps and run.switch.steps[-1]["step"] == "in service" else seen

    monkeypatch.setattr(SwitchRun, "capacity", failing_capacity)

    optimizer_cycle(account=account, inline=True)

    switch = Switch.objects.get()
    assert switch.status == SwitchStatus.FAILED
    assert "Capacity fell to 1, below 2, at step 'detached old'" in switch.error_message
    downtime = DowntimeLog.objects.get()
    assert downtime.cause == DowntimeCause.OPTIMIZER_FAILURE and downtime.instance == switch.instance
    assert downtime.ended_at is not None and switch.downtime == downtime


def test_the_database_holds_one_running_swap_per_group(catalog_account, models, ec2, asg):
    account = automatic(catalog_account)
    make_group(ec2, asg, size=2)
    first, second = members_of(account, asg)
    common = dict(
        account=account,
        decision=Decision.SWITCH,
        pipeline_mode="CLUSTER",
        asg_name="web-asg",
        target_instance_type="m5a.large",
        target_availability_zone="us-east-1a",
        target_lifecycle=Lifecycle.SPOT,
    )
    Switch.objects.create(instance=first, status=SwitchStatus.RUNNING, **common)
    waiting = Switch.objects.create(instance=second, status=SwitchStatus.QUEUED, **common)
    assert switch_execute(switch_id=waiting.pk) is None  # its turn comes when the running one ends
    assert Switch.objects.get(pk=waiting.pk).status == SwitchStatus.QUEUED


# --- Approvals --------------------------------------------------------------------------------------------


def test_a_prod_switch_waits_for_its_approval_and_runs_once_approved(
    catalog_account,
    models,
    ec2,
    make_user,
    client,
    aws_calls,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    old = launch(ec2, catalog_account)
    market(old, **CHEAP)
    aws_calls.calls.clear()

    optimizer_cycle(account=catalog_account)

    switch = Switch.objects.get()
    assert switch.status == SwitchStatus.AWAITING_APPROVAL
    request = switch.approval
    assert request.action_type == ActionType.SWITCH_INSTANCE and request.status == ApprovalStatus.PENDING
    assert request.action_payload["instance_id"] == old.instance_id
    assert request.action_payload["target_instance_type"] == switch.target_instance_type
    assert "cheaper" in request.action_payload["reason"]
    assert ExperimentLog.objects.get(instance=old).features_used["execution"].startswith("awaiting approval")
    client.force_login(catalog_account.user)
    page = client.get(reverse("approval_detail", args=[request.pk])).content.decode()
    assert reverse("experiment_detail", args=[switch.experiment_log_id]) in page
    assert not WRITES & {name for name, _ in aws_calls.calls}
    # The next cycle does not file a second request while this one waits.
    optimizer_cycle(account=catalog_account)
    assert ApprovalRequest.objects.count() == 1
    assert ExperimentLog.objects.filter(instance=old).latest("execution_time").features_used["execution"] == (
        "not now: a switch of this instance is already awaiting approval"
    )

    with django_capture_on_commit_callbacks(execute=True):
        approval_approve(user=make_user(Role.ADMIN), request_id=request.pk)

    request.refresh_from_db()
    switch.refresh_from_db()
    assert request.execution_status == ExecutionStatus.SUCCEEDED, request.execution_error
    assert request.execution_result["switch_id"] == str(switch.pk)
    assert switch.status == SwitchStatus.SUCCEEDED
    assert state_of(ec2, old.instance_id) in ("shutting-down", "terminated")


def test_a_rejected_switch_is_cancelled_and_not_asked_again_for_a_day(catalog_account, models, ec2, make_user, clock):
    old = launch(ec2, catalog_account)
    market(old, **CHEAP)
    optimizer_cycle(account=catalog_account)
    switch = Switch.objects.get()
    approval_reject(user=make_user(Role.ADMIN), request_id=switch.approval_id, comment="Not this week.")
    clock.advance(minutes=5)
    result = optimizer_cycle(account=catalog_account)
    assert result.cancelled == 1
    assert Switch.objects.get(pk=switch.pk).status == SwitchStatus.CANCELLED
    # Refused: the optimizer does not ask again every 5 minutes, and says when it will.
    assert not Switch.objects.filter(status=SwitchStatus.AWAITING_APPROVAL).exists()
    latest = ExperimentLog.objects.filter(instance=old).latest("execution_time")
    assert latest.features_used["execution"].startswith("not now: its last switch request was refused; asked again")
    clock.advance(hours=25)
    optimizer_cycle(account=catalog_account)
    assert Switch.objects.filter(status=SwitchStatus.AWAITING_APPROVAL).count() == 1  # a fresh request


def test_an_approved_switch_whose_target_was_poisoned_meanwhile_changes_nothing(
    catalog_account, models, ec2, make_user, django_capture_on_commit_callbacks
):
    old = launch(ec2, catalog_account)
    market(old, **CHEAP)
    optimizer_cycle(account=catalog_account)
    switch = Switch.objects.get()
    SpotPoolRisk.objects.create(
        region=REGION,
        availability_zone=switch.target_availability_zone,
        instance_type=switch.target_instance_type,
        is_poisoned=True,
        poisoned_at=timezone.now(),
        poison_expires_at=timezone.now() + timedelta(days=15),
    )
    with django_capture_on_commit_callbacks(execute=True):
        approval_approve(user=make_user(Role.ADMIN), request_id=switch.approval_id)
    switch.refresh_from_db()
    assert switch.status == SwitchStatus.ROLLED_BACK and switch.replacement is None
    assert "was poisoned by the hive since the decision" in switch.error_message
    assert ApprovalRequest.objects.get(pk=switch.approval_id).execution_status == ExecutionStatus.FAILED
    assert state_of(ec2, old.instance_id) == "running"


# --- Fallback and return ----------------------------------------------------------------------------------


def test_a_poisoned_pool_falls_back_to_on_demand_and_returns_to_spot_when_safe(catalog_account, models, ec2, clock):
    account = lab(catalog_account)
    spot = launch(ec2, account, spot=True, lab_model="1-lab")
    assert spot.lifecycle == Lifecycle.SPOT
    # Every other pool costs more than on-demand ($0.096) this week: no refuge on Spot; its own is poisoned.
    pools = market(spot)
    clock.advance(minutes=1)  # the newer steps are the pools' prices now
    prices([pool for pool in pools if pool != (REGION, spot.availability_zone, spot.instance_type)], "0.120")
    Instance.objects.filter(pk=spot.pk).update(hourly_price=Decimal("0.090"))
    poison = make_pool(region=REGION, availability_zone=spot.availability_zone, instance_type=spot.instance_type)

    optimizer_cycle(account=account, inline=True)

    fallback_log = ExperimentLog.objects.get(instance=spot)
    assert fallback_log.decision == Decision.FALLBACK_ONDEMAND
    assert "poisoned by the hive" in fallback_log.decision_reason
    fallback = Switch.objects.get(experiment_log=fallback_log)
    assert fallback.status == SwitchStatus.SUCCEEDED and fallback.outcome == SwitchOutcome.NOT_APPLICABLE
    on_demand = fallback.replacement
    assert on_demand.lifecycle == Lifecycle.ON_DEMAND and on_demand.tags[PURPOSE_TAG] == FALLBACK_PURPOSE
    assert (on_demand.instance_type, on_demand.availability_zone) == (spot.instance_type, spot.availability_zone)
    assert on_demand.hourly_price is not None

    # A later cycle, still nothing safe and cheap enough: it stays on-demand and says why.
    clock.advance(minutes=61)
    optimizer_cycle(account=account, inline=True)
    hold = ExperimentLog.objects.filter(instance=on_demand).latest("execution_time")
    assert hold.decision == Decision.HOLD and "on-demand since the fallback" in hold.decision_reason

    # The poison lifts and a calm pool gets cheap: back to Spot, as its own decision.
    poison.is_poisoned = False
    poison.save()
    clock.advance(minutes=5)
    prices([pool for pool in pools if pool[2] == "m5a.large"], "0.030")
    optimizer_cycle(account=account, inline=True)
    back = ExperimentLog.objects.filter(instance=on_demand).latest("execution_time")
    assert back.decision == Decision.RETURN_TO_SPOT
    assert back.decision_reason.startswith("back to Spot after the fallback")
    returned = Switch.objects.get(experiment_log=back)
    assert returned.status == SwitchStatus.SUCCEEDED and returned.replacement.lifecycle == Lifecycle.SPOT


# --- Outcomes ---------------------------------------------------------------------------------------------


def test_outcomes_are_settled_and_counted_for_the_model(catalog_account, models, ec2, clock):
    account = lab(catalog_account)
    first = launch(ec2, account, lab_model="1-lab")
    second = launch(ec2, account, lab_model="1-lab", zone="us-east-1b")
    market(first, **CHEAP)
    market(second, **CHEAP)
    optimizer_cycle(account=account, inline=True)
    interrupted, calm = Switch.objects.filter(status=SwitchStatus.SUCCEEDED).order_by("instance__availability_zone")
    testing = models[1]
    assert MLModel.objects.get(pk=testing.pk).total_predictions == 2

    clock.advance(hours=3)
    GlobalRiskEvent.objects.create(
        event_id="warning-1",
        account=account,
        instance_id=interrupted.replacement.instance_id,
        event_type=RiskEventType.TERMINATION_NOTICE,
        region=REGION,
        availability_zone=interrupted.target_availability_zone,
        instance_type=interrupted.target_instance_type,
        reported_at=clock.now,
        received_at=clock.now,
    )
    assert switch_outcomes_settle() == {SwitchOutcome.FAILURE: 1, SwitchOutcome.SUCCESS: 0}
    clock.advance(hours=22)
    assert switch_outcomes_settle() == {SwitchOutcome.FAILURE: 0, SwitchOutcome.SUCCESS: 1}
    assert switch_outcomes_settle() == {SwitchOutcome.FAILURE: 0, SwitchOutcome.SUCCESS: 0}
    assert Switch.objects.get(pk=interrupted.pk).outcome == SwitchOutcome.FAILURE
    assert Switch.objects.get(pk=calm.pk).outcome == SwitchOutcome.SUCCESS
    model = MLModel.objects.get(pk=testing.pk)
    assert (model.success_count, model.failure_count) == (1, 1)


def test_the_cycle_keeps_the_models_prediction_counts_current(catalog_account, models, ec2):
    account = lab(catalog_account)
    old = launch(ec2, account, lab_model="1-lab", is_shadow_mode=True)
    market(old, **CHEAP)
    optimizer_cycle(account=account)
    optimizer_cycle(account=account)
    scores = list(ExperimentLog.objects.values_list("prediction_score", flat=True))
    model = MLModel.objects.get(pk=models[1].pk)
    assert model.total_predictions == 2
    assert model.avg_prediction_score == pytest.approx(sum(scores) / 2)


def test_a_dry_run_writes_nothing(catalog_account, models, ec2):
    account = lab(catalog_account)
    old = launch(ec2, account, lab_model="1-lab")
    market(old, **CHEAP)
    result = optimizer_cycle(account=account, dry_run=True)
    assert result.decisions == {Decision.SWITCH: 1} and len(result.logs) == 1
    assert not ExperimentLog.objects.exists() and not Switch.objects.exists()


# --- Pages ------------------------------------------------------------------------------------------------


def test_the_experiment_page_shows_what_was_executed_step_by_step(catalog_account, models, ec2, client, make_user):
    account = lab(catalog_account)
    old = launch(ec2, account, lab_model="1-lab")
    market(old, **CHEAP)
    optimizer_cycle(account=account, inline=True)
    log = ExperimentLog.objects.get(instance=old)
    switch = Switch.objects.get(experiment_log=log)

    client.force_login(account.user)
    page = client.get(reverse("experiment_detail", args=[log.pk])).content.decode()
    assert "Execution" in page and "Succeeded" in page and "terminated old" in page
    assert switch.replacement.instance_id in page and "switch-steps" in page
    client.force_login(make_user())  # another tenant
    assert client.get(reverse("experiment_detail", args=[log.pk])).status_code == 404

    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(account.user)
    body = api.get(f"/api/v1/experiments/{log.pk}/").json()
    assert body["switch"]["status"] == SwitchStatus.SUCCEEDED and body["switch"]["pipeline_mode"] == "LINEAR"
    assert body["switch"]["replacement_instance_id"] == switch.replacement.instance_id
    assert [s["step"] for s in body["switch"]["steps"]][-1] == "terminated old"
    api.force_authenticate(make_user())
    assert api.get(f"/api/v1/experiments/{log.pk}/").status_code == 404


def test_switches_are_view_only_in_the_admin(catalog_account, models, ec2, client, super_admin):
    account = lab(catalog_account)
    old = launch(ec2, account, lab_model="1-lab")
    market(old, **CHEAP)
    optimizer_cycle(account=account, inline=True)
    switch = Switch.objects.get()
    client.force_login(super_admin)
    assert old.instance_id in client.get(reverse("admin:fleet_switch_changelist")).content.decode()
    page = client.get(reverse("admin:fleet_switch_change", args=[switch.pk]))
    assert page.status_code == 200 and not page.context["adminform"].form.fields


def test_a_standalone_behind_a_load_balancer_serves_through_its_replacement(catalog_account, models, ec2):
    account = lab(catalog_account)
    old = launch(ec2, account, lab_model="1-lab")
    market(old, **CHEAP)
    elb = boto3.client("elbv2", region_name=REGION)
    vpc = ec2.describe_instances(InstanceIds=[old.instance_id])["Reservations"][0]["Instances"][0]["VpcId"]
    arn = elb.create_target_group(Name="web", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="instance")[
        "TargetGroups"
    ][0]["TargetGroupArn"]
    elb.register_targets(TargetGroupArn=arn, Targets=[{"Id": old.instance_id, "Port": 8080}])

    optimizer_cycle(account=account, inline=True)

    switch = Switch.objects.get()
    assert switch.status == SwitchStatus.SUCCEEDED, switch.error_message
    assert [s["step"] for s in switch.steps] == [
        "started",
        "launched",
        "healthy",
        "registered",
        "serving",
        "deregistered old",
        "terminated old",
    ]
    targets = {
        (t["Target"]["Id"], t["Target"]["Port"])
        for t in elb.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
    }
    assert targets == {(switch.replacement.instance_id, 8080)}


def test_leaving_a_poisoned_pool_prefers_a_safe_spot_pool_to_on_demand(catalog_account, models, ec2):
    account = lab(catalog_account)
    spot = launch(ec2, account, spot=True, lab_model="1-lab")
    Instance.objects.filter(pk=spot.pk).update(hourly_price=Decimal("0.030"))
    # The other pools cost more than it pays (no saving) but far less than on-demand: a refuge, not a fallback.
    market(spot, **{"m5a.large": "0.035"})
    make_pool(region=REGION, availability_zone=spot.availability_zone, instance_type=spot.instance_type)
    optimizer_cycle(account=account, inline=True)
    log = ExperimentLog.objects.get(instance=spot)
    assert log.decision == Decision.SWITCH, log.decision_reason
    assert "must leave (its pool is poisoned by the hive)" in log.decision_reason
    assert Switch.objects.get().replacement.lifecycle == Lifecycle.SPOT


def test_a_switch_a_dead_worker_left_running_is_rolled_back_by_the_next_cycle(
    catalog_account, models, ec2, asg, monkeypatch, clock
):
    account = automatic(catalog_account)
    make_group(ec2, asg, size=2)  # full: MaxSize is raised for the swap
    members = members_of(account, asg)
    market(members[0], **CHEAP)

    def worker_killed(run):
        raise SystemExit("SIGKILL")  # not an Exception: nothing in the switch catches it

    with monkeypatch.context() as patched, pytest.raises(SystemExit):
        patched.setattr(SwitchRun, "new_in_service", worker_killed)
        optimizer_cycle(account=account, inline=True)
    switch = Switch.objects.get()
    assert switch.status == SwitchStatus.RUNNING and group(asg)["MaxSize"] == 3

    assert switches_reap_stalled() == 0  # still within a task's time
    clock.advance(seconds=settings.Q_CLUSTER["timeout"] + 61)
    assert switches_reap_stalled() == 1

    switch.refresh_from_db()
    assert switch.status == SwitchStatus.ROLLED_BACK
    assert "The worker stopped during the switch (last step: attached)" in switch.error_message
    after = group(asg)
    assert after["MaxSize"] == 2 and after["DesiredCapacity"] == 2
    assert switch.replacement.instance_id not in {m["InstanceId"] for m in after["Instances"]}
    assert state_of(ec2, switch.replacement.instance_id) in ("shutting-down", "terminated")
    assert state_of(ec2, switch.instance.instance_id) == "running"


def test_a_stopped_instance_or_one_with_an_elastic_ip_is_not_switched(catalog_account, models, ec2):
    account = lab(catalog_account)
    stopped = launch(ec2, account, lab_model="1-lab")
    addressed = launch(ec2, account, lab_model="1-lab", zone="us-east-1b")
    market(stopped, **CHEAP)
    market(addressed, **CHEAP)
    ec2.stop_instances(InstanceIds=[stopped.instance_id])
    allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
    ec2.associate_address(AllocationId=allocation, InstanceId=addressed.instance_id)

    optimizer_cycle(account=account, inline=True)

    by_instance = {s.instance_id: s for s in Switch.objects.all()}
    assert by_instance[stopped.pk].status == SwitchStatus.ROLLED_BACK
    assert "is stopped, not running: nothing to switch" in by_instance[stopped.pk].error_message
    assert by_instance[addressed.pk].status == SwitchStatus.ROLLED_BACK
    assert "holds the Elastic IP" in by_instance[addressed.pk].error_message
    assert all(s.replacement is None for s in by_instance.values())
    assert not DowntimeLog.objects.exists()
