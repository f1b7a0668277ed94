"""The optimizer's evaluation: for each instance, its candidate Spot pools scored by its model, and a decision
with a reason a person understands, written as one ExperimentLog row per instance.

1. Candidates (`fleet.catalog.compatible_spot_pools_for`: compatible types offered in the zones it may use,
   the account's allowed/denied types; for all instances at once) plus the instance's own pool; poisoned
   pools are excluded in one query (`risk.gatekeeper.poisoned_pools`), with the reason kept for the log.
2. Features (`mlgov.features.MarketSnapshot`, schema "1"), read once for every candidate of the cycle; a pool
   without a known Spot or on-demand price is excluded and says so. Instances alike (same pools, price,
   account and model) share their candidates, built and scored once.
3. Scoring: the instance's model (LAB: its assigned TESTING or GRADUATED model; production: the active
   production model) scores all candidates of all its instances in one batch with onnxruntime; the file's
   SHA-256 is checked on load, and a model that cannot score makes the decision FAILED, never a silent
   fallback to another model.
4. Decision: SWITCH to the cheapest acceptable pool (risk <= OPTIMIZER_MAX_RISK and saving >=
   OPTIMIZER_MIN_SAVING); FALLBACK_ONDEMAND when a Spot instance's own pool is poisoned or too risky and no
   acceptable pool exists; otherwise HOLD; FAILED on any error, with the message.

   A Spot instance that must leave an unsafe pool goes to the cheapest safe Spot pool still below the on-demand
   price even when it saves less than the minimum (one replacement, not a fallback followed by a return).
   An on-demand fallback the optimizer launched returns to Spot (RETURN_TO_SPOT) once a pool is acceptable.

This module decides and logs; `fleet.execution` plans and runs what the decisions ask for (shadow mode,
Kubernetes, approvals, LINEAR and CLUSTER switches) and records it on the same row.
"""

import gc
import json
import logging
import time
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field
from decimal import Decimal

import numpy
from django.conf import settings
from django.db import transaction
from django.db.models import JSONField
from django.utils import timezone

from mlgov.choices import Decision, ModelStatus
from mlgov.features import CURRENT_FEATURE_SCHEMA, FEATURE_SCHEMAS, MarketSnapshot
from mlgov.models import ExperimentLog, MLModel
from mlgov.services import active_production_model, model_predictions_record, model_score
from risk.gatekeeper import poisoned_pools
from spotopt.errors import DomainError

from .catalog import compatible_spot_pools_for
from .choices import Lifecycle
from .models import Instance

logger = logging.getLogger(__name__)

NOT_EXECUTED = "evaluated only: nothing was asked to execute it"
# The tag the optimizer's launches carry (fleet.launch puts it on every instance it starts), and its values.
PURPOSE_TAG = "spotopt:purpose"
SWITCH_PURPOSE = "optimizer-switch"
FALLBACK_PURPOSE = "optimizer-fallback"
# An on-demand instance tagged so (any value but false/no/0) stays on-demand: evaluated, never moved.
KEEP_ON_DEMAND_TAG = "spotopt:keep-on-demand"


def keeps_on_demand(instance: Instance) -> bool:
    value = (instance.tags or {}).get(KEEP_ON_DEMAND_TAG)
    return instance.lifecycle == Lifecycle.ON_DEMAND and value is not None and value.lower() not in ("false", "no", "0")


@dataclass(slots=True)
class Candidate:
    pool: tuple[str, str, str]
    price: float | None = None
    saving: float | None = None
    risk: float | None = None
    excluded: str = ""  # why it cannot be chosen ("poisoned", "no Spot price known", …)
    price_source: str = ""
    features: list[float] | None = None

    def row(self, own_pool, name: str | None = None) -> dict:
        """The candidate as its log row shows it (`name`: its pool's "region:zone:type", when known)."""
        return {
            "pool": name if name is not None else ":".join(self.pool),
            "own": self.pool == own_pool,
            "price": self.price,
            "saving": round(self.saving, 4) if self.saving is not None else None,
            "risk": round(self.risk, 4) if self.risk is not None else None,
            "excluded": self.excluded,
            "price_source": self.price_source,
        }


@dataclass
class Evaluation:
    instance: Instance
    model: MLModel | None = None
    candidates: list[Candidate] = field(default_factory=list)
    error: str = ""
    pools: list = field(default_factory=list)  # its candidate pools, before they become candidates

    @property
    def own_pool(self):
        i = self.instance
        return (i.region, i.availability_zone, i.instance_type)


def _model_for(instance: Instance, production: MLModel | None, lab_models: dict) -> MLModel | None:
    if instance.account.environment_type == "LAB":
        return lab_models.get(instance.assigned_model_version)
    return production


def _lab_models(instances) -> dict[str, MLModel]:
    versions = {i.assigned_model_version for i in instances if i.assigned_model_version}
    found = {}
    for model in MLModel.objects.filter(
        version__in=versions, status__in=[ModelStatus.TESTING, ModelStatus.GRADUATED]
    ).order_by("uploaded_at"):
        found[model.version] = model  # the newest of a version wins
    return found


def _percent(value: float) -> str:
    return f"{value * 100:.0f} %"


def _probability(value: float) -> float | None:
    """A model's output as a probability: NaN is no answer (the candidate counts as unscored, never as safe),
    and a value a broken model puts outside [0, 1] is clamped."""
    if value != value:  # NaN
        return None
    return min(max(float(value), 0.0), 1.0)


_ON_DEMAND_RATIO = FEATURE_SCHEMAS[CURRENT_FEATURE_SCHEMA].index("price_ratio_to_on_demand")


def _share_of_on_demand(candidate: Candidate) -> float | None:
    return candidate.features[_ON_DEMAND_RATIO] if candidate.features else None


def thresholds_for(account) -> tuple[float, float]:
    """(max risk, min saving) for an account: its own settings, else the installation's."""
    max_risk = account.optimizer_max_risk if account.optimizer_max_risk is not None else settings.OPTIMIZER_MAX_RISK
    min_saving = (
        account.optimizer_min_saving if account.optimizer_min_saving is not None else settings.OPTIMIZER_MIN_SAVING
    )
    return float(max_risk), float(min_saving)


def is_fallback(instance: Instance) -> bool:
    """An on-demand instance the optimizer launched when its Spot pool became unsafe (tagged so)."""
    return instance.lifecycle == Lifecycle.ON_DEMAND and (instance.tags or {}).get(PURPOSE_TAG) == FALLBACK_PURPOSE


def _decide(evaluation: Evaluation, current_price: float) -> tuple[str, str, Candidate | None]:
    instance = evaluation.instance
    own = evaluation.own_pool
    max_risk, min_saving = thresholds_for(instance.account)
    on_spot = instance.lifecycle == Lifecycle.SPOT
    scored = [c for c in evaluation.candidates if not c.excluded and c.risk is not None]
    # An on-demand instance may move to the Spot pool of its own type and zone; a Spot one is already there.
    acceptable = [
        c for c in scored if (c.pool != own or not on_spot) and c.risk <= max_risk and (c.saving or 0) >= min_saving
    ]
    best = min(acceptable, key=lambda c: (c.price, c.risk), default=None)
    where = f"{instance.instance_type} in {instance.availability_zone}"
    if best is not None and keeps_on_demand(instance):
        return Decision.HOLD, f"{where}: tagged {KEEP_ON_DEMAND_TAG}, so it stays on-demand", None
    if best is not None:
        target = f"{best.pool[2]} in {best.pool[1]}"
        why = f"{_percent(best.saving)} cheaper than {where}, risk {best.risk:.2f} <= {max_risk:.2f}"
        if is_fallback(instance):
            return Decision.RETURN_TO_SPOT, f"back to Spot after the fallback: {target} is safe again, {why}", best
        return Decision.SWITCH, f"{target}: {why}", best
    own_candidate = next((c for c in evaluation.candidates if c.pool == own), None)
    own_poisoned = own_candidate is not None and own_candidate.excluded == "poisoned"
    own_risky = own_candidate is not None and own_candidate.risk is not None and own_candidate.risk > max_risk
    if on_spot and (own_poisoned or own_risky):
        why = "its pool is poisoned by the hive" if own_poisoned else f"its pool's risk is {own_candidate.risk:.2f}"
        # Leaving an unsafe pool: any safe Spot pool still cheaper than on-demand beats a fallback (which would
        # be followed by a return to Spot at the next cycle: two replacements where one is right).
        safe = [c for c in scored if c.pool != own and c.risk <= max_risk and (_share_of_on_demand(c) or 1.0) < 1.0]
        refuge = min(safe, key=lambda c: (c.price, c.risk), default=None)
        if refuge is not None:
            return (
                Decision.SWITCH,
                f"{refuge.pool[2]} in {refuge.pool[1]}: {where} must leave ({why}); risk {refuge.risk:.2f} <= "
                f"{max_risk:.2f} at {_share_of_on_demand(refuge) * 100:.0f} % of the on-demand price",
                refuge,
            )
        return (
            Decision.FALLBACK_ONDEMAND,
            f"{where}: {why} and no Spot pool is acceptable (risk <= {max_risk:.2f}, saving >= "
            f"{_percent(min_saving)}); on-demand until a safe pool appears",
            None,
        )
    stays = " (on-demand since the fallback, until a safe Spot pool appears)" if is_fallback(instance) else ""
    if not scored:
        return Decision.HOLD, f"{where}: no candidate pool could be scored{stays}", None
    cheapest = min(scored, key=lambda c: c.price)
    return (
        Decision.HOLD,
        f"{where}: no pool saves at least {_percent(min_saving)} at risk <= {max_risk:.2f} (the cheapest, "
        f"{cheapest.pool[2]} in {cheapest.pool[1]}, saves {_percent(cheapest.saving or 0)} "
        f"at risk {cheapest.risk:.2f}){stays}",
        None,
    )


def optimizer_evaluate(*, instances, now=None, write: bool = True, timings: dict | None = None) -> list[ExperimentLog]:
    """Evaluate these instances (active ones with their account loaded) and write one log row each (unless
    `write` is false: a dry run answers the rows unsaved). `timings`, when given, is filled with the seconds
    of each phase: candidates, features, inference, write (the log rows built, and stored when `write`)."""
    with _collector_paused():
        return _evaluate(instances=instances, now=now, write=write, timings=timings)


@contextmanager
def _collector_paused():
    """Python's cyclic garbage collector paused while a cycle is evaluated (and resumed after, if it ran):
    the evaluation makes hundreds of thousands of objects, so the collector would walk the whole heap (the
    AWS service models, Django, the cycle's rows) a few times meanwhile, 0.3-0.6 s of a 3 s cycle in
    bench/decisions.py. What the evaluation makes is freed by reference counting; any cycle in it is
    collected once the collector resumes."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _evaluate(*, instances, now, write: bool, timings: dict | None) -> list[ExperimentLog]:
    now = now or timezone.now()
    started = time.perf_counter()
    instances = list(instances)
    production = active_production_model()
    lab_models = _lab_models(instances)
    # Each instance's pools with its account's allowed/denied types, in queries that do not grow with them.
    pools_of = compatible_spot_pools_for(instances)
    evaluations = []
    all_pools: set = set()
    for instance in instances:
        evaluation = Evaluation(instance=instance, model=_model_for(instance, production, lab_models))
        pools = pools_of[instance.pk]
        if evaluation.own_pool not in pools:
            pools.append(evaluation.own_pool)
        evaluation.pools = pools
        all_pools.update(pools)
        evaluations.append(evaluation)
    poisoned = poisoned_pools(all_pools, now=now)
    mark = _phase(timings, "candidates", started)

    market = MarketSnapshot(all_pools, now=now)
    # What a candidate takes from its pool, once per pool: 10,000 instances share a few hundred pools.
    pool_list = list(all_pools)
    of_pool = {
        pool: (market.spot_price(pool), market.spot_source(pool), pool in poisoned, market.prices_known(pool), index)
        for index, pool in enumerate(pool_list)
    }
    current_prices, account_ids = [], []
    by_model: dict = {}  # model -> ([candidate], [its pool's index], [its instance's index]): what it scores
    # Instances alike in their own pool, candidate pools, price, account (its tenant's warnings) and model
    # have the same candidates, scored on the same features: they are built and scored once, and shared
    # (read-only: the decision only reads them).
    alike: dict = {}
    for position, evaluation in enumerate(evaluations):
        instance, model = evaluation.instance, evaluation.model
        current = float(instance.hourly_price or 0)
        current_prices.append(current)
        account_ids.append(instance.account_id)
        own = evaluation.own_pool
        key = (own, tuple(evaluation.pools), current, instance.account_id, model)
        candidates = alike.get(key)
        if candidates is None:
            candidates = alike[key] = []
        else:
            evaluation.candidates = candidates
            evaluation.error = _no_model(instance) if model is None else ""
            continue
        scoring = by_model.setdefault(model, ([], [], [])) if model is not None else None
        unknown = "the instance's price is not known" if not current else "no Spot or on-demand price known"
        for pool in evaluation.pools:
            price, source, is_poisoned, known, index = of_pool[pool]
            excluded = "poisoned" if is_poisoned else ""
            saving = (current - price) / current if price is not None and current else None
            candidate = Candidate(pool, price, saving, None, excluded, source)
            candidates.append(candidate)
            if not known or not current:  # no features: market.features() would answer None
                candidate.excluded = excluded or unknown
            elif scoring is not None and (not excluded or pool == own):
                # The own pool is scored even when excluded: its risk explains a fallback to on-demand.
                scoring[0].append(candidate)  # its features come with its model's matrix, below
                scoring[1].append(index)
                scoring[2].append(position)
            else:
                candidate.features = market.features(pool, current_price=current, account_id=instance.account_id)
        evaluation.candidates = candidates
        evaluation.error = _no_model(instance) if model is None else ""
    matrices = {}  # model -> the float32 matrix it scores
    for model, (candidates, pool_rows, instance_rows) in by_model.items():
        if candidates:
            matrix = market.feature_matrix(pool_list, pool_rows, instance_rows, current_prices, account_ids)
            for candidate, features in zip(candidates, matrix.tolist(), strict=True):
                candidate.features = features  # market.features() of the candidate, value for value
            matrices[model] = matrix.astype(numpy.float32)
    mark = _phase(timings, "features", mark)

    failures: dict = {}
    for model, (candidates, _, _) in by_model.items():
        if not candidates:
            continue
        if model.feature_schema_version != CURRENT_FEATURE_SCHEMA:
            failures[model.pk] = (
                f"model {model} is on feature schema {model.feature_schema_version}, not {CURRENT_FEATURE_SCHEMA}"
            )
            continue
        try:
            risks = model_score(model, matrices[model])
        except DomainError as error:
            failures[model.pk] = error.message
            continue
        except Exception as error:  # onnxruntime's own errors: the decision is FAILED, with the message
            logger.exception("model %s failed to score", model.pk)
            failures[model.pk] = f"model {model} failed to score ({type(error).__name__})"
            continue
        for candidate, risk in zip(candidates, numpy.asarray(risks).tolist(), strict=True):
            candidate.risk = _probability(risk)
    mark = _phase(timings, "inference", mark)

    elapsed_ms = int((time.perf_counter() - started) * 1000)
    names = FEATURE_SCHEMAS[CURRENT_FEATURE_SCHEMA]
    pool_names = {pool: ":".join(pool) for pool in pool_list}
    # id(shared candidates) -> (their log rows, how many were scored): the logs of alike instances share
    # their candidates' rows (read-only: _SharedRow).
    shown_rows: dict = {}
    logs = []
    # Each row is written as it is built (the database stores it while the next is built), unless a dry run.
    with experiment_logs_writer() if write and evaluations else nullcontext(None) as add:
        for evaluation in evaluations:
            instance, model = evaluation.instance, evaluation.model
            error = evaluation.error or (failures.get(model.pk, "") if model else "")
            current = instance.hourly_price
            if error:
                decision, reason, chosen = Decision.FAILED, error, None
            else:
                decision, reason, chosen = _decide(evaluation, float(current or 0))
            own_pool = evaluation.own_pool
            own = next((c for c in evaluation.candidates if c.pool == own_pool), None)
            scored = chosen or own
            rows = shown_rows.get(id(evaluation.candidates))
            if rows is None:
                rows = shown_rows[id(evaluation.candidates)] = (
                    [_SharedRow(c.row(own_pool, pool_names[c.pool])) for c in evaluation.candidates],
                    sum(1 for c in evaluation.candidates if c.risk is not None),
                )
            new_price = Decimal(str(chosen.price)).quantize(Decimal("0.000001")) if chosen else None
            if decision == Decision.FALLBACK_ONDEMAND:
                od = market.on_demand_price(instance.region, instance.instance_type)
                new_price = Decimal(str(od)).quantize(Decimal("0.000001")) if od else None
            log = ExperimentLog(
                instance=instance,
                model=model,
                pipeline_mode=instance.pipeline_mode,
                is_shadow_run=instance.is_shadow_mode,
                prediction_score=scored.risk if scored is not None else None,
                decision=decision,
                decision_reason=reason,
                execution_time=now,
                execution_duration_ms=elapsed_ms,
                candidates_evaluated=rows[1],
                selected_instance_type=chosen.pool[2] if chosen else "",
                selected_availability_zone=chosen.pool[1] if chosen else "",
                old_spot_price=current,
                new_spot_price=new_price,
                projected_hourly_savings=(current - new_price)
                if current is not None and new_price is not None
                else None,
                features_used={
                    "schema": CURRENT_FEATURE_SCHEMA,
                    "names": list(names),
                    "model_sha256": model.file_hash if model else None,
                    "chosen": chosen.features if chosen else (own.features if own else None),
                    "candidates": list(rows[0]),
                    "thresholds": dict(zip(("max_risk", "min_saving"), thresholds_for(instance.account), strict=True)),
                    "execution": NOT_EXECUTED,
                },
                error_message=error,
            )
            logs.append(log)
            if add is not None:
                add(log)
    _phase(timings, "write", mark)
    logger.info("optimizer evaluated %d instance(s) in %d ms", len(logs), elapsed_ms)
    return logs


def _no_model(instance: Instance) -> str:
    if instance.account.environment_type == "LAB":
        return (
            f"no model is assigned to this LAB instance (version '{instance.assigned_model_version}' is not a "
            "testing or graduated model)"
        )
    return "no production model is active: a super_admin activates one in the Lab"


def _phase(timings: dict | None, name: str, since: float) -> float:
    """Record the seconds since `since` as phase `name` of `timings` (when kept); returns now."""
    now = time.perf_counter()
    if timings is not None:
        timings[name] = now - since
    return now


def experiment_logs_write(logs: list[ExperimentLog]) -> None:
    """Store a cycle's rows and count what each model predicted (total_predictions, avg_prediction_score),
    in one transaction (experiment_logs_writer)."""
    if not logs:
        return
    with experiment_logs_writer() as add:
        for log in logs:
            add(log)


@contextmanager
def experiment_logs_writer():
    """Yields add(log): the rows added are stored when the block ends, with what each model predicted
    counted, in one transaction (nothing of them if the block raises).

    On PostgreSQL each row goes into one COPY as it is added, so the server stores it while the caller
    builds the next: a row carries ~6 KB of JSON (its candidates), which bulk_create would send as arrays
    psycopg quotes in Python (ten times slower). features_used is compressed with lz4 where the server has
    it (pglz takes twice as long; the value reads back the same). Elsewhere bulk_create, at the end."""
    added: list[ExperimentLog] = []
    with transaction.atomic():
        db = transaction.get_connection()
        if db.vendor != "postgresql":
            yield added.append
            ExperimentLog.objects.bulk_create(added, batch_size=1000)
        else:
            with db.cursor() as cursor, ExitStack() as opened:
                copy = None

                def add(log: ExperimentLog) -> None:
                    nonlocal copy
                    if copy is None:  # at the first row: an empty cycle asks nothing
                        copy = opened.enter_context(_logs_copy(cursor))
                    log._prepare_related_fields_for_save(operation_name="bulk_create")
                    copy(log)
                    added.append(log)

                yield add
            for log in added:
                log._state.adding = False
                log._state.db = db.alias
        model_predictions_record(added)


@contextmanager
def _logs_copy(cursor):
    """A COPY into ExperimentLog's table on `cursor` (PostgreSQL), features_used compressed with lz4 for
    this transaction where the server has it; yields write(log): the row as bulk_create would store it."""
    db = cursor.db
    meta, quote = ExperimentLog._meta, db.ops.quote_name
    fields = list(meta.concrete_fields)
    # Each field's value as bulk_create would store it; jsonb's as text, without spaces (the stored value is
    # the same, with 10 % less to send and parse).
    values_of = [
        (
            f.pre_save,
            _JsonbText((f.encoder or json.JSONEncoder)(separators=(",", ":"), check_circular=False).encode).text
            if isinstance(f, JSONField)
            else None,
            f.get_db_prep_save,
        )
        for f in fields
    ]
    cursor.execute(
        "SELECT current_setting('default_toast_compression'), 'lz4' = ANY(enumvals) FROM pg_settings "
        "WHERE name = 'default_toast_compression'"
    )
    setting = cursor.fetchone()
    previous = setting[0] if setting and setting[1] and setting[0] != "lz4" else None
    if previous:  # for this transaction only, and set back after the COPY
        cursor.execute("SELECT set_config('default_toast_compression', 'lz4', true)")
    columns = ", ".join(quote(f.column) for f in fields)
    # Names of our own model's table and columns, no input: nothing to inject.
    with cursor.cursor.copy(f"COPY {quote(meta.db_table)} ({columns}) FROM STDIN") as copy:

        def write(log: ExperimentLog) -> None:
            values = []
            for pre_save, text, prepare in values_of:
                raw = pre_save(log, True)
                values.append(text(raw) if text is not None and raw is not None else prepare(raw, db))
            copy.write_row(values)

        yield write
    if previous:
        cursor.execute("SELECT set_config('default_toast_compression', %s, true)", [previous])


class _SharedRow(dict):
    """A candidate's log row, shared by the logs of alike instances (10,000 instances of a few hundred kinds
    would otherwise hold 400,000 of them): read-only, since a change would show in all those logs; its
    copies (copy(), copy.deepcopy, pickle) are plain dicts."""

    __slots__ = ()

    def _refuse(self, *args, **kwargs):
        raise TypeError("this candidate row is shared by the logs of alike instances: change a copy of it")

    __setitem__ = __delitem__ = __ior__ = clear = pop = popitem = setdefault = update = _refuse

    def copy(self) -> dict:
        return dict(self)

    def __reduce__(self):
        return dict, (dict(self),)


class _JsonbText:
    """The JSON text of values stored as jsonb, a "candidates" list of shared rows encoded once.

    The logs of alike instances list the same read-only rows (_SharedRow): their list's text is kept by
    the rows' identity (the rows kept with it, so no other object takes their ids) and spliced into the
    text of the rest of the value. jsonb keeps no key order: the stored value is the same as encode's."""

    def __init__(self, encode):
        self.encode = encode
        self.lists: dict = {}

    def text(self, value) -> str:
        candidates = value.get("candidates") if isinstance(value, dict) and len(value) > 1 else None
        if not candidates or not isinstance(candidates, list) or set(map(type, candidates)) != {_SharedRow}:
            return self.encode(value)
        key = tuple(map(id, candidates))
        kept = self.lists.get(key)
        if kept is None:
            kept = self.lists[key] = (tuple(candidates), self.encode(candidates))
        rest = self.encode({name: item for name, item in value.items() if name != "candidates"})
        return f'{rest[:-1]},"candidates":{kept[1]}}}'


def optimizer_instances(*, account=None):
    """The instances a cycle evaluates: active ones of connected accounts (one account's with `account`);
    replicas standing by for the safety net are its business, not the optimizer's."""
    from accounts.choices import AccountStatus

    instances = Instance.objects.filter(
        is_active=True,
        is_replica=False,
        account__is_active=True,
        account__status__in=[AccountStatus.CONNECTED, AccountStatus.ACTIVE],
    ).select_related("account")
    if account is not None:
        instances = instances.filter(account=account)
    return instances.order_by("account_id", "instance_id")
