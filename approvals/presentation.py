"""How approval requests look on the pages (the approvals and fleet pages): badge tones and plain words."""

from accounts.choices import Role
from spotopt.presentation import register_badges

from .choices import ApprovalStatus, ExecutionStatus, RiskLevel
from .models import ApprovalRequest
from .policy import DECISION_SCOPE
from .registry import describe

AUTOMATIC_REQUESTER = "spotopt (automatic)"

register_badges(
    ApprovalRequest,
    {
        "status": {
            ApprovalStatus.PENDING: "warn",
            ApprovalStatus.APPROVED: "ok",
            ApprovalStatus.REJECTED: "error",
            ApprovalStatus.EXPIRED: "",
        },
        "risk_level": {
            RiskLevel.LOW: "",
            RiskLevel.MEDIUM: "info",
            RiskLevel.HIGH: "warn",
            RiskLevel.CRITICAL: "error",
        },
        "execution_status": {
            ExecutionStatus.NOT_STARTED: "",
            ExecutionStatus.QUEUED: "info",
            ExecutionStatus.RUNNING: "info",
            ExecutionStatus.SUCCEEDED: "ok",
            ExecutionStatus.FAILED: "error",
        },
    },
)


def short_description(approval: ApprovalRequest) -> str:
    """The first sentence of the plain-words description (the list shows that much)."""
    sentence = describe(approval.action_type, approval.action_payload)
    first, dot, _rest = sentence.partition(". ")
    return f"{first}." if dot else sentence


def person(user) -> str:
    return (user.full_name or user.username) if user else ""


def who_decides(risk_level: str) -> str:
    """The decision table in words, for one risk level."""
    names = {Role.SUPER_ADMIN: "a super_admin", Role.ADMIN: "an admin", Role.CLIENT: "a client of the account's team"}
    roles = [names[role] for role, scopes in DECISION_SCOPE.items() if risk_level in scopes and role in names]
    who = roles[0] if len(roles) == 1 else f"{', '.join(roles[:-1])} or {roles[-1]}"
    return f"{who[0].upper()}{who[1:]}, other than the requester."


def decorate(approval: ApprovalRequest, now) -> ApprovalRequest:
    """What the templates need beside the row itself."""
    approval.is_overdue = approval.status == ApprovalStatus.PENDING and approval.expires_at <= now
    approval.requester_name = person(approval.requester) or AUTOMATIC_REQUESTER
    approval.approver_name = person(approval.approver)
    approval.summary = short_description(approval)
    return approval


def batch_rows(approval: ApprovalRequest) -> list[dict]:
    """Every resource of a batch request (DELETE_WASTE) with what its execution did with it, for the table an
    approver reads before deciding."""
    payload = approval.action_payload or {}
    outcomes = (approval.execution_result or {}).get("resources") or {}
    rows = []
    for item in payload.get("resources") or []:
        outcome = outcomes.get(item.get("resource_id")) or {}
        rows.append({**item, "outcome": outcome.get("outcome", ""), "outcome_message": outcome.get("message", "")})
    return rows
