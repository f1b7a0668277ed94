"""Every status field's transition table (spotopt.states), checked the same way, through its model's move method.

The expected moves are written out here, so changing a table means changing this file too; a table in an
app's models that is not listed here fails `test_every_transition_table_is_covered`.
"""

import importlib
import itertools
import pkgutil
from dataclasses import dataclass

import pytest
from django.apps import apps
from django.db import models

from accounts.models import ACCOUNT_STATUS_TRANSITIONS, INVITATION_STATUS_TRANSITIONS, Account, TeamInvitation
from approvals.models import APPROVAL_STATUS_TRANSITIONS, EXECUTION_STATUS_TRANSITIONS, ApprovalRequest
from fleet.models import AUTH_STATUS_TRANSITIONS, SWITCH_STATUS_TRANSITIONS, Instance, Switch
from kube.models import DRAIN_STATUS_TRANSITIONS, NodeDrain
from mlgov.models import MODEL_STATUS_TRANSITIONS, MLModel
from risk.models import HELD_EVENT_TRANSITIONS, LISTENER_STATE_TRANSITIONS, EventChannel, HeldRiskEvent
from spotopt.errors import TransitionNotAllowed
from spotopt.states import TransitionTable
from waste.models import WASTE_STATUS_TRANSITIONS, WasteResource


@dataclass(frozen=True)
class Case:
    model: type[models.Model]
    field: str  # the status field
    move: str  # the model's method that moves it
    table: TransitionTable
    label: str  # how refusals name the field
    moves: dict  # every state -> the states it may move to (none: it is final)

    @property
    def id(self):
        return f"{self.model.__name__}.{self.field}"

    @property
    def allowed(self):
        return {(current, target) for current, targets in self.moves.items() for target in targets}


CASES = [
    # The account lifecycle: pending -> connected -> active; a failed verification can be retried.
    Case(
        Account,
        "status",
        "move_to",
        ACCOUNT_STATUS_TRANSITIONS,
        "Account status",
        {"pending": {"connected"}, "connected": {"active", "failed"}, "active": set(), "failed": {"connected"}},
    ),
    # An invitation is accepted, revoked or expires, once.
    Case(
        TeamInvitation,
        "status",
        "move_to",
        INVITATION_STATUS_TRANSITIONS,
        "Team invitation status",
        {"pending": {"accepted", "revoked", "expired"}, "accepted": set(), "revoked": set(), "expired": set()},
    ),
    # A rogue instance is flagged, then either authorized (tagged) or terminated through an approval.
    Case(
        Instance,
        "auth_status",
        "move_auth_status",
        AUTH_STATUS_TRANSITIONS,
        "Instance authorization status",
        {
            "AUTHORIZED": {"UNAUTHORIZED", "FLAGGED"},
            "UNAUTHORIZED": {"AUTHORIZED", "FLAGGED"},
            "FLAGGED": {"AUTHORIZED", "TERMINATED"},
            "TERMINATED": set(),
        },
    ),
    # A switch waits for its approval (PROD) or is queued, runs once, and ends; a rolled-back switch is
    # queued again only when its approval is retried; a cancelled, failed or succeeded one is final.
    Case(
        Switch,
        "status",
        "move_to",
        SWITCH_STATUS_TRANSITIONS,
        "Switch status",
        {
            "AWAITING_APPROVAL": {"QUEUED", "CANCELLED"},
            "QUEUED": {"RUNNING", "CANCELLED"},
            "RUNNING": {"SUCCEEDED", "ROLLED_BACK", "FAILED"},
            "ROLLED_BACK": {"QUEUED"},
            "SUCCEEDED": set(),
            "FAILED": set(),
            "CANCELLED": set(),
        },
    ),
    # A node drain runs once and ends: drained, incomplete at its deadline, node not found, failed, dry run.
    Case(
        NodeDrain,
        "status",
        "move_to",
        DRAIN_STATUS_TRANSITIONS,
        "Node drain status",
        {
            "RUNNING": {"DRAINED", "INCOMPLETE", "NODE_NOT_FOUND", "FAILED", "DRY_RUN"},
            "DRAINED": set(),
            "INCOMPLETE": set(),
            "NODE_NOT_FOUND": set(),
            "FAILED": set(),
            "DRY_RUN": set(),
        },
    ),
    # The governed lifecycle: candidate -> testing -> graduated -> enabled; archived is final.
    Case(
        MLModel,
        "status",
        "move_to",
        MODEL_STATUS_TRANSITIONS,
        "ML model status",
        {
            "CANDIDATE": {"TESTING", "ARCHIVED"},
            "TESTING": {"GRADUATED", "CANDIDATE", "ARCHIVED"},
            "GRADUATED": {"ENABLED", "ARCHIVED"},
            "ENABLED": {"GRADUATED", "ARCHIVED"},
            "ARCHIVED": set(),
        },
    ),
    # Deletion only from SCHEDULED_DELETE; a flag or schedule is withdrawn back to DETECTED; any live row
    # leaves as RESOLVED (used again, gone) or EXEMPT (kept) and a resolved one comes back when idle again;
    # DELETED is final.
    Case(
        WasteResource,
        "status",
        "move_to",
        WASTE_STATUS_TRANSITIONS,
        "Waste resource status",
        {
            "DETECTED": {"FLAGGED", "RESOLVED", "EXEMPT"},
            "FLAGGED": {"SCHEDULED_DELETE", "DETECTED", "RESOLVED", "EXEMPT"},
            "SCHEDULED_DELETE": {"DELETED", "DETECTED", "RESOLVED", "EXEMPT"},
            "DELETED": set(),
            "RESOLVED": {"DETECTED", "EXEMPT"},
            "EXEMPT": {"DETECTED", "RESOLVED"},
        },
    ),
    # A decided request never changes again.
    Case(
        ApprovalRequest,
        "status",
        "move_to",
        APPROVAL_STATUS_TRANSITIONS,
        "Approval request status",
        {"PENDING": {"APPROVED", "REJECTED", "EXPIRED"}, "APPROVED": set(), "REJECTED": set(), "EXPIRED": set()},
    ),
    # A held interruption warning is released (it poisons) or dismissed, once, by a super_admin.
    Case(
        HeldRiskEvent,
        "status",
        "move_to",
        HELD_EVENT_TRANSITIONS,
        "Held event status",
        {"held": {"released", "dismissed"}, "released": set(), "dismissed": set()},
    ),
    # The listener's health per account: any polled state to any other; never back to "not polled yet".
    Case(
        EventChannel,
        "listener_state",
        "move_listener_to",
        LISTENER_STATE_TRANSITIONS,
        "Event listener state",
        {
            "unknown": {"listening", "no_queue", "failing"},
            "listening": {"listening", "no_queue", "failing"},
            "no_queue": {"listening", "no_queue", "failing"},
            "failing": {"listening", "no_queue", "failing"},
        },
    ),
    # not_started -> queued (approve) -> running (a worker's claim) -> succeeded | failed; failed -> queued (retry).
    Case(
        ApprovalRequest,
        "execution_status",
        "move_execution_to",
        EXECUTION_STATUS_TRANSITIONS,
        "Approval execution status",
        {
            "not_started": {"queued"},
            "queued": {"running"},
            "running": {"succeeded", "failed"},
            "succeeded": set(),
            "failed": {"queued"},
        },
    ),
]


def models_modules():
    """Every installed app's models module, and its submodules when it is a package."""
    for config in apps.get_app_configs():
        module = config.models_module
        if module is None:
            continue
        yield module
        for info in pkgutil.walk_packages(getattr(module, "__path__", []), prefix=f"{module.__name__}."):
            yield importlib.import_module(info.name)


def test_every_transition_table_is_covered():
    found = {
        id(value): f"{module.__name__}.{name}"
        for module in models_modules()
        for name, value in vars(module).items()
        if isinstance(value, TransitionTable)
    }
    assert found, "no transition table found in the apps' models modules"
    covered = {id(case.table) for case in CASES}
    assert not found.keys() - covered, (
        f"transition tables without a case here: {sorted(found[t] for t in found.keys() - covered)}"
    )
    assert len(covered) == len(CASES), "a table is listed twice"


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_the_table_is_the_documented_one(case):
    assert case.model._meta.get_field(case.field).choices == list(case.table.choices.choices)
    assert set(case.moves) == set(case.table.choices.values)
    assert {(current, target) for current, targets in case.table.moves.items() for target in targets} == case.allowed
    assert {state for state in case.moves if case.table.is_final(state)} == {
        state for state, targets in case.moves.items() if not targets
    }


@pytest.mark.parametrize(
    ("case", "current", "target"),
    [
        pytest.param(case, current, target, id=f"{case.id}:{current}->{target}")
        for case in CASES
        for current, target in itertools.product(case.table.choices.values, repeat=2)
    ],
)
def test_the_move_method_follows_the_table(case, current, target):
    """An allowed move sets the field; any other is refused, naming both states, and leaves the field as it
    was; out of a final state nothing is allowed."""
    obj = case.model(**{case.field: current})
    move = getattr(obj, case.move)
    if (current, target) in case.allowed:
        move(target)
        assert getattr(obj, case.field) == target
        return
    with pytest.raises(TransitionNotAllowed) as excinfo:
        move(target)
    assert f"{case.label} cannot move from {current} to {target}" in str(excinfo.value)
    if not case.moves[current]:
        assert str(excinfo.value).endswith(f"from {current} it can move to nothing (it is final).")
    assert getattr(obj, case.field) == current
