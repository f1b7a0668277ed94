"""How approval states look on the pages (used by the approvals and fleet pages)."""

from .choices import ApprovalStatus, ExecutionStatus, RiskLevel

# What each state looks like (badge tones of spotopt.css; "" is the neutral grey badge).
STATUS_TONES = {
    ApprovalStatus.PENDING: "warn",
    ApprovalStatus.APPROVED: "ok",
    ApprovalStatus.REJECTED: "error",
    ApprovalStatus.EXPIRED: "",
}
RISK_TONES = {
    RiskLevel.LOW: "",
    RiskLevel.MEDIUM: "info",
    RiskLevel.HIGH: "warn",
    RiskLevel.CRITICAL: "error",
}
EXECUTION_TONES = {
    ExecutionStatus.NOT_STARTED: "",
    ExecutionStatus.QUEUED: "info",
    ExecutionStatus.RUNNING: "info",
    ExecutionStatus.SUCCEEDED: "ok",
    ExecutionStatus.FAILED: "error",
}
