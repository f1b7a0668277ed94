"""Reads of accounts and teams, scoped to the user asking."""

from django.db.models import Count, DecimalField, IntegerField, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from .choices import InvitationStatus
from .models import Account, TeamInvitation, User


def accounts_for(user):
    return Account.objects.for_user(user).select_related("user").order_by("account_name", "created_at")


def connected_accounts_named(name: str | None, statuses) -> "tuple[object, bool]":
    """For operators' commands: the active accounts in `statuses`, or only the one `name` names (its AWS account
    id or spotopt UUID): (queryset, found). An unknown name gives (an empty queryset, False)."""
    import uuid

    accounts = Account.objects.filter(is_active=True, status__in=statuses).order_by("account_name")
    if not name:
        return accounts, True
    match = accounts.filter(account_id=name)
    if not match.exists():
        try:
            match = accounts.filter(pk=uuid.UUID(name))
        except ValueError:
            return accounts.none(), False
    return match, match.exists()


def with_fleet_totals(accounts):
    """Each account with its active instances' count and known hourly cost, as correlated aggregates (so
    counting the list for its pages does not compute them: unused subqueries are left out of COUNT)."""
    from fleet.models import Instance

    active = Instance.objects.filter(account=OuterRef("pk"), is_active=True).order_by().values("account")
    return accounts.annotate(
        instance_count=Coalesce(
            Subquery(active.annotate(n=Count("id")).values("n"), output_field=IntegerField()), Value(0)
        ),
        hourly_cost=Subquery(
            active.annotate(total=Sum("hourly_price")).values("total"),
            output_field=DecimalField(max_digits=14, decimal_places=6),
        ),
    )


def team_members(user):
    """The people of the user's team, clients first (nobody else's team, ever)."""
    if not user.is_authenticated or user.team_id is None:
        return User.objects.none()
    return User.objects.filter(team_id=user.team_id).order_by("role", "username")


def open_invitations(user):
    """Invitations whose link still works: pending and not expired (an expired one is closed as such when
    its link is next opened)."""
    return (
        TeamInvitation.objects.for_user(user)
        .filter(status=InvitationStatus.PENDING, expires_at__gt=timezone.now())
        .select_related("invited_by")
        .order_by("-created_at")
    )


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
