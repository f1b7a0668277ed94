"""Database rules of fleet.Instance and its authorization-status transitions."""

import pytest
from django.db import IntegrityError, transaction

from fleet.choices import AuthStatus, Lifecycle
from fleet.models import Instance
from tests.helpers import assert_update_rejected


@pytest.fixture
def account(client_user, make_account):
    return make_account(client_user)


def test_duplicate_instance_id_is_rejected(account, other_client, make_account, make_instance):
    make_instance(account, instance_id="i-0aaaaaaaaaaaaaaaa")
    other_account = make_account(other_client)
    with pytest.raises(IntegrityError), transaction.atomic():
        make_instance(other_account, instance_id="i-0aaaaaaaaaaaaaaaa")
    assert Instance.objects.filter(instance_id="i-0aaaaaaaaaaaaaaaa").count() == 1


def test_invalid_lifecycle_is_rejected_by_the_database(account, make_instance):
    instance = make_instance(account)
    assert_update_rejected(Instance.objects.filter(pk=instance.pk), "instance_lifecycle_valid", lifecycle="reserved")
    instance.refresh_from_db()
    assert instance.lifecycle == Lifecycle.ON_DEMAND


def test_valid_lifecycles_are_accepted(account, make_instance):
    instance = make_instance(account)
    for lifecycle in Lifecycle.values:
        Instance.objects.filter(pk=instance.pk).update(lifecycle=lifecycle)
        instance.refresh_from_db()
        assert instance.lifecycle == lifecycle


@pytest.mark.parametrize(
    ("field", "constraint"),
    [
        ("pipeline_mode", "instance_pipeline_mode_valid"),
        ("auth_status", "instance_auth_status_valid"),
        ("orchestrator_type", "instance_orchestrator_type_valid"),
    ],
)
def test_invalid_enum_values_are_rejected_by_the_database(account, make_instance, field, constraint):
    instance = make_instance(account)
    assert_update_rejected(Instance.objects.filter(pk=instance.pk), constraint, **{field: "bogus"})


def test_only_a_replica_may_name_the_instance_it_stands_in_for(account, make_instance):
    original = make_instance(account)
    not_a_replica = make_instance(account)
    assert_update_rejected(
        Instance.objects.filter(pk=not_a_replica.pk), "instance_replica_of_only_on_replicas", replica_of=original
    )
    replica = make_instance(account, is_replica=True, replica_of=original)
    assert replica.replica_of_id == original.pk


def test_a_replica_keeps_its_row_when_the_original_is_deleted(account, make_instance):
    original = make_instance(account)
    replica = make_instance(account, is_replica=True, replica_of=original)
    original.delete()
    replica.refresh_from_db()
    assert replica.replica_of_id is None
    assert replica.is_replica


def test_instances_are_deleted_with_their_account(account, make_instance):
    instance = make_instance(account)
    account.delete()
    assert not Instance.objects.filter(pk=instance.pk).exists()


def test_pool_id():
    instance = Instance(region="eu-west-1", availability_zone="eu-west-1b", instance_type="c5.xlarge")
    assert instance.pool_id == "eu-west-1:eu-west-1b:c5.xlarge"


# --- authorization status transitions -----------------------------------------------------------------


def test_auth_status_move_is_saved(account, make_instance):
    instance = make_instance(account)
    assert instance.auth_status == AuthStatus.UNAUTHORIZED
    instance.move_auth_status(AuthStatus.FLAGGED)
    instance.save()
    instance.refresh_from_db()
    assert instance.auth_status == AuthStatus.FLAGGED
