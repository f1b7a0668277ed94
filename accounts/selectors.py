"""Reads of accounts, scoped to the user asking."""

from .models import Account


def accounts_for(user):
    return Account.objects.for_user(user).select_related("user").order_by("account_name", "created_at")


def account_removal_impact(account: Account) -> dict:
    """How many rows removing the account deletes (cascade) and keeps (the audit trail)."""
    from mlgov.models import ExperimentLog

    return {
        "instances": account.instances.count(),
        "experiment_logs": ExperimentLog.objects.filter(instance__account=account).count(),
        "waste": account.waste_resources.count(),
        "approvals": account.approval_requests.count(),
        "downtime": account.downtime_logs.count(),
    }


def account_progress(account: Account) -> dict:
    """What the onboarding page polls: status, discovery progress and the last error, nothing secret."""
    metadata = account.account_metadata or {}
    discovery = metadata.get("discovery") or {}
    total = discovery.get("regions_total") or 0
    done = discovery.get("regions_done") or 0
    return {
        "id": str(account.pk),
        "status": account.status,
        "is_final": account.status in ("active", "failed"),
        "discovery": {
            "state": discovery.get("state", "not_started"),
            "regions_total": total,
            "regions_done": done,
            "percent": round(100 * done / total) if total else 0,
            "instances_found": discovery.get("instances_found", 0),
            "regions": discovery.get("regions", {}),
            "errors": discovery.get("errors", {}),
            "started_at": discovery.get("started_at"),
            "finished_at": discovery.get("finished_at"),
        },
        "last_error": metadata.get("last_error"),
    }
