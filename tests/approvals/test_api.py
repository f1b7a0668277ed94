"""The approvals API (/api/v1/approvals/): who may see, decide and retry what; the decision and execution
flow as an integrator sees it; filters and the OpenAPI schema. The API contract (anonymous callers,
outsiders, refused roles, unknown ids, pagination, queries, JWT and CSRF) is tests/api_contract.py's, for the
endpoint described in TestApprovalsContract.

The decision rules themselves (approvals.policy, approvals.services) have their own tests; here they are
checked through HTTP: status codes, messages and what the rows look like afterwards.
"""

from contextlib import nullcontext
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.urls import reverse
from django.utils import timezone

from accounts.choices import EnvironmentType, Role
from approvals import registry, services
from approvals.choices import ActionType, ApprovalStatus, ExecutionStatus, RiskLevel
from approvals.models import ApprovalRequest
from spotopt.errors import DomainError
from tests import api_contract
from tests.api_contract import ApiContract, Call, Endpoint, api_as, environment_of, result_ids
from tests.approvals.payloads import waste_payload

pytestmark = pytest.mark.django_db

APPROVALS = "/api/v1/approvals/"
ROGUE_PAYLOAD = {"instance_id": "i-0123456789abcdef0", "region": "us-east-1"}
WASTE_PAYLOAD = waste_payload()

FOUR_EYES = "You made this request, so somebody else has to decide it (four eyes)."
NOT_YOUR_ROLE = "Your role does not decide approval requests."
ADMINS_RETRY = "Only admins can retry a failed execution."


@pytest.fixture(autouse=True)
def executors(monkeypatch):
    """Every action runs a recording fake (nothing reaches AWS). `executors.fail_with` makes them fail."""

    class Fake:
        calls: list = []
        fail_with: Exception | None = None

        def __call__(self, request):
            self.calls.append(request.pk)
            if self.fail_with is not None:
                raise self.fail_with
            return {"done": request.action_type, "instance_id": request.action_payload.get("instance_id")}

    fake = Fake()
    fake.calls = []
    for action_type in ActionType:
        monkeypatch.setattr(registry.ACTIONS[action_type], "executor", fake)
    return fake


def rows():
    """Every approval row, for 'nothing changed' checks."""
    return list(ApprovalRequest.objects.order_by("pk").values())


def failed_execution(**fields) -> dict:
    """Fields of an approved request whose execution failed once."""
    now = timezone.now()
    return {
        "status": ApprovalStatus.APPROVED,
        "decided_at": now,
        "execution_status": ExecutionStatus.FAILED,
        "execution_attempts": 1,
        "execution_queued_at": now,
        "execution_started_at": now,
        "execution_finished_at": now,
        "execution_error": "AWS said no.",
        **fields,
    }


# --- the API contract (tests/api_contract.py) ------------------------------------------------------------


def contract_approval(tenant, n):
    """Row n of the contract checks: requests on the team's LAB and production accounts, filed by spotopt or
    a colleague, some approved by an admin and failed in execution. Row 0 is a pending MEDIUM request on the
    LAB account, filed by spotopt: a client may decide it."""
    account = tenant.account_in(environment_of(n))
    fields = {"requester": tenant.colleague if n % 3 else None}
    if n % 4 >= 2:
        fields |= failed_execution(approver=tenant.person(Role.ADMIN), risk_level=RiskLevel.HIGH)
    instance = tenant.fixture("make_instance")(account)
    return tenant.fixture("make_approval")(account=account, instance=instance, **fields)


DECIDERS = frozenset({Role.CLIENT, Role.ADMIN, Role.SUPER_ADMIN})  # of a MEDIUM request
ADMINS = frozenset({Role.ADMIN, Role.SUPER_ADMIN})
APPROVED = {"status": ApprovalStatus.APPROVED, "execution_status": ExecutionStatus.QUEUED, "can_decide": False}
REJECTED = {"status": ApprovalStatus.REJECTED, "decision_comment": "Not this week.", "can_decide": False}


class TestApprovalsContract(ApiContract):
    endpoint = Endpoint(
        list_url=APPROVALS,
        make=contract_approval,
        models=(ApprovalRequest,),
        secrets=lambda approval: [approval.account.account_name, approval.account.account_id],
        writers=DECIDERS,
        write_refusal=NOT_YOUR_ROLE,
        writes=(
            Call("approve", "post", "{pk}/approve/", {"comment": "Go ahead."}, ok=200, answer=APPROVED),
            Call("reject", "post", "{pk}/reject/", {"comment": "Not this week."}, ok=200, answer=REJECTED),
            Call("retry", "post", "{pk}/retry/", roles=ADMINS, refusal=ADMINS_RETRY),  # no ok: row 0 is pending
        ),
        not_allowed=(
            Call("create", "post", "", {"action_type": "DELETE_WASTE", "status": "APPROVED"}),
            Call("update", "put", "{pk}/", {"action_type": "DELETE_WASTE", "status": "APPROVED"}),
            Call("partial_update", "patch", "{pk}/", {"status": "APPROVED"}),
            Call("destroy", "delete", "{pk}/"),
        ),
    )


# --- who may do what: every endpoint ---------------------------------------------------------------------
# Anonymous callers and outsiders (another team's clients) are the contract's checks above.


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # "{pk}" is the target request
    data: dict | None = None
    failed_target: bool = False  # the target is an approved request whose execution failed


ENDPOINTS = {
    "list": Route("get", APPROVALS),
    "retrieve": Route("get", APPROVALS + "{pk}/"),
    "approve": Route("post", APPROVALS + "{pk}/approve/", data={"comment": "Go ahead."}),
    "reject": Route("post", APPROVALS + "{pk}/reject/", data={"comment": "Not this week."}),
    "retry": Route("post", APPROVALS + "{pk}/retry/", failed_target=True),
}


@dataclass(frozen=True)
class Actor:
    role: str
    owner: str = "client"  # "self": the actor owns the target's account; "client": some customer does
    environment: str = EnvironmentType.PROD
    risk: str = RiskLevel.MEDIUM
    requested_by_self: bool = False


ACTORS = {
    "owner": Actor(Role.CLIENT, owner="self"),
    "owner_low": Actor(Role.CLIENT, owner="self", risk=RiskLevel.LOW),
    "owner_high": Actor(Role.CLIENT, owner="self", risk=RiskLevel.HIGH),
    "readonly_owner": Actor(Role.USER, owner="self", risk=RiskLevel.LOW),
    "lab_on_lab": Actor(Role.LAB, environment=EnvironmentType.LAB, risk=RiskLevel.LOW),
    "lab_on_prod": Actor(Role.LAB, risk=RiskLevel.LOW),
    "admin": Actor(Role.ADMIN, risk=RiskLevel.HIGH),
    "admin_critical": Actor(Role.ADMIN, risk=RiskLevel.CRITICAL),
    "super_admin_critical": Actor(Role.SUPER_ADMIN, risk=RiskLevel.CRITICAL),
    "requester": Actor(Role.CLIENT, owner="self", risk=RiskLevel.LOW, requested_by_self=True),
    "admin_requester": Actor(Role.ADMIN, risk=RiskLevel.HIGH, requested_by_self=True),
}

# fmt: off
COLUMNS = ("list", "retrieve", "approve", "reject", "retry")
EXPECTED = {
    #                       list retr  appr  rej  retry
    "owner":                (200, 200, 200,  200, 403),
    "owner_low":            (200, 200, 200,  200, 403),
    "owner_high":           (200, 200, 403,  403, 403),
    "readonly_owner":       (200, 200, 403,  403, 403),
    "lab_on_lab":           (200, 200, 403,  403, 403),
    "lab_on_prod":          (200, 404, 404,  404, 404),
    "admin":                (200, 200, 200,  200, 202),
    "admin_critical":       (200, 200, 403,  403, 202),
    "super_admin_critical": (200, 200, 200,  200, 202),
    "requester":            (200, 200, 403,  403, 403),
    "admin_requester":      (200, 200, 403,  403, 202),
}
# fmt: on
# The policy's words for a refused decision, per actor.
DECISION_REFUSALS = {
    "owner_high": "Clients decide requests up to MEDIUM risk; this one is HIGH.",
    "readonly_owner": NOT_YOUR_ROLE,
    "lab_on_lab": NOT_YOUR_ROLE,
    "admin_critical": "A CRITICAL request needs a super_admin.",
    "requester": FOUR_EYES,
    "admin_requester": FOUR_EYES,
}
SEES_EVERY_TENANT = {"admin", "admin_critical", "super_admin_critical", "admin_requester"}
# A decision's outcome: the request's status and its execution (an approval queues the action).
DECISIONS = {
    "approve": (ApprovalStatus.APPROVED, ExecutionStatus.QUEUED),
    "reject": (ApprovalStatus.REJECTED, ExecutionStatus.NOT_STARTED),
}
CASES = [pytest.param(actor, endpoint, id=f"{actor}-{endpoint}") for actor in EXPECTED for endpoint in COLUMNS]


@pytest.mark.parametrize("actor_name,endpoint_name", CASES)
def test_who_may_do_what_on_every_endpoint(make_user, make_account, make_approval, actor_name, endpoint_name):
    actor, endpoint = ACTORS[actor_name], ENDPOINTS[endpoint_name]
    expected = EXPECTED[actor_name][COLUMNS.index(endpoint_name)]
    person = make_user(actor.role)
    owner = person if actor.owner == "self" else make_user(Role.CLIENT)
    account = make_account(owner, environment_type=actor.environment)
    target = make_approval(
        account=account,
        action_type=ActionType.TERMINATE_ROGUE,
        action_payload=ROGUE_PAYLOAD,
        risk_level=actor.risk,
        requester=person if actor.requested_by_self else None,
        **(failed_execution() if endpoint.failed_target else {}),
    )
    # Another customer's request on an account of the same environment.
    bystander = make_approval(account=make_account(make_user(Role.CLIENT), environment_type=actor.environment))

    with api_contract.changes_nothing([ApprovalRequest]) if expected >= 400 else nullcontext():
        response = getattr(api_as(person), endpoint.method)(
            endpoint.path.format(pk=target.pk), endpoint.data, format="json"
        )

    assert response.status_code == expected, response.content
    if expected == 404:
        api_contract.assert_refused(response, 404, [str(target.pk), account.account_name], "not_found")
    if expected == 403:
        refusal = ADMINS_RETRY if endpoint_name == "retry" else DECISION_REFUSALS[actor_name]
        assert response.json() == {"detail": refusal, "code": "permission_denied"}
    if endpoint_name == "list" and expected == 200:
        ids = result_ids(response)
        assert (str(target.pk) in ids) == (actor_name != "lab_on_prod")
        assert (str(bystander.pk) in ids) == (actor_name in SEES_EVERY_TENANT | {"lab_on_lab"})
    if endpoint_name == "retrieve" and expected == 200:
        assert response.data["id"] == str(target.pk)
        assert response.data["account"]["account_name"] == account.account_name
        assert response.data["can_decide"] is (actor_name not in DECISION_REFUSALS)
    target.refresh_from_db()
    if endpoint_name in DECISIONS and expected == 200:
        status, execution = DECISIONS[endpoint_name]
        assert (target.status, target.approver, target.decision_comment) == (status, person, endpoint.data["comment"])
        assert target.execution_status == execution
        assert (response.data["status"], response.data["approver"]) == (status, person.username)
        assert response.data["execution_status"] == execution
        assert response.data["can_decide"] is False
    if endpoint_name == "retry" and expected == 202:
        assert (target.execution_status, target.execution_error) == (ExecutionStatus.QUEUED, "")
        assert response.data["execution_status"] == ExecutionStatus.QUEUED
        assert response.data["can_retry"] is False


# --- what a request looks like ------------------------------------------------------------------------------


def test_a_request_shows_what_an_integrator_needs(client_user, make_account, make_instance, make_approval):
    account = make_account(client_user, account_name="Production", account_id="123412341234")
    instance = make_instance(account, instance_id="i-0123456789abcdef0")
    approval = make_approval(
        account=account,
        instance=instance,
        action_type=ActionType.TERMINATE_ROGUE,
        action_payload=ROGUE_PAYLOAD,
        risk_level=RiskLevel.LOW,
    )

    data = api_as(client_user).get(f"{APPROVALS}{approval.pk}/").json()

    assert data["id"] == str(approval.pk)
    assert (data["action_type"], data["action_type_display"]) == ("TERMINATE_ROGUE", "Terminate rogue instance")
    assert data["description"].startswith("Terminate the unauthorized instance i-0123456789abcdef0 in us-east-1.")
    assert data["action_payload"] == ROGUE_PAYLOAD
    assert (data["risk_level"], data["status"]) == ("LOW", "PENDING")
    assert data["account"] == {"id": str(account.pk), "account_name": "Production", "aws_account_id": "123412341234"}
    assert data["instance"] == {"id": str(instance.pk), "instance_id": "i-0123456789abcdef0"}
    assert (data["aws_account_ref"], data["instance_ref"]) == ("123412341234", "i-0123456789abcdef0")
    assert data["requester"] is None  # filed by spotopt itself
    assert data["approver"] is None
    assert (data["decided_at"], data["decision_comment"]) == (None, "")
    assert data["expires_at"] and data["created_at"]
    assert (data["execution_status"], data["execution_attempts"]) == ("not_started", 0)
    assert data["execution_queued_at"] is data["execution_started_at"] is data["execution_finished_at"] is None
    assert (data["execution_result"], data["execution_error"]) == ({}, "")
    assert (data["can_decide"], data["can_retry"]) == (True, False)


def test_a_request_outlives_its_account_and_keeps_the_refs(admin_user, client_user, make_account, make_approval):
    account = make_account(client_user, account_id="555566667777")
    approval = make_approval(account=account, requester=client_user)
    account.delete()
    client_user.delete()

    data = api_as(admin_user).get(f"{APPROVALS}{approval.pk}/").json()

    assert (data["account"], data["instance"], data["requester"]) == (None, None, None)
    assert data["aws_account_ref"] == "555566667777"


def test_can_decide_and_can_retry_follow_the_person_asking(
    make_user, client_user, admin_user, super_admin, make_account, make_approval
):
    account = make_account(client_user)
    medium = make_approval(account=account, risk_level=RiskLevel.MEDIUM)
    critical = make_approval(account=account, risk_level=RiskLevel.CRITICAL)
    mine = make_approval(account=account, risk_level=RiskLevel.LOW, requester=client_user)
    overdue = make_approval(account=account, expires_at=timezone.now() - timedelta(minutes=1))
    decided = make_approval(account=account, status=ApprovalStatus.REJECTED, decided_at=timezone.now())
    failed = make_approval(account=account, **failed_execution())

    def flags(user):
        rows_by_id = {row["id"]: row for row in api_as(user).get(APPROVALS).data["results"]}
        return {
            name: (rows_by_id[str(obj.pk)]["can_decide"], rows_by_id[str(obj.pk)]["can_retry"])
            for name, obj in [
                ("medium", medium),
                ("critical", critical),
                ("mine", mine),
                ("overdue", overdue),
                ("decided", decided),
                ("failed", failed),
            ]
        }

    nothing = (False, False)
    assert flags(client_user) == {
        "medium": (True, False),
        "critical": nothing,
        "mine": nothing,
        "overdue": nothing,
        "decided": nothing,
        "failed": nothing,
    }
    assert flags(admin_user) == {
        "medium": (True, False),
        "critical": nothing,
        "mine": (True, False),
        "overdue": nothing,
        "decided": nothing,
        "failed": (False, True),
    }
    assert flags(super_admin)["critical"] == (True, False)


def test_pending_requests_come_first_soonest_to_expire_first(client_user, make_account, make_approval):
    account = make_account(client_user)
    now = timezone.now()
    decided = make_approval(account=account, status=ApprovalStatus.APPROVED, decided_at=now)
    later = make_approval(account=account, expires_at=now + timedelta(hours=10))
    sooner = make_approval(account=account, expires_at=now + timedelta(hours=1))

    response = api_as(client_user).get(APPROVALS)

    assert result_ids(response) == [str(sooner.pk), str(later.pk), str(decided.pk)]


# --- deciding: conflicts, expiry, bad input ---------------------------------------------------------------------


@pytest.mark.parametrize("action,data", [("approve", {}), ("reject", {"comment": "Too late."})])
def test_deciding_a_decided_request_is_a_conflict(admin_user, make_user, make_approval, action, data):
    first = make_user(Role.ADMIN, username="first-admin")
    approval = make_approval(
        status=ApprovalStatus.REJECTED,
        approver=first,
        decided_at=timezone.now(),
        decision_comment="No.",
    )
    before = rows()

    response = api_as(admin_user).post(f"{APPROVALS}{approval.pk}/{action}/", data, format="json")

    assert response.status_code == 409
    assert response.data["code"] == "already_decided"
    assert response.data["detail"].startswith("This request was already rejected by first-admin at ")
    assert rows() == before


@pytest.mark.parametrize("action,data", [("approve", {}), ("reject", {"comment": "No."})])
def test_deciding_an_overdue_request_expires_it(admin_user, make_approval, action, data):
    approval = make_approval(expires_at=timezone.now() - timedelta(seconds=1))

    response = api_as(admin_user).post(f"{APPROVALS}{approval.pk}/{action}/", data, format="json")

    assert response.status_code == 409
    assert response.json() == {
        "detail": "This request expired before it was decided; file a new one if it is still needed.",
        "code": "already_decided",
    }
    approval.refresh_from_db()
    assert (approval.status, approval.approver, approval.execution_status) == (
        ApprovalStatus.EXPIRED,
        None,
        ExecutionStatus.NOT_STARTED,
    )
    assert approval.decided_at is not None
    shown = api_as(admin_user).get(f"{APPROVALS}{approval.pk}/").data
    assert (shown["status"], shown["can_decide"]) == (ApprovalStatus.EXPIRED, False)


@pytest.mark.parametrize("data", [{}, {"comment": ""}, {"comment": "   "}, {"comment": None}])
def test_rejecting_needs_a_comment_and_changes_nothing_without_one(admin_user, make_approval, data):
    approval = make_approval()
    before = rows()

    response = api_as(admin_user).post(f"{APPROVALS}{approval.pk}/reject/", data, format="json")

    assert response.status_code == 400
    assert "comment" in response.data["errors"]
    assert rows() == before


def test_an_overlong_comment_is_refused(admin_user, make_approval):
    approval = make_approval()
    before = rows()
    response = api_as(admin_user).post(f"{APPROVALS}{approval.pk}/approve/", {"comment": "x" * 4001}, format="json")
    assert response.status_code == 400
    assert "comment" in response.data["errors"]
    assert rows() == before


def test_approving_without_a_body_works_and_the_comment_is_optional(admin_user, make_approval):
    approval = make_approval()
    response = api_as(admin_user).post(f"{APPROVALS}{approval.pk}/approve/")
    assert response.status_code == 200
    assert (response.data["status"], response.data["decision_comment"]) == (ApprovalStatus.APPROVED, "")


# --- execution: approve runs the action; a failure is retried by an admin -----------------------------------


def test_approving_runs_the_action_and_shows_the_result(
    admin_user, make_approval, executors, django_capture_on_commit_callbacks
):
    approval = make_approval(action_type=ActionType.TERMINATE_ROGUE, action_payload=ROGUE_PAYLOAD)
    api = api_as(admin_user)

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"{APPROVALS}{approval.pk}/approve/", {"comment": "Rogue, kill it."}, format="json")

    assert response.status_code == 200
    assert response.data["execution_status"] == ExecutionStatus.QUEUED  # runs once the decision is committed
    assert executors.calls == [approval.pk]
    data = api.get(f"{APPROVALS}{approval.pk}/").data
    assert (data["status"], data["execution_status"], data["execution_attempts"]) == (
        ApprovalStatus.APPROVED,
        ExecutionStatus.SUCCEEDED,
        1,
    )
    assert data["execution_result"] == {"done": "TERMINATE_ROGUE", "instance_id": "i-0123456789abcdef0"}
    assert data["execution_error"] == ""
    assert data["execution_queued_at"] and data["execution_started_at"] and data["execution_finished_at"]
    assert data["can_retry"] is False


def test_a_failed_execution_is_recorded_and_an_admin_retries_it(
    admin_user, client_user, make_account, make_approval, executors, django_capture_on_commit_callbacks
):
    approval = make_approval(
        account=make_account(client_user),
        action_type=ActionType.TERMINATE_ROGUE,
        action_payload=ROGUE_PAYLOAD,
        risk_level=RiskLevel.LOW,
    )
    admin_api, client_api = api_as(admin_user), api_as(client_user)
    executors.fail_with = DomainError("The instance is protected from termination.")

    with django_capture_on_commit_callbacks(execute=True):
        assert client_api.post(f"{APPROVALS}{approval.pk}/approve/").status_code == 200

    data = admin_api.get(f"{APPROVALS}{approval.pk}/").data
    assert (data["execution_status"], data["execution_error"]) == (
        ExecutionStatus.FAILED,
        "The instance is protected from termination.",
    )
    assert data["execution_result"] == {}
    assert data["can_retry"] is True
    assert client_api.get(f"{APPROVALS}{approval.pk}/").data["can_retry"] is False

    # The customer may not retry (it acts on AWS again).
    before = rows()
    refused = client_api.post(f"{APPROVALS}{approval.pk}/retry/")
    assert refused.status_code == 403
    assert refused.data["detail"] == ADMINS_RETRY
    assert rows() == before

    executors.fail_with = None  # the cause is fixed
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_api.post(f"{APPROVALS}{approval.pk}/retry/")

    assert response.status_code == 202
    assert response.data["execution_status"] == ExecutionStatus.QUEUED
    data = admin_api.get(f"{APPROVALS}{approval.pk}/").data
    assert (data["execution_status"], data["execution_attempts"], data["execution_error"]) == (
        ExecutionStatus.SUCCEEDED,
        2,
        "",
    )
    assert data["execution_result"]["done"] == "TERMINATE_ROGUE"
    assert executors.calls == [approval.pk, approval.pk]

    # A success is final.
    again = admin_api.post(f"{APPROVALS}{approval.pk}/retry/")
    assert again.status_code == 409
    assert again.json() == {
        "detail": "Only a failed execution can be retried; this one is succeeded.",
        "code": "not_retryable",
    }


def test_an_executor_crash_is_recorded_without_its_internals(
    admin_user, make_approval, executors, django_capture_on_commit_callbacks
):
    approval = make_approval()
    executors.fail_with = RuntimeError("secret-token-in-a-traceback")

    with django_capture_on_commit_callbacks(execute=True):
        api_as(admin_user).post(f"{APPROVALS}{approval.pk}/approve/")

    response = api_as(admin_user).get(f"{APPROVALS}{approval.pk}/")
    assert response.data["execution_status"] == ExecutionStatus.FAILED
    assert response.data["execution_error"] == "The action failed unexpectedly (RuntimeError)."
    assert "secret-token" not in response.content.decode()


@pytest.mark.parametrize(
    "fields",
    [
        {},  # pending: nothing ran yet
        {"status": ApprovalStatus.REJECTED},
        {"status": ApprovalStatus.APPROVED, "execution_status": ExecutionStatus.QUEUED},
        {"status": ApprovalStatus.APPROVED, "execution_status": ExecutionStatus.RUNNING},
    ],
    ids=["pending", "rejected", "queued", "running"],
)
def test_only_a_failed_execution_can_be_retried(admin_user, make_approval, fields):
    if fields:
        fields["decided_at"] = timezone.now()
    approval = make_approval(**fields)
    before = rows()

    response = api_as(admin_user).post(f"{APPROVALS}{approval.pk}/retry/")

    assert response.status_code == 409
    assert response.data["code"] == "not_retryable"
    assert rows() == before


# --- emails -------------------------------------------------------------------------------------------------


def test_approvers_are_mailed_on_filing_and_the_requester_on_approval(
    make_user, make_account, mailoutbox, django_capture_on_commit_callbacks
):
    owner = make_user(Role.CLIENT, email="owner@example.com")
    requester = make_user(Role.CLIENT, email="requester@example.com")
    admin = make_user(Role.ADMIN, email="ops@example.com")
    account = make_account(owner)
    with django_capture_on_commit_callbacks(execute=True):
        approval = services.approval_request_create(
            action_type=ActionType.DELETE_WASTE,
            payload=WASTE_PAYLOAD,
            risk_level=RiskLevel.HIGH,
            requester=requester,
            account=account,
        )
    assert [m.to for m in mailoutbox] == [["ops@example.com"]]  # HIGH: admins, not the customer
    mailoutbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        response = api_as(admin).post(f"{APPROVALS}{approval.pk}/approve/", {"comment": "Fine."}, format="json")

    assert response.status_code == 200
    (mail,) = mailoutbox
    assert mail.to == ["requester@example.com"]
    assert "Approved" in mail.subject
    assert "approved by" in mail.body and admin.username in mail.body
    assert "Comment: Fine." in mail.body
    assert f"{django_settings.SITE_URL.rstrip('/')}{reverse('approval_detail', args=[approval.pk])}" in mail.body


# --- list: filters (scoping, pagination, queries: the contract) ----------------------------------------


@pytest.mark.parametrize("role", [Role.CLIENT, Role.USER, Role.LAB, Role.ADMIN, Role.SUPER_ADMIN])
def test_a_request_whose_account_was_removed_is_for_admins_only(make_user, make_approval, role):
    """(Which requests of accounts each role sees is the contract's check.)"""
    orphan = make_approval(account=None)
    listed = result_ids(api_as(make_user(role)).get(APPROVALS))
    assert (str(orphan.pk) in listed) == (role in {Role.ADMIN, Role.SUPER_ADMIN})


@pytest.fixture
def catalogue(client_user, make_account, make_approval):
    """One customer's requests that differ in status, action, risk, execution and account."""
    first = make_account(client_user, account_name="First")
    second = make_account(client_user, account_name="Second")
    now = timezone.now()
    return {
        "accounts": {"first": first, "second": second},
        "pending_rogue": make_approval(account=first, action_type=ActionType.TERMINATE_ROGUE),
        "pending_switch": make_approval(
            account=second, action_type=ActionType.SWITCH_INSTANCE, risk_level=RiskLevel.HIGH
        ),
        "rejected_waste": make_approval(
            account=first,
            action_type=ActionType.DELETE_WASTE,
            risk_level=RiskLevel.LOW,
            status=ApprovalStatus.REJECTED,
            decided_at=now,
        ),
        "failed_rogue": make_approval(account=second, risk_level=RiskLevel.CRITICAL, **failed_execution()),
    }


@pytest.mark.parametrize(
    "query,expected",
    [
        ("status=PENDING", {"pending_rogue", "pending_switch"}),
        ("status=REJECTED&status=APPROVED", {"rejected_waste", "failed_rogue"}),
        ("action_type=TERMINATE_ROGUE", {"pending_rogue", "failed_rogue"}),
        ("action_type=SWITCH_INSTANCE&action_type=DELETE_WASTE", {"pending_switch", "rejected_waste"}),
        ("risk_level=HIGH&risk_level=CRITICAL", {"pending_switch", "failed_rogue"}),
        ("risk_level=LOW", {"rejected_waste"}),
        ("execution_status=failed", {"failed_rogue"}),
        ("account=first", {"pending_rogue", "rejected_waste"}),
        ("account=second&status=PENDING", {"pending_switch"}),
        ("", {"pending_rogue", "pending_switch", "rejected_waste", "failed_rogue"}),
    ],
)
def test_filters(client_user, catalogue, query, expected):
    for name, account in catalogue["accounts"].items():
        query = query.replace(f"account={name}", f"account={account.pk}")
    response = api_as(client_user).get(f"{APPROVALS}?{query}")
    assert response.status_code == 200
    assert set(result_ids(response)) == {str(catalogue[name].pk) for name in expected}


@pytest.mark.parametrize(
    "query", ["status=MAYBE", "action_type=REBOOT", "risk_level=EXTREME", "execution_status=done", "account=nope"]
)
def test_an_unknown_filter_value_is_a_400_naming_the_field(client_user, catalogue, query):
    response = api_as(client_user).get(f"{APPROVALS}?{query}")
    assert response.status_code == 400
    assert query.split("=")[0] in response.data["errors"]


def test_another_tenants_account_in_the_filter_is_an_invalid_choice_not_data(
    client_user, other_client, make_account, make_approval
):
    theirs = make_account(other_client, account_name="Their secret account")
    make_approval(account=theirs)

    response = api_as(client_user).get(f"{APPROVALS}?account={theirs.pk}")

    assert response.status_code == 400
    assert "Select a valid choice" in str(response.data["errors"]["account"])
    assert "Their secret account" not in response.content.decode()


# --- OpenAPI --------------------------------------------------------------------------------------------------

PROMISED_PATHS = [
    "/api/v1/approvals/",
    "/api/v1/approvals/{id}/",
    "/api/v1/approvals/{id}/approve/",
    "/api/v1/approvals/{id}/reject/",
    "/api/v1/approvals/{id}/retry/",
]


def test_the_openapi_schema_describes_the_approvals_api(client_user):
    schema = api_contract.served_schema(client_user)

    assert set(PROMISED_PATHS) <= set(schema["paths"])
    assert set(schema["paths"]["/api/v1/approvals/"]) == {"get"}
    assert set(schema["paths"]["/api/v1/approvals/{id}/"]) == {"get"}
    list_parameters = {p["name"] for p in schema["paths"]["/api/v1/approvals/"]["get"]["parameters"]}
    filters = {"status", "action_type", "risk_level", "execution_status", "account"}
    assert list_parameters >= filters | api_contract.pagination_parameters(APPROVALS)  # page numbers or cursors
    reject = schema["paths"]["/api/v1/approvals/{id}/reject/"]["post"]
    assert set(reject["responses"]) >= {"200", "400", "403", "404", "409"}
    assert "202" in schema["paths"]["/api/v1/approvals/{id}/retry/"]["post"]["responses"]
    components = schema["components"]["schemas"]
    assert components["ApprovalRejectRequest"]["required"] == ["comment"]
    assert {"can_decide", "can_retry", "description", "execution_result"} <= set(
        components["ApprovalRequest"]["properties"]
    )
