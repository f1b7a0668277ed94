"""manage.py train_model: a numpy logistic regression trained on the platform's own history (pool samples
labelled by the hive's interruption warnings, and settled switches), measured on a held-out time window,
exported with onnx.helper and registered as a CANDIDATE through the upload path (mlgov/training.py)."""

import hashlib
import io
import sys
from datetime import timedelta
from decimal import Decimal

import numpy
import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from fleet.choices import Lifecycle, MarketSource, SwitchOutcome, SwitchStatus
from fleet.models import OnDemandPrice, SpotPriceStep, Switch
from mlgov.choices import ModelStatus
from mlgov.features import FEATURE_SCHEMAS, MarketSnapshot
from mlgov.models import MLModel, ModelMove
from mlgov.services import model_score
from mlgov.training import (
    HistoricalSnapshot,
    auc_of,
    brier_of,
    history_read,
    model_train,
    training_set_build,
)
from mlgov.validation import model_inspect
from risk.choices import RiskEventType
from risk.models import POISON_DURATION, GlobalRiskEvent
from spotopt.errors import PermissionRefused
from tests.api_contract import api_as
from tests.helpers import FROZEN_NOW
from tests.mlgov.test_api import make_model
from tests.sla.test_pages import html, signed_in

pytestmark = pytest.mark.django_db
REGION = "us-east-1"
TYPES = {"m5.large": Decimal("0.096"), "c5.large": Decimal("0.085"), "r5.large": Decimal("0.126")}
ZONES = ("us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d")
POOLS = [(REGION, zone, instance_type) for instance_type in TYPES for zone in ZONES]
RISKY = set(POOLS[::3])  # 4 of the 12 pools get warned (and interrupted) far more often
WIDTH = len(FEATURE_SCHEMAS["1"])
_events = iter(range(10**9))


def _event(pool, at, event_type=RiskEventType.TERMINATION_NOTICE):
    region, zone, instance_type = pool
    return GlobalRiskEvent(
        event_id=f"evt-{next(_events)}",
        event_type=event_type,
        pool_id=f"{region}:{zone}:{instance_type}",
        region=region,
        availability_zone=zone,
        instance_type=instance_type,
        reported_at=at,
        expires_at=at + POISON_DURATION,
        received_at=at,
    )


def history(*, now=FROZEN_NOW, days=40, risky_rate=0.45, safe_rate=0.03, seed=3):
    """Prices every 6 h for 12 pools over `days`, and per pool and day a warning with the pool's rate."""
    rng = numpy.random.default_rng(seed)
    OnDemandPrice.objects.bulk_create(
        OnDemandPrice(region=REGION, instance_type=t, price=p, source=MarketSource.CATALOG, fetched_at=now)
        for t, p in TYPES.items()
    )
    start = now - timedelta(days=days)
    steps, events = [], []
    for pool in POOLS:
        on_demand = float(TYPES[pool[2]])
        for k in range(days * 4):
            price = on_demand * rng.uniform(0.25, 0.45)
            steps.append(
                SpotPriceStep(
                    region=pool[0],
                    availability_zone=pool[1],
                    instance_type=pool[2],
                    price=Decimal(f"{price:.6f}"),
                    observed_at=start + timedelta(hours=6 * k),
                )
            )
        rate = risky_rate if pool in RISKY else safe_rate
        for day in range(days):
            at = start + timedelta(days=day, hours=float(rng.uniform(0, 24)))
            if at < now and rng.random() < rate:
                events.append(_event(pool, at))
            if at < now and pool in RISKY and rng.random() < rate / 2:
                events.append(_event(pool, at - timedelta(hours=2), RiskEventType.REBALANCE_NOTICE))
    SpotPriceStep.objects.bulk_create(steps)
    GlobalRiskEvent.objects.bulk_create(events)


def settled_switch(make_account, make_instance, client_user, *, outcome, finished_at, features="valid"):
    from mlgov.models import ExperimentLog

    account = make_account(client_user)
    instance = make_instance(account)
    chosen = [0.3, 0.9, 0.0, 0.05, 5.0, 1.0, 2.0, 3.0, 1.0, 0.0, 3.0, 0.0, 0.22, 0.0]
    log = ExperimentLog.objects.create(
        instance=instance,
        pipeline_mode="CLUSTER",
        decision="SWITCH",
        execution_time=finished_at - timedelta(minutes=5),
        features_used={"schema": "1", "chosen": chosen} if features == "valid" else {"schema": "1", "chosen": None},
    )
    return Switch.objects.create(
        account=account,
        instance=instance,
        experiment_log=log,
        decision="SWITCH",
        pipeline_mode="CLUSTER",
        target_instance_type="m5.large",
        target_availability_zone="us-east-1a",
        target_lifecycle=Lifecycle.SPOT,
        status=SwitchStatus.SUCCEEDED,
        finished_at=finished_at,
        outcome=outcome,
        outcome_settled_at=finished_at + timedelta(hours=24),
    )


def train(*args) -> str:
    out = io.StringIO()
    call_command("train_model", *args, stdout=out)
    return out.getvalue()


# --- The command --------------------------------------------------------------------------------------------


def test_the_command_registers_a_candidate_that_beats_chance_on_the_held_out_window(clock):
    history()
    out = train()
    model = MLModel.objects.get()
    assert (model.name, model.status, model.uploaded_by) == ("trained-20261102-0930", ModelStatus.CANDIDATE, None)
    metrics = model.training_metrics
    assert metrics["auc"] > 0.7 and 0 < metrics["brier"] < metrics["brier_reference"]
    train_split, held = metrics["train"], metrics["held_out"]
    assert train_split["positives"] and held["positives"] and held["samples"] > 50
    assert train_split["to"] < metrics["held_out_from"] <= held["from"]  # held out by time, never at random
    assert f"Registered candidate trained-20261102-0930 1.0 (id {model.pk})" in out
    assert f"Held-out AUC {metrics['auc']:.3f}" in out and "Read 30 days" in out and "12 pools" in out
    # The file is what an upload must be, hashed and audited like one, and it scores.
    with model.file.open("rb") as handle:
        data = handle.read()
    assert hashlib.sha256(data).hexdigest() == model.file_hash
    inspection = model_inspect(data, feature_schema_version="1")
    assert inspection.outputs == ("probabilities",) and inspection.width == WIDTH
    move = ModelMove.objects.get(model=model)
    assert move.by_username == "spotopt" and "trained by manage.py train_model" in move.note
    calm, warned = numpy.zeros((1, WIDTH)), numpy.zeros((1, WIDTH))
    calm[0, [0, 1, 5]] = (0.3, 1.0, 30.0)
    warned[0, [0, 1, 4, 5, 8]] = (0.3, 1.0, 7.0, 0.5, 3.0)
    risk_calm, risk_warned = model_score(model, numpy.vstack([calm, warned]))
    assert 0 <= risk_calm < risk_warned <= 1
    assert metrics["coefficients"]["pool_interruptions_15d"] > 0
    assert "12 pools sampled every 12 h" in model.description and f"AUC {metrics['auc']:.3f}" in model.description


def test_no_interruption_in_the_history_is_refused_with_the_reason(clock):
    history(risky_rate=0.0, safe_rate=0.0)
    with pytest.raises(CommandError, match=r"has 0 interrupted and \d+ uninterrupted samples: a model needs both"):
        train()
    assert not MLModel.objects.exists()


def test_too_little_history_is_refused(clock):
    with pytest.raises(CommandError, match="Only 0 samples in the last 30 days; at least 50 are needed"):
        train()
    with pytest.raises(CommandError, match="between 0 and 1"):
        train("--holdout", "1.5")
    assert not MLModel.objects.exists()


def test_a_dry_run_prints_the_metrics_and_registers_nothing(clock):
    history()
    out = train("--dry-run", "--days", "20", "--step-hours", "6", "--holdout", "0.25")
    assert "Dry run: nothing registered" in out and "Held-out AUC" in out and "every 6 h" in out
    assert not MLModel.objects.exists() and not ModelMove.objects.exists()


def test_the_uploader_is_a_lab_role_and_names_stay_unique(clock, lab_user, client_user):
    history()
    train("--user", lab_user.username, "--name", "lab-trained")
    assert MLModel.objects.get().uploaded_by == lab_user
    with pytest.raises(CommandError, match="A model named 'lab-trained' exists already"):
        train("--name", "lab-trained")
    with pytest.raises(PermissionRefused):
        model_train(user=client_user, name="client-trained")
    with pytest.raises(CommandError, match="No user 'nobody'"):
        train("--user", "nobody")
    assert MLModel.objects.count() == 1


# --- The training set ---------------------------------------------------------------------------------------


def test_a_settled_failure_switch_is_in_the_training_set(clock, make_account, make_instance, client_user):
    def settle(outcome, ago, features="valid"):
        settled_switch(
            make_account, make_instance, client_user, outcome=outcome, finished_at=clock.now - ago, features=features
        )

    history()
    settled_switch(
        make_account,
        make_instance,
        client_user,
        outcome=SwitchOutcome.FAILURE,
        finished_at=clock.now - timedelta(days=12),
    )
    settled_switch(
        make_account,
        make_instance,
        client_user,
        outcome=SwitchOutcome.SUCCESS,
        finished_at=clock.now - timedelta(days=11),
    )
    settled_switch(
        make_account,
        make_instance,
        client_user,
        outcome=SwitchOutcome.PENDING,
        finished_at=clock.now - timedelta(days=10),
    )
    settle(SwitchOutcome.FAILURE, timedelta(days=9), features="missing")
    training = training_set_build(now=clock.now, days=30, step_hours=12)
    from_switches = [label for label, switch in zip(training.labels, training.from_switch, strict=True) if switch]
    assert sorted(from_switches) == [0, 1] and training.switches_skipped == 1
    metrics = model_train(dry_run=True).metrics
    assert (metrics["train"]["switches"], metrics["train"]["switch_failures"], metrics["switches_skipped"]) == (2, 1, 1)
    # Only the two switches vary price_ratio_to_current: too few to learn from, it gets weight 0.
    assert "price_ratio_to_current" in metrics["features_unused"]
    assert metrics["coefficients"]["price_ratio_to_current"] == 0.0
    out = train("--dry-run")
    assert (
        "settled switches: 2 (1 interrupted within 24 h); skipped switches without stored features of schema 1: 1"
        in out
    )


def test_features_as_of_a_past_time_see_nothing_later_and_the_label_sees_the_next_day(clock):
    pool = POOLS[0]
    OnDemandPrice.objects.create(
        region=REGION, instance_type=pool[2], price="0.096", source=MarketSource.CATALOG, fetched_at=clock.now
    )
    t = clock.now.replace(hour=0, minute=0) - timedelta(days=3)  # on the 12 h sampling grid
    for hours, price in ((-30, "0.030"), (-6, "0.031"), (5, "0.090")):  # the last one is after t
        at = t + timedelta(hours=hours)
        SpotPriceStep.objects.create(
            region=REGION, availability_zone=pool[1], instance_type=pool[2], price=price, observed_at=at
        )
    GlobalRiskEvent.objects.bulk_create([_event(pool, t - timedelta(days=2)), _event(pool, t + timedelta(hours=10))])
    found = history_read(since=t - timedelta(days=1), until=t)
    snapshot = HistoricalSnapshot(found, now=t)
    row = snapshot.features(pool, current_price=snapshot.spot_price(pool), account_id=None)
    assert snapshot.spot_price(pool) == pytest.approx(0.031) and row[1] == 1.0
    assert row[4] == 1.0 and row[5] == pytest.approx(2.0)  # only the warning before t counts
    # MarketSnapshot as of t sees nothing later either (the replay and the demo's set-back clock rely on it).
    as_of_t = MarketSnapshot([pool], now=t)
    seen = as_of_t.features(pool, current_price=0.031, account_id=None)
    assert as_of_t.spot_price(pool) == pytest.approx(0.031) and seen[1] == 1.0
    assert seen[4] == 1.0 and seen[5] == pytest.approx(2.0)
    training = training_set_build(now=clock.now, days=4, step_hours=12)
    labels = dict(zip(training.times, training.labels, strict=True))
    assert labels[t] == 1 and labels[t + timedelta(hours=12)] == 0  # warned at t + 10 h


def test_the_historical_snapshot_gives_the_optimizers_features_when_nothing_is_later(clock):
    history(days=20)
    now = clock.now
    expected = MarketSnapshot(POOLS, now=now)
    ours = HistoricalSnapshot(history_read(since=now, until=now), now=now)
    tenant = FEATURE_SCHEMAS["1"].index("tenant_interruptions_30d")
    for pool in POOLS:
        price = expected.spot_price(pool)
        assert ours.spot_price(pool) == price
        row, optimizers = (
            snapshot.features(pool, current_price=price, account_id=None) for snapshot in (ours, expected)
        )
        # A pool sample has no tenant: 0, where MarketSnapshot would count the warnings of no account.
        assert row[tenant] == 0.0 and optimizers[tenant] > 0
        del row[tenant], optimizers[tenant]
        assert row == pytest.approx(optimizers)


def test_training_reads_a_fixed_number_of_queries_whatever_the_window(clock):
    history()
    counts = []
    for days in (10, 30):
        with CaptureQueriesContext(connection) as queries:
            model_train(days=days, dry_run=True)
        counts.append(len(queries))
    assert counts[0] == counts[1] <= 6


def test_training_needs_neither_scikit_learn_nor_skl2onnx(clock, monkeypatch):
    history()
    for module in ("sklearn", "skl2onnx"):
        monkeypatch.setitem(sys.modules, module, None)  # any import of them fails
    assert model_train(dry_run=True).metrics["auc"] > 0.5


def test_auc_and_brier():
    assert auc_of([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
    assert auc_of([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]) == 0.5
    assert auc_of([1, 1], [0.2, 0.3]) is None
    assert brier_of([0, 1], [0.2, 0.6]) == pytest.approx((0.04 + 0.16) / 2)


# --- Where the metrics show ---------------------------------------------------------------------------------


def test_the_metrics_show_on_the_model_page_in_the_api_and_read_only_in_the_admin(clock, lab_user, super_admin):
    history()
    train()
    trained = MLModel.objects.get()
    uploaded = make_model(lab_user)
    page = html(signed_in(lab_user).get(reverse("lab_model_detail", args=[trained.pk])))
    metrics = trained.training_metrics
    assert "Offline metrics" in page and f"{metrics['auc']:.3f}" in page and f"{metrics['brier']:.4f}" in page
    assert f"{metrics['held_out']['samples']} samples" in page and metrics["held_out_from"][:10] in page
    assert "No offline metrics" not in page
    page = html(signed_in(lab_user).get(reverse("lab_model_detail", args=[uploaded.pk])))
    assert "Offline metrics" in page and "No offline metrics" in page
    body = api_as(lab_user).get(f"/api/v1/models/{trained.pk}/").json()
    assert body["training_metrics"]["auc"] == metrics["auc"]
    assert api_as(lab_user).get(f"/api/v1/models/{uploaded.pk}/").json()["training_metrics"] == {}
    client = signed_in(super_admin)
    response = client.get(reverse("admin:mlgov_mlmodel_change", args=[trained.pk]))
    assert set(response.context["adminform"].form.fields) == {"description"}
    assert "Offline metrics" in response.content.decode() and f"AUC {metrics['auc']:.3f}" in response.content.decode()
    # Not a field anyone can post.
    client.post(
        reverse("admin:mlgov_mlmodel_change", args=[trained.pk]), {"description": "x", "training_metrics": "{}"}
    )
    assert MLModel.objects.get(pk=trained.pk).training_metrics == metrics
