"""How accounts and teams look on the pages: badge tones, and the account's status in plain words for its
reader (the page and onboarding.js read the same table, so the two never disagree)."""

from spotopt.presentation import register_badges, tones_of

from .choices import AccountStatus, ConnectionMethod, InvitationStatus
from .models import Account, TeamInvitation
from .roles import Capability, can

register_badges(
    Account,
    {
        "status": {
            AccountStatus.PENDING: "warn",
            AccountStatus.CONNECTED: "info",
            AccountStatus.ACTIVE: "ok",
            AccountStatus.FAILED: "error",
        }
    },
)
register_badges(
    TeamInvitation,
    {
        "status": {
            InvitationStatus.PENDING: "warn",
            InvitationStatus.ACCEPTED: "ok",
            InvitationStatus.REVOKED: "",
            InvitationStatus.EXPIRED: "",
        }
    },
)

DISCOVERY_STATES = {
    "not_started": "Not started",
    "queued": "Queued",
    "running": "Running",
    "succeeded": "Finished",
    "failed": "Failed",
}


def status_guide(user) -> dict:
    """Label, badge tone and a sentence saying what happens next, per status, for this reader."""
    manages = can(user, Capability.MANAGE_ACCOUNTS)
    summaries = {
        AccountStatus.PENDING: (
            "Waiting for the CloudFormation stack. Follow the three steps on this page, then verify the role."
            if manages
            else "Waiting for the account owner to create the CloudFormation stack and verify the role."
        ),
        AccountStatus.CONNECTED: "spotopt can reach this account. Discovery is scanning its regions.",
        AccountStatus.ACTIVE: "Discovery finished. spotopt watches this account's EC2 fleet for savings.",
        AccountStatus.FAILED: (
            "The last attempt failed. Fix what the error below says, then choose Retry."
            if manages
            else "The last attempt failed. Ask the account owner to fix it and retry."
        ),
    }
    tones = tones_of(Account, "status")
    return {
        "statuses": {
            status: {"label": status.label, "tone": tones[status], "summary": summaries[status]}
            for status in AccountStatus
        },
        "discovery_states": DISCOVERY_STATES,
        "region_waiting": "Waiting",
        "region_not_scanned": "Not scanned yet",
        "region_failed": "Failed: see the last error below",
    }


def discovery_state(progress: dict) -> str:
    state = progress["discovery"]["state"]
    return "queued" if state == "not_started" and progress["status"] == AccountStatus.CONNECTED else state


def region_rows(account: Account, progress: dict, guide: dict) -> list[dict]:
    """One row per region to scan: instances found, the error (unless the last error already says it), or
    that it has not been scanned yet."""
    discovery = progress["discovery"]
    waiting = guide["region_waiting"] if discovery["state"] == "running" else guide["region_not_scanned"]
    last_error = (progress["last_error"] or {}).get("message", "")
    rows = []
    for region in account.regions_to_scan:
        if region in discovery["errors"]:
            error = discovery["errors"][region]
            rows.append({"region": region, "error": guide["region_failed"] if error in last_error else error})
        elif region in discovery["regions"]:
            rows.append({"region": region, "instances": discovery["regions"][region]})
        else:
            rows.append({"region": region, "waiting": waiting})
    return rows


def shows_cloudformation_steps(account: Account) -> bool:
    """The steps (and the verify form) are for role accounts that are pending, or failed and may need a fix."""
    return account.connection_method == ConnectionMethod.IAM_ROLE and account.status in (
        AccountStatus.PENDING,
        AccountStatus.FAILED,
    )
