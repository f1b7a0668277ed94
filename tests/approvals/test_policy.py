"""Who may decide an approval request: the decision matrix (role x risk) and the four-eyes rule.

The matrix is written out cell by cell below, independently of approvals.policy.DECISION_SCOPE, and every
cell is checked through the policy and through the services (approve and reject).
"""

import pytest

from accounts.choices import EnvironmentType, Role
from approvals.choices import ActionType, ApprovalStatus, RiskLevel
from approvals.policy import can_decide, decision_refusal
from approvals.services import approval_approve, approval_reject, approval_request_create
from spotopt.errors import PermissionRefused

PAYLOAD = {"instance_id": "i-0abc1234", "region": "us-east-1"}
RISKS = [RiskLevel.LOW, RiskLevel.MEDIUM, RiskLevel.HIGH, RiskLevel.CRITICAL]

# Who decides, on whose account (always given the most favourable position their role can have):
# - client owner: owns the request's account; client outsider: another client's account;
# - user: a read-only user who owns the request's account; lab: the account is a LAB account.
DECISION_MATRIX = {
    #                    LOW    MEDIUM  HIGH   CRITICAL
    "super_admin": (True, True, True, True),
    "admin": (True, True, True, False),
    "client owner": (True, True, False, False),
    "client outsider": (False, False, False, False),
    "user": (False, False, False, False),
    "lab": (False, False, False, False),
}

# What a refused decider is told (the first words of the message).
REFUSALS = {
    ("admin", RiskLevel.CRITICAL): "A CRITICAL request needs a super_admin.",
    ("client owner", RiskLevel.HIGH): "Clients decide requests up to MEDIUM risk; this one is HIGH.",
    ("client owner", RiskLevel.CRITICAL): "A CRITICAL request needs a super_admin.",
    ("client outsider", RiskLevel.LOW): "Clients decide requests on their own accounts only.",
    ("client outsider", RiskLevel.MEDIUM): "Clients decide requests on their own accounts only.",
    ("client outsider", RiskLevel.HIGH): "Clients decide requests up to MEDIUM risk; this one is HIGH.",
    ("client outsider", RiskLevel.CRITICAL): "A CRITICAL request needs a super_admin.",
    **{("user", risk): "Your role does not decide approval requests." for risk in RISKS},
    **{("lab", risk): "Your role does not decide approval requests." for risk in RISKS},
}

CELLS = [
    pytest.param(who, risk, allowed, id=f"{who}-{risk}")
    for who, row in DECISION_MATRIX.items()
    for risk, allowed in zip(RISKS, row, strict=True)
]


@pytest.fixture
def cast(make_user, make_account):
    """The decider for a matrix row, and the account the request is on."""

    def build(who):
        owner = make_user(Role.CLIENT)
        account = make_account(owner)
        decider = {
            "super_admin": lambda: make_user(Role.SUPER_ADMIN),
            "admin": lambda: make_user(Role.ADMIN),
            "client owner": lambda: owner,
            "client outsider": lambda: make_user(Role.CLIENT),
            "user": lambda: make_user(Role.USER),
            "lab": lambda: make_user(Role.LAB),
        }[who]()
        if who == "user":
            account = make_account(decider)
        if who == "lab":
            account = make_account(owner, environment_type=EnvironmentType.LAB)
        return decider, account

    return build


def _file(account, risk, requester):
    return approval_request_create(
        action_type=ActionType.TERMINATE_ROGUE, payload=PAYLOAD, risk_level=risk, requester=requester, account=account
    )


@pytest.mark.parametrize(("who", "risk", "allowed"), CELLS)
def test_decision_matrix(cast, make_user, who, risk, allowed):
    decider, account = cast(who)
    requester = make_user(Role.ADMIN)  # somebody else: four eyes is not what this test is about
    to_approve, to_reject = _file(account, risk, requester), _file(account, risk, requester)

    assert can_decide(decider, to_approve) is allowed
    if allowed:
        assert decision_refusal(decider, to_approve) is None
        approval_approve(user=decider, request_id=to_approve.pk)
        approval_reject(user=decider, request_id=to_reject.pk, comment="Not now.")
        to_approve.refresh_from_db()
        to_reject.refresh_from_db()
        assert (to_approve.status, to_approve.approver) == (ApprovalStatus.APPROVED, decider)
        assert (to_reject.status, to_reject.approver) == (ApprovalStatus.REJECTED, decider)
    else:
        reason = REFUSALS[(who, risk)]
        assert decision_refusal(decider, to_approve) == reason
        with pytest.raises(PermissionRefused) as approving:
            approval_approve(user=decider, request_id=to_approve.pk)
        with pytest.raises(PermissionRefused) as rejecting:
            approval_reject(user=decider, request_id=to_reject.pk, comment="Not now.")
        assert approving.value.message == rejecting.value.message == reason
        for request in (to_approve, to_reject):
            request.refresh_from_db()
            assert request.status == ApprovalStatus.PENDING
            assert request.approver is None and request.decided_at is None


FOUR_EYES = [
    pytest.param("super_admin", RiskLevel.CRITICAL, id="super_admin-CRITICAL"),
    pytest.param("super_admin", RiskLevel.LOW, id="super_admin-LOW"),
    pytest.param("admin", RiskLevel.HIGH, id="admin-HIGH"),
    pytest.param("client owner", RiskLevel.LOW, id="client-owner-LOW"),
]


@pytest.mark.parametrize(("who", "risk"), FOUR_EYES)
def test_the_requester_never_decides_their_own_request(cast, who, risk):
    decider, account = cast(who)
    request = _file(account, risk, requester=decider)
    reason = "You made this request, so somebody else has to decide it (four eyes)."
    assert decision_refusal(decider, request) == reason
    with pytest.raises(PermissionRefused, match=r"four eyes"):
        approval_approve(user=decider, request_id=request.pk)
    with pytest.raises(PermissionRefused, match=r"four eyes"):
        approval_reject(user=decider, request_id=request.pk, comment="Changed my mind.")
    request.refresh_from_db()
    assert request.status == ApprovalStatus.PENDING


def test_a_django_superuser_is_a_super_admin_even_with_another_role_and_four_eyes_still_applies(
    make_user, make_account
):
    owner = make_user(Role.CLIENT)
    account = make_account(owner)
    superuser = make_user(Role.CLIENT, is_superuser=True)
    other = _file(account, RiskLevel.CRITICAL, requester=owner)
    own = _file(account, RiskLevel.CRITICAL, requester=superuser)
    assert can_decide(superuser, other)
    assert not can_decide(superuser, own)
    approval_approve(user=superuser, request_id=other.pk)
    other.refresh_from_db()
    assert other.status == ApprovalStatus.APPROVED


@pytest.mark.parametrize(
    ("who", "risk"),
    [("super_admin", RiskLevel.CRITICAL), ("admin", RiskLevel.HIGH), ("client owner", RiskLevel.MEDIUM)],
)
def test_system_requests_without_a_requester_can_be_decided(cast, who, risk):
    decider, account = cast(who)
    request = _file(account, risk, requester=None)
    assert can_decide(decider, request)
    approval_approve(user=decider, request_id=request.pk, comment="Thanks, spotopt.")
    request.refresh_from_db()
    assert request.status == ApprovalStatus.APPROVED
    assert request.approver == decider


def test_a_client_cannot_decide_a_request_without_an_account(client_user):
    request = _file(None, RiskLevel.LOW, requester=None)
    assert decision_refusal(client_user, request) == "Clients decide requests on their own accounts only."


def test_an_inactive_or_anonymous_user_decides_nothing(make_user, make_account):
    from django.contrib.auth.models import AnonymousUser

    admin = make_user(Role.SUPER_ADMIN)
    request = _file(make_account(make_user(Role.CLIENT)), RiskLevel.LOW, requester=None)
    admin.is_active = False
    admin.save()
    for nobody in (admin, AnonymousUser(), None):
        assert decision_refusal(nobody, request) == "Sign in to decide approval requests."
    with pytest.raises(PermissionRefused):
        approval_approve(user=admin, request_id=request.pk)
