"""Database rules of accounts.User and accounts.Account, and what deleting a user takes with it."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.choices import AccountStatus, ConnectionMethod, Role
from accounts.models import Account, User
from approvals.models import ApprovalRequest
from fleet.models import Instance
from mlgov.models import ExperimentLog, MLModel
from risk.models import GlobalRiskEvent
from sla.models import DowntimeLog
from tests.helpers import assert_update_rejected
from waste.models import WasteResource

# --- uniqueness ---------------------------------------------------------------------------------------


def test_duplicate_aws_account_id_is_rejected(client_user, other_client, make_account):
    make_account(client_user, account_id="123456789012")
    with pytest.raises(IntegrityError), transaction.atomic():
        make_account(other_client, account_id="123456789012")
    assert Account.objects.filter(account_id="123456789012").count() == 1


def test_duplicate_external_id_is_rejected(client_user, other_client, make_account):
    make_account(client_user, external_id="spot-optimizer-abc")
    with pytest.raises(IntegrityError), transaction.atomic():
        make_account(other_client, external_id="spot-optimizer-abc")
    assert Account.objects.filter(external_id="spot-optimizer-abc").count() == 1


def test_accounts_without_external_id_can_coexist(client_user, make_account):
    # Access-key accounts have no External ID; NULL is not a duplicate of NULL.
    first = make_account(client_user, connection_method=ConnectionMethod.ACCESS_KEYS, external_id=None, role_arn="")
    second = make_account(client_user, connection_method=ConnectionMethod.ACCESS_KEYS, external_id=None, role_arn="")
    assert first.pk != second.pk
    assert Account.objects.filter(external_id__isnull=True).count() == 2


# --- check constraints --------------------------------------------------------------------------------


def test_invalid_account_status_is_rejected_by_the_database(client_user, make_account):
    account = make_account(client_user)
    assert_update_rejected(Account.objects.filter(pk=account.pk), "account_status_valid", status="bogus")
    account.refresh_from_db()
    assert account.status == AccountStatus.ACTIVE


def test_invalid_environment_type_is_rejected_by_the_database(client_user, make_account):
    account = make_account(client_user)
    assert_update_rejected(
        Account.objects.filter(pk=account.pk), "account_environment_type_valid", environment_type="STAGING"
    )


def test_invalid_connection_method_is_rejected_by_the_database(client_user, make_account):
    account = make_account(client_user)
    assert_update_rejected(
        Account.objects.filter(pk=account.pk), "account_connection_method_valid", connection_method="password"
    )


def test_every_valid_account_status_is_accepted(client_user, make_account):
    account = make_account(client_user)
    for status in AccountStatus.values:
        Account.objects.filter(pk=account.pk).update(status=status)
        account.refresh_from_db()
        assert account.status == status


def test_invalid_user_role_is_rejected_by_the_database(client_user):
    assert_update_rejected(User.objects.filter(pk=client_user.pk), "user_role_valid", role="root")
    client_user.refresh_from_db()
    assert client_user.role == Role.CLIENT


# --- status transitions -------------------------------------------------------------------------------


def test_account_move_is_saved(client_user, make_account):
    account = make_account(client_user, status=AccountStatus.PENDING)
    account.move_to(AccountStatus.CONNECTED)
    account.save()
    account.refresh_from_db()
    assert account.status == AccountStatus.CONNECTED


def test_regions_to_scan_defaults_to_the_home_region(client_user, make_account):
    account = make_account(client_user, region="eu-west-1")
    assert account.regions_to_scan == ["eu-west-1"]
    account.regions = ["eu-west-1", "us-east-2"]
    assert account.regions_to_scan == ["eu-west-1", "us-east-2"]


# --- deleting a user ----------------------------------------------------------------------------------


def test_deleting_a_user_deletes_their_fleet_and_keeps_the_audit_trail(
    client_user, other_client, super_admin, make_account, make_instance, make_experiment, make_ml_model, make_approval
):
    account = make_account(client_user, account_id="111122223333")
    instance = make_instance(account, instance_id="i-0123456789abcdef0")
    replica = make_instance(account, is_replica=True)
    Instance.objects.filter(pk=replica.pk).update(replica_of=instance)
    experiment = make_experiment(instance)
    waste = WasteResource.objects.create(
        account=account, resource_type="elastic_ip", resource_id="eipalloc-1", region="us-east-1"
    )
    model = make_ml_model(uploaded_by=client_user)
    approval = make_approval(account=account, instance=instance, requester=client_user, approver=super_admin)
    downtime = DowntimeLog.objects.create(
        account=account,
        instance=instance,
        user=client_user,
        started_at=timezone.now() - timedelta(seconds=5),
        ended_at=timezone.now(),
        cause="emergency_switch",
    )
    now = timezone.now()
    event = GlobalRiskEvent.objects.create(
        event_id="evt-1",
        event_type="termination_notice",
        region="us-east-1",
        availability_zone="us-east-1a",
        instance_type="m5.large",
        instance_id=instance.instance_id,
        account=account,
        reported_at=now,
    )
    # Someone else's rows are untouched.
    other_account = make_account(other_client)
    other_instance = make_instance(other_account)
    other_experiment = make_experiment(other_instance)

    account_pk = account.pk
    client_user.delete()

    assert not User.objects.filter(pk=client_user.pk).exists()
    assert not Account.objects.filter(pk=account.pk).exists()
    assert not Instance.objects.filter(pk__in=[instance.pk, replica.pk]).exists()
    assert not ExperimentLog.objects.filter(pk=experiment.pk).exists()
    assert not WasteResource.objects.filter(pk=waste.pk).exists()

    approval.refresh_from_db()
    assert approval.account_id is None
    assert approval.instance_id is None
    assert approval.requester_id is None
    assert approval.approver_id == super_admin.pk
    assert approval.aws_account_ref == "111122223333"
    assert approval.instance_ref == "i-0123456789abcdef0"

    downtime.refresh_from_db()
    assert downtime.account_id is None
    assert downtime.instance_id is None
    assert downtime.user_id is None
    assert downtime.aws_account_ref == "111122223333"
    assert downtime.instance_ref == "i-0123456789abcdef0"
    assert downtime.duration_seconds is not None

    kept_event = GlobalRiskEvent.objects.get(pk=event.pk)
    assert kept_event.account_id == account_pk  # a bare id: the event is never rewritten
    assert kept_event.pool_id == "us-east-1:us-east-1a:m5.large"

    model.refresh_from_db()
    assert model.uploaded_by_id is None
    assert MLModel.objects.filter(pk=model.pk).exists()

    assert ApprovalRequest.objects.filter(pk=approval.pk).exists()
    assert Instance.objects.filter(pk=other_instance.pk).exists()
    assert ExperimentLog.objects.filter(pk=other_experiment.pk).exists()
