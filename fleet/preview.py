"""The savings preview: what the optimizer would save on an account now, before the customer lets it switch
anything (a read-only connection, shadow mode, or a PROD account whose switches wait for approvals).

It is the optimizer's own evaluation as a dry run (fleet.execution.optimizer_cycle with dry_run: the same
candidates, model, thresholds and decisions, nothing written, nothing launched), summed: every instance the
optimizer would move to a cheaper pool with its monthly saving (projected hourly saving x 730 h), and every
instance it would leave alone with the reason: a Kubernetes node spotopt cannot act on (Karpenter, a
cluster it cannot reach), an instance tagged to stay on-demand, no compatible pool safe and cheap enough,
no model to score with. Stored on the account (account_metadata["savings_preview"]) with when it was made,
so the account page and the API read it without re-running it.
"""

from dataclasses import dataclass
from decimal import Decimal

from django.utils import timezone

from accounts.models import Account
from mlgov.choices import Decision

from .choices import OrchestratorType
from .models import Instance
from .selectors import HOURS_A_MONTH

MOVES = (Decision.SWITCH, Decision.RETURN_TO_SPOT)
CENTS = Decimal("0.01")


@dataclass
class _Row:
    instance: Instance
    reason: str
    target: str = ""
    monthly_saving: Decimal = Decimal("0")

    def as_dict(self) -> dict:
        i = self.instance
        return {
            "id": str(i.pk),
            "instance_id": i.instance_id,
            "instance_type": i.instance_type,
            "availability_zone": i.availability_zone,
            "lifecycle": i.lifecycle,
            "monthly_cost": str(_monthly(i.hourly_price)),
            "target": self.target,
            "monthly_saving": str(self.monthly_saving.quantize(CENTS)),
            "reason": self.reason,
        }


def _monthly(hourly) -> Decimal:
    return (Decimal(hourly or 0) * HOURS_A_MONTH).quantize(CENTS)


def _left_alone_reason(instance: Instance, log, clusters) -> str:
    from .execution import _kubernetes_refusal

    if instance.orchestrator_type == OrchestratorType.KUBERNETES:
        refusal = _kubernetes_refusal(instance, clusters)
        if refusal and log.decision in MOVES:
            return refusal
    if log.decision == Decision.FAILED:
        return log.error_message or log.decision_reason
    return log.decision_reason


def savings_preview(*, account: Account, now=None) -> dict:
    """Run the optimizer's evaluation of the account as a dry run and store (and answer) the preview."""
    from .execution import _known_clusters, optimizer_cycle

    now = now or timezone.now()
    result = optimizer_cycle(account=account, now=now, dry_run=True)
    logs = result.logs
    clusters = _known_clusters([log.instance for log in logs])
    moves, left_alone = [], []
    current = Decimal("0")
    for log in logs:
        instance = log.instance
        current += _monthly(instance.hourly_price)
        reason = _left_alone_reason(instance, log, clusters)
        if log.decision in MOVES and reason == log.decision_reason:
            hourly = Decimal(log.projected_hourly_savings or 0)
            target = f"{log.selected_instance_type} in {log.selected_availability_zone} (Spot)"
            moves.append(_Row(instance, log.decision_reason, target, hourly * HOURS_A_MONTH))
        else:
            left_alone.append(_Row(instance, reason))
    saving = sum((row.monthly_saving for row in moves), Decimal("0")).quantize(CENTS)
    model = next((log.model for log in logs if log.model is not None), None)
    preview = {
        "computed_at": now.isoformat(),
        "currency": "USD",
        "model": f"{model.name} {model.version}" if model else "",
        "instances": len(logs),
        "current_monthly_cost": str(current.quantize(CENTS)),
        "monthly_saving": str(saving),
        "saving_share": str((saving / current).quantize(Decimal("0.001"))) if current else "0",
        "prices": "hourly prices as discovery priced them (list on-demand prices, measured Spot prices); "
        "savings as the optimizer projects them, x 730 hours",
        "moves": [row.as_dict() for row in sorted(moves, key=lambda r: -r.monthly_saving)],
        "left_alone": [row.as_dict() for row in left_alone],
    }
    metadata = dict(Account.objects.filter(pk=account.pk).values_list("account_metadata", flat=True).get() or {})
    metadata["savings_preview"] = preview
    Account.objects.filter(pk=account.pk).update(account_metadata=metadata, updated_at=now)
    return preview


def stored_preview(account: Account) -> dict | None:
    return (account.account_metadata or {}).get("savings_preview")
