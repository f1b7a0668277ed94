"""The savings ledger with a frozen clock and a synthetic price history: a switched instance's realized
saving is the hand-computed figure over a month with a Spot price change mid-way; the swap's overlap and a
replica count against the saving; closing a day again changes nothing."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum

from fleet.choices import Lifecycle, MarketSource, PriceSource, SwitchStatus
from fleet.models import Instance, SpotPriceStep, Switch
from mlgov.choices import Decision
from savings.choices import MoveKind, PriceBasis
from savings.ledger import day_close, days_close
from savings.models import SavingsDay

pytestmark = pytest.mark.django_db

LAUNCHED = datetime(2026, 11, 1, 0, 0, tzinfo=UTC)
OLD_GONE = LAUNCHED + timedelta(minutes=30)  # the swap: both ran for half an hour
PRICE_CHANGE = datetime(2026, 11, 16, 0, 0, tzinfo=UTC)
MONTH_END = datetime(2026, 12, 1, tzinfo=UTC)


def step(zone, instance_type, price, at):
    SpotPriceStep.objects.create(
        region="us-east-1",
        availability_zone=zone,
        instance_type=instance_type,
        price=Decimal(price),
        observed_at=at,
        source=MarketSource.SYNTHETIC,
    )


@pytest.fixture
def switched(make_user, make_account, make_instance, make_experiment):
    account = make_account(make_user())
    old = make_instance(account, instance_type="m5.large", lifecycle=Lifecycle.ON_DEMAND, is_active=False)
    new = make_instance(
        account,
        instance_type="m5a.large",
        lifecycle=Lifecycle.SPOT,
        instance_metadata={"launch_time": LAUNCHED.isoformat(), "tags": {"spotopt:purpose": "optimizer-switch"}},
    )
    log = make_experiment(old)
    log.projected_hourly_savings = Decimal("0.066")
    log.save(update_fields=["projected_hourly_savings"])
    switch = Switch.objects.create(
        account=account,
        instance=old,
        replacement=new,
        experiment_log=log,
        decision=Decision.SWITCH,
        pipeline_mode=old.pipeline_mode,
        target_instance_type="m5a.large",
        target_availability_zone="us-east-1a",
        target_lifecycle=Lifecycle.SPOT,
        old_hourly_price=Decimal("0.096"),
        new_hourly_price=Decimal("0.030"),
        status=SwitchStatus.SUCCEEDED,
        started_at=LAUNCHED - timedelta(minutes=1),
        finished_at=OLD_GONE,
        steps=[
            {"step": "launched", "at": LAUNCHED.isoformat(), "capacity": 2, "floor": 1, "detail": ""},
            {"step": "terminated old", "at": OLD_GONE.isoformat(), "capacity": 1, "floor": 1, "detail": ""},
        ],
    )
    # The pool's price: $0.030 from before the month, $0.040 from the 16th on.
    step("us-east-1a", "m5a.large", "0.030", LAUNCHED - timedelta(days=2))
    step("us-east-1a", "m5a.large", "0.040", PRICE_CHANGE)
    return account, switch


def test_a_switched_instances_month_is_the_hand_computed_figure(switched):
    account, _ = switched
    days_close(first=date(2026, 11, 1), last=date(2026, 11, 30), now=MONTH_END)

    rows = SavingsDay.objects.filter(account=account, kind=MoveKind.SWITCH)
    assert rows.count() == 30
    totals = rows.aggregate(
        hours=Sum("hours"), baseline=Sum("baseline_cost"), actual=Sum("actual_cost"), overlap=Sum("overlap_cost")
    )
    # 720 hours; baseline 720 x $0.096; actual 15 days at $0.030 and 15 at $0.040; the half-hour overlap at $0.096.
    assert totals["hours"] == Decimal("720")
    assert totals["baseline"] == Decimal("69.120000")
    assert totals["actual"] == Decimal("360") * Decimal("0.030") + Decimal("360") * Decimal("0.040") == Decimal("25.2")
    assert totals["overlap"] == Decimal("0.048000")
    realized = totals["baseline"] - totals["actual"] - totals["overlap"]
    assert realized == Decimal("43.872000")
    projected = rows.aggregate(p=Sum("projected_saving"))["p"]
    assert projected == Decimal("47.520000")  # 720 x $0.066: the decision's projection, shown beside it
    first = rows.get(day=date(2026, 11, 1))
    assert (first.actual_basis, first.baseline_basis, first.currency) == (PriceBasis.MEASURED, PriceBasis.LIST, "USD")


def test_closing_a_day_again_changes_nothing(switched):
    day_close(day=date(2026, 11, 16), now=MONTH_END)
    before = list(SavingsDay.objects.values("day", "hours", "baseline_cost", "actual_cost", "overlap_cost"))
    day_close(day=date(2026, 11, 16), now=MONTH_END)
    assert list(SavingsDay.objects.values("day", "hours", "baseline_cost", "actual_cost", "overlap_cost")) == before
    assert SavingsDay.objects.count() == 1


def test_a_replica_counts_against_the_saving(make_user, make_account, make_instance):
    account = make_account(make_user())
    replica = make_instance(
        account,
        instance_type="m5.large",
        lifecycle=Lifecycle.ON_DEMAND,
        is_replica=True,
        instance_metadata={"launch_time": LAUNCHED.isoformat(), "tags": {"spotopt:purpose": "replica"}},
    )
    Instance.objects.filter(pk=replica.pk).update(hourly_price=Decimal("0.096"))
    day_close(day=date(2026, 11, 1), now=MONTH_END)
    row = SavingsDay.objects.get(instance=replica)
    assert row.kind == MoveKind.REPLICA and row.baseline_cost == 0
    assert row.actual_cost == Decimal("2.304000") and row.realized_saving == Decimal("-2.304000")


def emergency_replacement(make_instance, account, replaced, *, lifecycle=Lifecycle.ON_DEMAND, price="0.096"):
    tags = {"spotopt:purpose": "emergency-replacement", "spotopt:replaces": replaced.instance_id}
    replacement = make_instance(
        account,
        instance_type="m5.large",
        lifecycle=lifecycle,
        instance_metadata={"launch_time": LAUNCHED.isoformat(), "tags": tags},
    )
    Instance.objects.filter(pk=replacement.pk).update(
        hourly_price=Decimal(price), price_source=PriceSource.ON_DEMAND_LIST
    )
    return replacement


def test_an_on_demand_emergency_fallback_for_a_spot_instance_counts_against_the_saving(
    make_user, make_account, make_instance
):
    account = make_account(make_user())
    own_spot = make_instance(account, instance_type="m5.large", lifecycle=Lifecycle.SPOT, is_active=False)
    Instance.objects.filter(pk=own_spot.pk).update(hourly_price=Decimal("0.030"), price_source=PriceSource.SPOT_MARKET)
    replacement = emergency_replacement(make_instance, account, own_spot)

    day_close(day=date(2026, 11, 1), now=MONTH_END)

    row = SavingsDay.objects.get(instance=replacement)
    # 24 h: the Spot instance would have cost 24 x $0.030; its on-demand replacement cost 24 x $0.096.
    assert row.kind == MoveKind.REPLACEMENT
    assert (row.baseline_cost, row.actual_cost) == (Decimal("0.720000"), Decimal("2.304000"))
    assert row.realized_saving == Decimal("-1.584000")
    assert (row.baseline_basis, row.actual_basis) == (PriceBasis.RECORDED, PriceBasis.LIST)


def test_a_replacement_of_a_switched_instance_keeps_the_switchs_baseline(switched, make_instance):
    account, switch = switched
    Instance.objects.filter(pk=switch.replacement_id).update(is_active=False, updated_at=LAUNCHED)
    replacement = emergency_replacement(make_instance, account, switch.replacement)

    day_close(day=date(2026, 11, 2), now=MONTH_END)

    row = SavingsDay.objects.get(instance=replacement)
    # The switch's old instance was on-demand at $0.096: so is the fallback, which saves nothing.
    assert (row.baseline_cost, row.actual_cost, row.baseline_basis) == (
        Decimal("2.304000"),
        Decimal("2.304000"),
        PriceBasis.LIST,
    )
    # The interrupted Spot replacement left before the day: the switch has no row for it.
    assert not SavingsDay.objects.filter(kind=MoveKind.SWITCH, day=date(2026, 11, 2)).exists()


def test_a_fallback_from_spot_is_measured_against_its_old_pools_prices(
    make_user, make_account, make_instance, make_experiment
):
    account = make_account(make_user())
    old = make_instance(
        account, instance_type="m5a.large", availability_zone="us-east-1a", lifecycle=Lifecycle.SPOT, is_active=False
    )
    new = make_instance(
        account,
        instance_type="m5.large",
        lifecycle=Lifecycle.ON_DEMAND,
        instance_metadata={"launch_time": LAUNCHED.isoformat(), "tags": {"spotopt:purpose": "optimizer-fallback"}},
    )
    Switch.objects.create(
        account=account,
        instance=old,
        replacement=new,
        experiment_log=make_experiment(old),
        decision=Decision.FALLBACK_ONDEMAND,
        pipeline_mode=old.pipeline_mode,
        target_instance_type="m5.large",
        target_availability_zone="us-east-1a",
        target_lifecycle=Lifecycle.ON_DEMAND,
        old_hourly_price=Decimal("0.000010"),  # what the emulator said the Spot instance paid: not its pool's price
        new_hourly_price=Decimal("0.096"),
        status=SwitchStatus.SUCCEEDED,
        started_at=LAUNCHED,
        finished_at=LAUNCHED,
        steps=[
            {"step": "launched", "at": LAUNCHED.isoformat()},
            {"step": "terminated old", "at": LAUNCHED.isoformat()},
        ],
    )
    step("us-east-1a", "m5a.large", "0.030", LAUNCHED - timedelta(days=2))
    step("us-east-1a", "m5a.large", "0.040", PRICE_CHANGE)

    day_close(day=date(2026, 11, 16), now=MONTH_END)

    row = SavingsDay.objects.get(instance=new)
    # 24 h of the old pool at $0.040 (measured) against 24 h on-demand at $0.096 (list): a fallback costs us.
    assert row.kind == MoveKind.FALLBACK
    assert (row.baseline_cost, row.baseline_basis) == (Decimal("0.960000"), PriceBasis.MEASURED)
    assert (row.actual_cost, row.actual_basis) == (Decimal("2.304000"), PriceBasis.LIST)
    assert row.realized_saving == Decimal("-1.344000")


def test_a_replicas_standby_counts_against_us_until_it_takes_over_and_then_it_replaces(
    make_user, make_account, make_instance
):
    from risk.models import EventReaction

    account = make_account(make_user())
    doomed = make_instance(
        account, instance_type="m5.large", availability_zone="us-east-1b", lifecycle=Lifecycle.SPOT, is_active=False
    )
    Instance.objects.filter(pk=doomed.pk).update(hourly_price=Decimal("0.030"), price_source=PriceSource.SPOT_MARKET)
    tags = {"spotopt:purpose": "replica", "spotopt:replica-of": doomed.instance_id}
    # Promoted: risk.safety clears is_replica and keeps the tags.
    replica = make_instance(
        account,
        instance_type="m5a.large",
        availability_zone="us-east-1a",
        lifecycle=Lifecycle.SPOT,
        instance_metadata={"launch_time": LAUNCHED.isoformat(), "tags": tags},
    )
    step("us-east-1a", "m5a.large", "0.025", LAUNCHED - timedelta(days=2))
    took_over = LAUNCHED + timedelta(hours=6)
    EventReaction.objects.create(
        account=account,
        instance=doomed,
        event_id="warning-1",
        event_type="termination_notice",
        action="replica_promoted",
        replacement_id=replica.instance_id,
        received_at=took_over,
        acted_at=took_over,
        seconds=0.1,
    )

    day_close(day=date(2026, 11, 1), now=MONTH_END)

    standby = SavingsDay.objects.get(instance=replica, kind=MoveKind.REPLICA)
    assert (standby.hours, standby.baseline_cost, standby.actual_cost) == (Decimal("6"), 0, Decimal("0.150000"))
    took = SavingsDay.objects.get(instance=replica, kind=MoveKind.REPLACEMENT)
    # 18 h in the doomed instance's place: its recorded $0.030 against the replica's measured $0.025.
    assert (took.hours, took.baseline_cost, took.actual_cost) == (
        Decimal("18"),
        Decimal("0.540000"),
        Decimal("0.450000"),
    )
    assert (took.baseline_basis, took.actual_basis) == (PriceBasis.RECORDED, PriceBasis.MEASURED)


def test_a_baseline_is_followed_back_through_every_replacement_to_what_ran_before_spotopt(switched, make_instance):
    account, switch = switched
    Instance.objects.filter(pk=switch.replacement_id).update(is_active=False, updated_at=LAUNCHED)
    first = emergency_replacement(make_instance, account, switch.replacement, lifecycle=Lifecycle.SPOT, price="0.03")
    Instance.objects.filter(pk=first.pk).update(is_active=False, updated_at=LAUNCHED + timedelta(hours=1))
    second = emergency_replacement(make_instance, account, first)  # on-demand, $0.096

    day_close(day=date(2026, 11, 3), now=MONTH_END)

    row = SavingsDay.objects.get(instance=second)
    # Interrupted twice: still measured against the on-demand m5.large the optimizer first moved ($0.096 list).
    assert (row.baseline_cost, row.baseline_basis) == (Decimal("2.304000"), PriceBasis.LIST)
    assert row.realized_saving == 0
