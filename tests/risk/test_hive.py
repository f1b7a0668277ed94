"""The hive: poisons for every tenant, the per-tenant poison limit and held events, lifts by hand and on
expiry, and the gatekeeper (single and bulk)."""

import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from risk.choices import EventOutcome, HeldEventStatus, IngestChannel
from risk.gatekeeper import poisoned_pools, pool_is_poisoned
from risk.models import GlobalRiskEvent, HeldRiskEvent, SpotPoolRisk
from risk.services import (
    expired_poisons_lift,
    held_event_dismiss,
    held_event_release,
    pool_poison_lift,
    risk_events_ingest,
)
from risk.tasks import lift_expired_poisons
from spotopt.errors import Conflict, DomainError, PermissionRefused
from tests.helpers import FROZEN_NOW

SAMPLE = json.loads((Path(__file__).parent / "fixtures" / "spot-interruption-warning.json").read_text())


def warning(account, instance, n: int, *, time=None) -> str:
    """The documented interruption warning, for `instance` of `account`, with its own event id."""
    event = SAMPLE | {"id": f"event-{n}", "account": account.account_id, "region": instance.region}
    event["detail"] = {"instance-id": instance.instance_id, "instance-action": "terminate"}
    if time:
        event["time"] = time.strftime("%Y-%m-%dT%H:%M:%SZ")
    return json.dumps(event)


@pytest.fixture
def tenant(make_team, make_instance):
    """A team whose production account runs 30 spot instances, each in its own pool."""
    cast = make_team("Acme")
    instances = [
        make_instance(cast.account, instance_type=f"m5.{n}xlarge", availability_zone="us-east-1a", lifecycle="spot")
        for n in range(30)
    ]
    return cast, instances


def ingest(body):
    return risk_events_ingest(body=body, channel=IngestChannel.SQS)


@pytest.mark.usefixtures("clock")
def test_a_tenant_over_its_hourly_limit_has_further_poisons_held(tenant, settings, clock):
    settings.RISK_TENANT_POISONS_PER_HOUR = 3
    cast, instances = tenant
    outcomes = [ingest(warning(cast.account, instance, n))[0].outcome for n, instance in enumerate(instances[:5])]
    assert outcomes == [EventOutcome.POISONED] * 3 + [EventOutcome.HELD] * 2
    assert SpotPoolRisk.objects.filter(is_poisoned=True).count() == 3
    assert HeldRiskEvent.objects.filter(status=HeldEventStatus.HELD, account=cast.account).count() == 2
    # Extending a pool already poisoned is not a new poison: it is not held.
    assert ingest(warning(cast.account, instances[0], 99))[0].outcome == EventOutcome.EXTENDED
    # An hour later the tenant may poison again.
    clock.advance(hours=1, seconds=1)
    assert ingest(warning(cast.account, instances[10], 100))[0].outcome == EventOutcome.POISONED


def test_the_limit_is_per_tenant(tenant, make_team, make_instance, settings):
    settings.RISK_TENANT_POISONS_PER_HOUR = 1
    cast, instances = tenant
    other = make_team("Globex")
    other_instance = make_instance(other.account, instance_type="c6i.large", lifecycle="spot")
    assert ingest(warning(cast.account, instances[0], 1))[0].outcome == EventOutcome.POISONED
    assert ingest(warning(cast.account, instances[1], 2))[0].outcome == EventOutcome.HELD
    assert ingest(warning(other.account, other_instance, 3))[0].outcome == EventOutcome.POISONED


def test_a_super_admin_releases_or_dismisses_a_held_event(tenant, settings, super_admin, admin_user):
    settings.RISK_TENANT_POISONS_PER_HOUR = 0
    cast, instances = tenant
    ingest(warning(cast.account, instances[0], 1))
    ingest(warning(cast.account, instances[1], 2))
    first, second = HeldRiskEvent.objects.order_by("event__event_id")
    with pytest.raises(PermissionRefused):
        held_event_release(held=first, user=admin_user)
    with pytest.raises(PermissionRefused):
        held_event_release(held=first, user=cast.client)
    held_event_release(held=first, user=super_admin, note="genuine: AWS confirmed the capacity event")
    pool = SpotPoolRisk.objects.get(instance_type=instances[0].instance_type)
    assert pool.is_poisoned and pool.interruption_count == 1 and pool.triggering_customer_id == cast.team.pk
    held_event_dismiss(held=second, user=super_admin, note="a test of theirs")
    assert not SpotPoolRisk.objects.get(instance_type=instances[1].instance_type).is_poisoned
    first.refresh_from_db()
    assert first.status == HeldEventStatus.RELEASED and first.decided_by == super_admin
    assert first.decision_note.startswith("genuine")
    with pytest.raises(DomainError):  # decided once
        held_event_dismiss(held=first, user=super_admin)
    # The event itself stays as it was written.
    assert GlobalRiskEvent.objects.get(event_id="event-1").outcome == EventOutcome.HELD


def test_a_poison_lifts_after_15_days(tenant, clock):
    cast, instances = tenant
    ingest(warning(cast.account, instances[0], 1, time=FROZEN_NOW))
    pool_args = ("us-east-1", "us-east-1a", instances[0].instance_type)
    clock.advance(days=14, hours=23)
    assert pool_is_poisoned(*pool_args)
    assert lift_expired_poisons() == 0
    clock.advance(hours=1)
    assert not pool_is_poisoned(*pool_args)  # expired counts as lifted before the job runs
    assert lift_expired_poisons() == 1
    assert not SpotPoolRisk.objects.get().is_poisoned
    assert expired_poisons_lift() == 0


def test_a_new_warning_extends_the_poison(tenant, clock):
    cast, instances = tenant
    ingest(warning(cast.account, instances[0], 1, time=FROZEN_NOW))
    first_expiry = SpotPoolRisk.objects.get().poison_expires_at
    clock.advance(days=3)
    ingest(warning(cast.account, instances[0], 2, time=clock.now))
    pool = SpotPoolRisk.objects.get()
    assert pool.poison_expires_at == first_expiry + timedelta(days=3)
    assert pool.poisoned_at == FROZEN_NOW and pool.interruption_count == 2


def test_a_super_admin_lifts_a_poison_with_a_reason_that_is_kept(tenant, super_admin, admin_user, lab_user):
    cast, instances = tenant
    ingest(warning(cast.account, instances[0], 1))
    pool = SpotPoolRisk.objects.get()
    for user in (admin_user, lab_user, cast.client, cast.viewer):
        with pytest.raises(PermissionRefused):
            pool_poison_lift(pool=pool, user=user, reason="no")
    with pytest.raises(DomainError) as missing:
        pool_poison_lift(pool=pool, user=super_admin, reason="  ")
    assert missing.value.code == "reason_required"
    pool_poison_lift(pool=pool, user=super_admin, reason="AWS capacity restored in that zone")
    pool.refresh_from_db()
    assert not pool.is_poisoned
    [lift] = pool.pool_metadata["lifts"]
    assert lift["by"] == super_admin.username and lift["reason"] == "AWS capacity restored in that zone"
    with pytest.raises(Conflict):
        pool_poison_lift(pool=pool, user=super_admin, reason="again")


def test_the_bulk_gatekeeper_answers_many_candidates_in_one_query(tenant):
    cast, instances = tenant
    for n, instance in enumerate(instances[:5]):
        ingest(warning(cast.account, instance, n))
    candidates = [("us-east-1", zone, f"m5.{n}xlarge") for n in range(30) for zone in ("us-east-1a", "us-east-1b")]
    candidates += [("eu-west-1", "eu-west-1a", "m5.0xlarge")]
    with CaptureQueriesContext(connection) as queries:
        poisoned = poisoned_pools(candidates)
    assert len(queries) == 1
    assert poisoned == {("us-east-1", "us-east-1a", f"m5.{n}xlarge") for n in range(5)}
    assert poisoned_pools([]) == set()
    assert pool_is_poisoned("us-east-1", "us-east-1a", "m5.0xlarge")
    assert not pool_is_poisoned("us-east-1", "us-east-1b", "m5.0xlarge")
