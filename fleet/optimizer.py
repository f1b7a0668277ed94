"""The optimizer's evaluation: for each instance, its candidate Spot pools scored by its model, and a decision
with a reason a person understands, written as one ExperimentLog row per instance.

1. Candidates (`fleet.catalog.compatible_spot_pools`: compatible types offered in the zones it may use, the
   account's allowed/denied types) plus the instance's own pool; poisoned pools are excluded in one query
   (`risk.gatekeeper.poisoned_pools`), with the reason kept for the log.
2. Features (`mlgov.features.MarketSnapshot`, schema "1"), read once for every candidate of the cycle; a pool
   without a known Spot or on-demand price is excluded and says so.
3. Scoring: the instance's model (LAB: its assigned TESTING or GRADUATED model; production: the active
   production model) scores all candidates of all its instances in one batch with onnxruntime; the file's
   SHA-256 is checked on load, and a model that cannot score makes the decision FAILED, never a silent
   fallback to another model.
4. Decision: SWITCH to the cheapest acceptable pool (risk <= OPTIMIZER_MAX_RISK and saving >=
   OPTIMIZER_MIN_SAVING); FALLBACK_ONDEMAND when a Spot instance's own pool is poisoned or too risky and no
   acceptable pool exists; otherwise HOLD; FAILED on any error, with the message.

This module decides and logs; the execution of SWITCH and FALLBACK_ONDEMAND decisions (shadow mode, LINEAR,
CLUSTER, approvals) is not built yet, so every row records that nothing was executed.
"""

import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

import numpy
from django.conf import settings
from django.utils import timezone

from mlgov.choices import Decision, ModelStatus
from mlgov.features import CURRENT_FEATURE_SCHEMA, FEATURE_SCHEMAS, MarketSnapshot
from mlgov.models import ExperimentLog, MLModel
from mlgov.services import active_production_model, model_predictions_record, model_score
from risk.gatekeeper import poisoned_pools
from spotopt.errors import DomainError

from .catalog import compatible_spot_pools
from .choices import Lifecycle
from .models import Instance

logger = logging.getLogger(__name__)

NOT_EXECUTED = "evaluated only: nothing was asked to execute it"
# The tag the optimizer's launches carry (fleet.launch puts it on every instance it starts), and its values.
PURPOSE_TAG = "spotopt:purpose"
SWITCH_PURPOSE = "optimizer-switch"
FALLBACK_PURPOSE = "optimizer-fallback"


@dataclass
class Candidate:
    pool: tuple[str, str, str]
    price: float | None = None
    saving: float | None = None
    risk: float | None = None
    excluded: str = ""  # why it cannot be chosen ("poisoned", "no Spot price known", …)
    price_source: str = ""
    features: list[float] | None = None

    def row(self, own_pool) -> dict:
        return {
            "pool": ":".join(self.pool),
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


def optimizer_evaluate(*, instances, now=None, write: bool = True) -> list[ExperimentLog]:
    """Evaluate these instances (active ones with their account loaded) and write one log row each (unless
    `write` is false: a dry run answers the rows unsaved)."""
    now = now or timezone.now()
    started = time.perf_counter()
    instances = list(instances)
    production = active_production_model()
    lab_models = _lab_models(instances)
    evaluations = []
    for instance in instances:
        evaluation = Evaluation(instance=instance, model=_model_for(instance, production, lab_models))
        account = instance.account
        pools = compatible_spot_pools(
            instance=instance, allowed=account.allowed_instance_types, denied=account.denied_instance_types
        )
        if evaluation.own_pool not in pools:
            pools.append(evaluation.own_pool)
        evaluation.candidates = [Candidate(pool=pool) for pool in pools]
        evaluations.append(evaluation)
    all_pools = {c.pool for e in evaluations for c in e.candidates}
    poisoned = poisoned_pools(all_pools, now=now)
    market = MarketSnapshot(all_pools, now=now)
    width = len(FEATURE_SCHEMAS[CURRENT_FEATURE_SCHEMA])

    by_model: dict = defaultdict(list)  # model -> [(candidate, features)]
    for evaluation in evaluations:
        current = float(evaluation.instance.hourly_price or 0)
        for candidate in evaluation.candidates:
            if candidate.pool in poisoned:
                candidate.excluded = "poisoned"
            candidate.price = market.spot_price(candidate.pool)
            candidate.price_source = market.spot_source(candidate.pool)
            if candidate.price is not None and current:
                candidate.saving = (current - candidate.price) / current
            features = market.features(candidate.pool, current_price=current, account_id=evaluation.instance.account_id)
            if features is None:
                candidate.excluded = candidate.excluded or (
                    "the instance's price is not known" if not current else "no Spot or on-demand price known"
                )
                continue
            candidate.features = features
            # The own pool is scored even when excluded: its risk explains a fallback to on-demand.
            if evaluation.model is not None and (not candidate.excluded or candidate.pool == evaluation.own_pool):
                by_model[evaluation.model].append(candidate)
        if evaluation.model is None:
            evaluation.error = (
                f"no model is assigned to this LAB instance (version '{evaluation.instance.assigned_model_version}' "
                "is not a testing or graduated model)"
                if evaluation.instance.account.environment_type == "LAB"
                else "no production model is active: a super_admin activates one in the Lab"
            )

    failures: dict = {}
    for model, candidates in by_model.items():
        if model is None:
            continue
        if model.feature_schema_version != CURRENT_FEATURE_SCHEMA:
            failures[model.pk] = (
                f"model {model} is on feature schema {model.feature_schema_version}, not {CURRENT_FEATURE_SCHEMA}"
            )
            continue
        try:
            risks = model_score(
                model, numpy.array([c.features for c in candidates], dtype=numpy.float32).reshape(-1, width)
            )
        except DomainError as error:
            failures[model.pk] = error.message
            continue
        except Exception as error:  # onnxruntime's own errors: the decision is FAILED, with the message
            logger.exception("model %s failed to score", model.pk)
            failures[model.pk] = f"model {model} failed to score ({type(error).__name__})"
            continue
        for candidate, risk in zip(candidates, risks, strict=True):
            candidate.risk = float(risk)

    elapsed_ms = int((time.perf_counter() - started) * 1000)
    logs = []
    for evaluation in evaluations:
        instance, model = evaluation.instance, evaluation.model
        error = evaluation.error or (failures.get(model.pk, "") if model else "")
        current = instance.hourly_price
        if error:
            decision, reason, chosen = Decision.FAILED, error, None
        else:
            decision, reason, chosen = _decide(evaluation, float(current or 0))
        own = next((c for c in evaluation.candidates if c.pool == evaluation.own_pool), None)
        scored = chosen or own
        new_price = Decimal(str(chosen.price)).quantize(Decimal("0.000001")) if chosen else None
        if decision == Decision.FALLBACK_ONDEMAND:
            od = market.on_demand_price(instance.region, instance.instance_type)
            new_price = Decimal(str(od)).quantize(Decimal("0.000001")) if od else None
        logs.append(
            ExperimentLog(
                instance=instance,
                model=model,
                pipeline_mode=instance.pipeline_mode,
                is_shadow_run=instance.is_shadow_mode,
                prediction_score=scored.risk if scored is not None else None,
                decision=decision,
                decision_reason=reason,
                execution_time=now,
                execution_duration_ms=elapsed_ms,
                candidates_evaluated=sum(1 for c in evaluation.candidates if c.risk is not None),
                selected_instance_type=chosen.pool[2] if chosen else "",
                selected_availability_zone=chosen.pool[1] if chosen else "",
                old_spot_price=current,
                new_spot_price=new_price,
                projected_hourly_savings=(current - new_price)
                if current is not None and new_price is not None
                else None,
                features_used={
                    "schema": CURRENT_FEATURE_SCHEMA,
                    "names": list(FEATURE_SCHEMAS[CURRENT_FEATURE_SCHEMA]),
                    "model_sha256": model.file_hash if model else None,
                    "chosen": chosen.features if chosen else (own.features if own else None),
                    "candidates": [c.row(evaluation.own_pool) for c in evaluation.candidates],
                    "thresholds": dict(zip(("max_risk", "min_saving"), thresholds_for(instance.account), strict=True)),
                    "execution": NOT_EXECUTED,
                },
                error_message=error,
            )
        )
    if write:
        experiment_logs_write(logs)
    logger.info("optimizer evaluated %d instance(s) in %d ms", len(logs), elapsed_ms)
    return logs


def experiment_logs_write(logs: list[ExperimentLog]) -> None:
    """Store a cycle's rows and count what each model predicted (total_predictions, avg_prediction_score)."""
    ExperimentLog.objects.bulk_create(logs, batch_size=1000)
    model_predictions_record(logs)


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
