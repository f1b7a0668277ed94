"""Database rules of risk.SpotPoolRisk and the append-only risk.GlobalRiskEvent."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from risk.models import POISON_DURATION, AppendOnlyError, GlobalRiskEvent, SpotPoolRisk, pool_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def make_event(db):
    def make(**overrides):
        fields = {
            "event_id": "evt-0001",
            "event_type": "termination_notice",
            "region": "us-east-1",
            "availability_zone": "us-east-1a",
            "instance_type": "m5.large",
            "reported_at": timezone.now(),
        }
        fields.update(overrides)
        return GlobalRiskEvent.objects.create(**fields)

    return make


# --- SpotPoolRisk -------------------------------------------------------------------------------------


def test_duplicate_pool_is_rejected():
    SpotPoolRisk.objects.create(region="us-east-1", availability_zone="us-east-1a", instance_type="m5.large")
    with pytest.raises(IntegrityError), transaction.atomic():
        SpotPoolRisk.objects.create(region="us-east-1", availability_zone="us-east-1a", instance_type="m5.large")
    assert SpotPoolRisk.objects.count() == 1


def test_pools_differing_in_one_part_are_distinct():
    for region, az, itype in [
        ("us-east-1", "us-east-1a", "m5.large"),
        ("us-east-1", "us-east-1b", "m5.large"),
        ("us-east-1", "us-east-1a", "m5.xlarge"),
        ("us-west-2", "us-east-1a", "m5.large"),
    ]:
        SpotPoolRisk.objects.create(region=region, availability_zone=az, instance_type=itype)
    assert SpotPoolRisk.objects.count() == 4


def test_a_poisoned_pool_must_say_when_and_until_when():
    pool = SpotPoolRisk.objects.create(region="us-east-1", availability_zone="us-east-1a", instance_type="m5.large")
    with pytest.raises(IntegrityError, match="spot_pool_poison_has_dates"), transaction.atomic():
        SpotPoolRisk.objects.filter(pk=pool.pk).update(is_poisoned=True)
    now = timezone.now()
    with pytest.raises(IntegrityError, match="spot_pool_poison_has_dates"), transaction.atomic():
        SpotPoolRisk.objects.filter(pk=pool.pk).update(is_poisoned=True, poisoned_at=now)

    SpotPoolRisk.objects.filter(pk=pool.pk).update(
        is_poisoned=True, poisoned_at=now, poison_expires_at=now + POISON_DURATION
    )
    pool.refresh_from_db()
    assert pool.is_poisoned
    assert pool.pool_id == "us-east-1:us-east-1a:m5.large"


def test_poison_lasts_fifteen_days():
    assert timedelta(days=15) == POISON_DURATION
    assert pool_key("eu-west-1", "eu-west-1c", "t3.micro") == "eu-west-1:eu-west-1c:t3.micro"


# --- GlobalRiskEvent: derived fields and constraints --------------------------------------------------


def test_expires_at_defaults_to_fifteen_days_after_the_report_and_pool_id_is_derived(make_event):
    reported = timezone.now().replace(microsecond=0) - timedelta(hours=3)
    event = make_event(
        reported_at=reported, region="eu-central-1", availability_zone="eu-central-1b", instance_type="c6i.2xlarge"
    )
    event.refresh_from_db()
    assert event.expires_at == reported + timedelta(days=15)
    assert event.pool_id == "eu-central-1:eu-central-1b:c6i.2xlarge"


def test_explicit_expiry_and_pool_id_are_kept(make_event):
    reported = timezone.now()
    event = make_event(reported_at=reported, expires_at=reported + timedelta(days=1), pool_id="custom:pool:id")
    event.refresh_from_db()
    assert event.expires_at == reported + timedelta(days=1)
    assert event.pool_id == "custom:pool:id"


def test_duplicate_event_id_is_rejected(make_event):
    make_event(event_id="evt-dup")
    with pytest.raises(IntegrityError), transaction.atomic():
        make_event(event_id="evt-dup", instance_type="c5.large")
    assert GlobalRiskEvent.objects.filter(event_id="evt-dup").count() == 1


def test_event_must_expire_after_it_was_reported(make_event):
    reported = timezone.now()
    with pytest.raises(IntegrityError, match="globalriskevent_expires_after_report"), transaction.atomic():
        make_event(reported_at=reported, expires_at=reported)
    assert not GlobalRiskEvent.objects.exists()


def test_invalid_event_type_is_rejected_by_the_database(make_event):
    with pytest.raises(IntegrityError, match="globalriskevent_event_type_valid"), transaction.atomic():
        make_event(event_type="spot_price_spike")
    assert not GlobalRiskEvent.objects.exists()


# --- GlobalRiskEvent: append-only ---------------------------------------------------------------------


def test_saving_an_existing_event_is_refused(make_event):
    event = make_event(instance_id="i-0original0000000")
    event.instance_id = "i-0rewritten000000"
    with pytest.raises(AppendOnlyError, match="append-only: they cannot be updated"):
        event.save()
    assert GlobalRiskEvent.objects.get(pk=event.pk).instance_id == "i-0original0000000"


def test_a_fresh_object_with_an_existing_id_cannot_overwrite_it(make_event):
    event = make_event()
    clone = GlobalRiskEvent(
        id=event.pk,
        event_id="evt-other",
        event_type="rebalance_notice",
        region="us-east-1",
        availability_zone="us-east-1a",
        instance_type="m5.large",
        reported_at=timezone.now(),
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        clone.save()
    assert GlobalRiskEvent.objects.get(pk=event.pk).event_id == "evt-0001"


def test_deleting_an_event_is_refused(make_event):
    event = make_event()
    with pytest.raises(AppendOnlyError, match="append-only: they cannot be deleted"):
        event.delete()
    assert GlobalRiskEvent.objects.filter(pk=event.pk).exists()


def test_queryset_update_and_delete_are_refused(make_event):
    event = make_event()
    with pytest.raises(AppendOnlyError, match="cannot be updated"):
        GlobalRiskEvent.objects.filter(pk=event.pk).update(instance_type="c5.large")
    with pytest.raises(AppendOnlyError, match="cannot be updated"):
        GlobalRiskEvent.objects.all().update(instance_type="c5.large")
    with pytest.raises(AppendOnlyError, match="cannot be deleted"):
        GlobalRiskEvent.objects.filter(pk=event.pk).delete()
    with pytest.raises(AppendOnlyError, match="cannot be deleted"):
        GlobalRiskEvent.objects.all().delete()
    event.instance_type = "c5.large"
    with pytest.raises(AppendOnlyError, match="cannot be updated"):
        GlobalRiskEvent.objects.bulk_update([event], ["instance_type"])

    stored = GlobalRiskEvent.objects.get(pk=event.pk)
    assert stored.instance_type == "m5.large"


def test_events_survive_the_deletion_of_their_account(client_user, make_account, make_event):
    account = make_account(client_user)
    account_pk = account.pk
    event = make_event(account=account)
    account.delete()
    stored = GlobalRiskEvent.objects.get(pk=event.pk)
    assert stored.account_id == account_pk
    assert stored.event_id == "evt-0001"


@pytest.mark.postgres
def test_raw_sql_update_is_rejected_by_the_trigger(make_event):
    event = make_event()
    with (
        pytest.raises(IntegrityError, match="risk_globalriskevent is append-only: UPDATE is not allowed"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE risk_globalriskevent SET instance_type = %s WHERE id = %s", ["c5.large", event.pk])
    assert GlobalRiskEvent.objects.get(pk=event.pk).instance_type == "m5.large"


@pytest.mark.postgres
def test_raw_sql_delete_is_rejected_by_the_trigger(make_event):
    event = make_event()
    with (
        pytest.raises(IntegrityError, match="risk_globalriskevent is append-only: DELETE is not allowed"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM risk_globalriskevent WHERE id = %s", [event.pk])
    with (
        pytest.raises(IntegrityError, match="append-only: DELETE"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM risk_globalriskevent")
    assert GlobalRiskEvent.objects.filter(pk=event.pk).exists()


@pytest.mark.postgres
def test_raw_sql_insert_is_still_allowed(make_event):
    make_event()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO risk_globalriskevent (id, event_id, event_type, pool_id, region, availability_zone,"
            " instance_type, instance_id, reported_at, expires_at, raw_event, received_at, channel, outcome,"
            " instance_action)"
            " VALUES (gen_random_uuid(), 'evt-raw', 'rebalance_notice', 'a:b:c', 'a', 'b', 'c', '',"
            " now(), now() + interval '15 days', '{}', now(), 'sqs', 'counted', '')"
        )
    assert GlobalRiskEvent.objects.count() == 2
    assert GlobalRiskEvent.objects.get(event_id="evt-raw").pool_id == "a:b:c"
