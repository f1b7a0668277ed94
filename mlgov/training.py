"""Training an interruption-risk model from the platform's own history (`manage.py train_model`).

Production has numpy, onnx and onnxruntime, not scikit-learn or skl2onnx (dev dependencies of
scripts/train_baseline_model.py), so everything here is numpy, and the ONNX graph is written with onnx.helper.

The training set (feature schema "1", mlgov/features.py):

- **Pool samples.** Every `step_hours` over the last `days` (times on a fixed UTC grid), every pool with
  Spot price steps is one sample: its features as of that time t, and label 1 when a TERMINATION_NOTICE
  of the pool (any tenant, whatever the hive did with it) was received in (t, t + 24 h]. Only times whose
  24 h are over are sampled, so no label is cut short. The question asked is "an instance running in this
  pool at t: is it interrupted within the day?", so `current_price` is the pool's own Spot price
  (price_ratio_to_current is 1.0 in these samples) and there is no tenant (`account_id=None`:
  tenant_interruptions_30d is 0). A pool with no price step in the 7 days before t, or no on-demand price,
  has no features then (as in the optimizer) and is not sampled.
- **Settled switches** of the same window (finished_at): SUCCESS is 0, FAILURE (interrupted within 24 h) is 1,
  with the features the optimizer stored for the pool it moved to (`features_used["chosen"]` of its
  experiment log). Switches without them, or of another schema, are skipped and counted.

The features are MarketSnapshot.features() itself, on a HistoricalSnapshot: MarketSnapshot reads the last
N days up to its `now` with queries of its own for every time; HistoricalSnapshot is given the rows of the
whole window, read once (a fixed number of queries whatever the days, pools or step), and keeps only those
up to t. Capacity
signals (placement score, advisor band) and on-demand prices are stored as current values only: every
sample gets today's.

Validation is on time, never random: the latest `holdout` share of the sample times is held out; training
samples are those whose 24 h label window closed before it opens (switches by finished_at likewise).

The model: a logistic regression on standardised features (train mean and standard deviation; a feature
that varies in fewer than MIN_SUPPORT training samples gets weight 0), fitted by Newton's method (IRLS)
with an L2 penalty of L2 on the weights, exported as input -> Sub(mean) -> Div(std) -> MatMul(W) -> Add(b)
-> Sigmoid -> Concat([1 - p, p]) named `probabilities` (opset OPSET). The held-out AUC (rank based, ties
averaged) and Brier score are computed from the exported file's own answers through onnxruntime. It is
registered as a CANDIDATE through the upload path (model_inspect, SHA-256, ModelMove) with the metrics in
MLModel.training_metrics.
"""

import math
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.utils import timezone

from spotopt.errors import Conflict, DomainError

from .features import CURRENT_FEATURE_SCHEMA, FEATURE_SCHEMAS, HIVE_DAYS, PRICE_DAYS, MarketSnapshot, _family
from .models import MLModel
from .validation import model_inspect

DEFAULT_DAYS = 30
DEFAULT_STEP_HOURS = 12
DEFAULT_HOLDOUT = 0.2
LABEL_WINDOW = timedelta(hours=24)
MIN_SAMPLES = 50
MIN_HELD_OUT_SAMPLES = 10
L2 = 1.0
MIN_SUPPORT = 10
MAX_ITERATIONS = 50
OPSET = 17
IR_VERSION = 8
PRODUCER = "spotopt mlgov.training"
ALGORITHM = f"logistic regression (numpy Newton/IRLS, L2 {L2} on standardised features)"


class TrainingRefused(DomainError):
    code = "training_refused"


# --- The history, read once ---------------------------------------------------------------------------------


@dataclass
class History:
    """The rows of the window: price steps per pool (sorted), on-demand prices, events (sorted by
    received_at), each pool's termination times, capacity signals."""

    steps: dict = field(default_factory=dict)  # pool -> (times, prices, sources)
    on_demand: dict = field(default_factory=dict)
    event_times: list = field(default_factory=list)
    events: list = field(default_factory=list)  # (pool, is_termination, received_at)
    terminations: dict = field(default_factory=dict)  # pool -> sorted received_at
    signals: dict = field(default_factory=dict)

    @property
    def pools(self) -> list[tuple]:
        return sorted(self.steps)


def history_read(*, since, until) -> History:
    """Four queries: price steps of [since - PRICE_DAYS, until], on-demand prices, the events of
    [since - HIVE_DAYS, until + 24 h] of the pools' regions, capacity signals."""
    from fleet.models import CapacitySignal, OnDemandPrice, SpotPriceStep
    from risk.choices import RiskEventType
    from risk.models import GlobalRiskEvent

    history = History()
    for region, zone, instance_type, observed_at, price, source in (
        SpotPriceStep.objects.filter(observed_at__gte=since - timedelta(days=PRICE_DAYS), observed_at__lte=until)
        .order_by("observed_at")
        .values_list("region", "availability_zone", "instance_type", "observed_at", "price", "source")
    ):
        times, prices, sources = history.steps.setdefault((region, zone, instance_type), ([], [], []))
        times.append(observed_at)
        prices.append(float(price))
        sources.append(source)
    if not history.steps:
        return history
    regions = {pool[0] for pool in history.steps}
    types = {pool[2] for pool in history.steps}
    history.on_demand = {
        (region, instance_type): float(price)
        for region, instance_type, price in OnDemandPrice.objects.filter(
            region__in=regions, instance_type__in=types
        ).values_list("region", "instance_type", "price")
    }
    for region, zone, instance_type, event_type, received_at in (
        GlobalRiskEvent.objects.filter(
            region__in=regions,
            received_at__gte=since - timedelta(days=HIVE_DAYS),
            received_at__lte=until + LABEL_WINDOW,
        )
        .order_by("received_at")
        .values_list("region", "availability_zone", "instance_type", "event_type", "received_at")
    ):
        pool, termination = (region, zone, instance_type), event_type == RiskEventType.TERMINATION_NOTICE
        history.event_times.append(received_at)
        history.events.append((pool, termination, received_at))
        if termination:
            history.terminations.setdefault(pool, []).append(received_at)
    history.signals = {
        (s.region, s.instance_type): s
        for s in CapacitySignal.objects.filter(region__in=regions, instance_type__in=types)
    }
    return history


class HistoricalSnapshot(MarketSnapshot):
    """MarketSnapshot as of a past time: the same features(), on the history's rows up to `now` only.

    It fills the attributes MarketSnapshot.__init__ fills (tests/mlgov/test_training.py checks that both give
    the same features when nothing is later than `now`), without its queries."""

    def __init__(self, history: History, *, now):  # not super().__init__(): it would query for every t
        from fleet.pricing import on_demand_hourly

        self.now = now
        self._on_demand_fallback = on_demand_hourly
        self.on_demand = history.on_demand
        self.signals = history.signals
        self.tenant = {}  # no tenant: a pool sample is every tenant's
        self.steps, self.sources = {}, {}
        since = now - timedelta(days=PRICE_DAYS)
        for pool, (times, prices, sources) in history.steps.items():
            first, last = bisect_left(times, since), bisect_right(times, now)
            if first < last:
                self.steps[pool] = list(zip(times[first:last], prices[first:last], strict=True))
                self.sources[pool] = set(sources[first:last])
        self.hive = {}
        first = bisect_left(history.event_times, now - timedelta(days=HIVE_DAYS))
        last = bisect_right(history.event_times, now)
        for pool, termination, received_at in history.events[first:last]:
            entry = self.hive.setdefault(pool, {"terminations": 0, "rebalances": 0, "last": None})
            if termination:
                entry["terminations"] += 1
                entry["last"] = received_at  # sorted: the latest so far
            else:
                entry["rebalances"] += 1
        self.by_type, self.by_family = {}, {}
        for (region, zone, instance_type), entry in self.hive.items():
            key = (region, instance_type)
            self.by_type[key] = self.by_type.get(key, 0) + entry["terminations"]
            key = (region, zone, _family(instance_type))
            self.by_family[key] = self.by_family.get(key, 0) + entry["terminations"]


def _interrupted_within(history: History, pool, t) -> bool:
    times = history.terminations.get(pool, ())
    index = bisect_right(times, t)
    return index < len(times) and times[index] <= t + LABEL_WINDOW


# --- The training set ---------------------------------------------------------------------------------------


@dataclass
class TrainingSet:
    features: list = field(default_factory=list)
    labels: list = field(default_factory=list)
    times: list = field(default_factory=list)  # the sample time, or the switch's finished_at
    from_switch: list = field(default_factory=list)
    sample_times: list = field(default_factory=list)
    pools: int = 0
    switches_skipped: int = 0


def sample_times_of(*, now, days: int, step_hours: int) -> list[datetime]:
    """Times on a UTC grid of `step_hours` from now - days to now - 24 h (each label's day is over)."""
    step = step_hours * 3600
    last = math.floor((now - LABEL_WINDOW).timestamp() / step) * step
    first = (now - timedelta(days=days)).timestamp()
    times = []
    while last >= first:
        times.append(datetime.fromtimestamp(last, tz=UTC))
        last -= step
    return times[::-1]


def _chosen_features(features_used) -> list[float] | None:
    width = len(FEATURE_SCHEMAS[CURRENT_FEATURE_SCHEMA])
    if not isinstance(features_used, dict) or features_used.get("schema") != CURRENT_FEATURE_SCHEMA:
        return None
    chosen = features_used.get("chosen")
    if not isinstance(chosen, list) or len(chosen) != width:
        return None
    if not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in chosen):
        return None
    return [float(v) for v in chosen]


def training_set_build(*, now, days: int, step_hours: int) -> TrainingSet:
    """Pool samples and settled switches of the window (see the module's docstring)."""
    from fleet.choices import SwitchOutcome
    from fleet.models import Switch

    training = TrainingSet()
    times = sample_times_of(now=now, days=days, step_hours=step_hours)
    training.sample_times = times
    if not times:
        return training
    history = history_read(since=times[0], until=times[-1])
    pools = history.pools
    training.pools = len(pools)
    for t in times:
        snapshot = HistoricalSnapshot(history, now=t)
        for pool in pools:
            price = snapshot.spot_price(pool)
            row = snapshot.features(pool, current_price=price, account_id=None) if price else None
            if row is None:
                continue
            training.features.append(row)
            training.labels.append(1 if _interrupted_within(history, pool, t) else 0)
            training.times.append(t)
            training.from_switch.append(False)
    for outcome, finished_at, features_used in Switch.objects.filter(
        outcome__in=[SwitchOutcome.SUCCESS, SwitchOutcome.FAILURE],
        finished_at__gte=times[0],
        finished_at__lte=now,
        experiment_log__isnull=False,
    ).values_list("outcome", "finished_at", "experiment_log__features_used"):
        row = _chosen_features(features_used)
        if row is None:
            training.switches_skipped += 1
            continue
        training.features.append(row)
        training.labels.append(1 if outcome == SwitchOutcome.FAILURE else 0)
        training.times.append(finished_at)
        training.from_switch.append(True)
    return training


# --- The model ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogisticModel:
    mean: object  # numpy arrays [width]
    std: object
    weights: object
    bias: float
    iterations: int
    unused: tuple = ()  # per feature: True when it got weight 0 for lack of support

    def predict(self, features):
        import numpy

        return _sigmoid(((numpy.asarray(features, dtype=float) - self.mean) / self.std) @ self.weights + self.bias)


def _sigmoid(z):
    import numpy

    return 1.0 / (1.0 + numpy.exp(-numpy.clip(z, -35.0, 35.0)))


def _unsupported(x, min_support: int):
    """The columns whose values differ from their most common one in fewer than min_support rows."""
    import numpy

    unused = numpy.zeros(x.shape[1], dtype=bool)
    for column in range(x.shape[1]):
        _, counts = numpy.unique(x[:, column], return_counts=True)
        unused[column] = len(x) - counts.max() < min_support
    return unused


def logistic_fit(
    features, labels, *, l2: float = L2, min_support: int = MIN_SUPPORT, max_iterations: int = MAX_ITERATIONS
) -> LogisticModel:
    """Maximum penalised likelihood by Newton's method, halving a step that does not lower the loss. A feature
    that varies in fewer than min_support samples (price_ratio_to_current and tenant_interruptions_30d vary
    only in switches; capacity signals may be missing everywhere) gets weight 0, mean 0 and scale 1: one or
    two switches must not decide how every pool is scored."""
    import numpy

    x = numpy.asarray(features, dtype=float)
    y = numpy.asarray(labels, dtype=float)
    mean, std = x.mean(axis=0), x.std(axis=0)
    unused = _unsupported(x, min_support)
    mean[unused], std[unused] = 0.0, 1.0
    std[std < 1e-9] = 1.0
    standardised = (x - mean) / std
    standardised[:, unused] = 0.0  # weight 0: nothing to learn from
    design = numpy.column_stack([numpy.ones(len(y)), standardised])
    penalty = numpy.full(design.shape[1], l2)
    penalty[0] = 1e-9  # the intercept is not shrunk (the tiny term keeps the Hessian invertible)
    rate = y.mean()
    w = numpy.zeros(design.shape[1])
    w[0] = math.log(rate / (1 - rate))

    def loss(w):
        z = design @ w
        return float(numpy.sum(numpy.logaddexp(0.0, z) - y * z) + 0.5 * numpy.sum(penalty * w * w))

    iterations = 0
    for iterations in range(1, max_iterations + 1):  # noqa: B007 - the count is reported
        p = _sigmoid(design @ w)
        gradient = design.T @ (p - y) + penalty * w
        hessian = (design.T * (p * (1 - p))) @ design + numpy.diag(penalty)
        try:
            step = numpy.linalg.solve(hessian, gradient)
        except numpy.linalg.LinAlgError:
            raise TrainingRefused("The training data is degenerate: the fit cannot be solved.") from None
        size, current = 1.0, loss(w)
        while loss(w - size * step) > current and size > 1e-4:
            size /= 2
        w = w - size * step
        if numpy.max(numpy.abs(size * step)) < 1e-7:
            break
    return LogisticModel(
        mean=mean, std=std, weights=w[1:], bias=float(w[0]), iterations=iterations, unused=tuple(unused.tolist())
    )


def logistic_onnx(model: LogisticModel, *, doc: str = "") -> bytes:
    """input float [N, width] -> Sub(mean) -> Div(std) -> MatMul(W) -> Add(b) -> Sigmoid -> Concat([1-p, p])."""
    import numpy
    from onnx import TensorProto, helper, numpy_helper

    width = len(model.mean)
    f32 = numpy.float32
    initializers = [
        numpy_helper.from_array(numpy.asarray(model.mean, dtype=f32), name="mean"),
        numpy_helper.from_array(numpy.asarray(model.std, dtype=f32), name="std"),
        numpy_helper.from_array(numpy.asarray(model.weights, dtype=f32).reshape(width, 1), name="W"),
        numpy_helper.from_array(numpy.asarray([model.bias], dtype=f32), name="b"),
        numpy_helper.from_array(numpy.asarray([1.0], dtype=f32), name="one"),
    ]
    nodes = [
        helper.make_node("Sub", ["input", "mean"], ["centred"]),
        helper.make_node("Div", ["centred", "std"], ["standardised"]),
        helper.make_node("MatMul", ["standardised", "W"], ["weighted"]),
        helper.make_node("Add", ["weighted", "b"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["crash"]),
        helper.make_node("Sub", ["one", "crash"], ["no_crash"]),
        helper.make_node("Concat", ["no_crash", "crash"], ["probabilities"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "spotopt_logistic_risk",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, width])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 2])],
        initializer=initializers,
    )
    onnx_model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name=PRODUCER, producer_version="1"
    )
    onnx_model.ir_version = IR_VERSION
    onnx_model.doc_string = doc
    helper.set_model_props(onnx_model, {"feature_schema_version": CURRENT_FEATURE_SCHEMA, "algorithm": ALGORITHM})
    return onnx_model.SerializeToString()


def onnx_scores(data: bytes, features):
    """Column 1 of `probabilities` of the file for a matrix of features (the artifact's own answers)."""
    import numpy
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(data, sess_options=options, providers=["CPUExecutionProvider"])
    (answer,) = session.run(["probabilities"], {"input": numpy.asarray(features, dtype=numpy.float32)})
    return numpy.asarray(answer, dtype=float)[:, 1]


def auc_of(labels, scores) -> float | None:
    """The probability that a positive scores above a negative (Mann-Whitney; ties count half)."""
    import numpy

    labels = numpy.asarray(labels).astype(bool)
    positives = int(labels.sum())
    negatives = len(labels) - positives
    if not positives or not negatives:
        return None
    _, inverse, counts = numpy.unique(numpy.asarray(scores, dtype=float), return_inverse=True, return_counts=True)
    ranks = (numpy.cumsum(counts) - (counts - 1) / 2.0)[inverse]
    return float((ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def brier_of(labels, scores) -> float:
    import numpy

    return float(numpy.mean((numpy.asarray(scores, dtype=float) - numpy.asarray(labels, dtype=float)) ** 2))


# --- Training and registering -------------------------------------------------------------------------------


@dataclass
class TrainingResult:
    metrics: dict
    data: bytes
    model: MLModel | None = None


def _iso(moment) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment else None


def _describe(moment) -> str:
    return f"{moment:%Y-%m-%d %H:%M}" if moment else "—"


def _split_summary(indices, training: TrainingSet) -> dict:
    times = [training.times[i] for i in indices]
    switches = [i for i in indices if training.from_switch[i]]
    return {
        "samples": len(indices),
        "positives": sum(training.labels[i] for i in indices),
        "switches": len(switches),
        "switch_failures": sum(training.labels[i] for i in switches),
        "from": _iso(min(times)) if times else None,
        "to": _iso(max(times)) if times else None,
    }


def _refuse_unless_trainable(train: dict, held_out: dict, total: int, days: int) -> None:
    if total < MIN_SAMPLES:
        raise TrainingRefused(
            f"Only {total} samples in the last {days} days; at least {MIN_SAMPLES} are needed to train a model. "
            "Samples need Spot price steps (the hourly market data) and on-demand prices of the pools: train "
            "over more days (--days) or sample more often (--step-hours)."
        )
    if held_out["samples"] < MIN_HELD_OUT_SAMPLES:
        raise TrainingRefused(
            f"Only {held_out['samples']} samples in the held-out window; at least {MIN_HELD_OUT_SAMPLES} are "
            "needed to measure the model: hold out a larger share (--holdout) or train over more days."
        )
    for which, split in (("training", train), ("held-out", held_out)):
        positives, negatives = split["positives"], split["samples"] - split["positives"]
        if not positives or not negatives:
            window = (
                f" ({_describe(datetime.fromisoformat(split['from']))} to "
                f"{_describe(datetime.fromisoformat(split['to']))} UTC)"
                if split["samples"]
                else ""
            )
            raise TrainingRefused(
                f"The {which} window{window} has {positives} interrupted and {negatives} uninterrupted samples: "
                "a model needs both in the training and the held-out window. Train over more days (--days) once "
                "the hive has recorded interruption warnings of these pools."
            )


def model_train(
    *,
    days: int = DEFAULT_DAYS,
    step_hours: int = DEFAULT_STEP_HOURS,
    holdout: float = DEFAULT_HOLDOUT,
    name: str = "",
    user=None,
    dry_run: bool = False,
    now=None,
) -> TrainingResult:
    """Train on the window, measure on its latest `holdout` share of sample times, and (unless dry_run)
    register the ONNX file as a CANDIDATE with the metrics. TrainingRefused when the data cannot train one."""
    import numpy

    if days < 2:
        raise TrainingRefused("Train over at least 2 days (--days).")
    if step_hours < 1:
        raise TrainingRefused("Sample at least every hour (--step-hours is a whole number of hours, 1 or more).")
    if not 0 < holdout < 1:
        raise TrainingRefused("The held-out share (--holdout) is between 0 and 1, e.g. 0.2.")
    now = now or timezone.now()
    name = (name or f"trained-{now:%Y%m%d-%H%M}").strip()
    if not dry_run and MLModel.objects.filter(name=name).exists():
        raise Conflict(f"A model named '{name}' exists already; give this one its own name (--name).")

    training = training_set_build(now=now, days=days, step_hours=step_hours)
    times = training.sample_times
    held_count = max(1, round(len(times) * holdout)) if times else 0
    cutoff = times[-held_count] if times else now
    held = [i for i, t in enumerate(training.times) if t >= cutoff]
    train = [i for i, t in enumerate(training.times) if t + LABEL_WINDOW <= cutoff]
    train_summary, held_summary = _split_summary(train, training), _split_summary(held, training)
    _refuse_unless_trainable(train_summary, held_summary, len(training.labels), days)

    features = numpy.asarray(training.features, dtype=float)
    labels = numpy.asarray(training.labels, dtype=float)
    fitted = logistic_fit(features[train], labels[train])
    description = (
        f"Logistic regression trained by manage.py train_model on the platform's history "
        f"{_describe(times[0])} to {_describe(now)} UTC: {training.pools} pools sampled every {step_hours} h "
        f"(label: an interruption warning of the pool within 24 h) and "
        f"{held_summary['switches'] + train_summary['switches']} settled switches; held out the latest "
        f"{holdout:.0%} of sample times (from {_describe(cutoff)} UTC)."
    )
    data = logistic_onnx(fitted, doc=description)
    model_inspect(data, feature_schema_version=CURRENT_FEATURE_SCHEMA)  # what an upload must pass, now
    scores = onnx_scores(data, features[held])
    base_rate = float(labels[train].mean())
    names = FEATURE_SCHEMAS[CURRENT_FEATURE_SCHEMA]
    metrics = {
        "feature_schema_version": CURRENT_FEATURE_SCHEMA,
        "algorithm": ALGORITHM,
        "trained_at": _iso(now),
        "days": days,
        "step_hours": step_hours,
        "holdout": holdout,
        "window": {"from": _iso(times[0]), "to": _iso(now)},
        "held_out_from": _iso(cutoff),
        "pools": training.pools,
        "sample_times": len(times),
        "switches_skipped": training.switches_skipped,
        "train": train_summary,
        "held_out": held_summary,
        "auc": auc_of(labels[held], scores),
        "brier": brier_of(labels[held], scores),
        # The Brier score of always answering the training base rate: the score to beat.
        "brier_reference": brier_of(labels[held], numpy.full(len(held), base_rate)),
        "iterations": fitted.iterations,
        "intercept": fitted.bias,
        "coefficients": {n: float(w) for n, w in zip(names, fitted.weights, strict=True)},
        "features_unused": [n for n, unused in zip(names, fitted.unused, strict=True) if unused],
        "onnx_bytes": len(data),
    }
    description += f" Held-out AUC {metrics['auc']:.3f}, Brier {metrics['brier']:.4f}."
    result = TrainingResult(metrics=metrics, data=data)
    if not dry_run:
        result.model = _register(user=user, name=name, description=description, data=data, metrics=metrics)
    return result


def _register(*, user, name: str, description: str, data: bytes, metrics: dict) -> MLModel:
    """A CANDIDATE by the upload path: model_upload for a person (their role is checked), model_register by
    "spotopt" without one."""
    from .services import model_register, model_upload

    fields = {"name": name, "version": "1.0", "feature_schema_version": CURRENT_FEATURE_SCHEMA}
    with transaction.atomic():
        if user is not None:
            model = model_upload(user=user, data=data, description=description, **fields)
            MLModel.objects.filter(pk=model.pk).update(training_metrics=metrics)
            model.training_metrics = metrics
            return model
        return model_register(
            user=None,
            data=data,
            description=description,
            training_metrics=metrics,
            origin="trained by manage.py train_model",
            **fields,
        )
