"""The reporting views v_active_instances and v_recent_experiments, read through their unmanaged models."""

from datetime import timedelta

import pytest
from django.db import DatabaseError, transaction
from django.utils import timezone

from fleet.models import ActiveInstanceView
from mlgov.choices import ModelStatus
from mlgov.models import ExperimentLog, MLModel, RecentExperimentView
from spotopt.db import ReadOnlyError


def set_uploaded_at(model, when):
    MLModel.objects.filter(pk=model.pk).update(uploaded_at=when)


# --- v_active_instances -------------------------------------------------------------------------------


def test_active_instances_lists_only_active_instances_of_active_accounts(client_user, make_account, make_instance):
    account = make_account(client_user, account_id="210987654321", account_name="Shop", environment_type="LAB")
    active = make_instance(account, instance_id="i-0active000000000", instance_type="c5.large", lifecycle="spot")
    make_instance(account, instance_id="i-0inactive00000000", is_active=False)
    dormant_account = make_account(client_user, is_active=False)
    make_instance(dormant_account, instance_id="i-0dormant000000000")

    rows = list(ActiveInstanceView.objects.all())

    assert [row.instance_id for row in rows] == ["i-0active000000000"]
    row = rows[0]
    assert row.pk == active.pk
    assert row.instance_type == "c5.large"
    assert row.availability_zone == "us-east-1a"
    assert row.region == "us-east-1"
    assert row.lifecycle == "spot"
    assert row.pipeline_mode == "CLUSTER"
    assert row.is_shadow_mode is False
    assert row.auth_status == "UNAUTHORIZED"
    assert row.orchestrator_type == "STANDALONE"
    assert row.last_evaluation is None
    assert row.account_id == account.pk
    assert row.account == account
    assert row.aws_account_id == "210987654321"
    assert row.account_name == "Shop"
    assert row.environment_type == "LAB"
    assert row.owner_id == client_user.pk
    assert row.owner == client_user


def test_instances_disappear_from_the_view_when_deactivated(client_user, make_account, make_instance):
    account = make_account(client_user)
    instance = make_instance(account)
    assert ActiveInstanceView.objects.filter(pk=instance.pk).exists()
    account.is_active = False
    account.save()
    assert not ActiveInstanceView.objects.filter(pk=instance.pk).exists()


def test_active_instance_shows_its_assigned_model_else_the_production_model(
    client_user, make_account, make_instance, make_ml_model
):
    now = timezone.now()
    older = make_ml_model(name="pinned-old", version="2.0", status=ModelStatus.GRADUATED)
    newer = make_ml_model(name="pinned-new", version="2.0", status=ModelStatus.ENABLED)
    set_uploaded_at(older, now - timedelta(days=2))
    set_uploaded_at(newer, now - timedelta(days=1))
    make_ml_model(name="prod", version="1.0", status=ModelStatus.ENABLED, is_active_prod=True)

    account = make_account(client_user)
    pinned = make_instance(account, assigned_model_version="2.0")
    default = make_instance(account)
    unknown_version = make_instance(account, assigned_model_version="9.9")

    rows = {row.pk: row for row in ActiveInstanceView.objects.all()}

    assert (rows[pinned.pk].model_name, rows[pinned.pk].model_version, rows[pinned.pk].model_status) == (
        "pinned-new",
        "2.0",
        "ENABLED",
    )
    assert rows[pinned.pk].assigned_model_version == "2.0"
    assert (rows[default.pk].model_name, rows[default.pk].model_version) == ("prod", "1.0")
    assert rows[default.pk].assigned_model_version == ""
    assert rows[unknown_version.pk].model_name == "prod"


def test_active_instance_without_any_model_has_no_model_info(client_user, make_account, make_instance, make_ml_model):
    make_ml_model(status=ModelStatus.ENABLED, is_active_prod=False)
    instance = make_instance(make_account(client_user))
    row = ActiveInstanceView.objects.get(pk=instance.pk)
    assert row.model_name is None
    assert row.model_version is None
    assert row.model_status is None


def test_active_instance_view_can_be_filtered_by_owner(client_user, other_client, make_account, make_instance):
    mine = make_instance(make_account(client_user))
    make_instance(make_account(other_client))
    assert list(ActiveInstanceView.objects.filter(owner=client_user).values_list("pk", flat=True)) == [mine.pk]


# --- v_recent_experiments -----------------------------------------------------------------------------


def test_recent_experiments_show_instance_account_and_model(
    client_user, make_account, make_instance, make_experiment, make_ml_model
):
    account = make_account(client_user, account_id="333344445555", account_name="Team")
    instance = make_instance(account, instance_id="i-0feedface0000000", instance_type="r5.large")
    model = make_ml_model(name="scorer", version="3.1")
    log = make_experiment(
        instance,
        model=model,
        decision="SWITCH",
        decision_reason="cheaper pool",
        prediction_score=0.12,
        selected_instance_type="r5a.large",
        selected_availability_zone="us-east-1b",
        execution_duration_ms=1234,
    )
    without_model = make_experiment(instance, execution_time=log.execution_time - timedelta(minutes=1))

    rows = list(RecentExperimentView.objects.all())

    assert [row.pk for row in rows] == [log.pk, without_model.pk]
    row = rows[0]
    assert row.execution_time == log.execution_time
    assert row.decision == "SWITCH"
    assert row.decision_reason == "cheaper pool"
    assert row.pipeline_mode == "CLUSTER"
    assert row.is_shadow_run is False
    assert row.prediction_score == pytest.approx(0.12)
    assert row.selected_instance_type == "r5a.large"
    assert row.selected_availability_zone == "us-east-1b"
    assert row.old_spot_price == log.old_spot_price
    assert row.new_spot_price == log.new_spot_price
    assert row.projected_hourly_savings is None
    assert row.execution_duration_ms == 1234
    assert row.error_message == ""
    assert row.instance_id == instance.pk
    assert row.instance == instance
    assert row.instance_ref == "i-0feedface0000000"
    assert row.instance_type == "r5.large"
    assert row.availability_zone == "us-east-1a"
    assert row.region == "us-east-1"
    assert row.account_id == account.pk
    assert row.aws_account_id == "333344445555"
    assert row.account_name == "Team"
    assert row.owner_id == client_user.pk
    assert (row.model_name, row.model_version) == ("scorer", "3.1")
    assert (rows[1].model_name, rows[1].model_version) == (None, None)


def test_recent_experiments_are_the_newest_1000_newest_first(client_user, make_account, make_instance):
    instance = make_instance(make_account(client_user))
    start = timezone.now().replace(microsecond=0) - timedelta(days=2)
    logs = [
        ExperimentLog(
            instance=instance,
            pipeline_mode="LINEAR",
            decision="HOLD",
            execution_time=start + timedelta(minutes=n),
        )
        for n in range(1005)
    ]
    # Insert in shuffled order so the view's own ORDER BY is what sorts them.
    ExperimentLog.objects.bulk_create(logs[::2] + logs[1::2])
    assert ExperimentLog.objects.count() == 1005

    times = list(RecentExperimentView.objects.values_list("execution_time", flat=True))

    assert RecentExperimentView.objects.count() == 1000
    assert len(times) == 1000
    assert times == sorted(times, reverse=True)
    assert times[0] == start + timedelta(minutes=1004)
    assert times[-1] == start + timedelta(minutes=5)
    oldest_five = [log.pk for log in logs[:5]]
    assert not RecentExperimentView.objects.filter(pk__in=oldest_five).exists()


# --- read-only ----------------------------------------------------------------------------------------


def test_view_rows_cannot_be_saved_or_deleted(client_user, make_account, make_instance, make_experiment):
    instance = make_instance(make_account(client_user))
    make_experiment(instance)
    active_row = ActiveInstanceView.objects.get()
    experiment_row = RecentExperimentView.objects.get()

    for row, name in ((active_row, "ActiveInstanceView"), (experiment_row, "RecentExperimentView")):
        with pytest.raises(ReadOnlyError, match=f"{name} is a read-only reporting view"):
            row.save()
        with pytest.raises(ReadOnlyError, match=f"{name} is a read-only reporting view"):
            row.delete()

    assert ActiveInstanceView.objects.count() == 1
    assert RecentExperimentView.objects.count() == 1


@pytest.mark.parametrize("view_model", [ActiveInstanceView, RecentExperimentView])
def test_the_database_refuses_writes_through_the_views(
    client_user, make_account, make_instance, make_experiment, view_model
):
    instance = make_instance(make_account(client_user))
    make_experiment(instance)
    with pytest.raises(DatabaseError), transaction.atomic():
        view_model.objects.all().update(region="xx-nowhere-1")
    with pytest.raises(DatabaseError), transaction.atomic():
        view_model.objects.all().delete()
    assert view_model.objects.get().region == "us-east-1"


def test_views_are_unmanaged():
    assert ActiveInstanceView._meta.managed is False
    assert RecentExperimentView._meta.managed is False
    assert ActiveInstanceView._meta.db_table == "v_active_instances"
    assert RecentExperimentView._meta.db_table == "v_recent_experiments"
