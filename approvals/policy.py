"""Who may decide an approval request: one table, plus the four-eyes rule.

DECISION_SCOPE[role][risk] is where that role may decide a request of that risk: "any" tenant, only
their "own" team's accounts, or nowhere (absent). The requester never decides their own request.
"""

from accounts.choices import Role
from accounts.roles import effective_role

from .choices import RiskLevel

ANY, OWN = "any", "own"

DECISION_SCOPE: dict[str, dict[str, str]] = {
    Role.SUPER_ADMIN: {RiskLevel.LOW: ANY, RiskLevel.MEDIUM: ANY, RiskLevel.HIGH: ANY, RiskLevel.CRITICAL: ANY},
    Role.ADMIN: {RiskLevel.LOW: ANY, RiskLevel.MEDIUM: ANY, RiskLevel.HIGH: ANY},
    Role.CLIENT: {RiskLevel.LOW: OWN, RiskLevel.MEDIUM: OWN},
    Role.USER: {},
    Role.LAB: {},
}

# Only these may retry a failed execution (it acts on AWS again).
RETRY_ROLES = frozenset({Role.SUPER_ADMIN, Role.ADMIN})


def decision_refusal(user, request) -> str | None:
    """Why `user` may not decide `request`, or None when they may."""
    role = effective_role(user)
    if role is None:
        return "Sign in to decide approval requests."
    if request.requester_id is not None and request.requester_id == user.pk:
        return "You made this request, so somebody else has to decide it (four eyes)."
    scope = DECISION_SCOPE.get(role, {}).get(request.risk_level)
    if scope is None:
        if request.risk_level == RiskLevel.CRITICAL and role in (Role.ADMIN, Role.CLIENT):
            return "A CRITICAL request needs a super_admin."
        if role == Role.CLIENT:
            return f"Clients decide requests up to MEDIUM risk; this one is {request.risk_level}."
        return "Your role does not decide approval requests."
    if scope == OWN and (request.account is None or user.team_id is None or request.account.team_id != user.team_id):
        return "Clients decide requests on their own accounts only."
    return None


def can_decide(user, request) -> bool:
    return decision_refusal(user, request) is None


def can_retry_execution(user) -> bool:
    return effective_role(user) in RETRY_ROLES


def decidable_condition(user):
    """The same table as a database condition on ApprovalRequest (for counts: what `user` may decide)."""
    from django.db.models import Q

    scopes = DECISION_SCOPE.get(effective_role(user), {})
    condition = Q(pk__in=[])
    for risk, scope in scopes.items():
        if scope == ANY:
            condition |= Q(risk_level=risk)
        elif user.team_id is not None:
            condition |= Q(risk_level=risk, account__team_id=user.team_id)
    return condition & ~Q(requester_id=user.pk)
