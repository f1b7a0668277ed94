"""Database rules of sla.DowntimeLog: durations in Decimal seconds, kept after what they name is gone."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from sla.models import SLA_MONTHLY_BUDGET_SECONDS, DowntimeLog
from tests.helpers import assert_update_rejected


@pytest.fixture
def make_downtime(db):
    def make(**overrides):
        fields = {"started_at": timezone.now() - timedelta(minutes=5), "cause": "emergency_switch"}
        fields.update(overrides)
        return DowntimeLog.objects.create(**fields)

    return make


def test_duration_is_computed_from_start_and_end_as_decimal(make_downtime):
    started = timezone.now().replace(microsecond=0) - timedelta(hours=1)
    log = make_downtime(started_at=started, ended_at=started + timedelta(seconds=12, microseconds=345678))
    assert log.duration_seconds == Decimal("12.346")
    assert isinstance(log.duration_seconds, Decimal)
    log.refresh_from_db()
    assert log.duration_seconds == Decimal("12.346")
    assert isinstance(log.duration_seconds, Decimal)


def test_duration_covers_long_outages_exactly(make_downtime):
    started = timezone.now().replace(microsecond=0) - timedelta(days=3)
    log = make_downtime(started_at=started, ended_at=started + timedelta(days=2, seconds=1, milliseconds=500))
    log.refresh_from_db()
    assert log.duration_seconds == Decimal("172801.500")


def test_open_downtime_has_no_duration_until_it_ends(make_downtime):
    log = make_downtime()
    assert log.ended_at is None
    assert log.duration_seconds is None
    log.ended_at = log.started_at + timedelta(seconds=2)
    log.save()
    log.refresh_from_db()
    assert log.duration_seconds == Decimal("2.000")


def test_downtime_ending_before_it_started_is_rejected_by_the_database(make_downtime):
    log = make_downtime()
    assert_update_rejected(
        DowntimeLog.objects.filter(pk=log.pk),
        "downtime_ends_after_start",
        ended_at=log.started_at - timedelta(seconds=1),
    )
    log.refresh_from_db()
    assert log.ended_at is None


def test_downtime_ending_before_it_started_is_rejected_on_save(make_downtime):
    started = timezone.now()
    with pytest.raises(IntegrityError), transaction.atomic():
        make_downtime(started_at=started, ended_at=started - timedelta(seconds=30))
    assert not DowntimeLog.objects.exists()


def test_zero_length_downtime_is_accepted(make_downtime):
    started = timezone.now()
    log = make_downtime(started_at=started, ended_at=started)
    assert log.duration_seconds == Decimal("0.000")


def test_negative_duration_is_rejected_by_the_database(make_downtime):
    log = make_downtime()
    assert_update_rejected(
        DowntimeLog.objects.filter(pk=log.pk), "downtime_duration_non_negative", duration_seconds=Decimal("-1")
    )


def test_invalid_cause_is_rejected_by_the_database(make_downtime):
    log = make_downtime()
    assert_update_rejected(DowntimeLog.objects.filter(pk=log.pk), "downtime_cause_valid", cause="cosmic_rays")


def test_downtime_outlives_account_instance_and_user(client_user, make_account, make_instance, make_downtime):
    account = make_account(client_user, account_id="121212121212")
    instance = make_instance(account, instance_id="i-0dead00000000beef")
    log = make_downtime(account=account, instance=instance, user=client_user, ended_at=timezone.now())
    assert (log.aws_account_ref, log.instance_ref) == ("121212121212", "i-0dead00000000beef")

    account.delete()
    log.refresh_from_db()
    assert (log.account_id, log.instance_id) == (None, None)
    assert (log.aws_account_ref, log.instance_ref) == ("121212121212", "i-0dead00000000beef")
    assert log.user_id == client_user.pk

    client_user.delete()
    log.refresh_from_db()
    assert log.user_id is None
    assert log.duration_seconds is not None


def test_the_sla_budget_is_sixty_seconds_a_month():
    assert SLA_MONTHLY_BUDGET_SECONDS == 60


def test_reopening_a_downtime_clears_its_duration(make_downtime):
    log = make_downtime()
    log.ended_at = log.started_at + timedelta(seconds=3)
    log.save()
    log.ended_at = None
    log.save()
    log.refresh_from_db()
    assert log.duration_seconds is None
