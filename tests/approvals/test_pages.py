"""The approvals pages: the list, the detail (decide, read the execution, retry) and the POSTs behind its
buttons, through the Django test client.

django-q runs in sync mode in the test settings: the execution an approval queues runs inline when the
decision commits, i.e. inside `django_capture_on_commit_callbacks(execute=True)`. The executor of the action
type is a test double registered on approvals.registry.ACTIONS with monkeypatch.
"""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.choices import EnvironmentType, Role
from approvals import registry
from approvals.choices import ActionType, ApprovalStatus, ExecutionStatus, RiskLevel
from approvals.models import ApprovalRequest
from spotopt.errors import DomainError
from tests.approvals.payloads import rogue_payload as payload
from tests.approvals.payloads import switch_payload, waste_payload
from tests.helpers import page_link, walk_pages

pytestmark = pytest.mark.django_db

POSTS = ["approval_approve", "approval_reject", "approval_retry"]
EN_DASH = "\u2013"
DESCRIPTION = "Terminate the unauthorized instance i-0123456789abcdef0 in us-east-1."


def html(response) -> str:
    return response.content.decode()


def signed_in(user, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


def action_forms(page: str) -> list[str]:
    """The actions of every POST form on the page except sign-out."""
    return [a for a in re.findall(r'<form[^>]*method="post"[^>]*action="([^"]+)"', page) if a != "/logout/"]


def snapshot():
    return list(ApprovalRequest.objects.order_by("pk").values())


def post_data(name):
    return {"approval_reject": {"comment": "Not now."}, "approval_approve": {"comment": "Fine."}}.get(name, {})


@pytest.fixture
def executor(monkeypatch):
    """A test executor for TERMINATE_ROGUE; `fail_with` makes it raise a DomainError with that message."""

    class FakeExecutor:
        calls: list = []
        fail_with: str | None = None

        def __call__(self, request):
            self.calls.append(request.pk)
            if self.fail_with:
                raise DomainError(self.fail_with)
            return {"terminated": request.action_payload["instance_id"], "state": "shutting-down"}

    fake = FakeExecutor()
    fake.calls = []
    monkeypatch.setattr(registry.ACTIONS[ActionType.TERMINATE_ROGUE], "executor", fake)
    return fake


@pytest.fixture
def owned(client_user, make_account, make_approval):
    """A pending request on the client's own account, filed by spotopt itself; risk as given."""

    def make(risk_level=RiskLevel.MEDIUM, **overrides):
        account = overrides.pop("account", None) or make_account(client_user, account_name="Payments prod")
        fields = {"account": account, "action_payload": payload(), "risk_level": risk_level}
        fields.update(overrides)
        return make_approval(**fields)

    return make


# ======================================================================================================
# Who may open and do what
# ======================================================================================================


def test_anonymous_visitors_are_sent_to_sign_in(client, make_approval):
    approval = make_approval(action_payload=payload())
    before = snapshot()
    for url in (reverse("approval_list"), reverse("approval_detail", args=[approval.pk])):
        response = client.get(url)
        assert response.status_code == 302
        assert response.url == f"{reverse('login')}?next={url}"
    for name in POSTS:
        url = reverse(name, args=[approval.pk])
        response = client.post(url, post_data(name))
        assert response.status_code == 302
        assert response.url == f"{reverse('login')}?next={url}"
    assert snapshot() == before


@pytest.mark.parametrize("name", ["approval_detail", *POSTS])
def test_another_tenants_request_is_not_found_on_the_page_and_every_post(
    client_user, other_client, make_account, make_approval, name
):
    theirs = make_approval(
        account=make_account(other_client, account_name="Their account"),
        action_payload=payload(),
        risk_level=RiskLevel.LOW,
        status=ApprovalStatus.APPROVED,
        decided_at=timezone.now(),
        execution_status=ExecutionStatus.FAILED,
    )
    pending = make_approval(account=theirs.account, action_payload=payload(), risk_level=RiskLevel.LOW)
    before = snapshot()
    client = signed_in(client_user)

    for approval in (theirs, pending):
        url = reverse(name, args=[approval.pk])
        assert client.get(url).status_code == 404
        if name != "approval_detail":
            assert client.post(url, post_data(name)).status_code == 404
    assert snapshot() == before
    assert "Their account" not in html(client.get(reverse("approval_list")))


@pytest.mark.parametrize("role", [Role.USER, Role.LAB])
def test_read_only_roles_see_no_buttons_and_get_403_on_every_post(make_user, make_account, make_approval, role):
    reader = make_user(role)
    owner = reader if role == Role.USER else make_user(Role.CLIENT)
    account = make_account(owner, environment_type=EnvironmentType.LAB)
    pending = make_approval(account=account, action_payload=payload(), risk_level=RiskLevel.LOW)
    failed = make_approval(
        account=account,
        action_payload=payload("i-0fa11ed000000000f"),
        status=ApprovalStatus.APPROVED,
        decided_at=timezone.now(),
        execution_status=ExecutionStatus.FAILED,
        execution_error="AWS said no.",
    )
    before = snapshot()
    client = signed_in(reader)

    assert action_forms(html(client.get(reverse("approval_list")))) == []
    page = html(client.get(reverse("approval_detail", args=[pending.pk])))
    assert DESCRIPTION in page
    assert action_forms(page) == []
    assert "You cannot decide this request: Your role does not decide approval requests." in page
    page = html(client.get(reverse("approval_detail", args=[failed.pk])))
    assert action_forms(page) == [] and "AWS said no." in page
    for name in POSTS:
        for approval in (pending, failed):
            assert client.post(reverse(name, args=[approval.pk]), post_data(name)).status_code == 403
    assert snapshot() == before


def test_a_client_decides_low_and_medium_requests_on_their_own_account(client_user, owned, executor):
    low, medium = owned(RiskLevel.LOW), owned(RiskLevel.MEDIUM, action_payload=payload("i-0000000000000beef"))
    client = signed_in(client_user)

    page = html(client.get(reverse("approval_detail", args=[low.pk])))
    assert action_forms(page) == [reverse("approval_approve", args=[low.pk]), reverse("approval_reject", args=[low.pk])]

    response = client.post(reverse("approval_approve", args=[low.pk]), {"comment": "Go ahead."})
    assert response.status_code == 302 and response.url == reverse("approval_detail", args=[low.pk])
    response = client.post(reverse("approval_reject", args=[medium.pk]), {"comment": "Keep it for the audit."})
    assert response.status_code == 302

    low.refresh_from_db()
    medium.refresh_from_db()
    assert (low.status, low.approver, low.decision_comment) == (ApprovalStatus.APPROVED, client_user, "Go ahead.")
    assert (medium.status, medium.decision_comment) == (ApprovalStatus.REJECTED, "Keep it for the audit.")
    assert medium.execution_status == ExecutionStatus.NOT_STARTED
    page = html(client.get(reverse("approval_detail", args=[medium.pk])))
    assert "Keep it for the audit." in page and "The action did not run." in page


@pytest.mark.parametrize(
    ("risk", "reason"),
    [
        (RiskLevel.HIGH, "Clients decide requests up to MEDIUM risk; this one is HIGH."),
        (RiskLevel.CRITICAL, "A CRITICAL request needs a super_admin."),
    ],
)
def test_a_client_reads_why_they_cannot_decide_a_high_request(client_user, owned, risk, reason):
    approval = owned(risk)
    before = snapshot()
    client = signed_in(client_user)

    page = html(client.get(reverse("approval_detail", args=[approval.pk])))

    assert f"You cannot decide this request: {reason}" in page
    assert action_forms(page) == []
    assert ">Approve<" not in page and ">Reject<" not in page
    for name in ("approval_approve", "approval_reject"):
        assert client.post(reverse(name, args=[approval.pk]), post_data(name)).status_code == 403
    assert snapshot() == before


def test_the_requester_reads_that_somebody_else_has_to_decide(client_user, make_account, make_approval):
    account = make_account(client_user)
    approval = make_approval(account=account, action_payload=payload(), requester=client_user)
    before = snapshot()
    client = signed_in(client_user)

    page = html(client.get(reverse("approval_detail", args=[approval.pk])))

    assert "You made this request, so somebody else has to decide it (four eyes)." in page
    assert action_forms(page) == []
    for name in ("approval_approve", "approval_reject"):
        assert client.post(reverse(name, args=[approval.pk]), post_data(name)).status_code == 403
    assert snapshot() == before


@pytest.fixture
def pending_and_failed(make_approval):
    """A pending request (approve and reject forms) and an approved one whose execution failed (retry)."""
    pending = make_approval(action_payload=payload())
    failed = make_approval(
        action_payload=payload(),
        status=ApprovalStatus.APPROVED,
        decided_at=timezone.now(),
        execution_status=ExecutionStatus.FAILED,
    )
    return pending, failed


def test_every_post_needs_the_csrf_token(admin_user, pending_and_failed):
    pending, failed = pending_and_failed
    before = snapshot()
    client = signed_in(admin_user, enforce_csrf_checks=True)
    for name in POSTS:
        approval = failed if name == "approval_retry" else pending
        assert client.post(reverse(name, args=[approval.pk]), post_data(name)).status_code == 403
    assert snapshot() == before


def test_the_forms_on_the_detail_page_carry_the_csrf_token(admin_user, pending_and_failed):
    pending, failed = pending_and_failed
    client = signed_in(admin_user)
    for approval, expected in ((pending, 2), (failed, 1)):
        page = html(client.get(reverse("approval_detail", args=[approval.pk])))
        forms = [f for f in re.findall(r'<form[^>]*method="post".*?</form>', page, re.S) if "/logout/" not in f]
        assert len(forms) == expected
        assert all('name="csrfmiddlewaretoken"' in form for form in forms)


def test_a_get_of_a_post_url_shows_the_request(admin_user, make_approval):
    approval = make_approval(action_payload=payload())
    response = signed_in(admin_user).get(reverse("approval_approve", args=[approval.pk]))
    assert response.status_code == 302 and response.url == reverse("approval_detail", args=[approval.pk])
    approval.refresh_from_db()
    assert approval.status == ApprovalStatus.PENDING


# ======================================================================================================
# The list
# ======================================================================================================


def test_the_list_shows_what_a_person_looks_for_pending_first(
    admin_user, client_user, make_account, make_approval, make_user
):
    account = make_account(client_user, account_name="Payments prod", account_id="123412341234")
    decided = make_approval(
        account=account,
        action_type=ActionType.DELETE_WASTE,
        action_payload=waste_payload("vol-0abc", "eu-west-1"),
        risk_level=RiskLevel.LOW,
        status=ApprovalStatus.APPROVED,
        approver=make_user(Role.ADMIN),
        decided_at=timezone.now() - timedelta(hours=1),
        execution_status=ExecutionStatus.SUCCEEDED,
    )
    pending = make_approval(
        account=account,
        action_payload=payload(),
        risk_level=RiskLevel.HIGH,
        expires_at=timezone.now() + timedelta(hours=5, minutes=1),
    )
    requested = make_approval(
        account=account,
        action_type=ActionType.SWITCH_INSTANCE,
        action_payload=switch_payload(),
        requester=make_user(Role.CLIENT, full_name="Casey Client"),
        risk_level=RiskLevel.CRITICAL,
        expires_at=timezone.now() + timedelta(days=2),
    )

    response = signed_in(admin_user).get(reverse("approval_list"))

    assert response.status_code == 200
    page = html(response)
    # Pending first, soonest to expire first; the decided one last.
    assert page.index(str(pending.pk)) < page.index(str(requested.pk)) < page.index(str(decided.pk))
    assert DESCRIPTION in page
    assert "Replace instance i-0000000000000aaaa with a Spot m6i.large in us-east-1b." in page
    assert "Permanently delete 1 EBS volume (snapshotted first), $8.00 a month of idle resources." in page
    assert "Payments prod" in page and "123412341234" in page
    assert client_user.full_name in page  # the owner, for admins
    assert '<span class="badge badge--warn">High</span>' in page
    assert '<span class="badge badge--error">Critical</span>' in page
    assert '<span class="badge badge--warn">Pending</span>' in page
    assert '<span class="badge badge--ok">Approved</span>' in page
    assert '<span class="badge badge--ok">Succeeded</span>' in page
    assert "Casey Client" in page and "spotopt (automatic)" in page
    assert "Expires in 5\xa0hours" in page
    assert f"Approved {timezone.localtime(decided.decided_at):%-d %b %Y, %H:%M}" in page
    assert "3 requests" in page


def test_a_list_without_requests_says_what_creates_them(client_user):
    page = html(signed_in(client_user).get(reverse("approval_list")))
    assert "No approval requests" in page
    assert "Terminate a rogue instance" in page and "Delete waste" in page and "Switch an instance" in page
    assert 'role="search"' not in page


def test_an_overdue_pending_request_says_it_expired(admin_user, make_approval):
    approval = make_approval(action_payload=payload())
    ApprovalRequest.objects.filter(pk=approval.pk).update(expires_at=timezone.now() - timedelta(hours=3))
    client = signed_in(admin_user)

    assert "Expired 3\xa0hours ago" in html(client.get(reverse("approval_list")))
    page = html(client.get(reverse("approval_detail", args=[approval.pk])))
    assert "This request expired 3\xa0hours ago" in page
    assert '<span class="badge badge--error">expired</span>' in page
    assert action_forms(page) == []


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"status": "PENDING"}, {"pending-low", "pending-high"}),
        ({"status": "REJECTED"}, {"rejected"}),
        ({"action_type": "DELETE_WASTE"}, {"rejected"}),
        ({"risk_level": "HIGH"}, {"pending-high"}),
        ({"execution_status": "failed"}, {"failed"}),
        ({"account": "second"}, {"pending-high"}),
        ({"status": "PENDING", "risk_level": "LOW"}, {"pending-low"}),
    ],
)
def test_the_list_filters(admin_user, client_user, make_account, make_approval, query, expected):
    first, second = make_account(client_user), make_account(client_user, account_name="Second account")
    now = timezone.now()
    made = {
        "pending-low": make_approval(account=first, action_payload=payload("i-00000000000000001"), risk_level="LOW"),
        "pending-high": make_approval(account=second, action_payload=payload("i-00000000000000002"), risk_level="HIGH"),
        "rejected": make_approval(
            account=first,
            action_type=ActionType.DELETE_WASTE,
            action_payload=waste_payload("ami-00000000000000003", "us-east-1", resource_type="ami"),
            status=ApprovalStatus.REJECTED,
            decided_at=now,
        ),
        "failed": make_approval(
            account=first,
            action_payload=payload("i-00000000000000004"),
            status=ApprovalStatus.APPROVED,
            decided_at=now,
            execution_status=ExecutionStatus.FAILED,
        ),
    }
    if query.get("account") == "second":
        query = {**query, "account": str(second.pk)}

    page = html(signed_in(admin_user).get(reverse("approval_list"), query))

    shown = {name for name, approval in made.items() if str(approval.pk) in page}
    assert shown == expected
    for name, value in query.items():
        assert re.search(rf'<select name="{name}" id="filter-[a-z_]+">.*?value="{value}" selected', page, re.S)
    assert ">Clear</a>" in page


def test_filters_without_a_match_say_so(admin_user, make_approval):
    make_approval(action_payload=payload())
    page = html(signed_in(admin_user).get(reverse("approval_list"), {"status": "EXPIRED"}))
    assert "No request matches these filters" in page


def test_an_unknown_filter_value_is_reported_and_ignored(admin_user, make_approval):
    approval = make_approval(action_payload=payload())
    page = html(signed_in(admin_user).get(reverse("approval_list"), {"risk_level": "EXTREME"}))
    assert "Some filters were ignored" in page
    assert str(approval.pk) in page


def test_a_client_filters_only_by_their_own_accounts(client_user, other_client, make_account, owned):
    owned()
    theirs = make_account(other_client, account_name="Not yours")
    page = html(signed_in(client_user).get(reverse("approval_list")))
    assert "Payments prod" in page
    assert "Not yours" not in page
    page = html(signed_in(client_user).get(reverse("approval_list"), {"account": str(theirs.pk)}))
    assert "Some filters were ignored" in page


def test_the_list_pages_25_at_a_time_and_keeps_the_filters(admin_user, make_approval):
    low = [make_approval(action_payload=payload(f"i-{n:017x}"), risk_level="LOW") for n in range(27)]
    make_approval(action_payload=payload(), risk_level="HIGH")
    client = signed_in(admin_user)

    def request_ids(response):
        return re.findall(r'class="approvals-table__action" href="/approvals/([0-9a-f-]{36})/"', html(response))

    pages = walk_pages(client, reverse("approval_list"), {"risk_level": "LOW"}, request_ids)
    assert [len(rows) for rows, _ in pages] == [25, 2]
    assert sorted(pages[0][0] + pages[1][0]) == sorted(str(request.pk) for request in low)  # each once
    first, second = (response for _, response in pages)
    assert "25 of 27 requests" in html(first) and "2 of 27 requests" in html(second)
    assert page_link(first, "next").startswith("?risk_level=LOW&cursor=")
    assert request_ids(client.get(reverse("approval_list") + page_link(second, "prev"))) == pages[0][0]


def test_the_list_makes_the_same_number_of_queries_for_2_or_12_requests(
    admin_user, make_user, make_account, make_instance, make_approval
):
    client = signed_in(admin_user)

    def queries_for_a_page_of(count):
        ApprovalRequest.objects.all().delete()
        for n in range(count):
            owner = make_user(Role.CLIENT)
            account = make_account(owner)
            make_approval(
                account=account,
                instance=make_instance(account),
                action_payload=payload(f"i-{n:017x}"),
                requester=make_user(Role.CLIENT),
                approver=make_user(Role.ADMIN),
                status=ApprovalStatus.APPROVED,
                decided_at=timezone.now(),
                execution_status=ExecutionStatus.SUCCEEDED,
            )
        with CaptureQueriesContext(connection) as queries:
            response = client.get(reverse("approval_list"))
        assert response.status_code == 200
        assert len(response.context["rows"]) == count
        return len(queries)

    assert queries_for_a_page_of(2) == queries_for_a_page_of(12)


# ======================================================================================================
# The detail page
# ======================================================================================================


def test_the_detail_shows_what_will_happen_and_who_may_decide(
    admin_user, client_user, make_account, make_instance, make_approval, make_user
):
    account = make_account(client_user, account_name="Payments prod", account_id="123412341234")
    instance = make_instance(account, instance_id="i-0123456789abcdef0", instance_type="c5.xlarge")
    requester = make_user(Role.CLIENT, full_name="Casey Client")
    approval = make_approval(
        account=account,
        instance=instance,
        action_payload=payload(reason="Launched by hand <script>alert(1)</script>"),
        risk_level=RiskLevel.HIGH,
        requester=requester,
    )

    response = signed_in(admin_user).get(reverse("approval_detail", args=[approval.pk]))

    assert response.status_code == 200
    page = html(response)
    assert '<h1 class="page-title">Terminate rogue instance</h1>' in page
    assert DESCRIPTION in page and "this cannot be undone" in page
    assert "Who may decide: A super_admin or an admin, other than the requester." in page
    low = make_approval(account=account, action_payload=payload(), risk_level=RiskLevel.LOW)
    who = "Who may decide: A super_admin, an admin or a client of the account&#x27;s team, other than the requester."
    assert who in html(signed_in(admin_user).get(reverse("approval_detail", args=[low.pk])))
    assert f'href="{reverse("account_detail", args=[account.pk])}"' in page
    assert "123412341234" in page and "c5.xlarge" in page
    assert "Casey Client" in page
    assert f"{timezone.localtime(approval.expires_at):%-d %b %Y, %H:%M} UTC" in page
    # The payload, pretty and escaped.
    assert "  &quot;instance_id&quot;: &quot;i-0123456789abcdef0&quot;,\n" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page
    # The admin may decide it: both forms.
    assert action_forms(page) == [
        reverse("approval_approve", args=[approval.pk]),
        reverse("approval_reject", args=[approval.pk]),
    ]
    assert "Comment (optional)" in page and "Why reject it?" in page
    assert 'id="execution"' not in page  # nothing ran


def test_a_decided_request_shows_who_decided_when_and_why(admin_user, make_approval, make_user):
    approver = make_user(Role.ADMIN, full_name="Alex Admin")
    approval = make_approval(
        action_payload=payload(),
        status=ApprovalStatus.REJECTED,
        approver=approver,
        decided_at=timezone.now(),
        decision_comment="The owner still needs it.",
    )
    page = html(signed_in(admin_user).get(reverse("approval_detail", args=[approval.pk])))
    assert "by Alex Admin" in page
    assert "The owner still needs it." in page
    assert f"{timezone.localtime(approval.decided_at):%-d %b %Y, %H:%M} UTC" in page
    assert action_forms(page) == []


def test_a_request_whose_account_was_removed_keeps_the_aws_ids(admin_user, make_approval):
    approval = make_approval(action_payload=payload(), aws_account_ref="555566667777", instance_ref="i-0gone")
    page = html(signed_in(admin_user).get(reverse("approval_detail", args=[approval.pk])))
    assert "555566667777" in page and "no longer connected" in page
    assert "i-0gone" in page and "no longer discovered" in page


# ======================================================================================================
# Deciding, running, retrying
# ======================================================================================================


def test_an_admin_approves_and_the_action_runs(admin_user, make_approval, executor, django_capture_on_commit_callbacks):
    approval = make_approval(action_payload=payload(), risk_level=RiskLevel.HIGH)
    client = signed_in(admin_user)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("approval_approve", args=[approval.pk]), {"comment": "  Rogue, go.  "})

    assert response.status_code == 302 and response.url == reverse("approval_detail", args=[approval.pk])
    assert executor.calls == [approval.pk]
    approval.refresh_from_db()
    assert (approval.status, approval.approver, approval.decision_comment) == ("APPROVED", admin_user, "Rogue, go.")
    assert approval.execution_status == ExecutionStatus.SUCCEEDED
    page = html(client.get(response.url))
    # The message was given before the queued execution ran (it runs after commit, here after the view).
    assert "Approved. The action is running…" in page
    assert '<span class="badge badge--ok badge--large">Succeeded</span>' in page
    assert "&quot;terminated&quot;: &quot;i-0123456789abcdef0&quot;" in page
    assert "Rogue, go." in page and "Attempts" in page
    assert action_forms(page) == []


@pytest.mark.django_db(transaction=True)
def test_the_message_says_done_when_the_action_ran_at_commit(admin_user, make_approval, executor):
    """Outside a test transaction the decision really commits, and the sync queue runs the action then:
    by the time the view answers, it is done."""
    approval = make_approval(action_payload=payload())

    page = html(signed_in(admin_user).post(reverse("approval_approve", args=[approval.pk]), follow=True))

    assert "Approved and done." in page
    assert '<span class="badge badge--ok badge--large">Succeeded</span>' in page
    assert executor.calls == [approval.pk]


@pytest.mark.django_db(transaction=True)
def test_the_message_says_when_the_action_failed_at_once(admin_user, make_approval, executor):
    approval = make_approval(action_payload=payload())
    executor.fail_with = "The instance is protected against termination."

    page = html(signed_in(admin_user).post(reverse("approval_approve", args=[approval.pk]), follow=True))

    assert "Approved, but the action failed: The instance is protected against termination." in page
    assert "message--error" in page


def test_a_failed_action_shows_the_error_and_an_admin_retries_it(
    admin_user, client_user, owned, executor, django_capture_on_commit_callbacks
):
    approval = owned(RiskLevel.LOW)
    executor.fail_with = "AWS refused TerminateInstances: UnauthorizedOperation."
    admin = signed_in(admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        admin.post(reverse("approval_approve", args=[approval.pk]))
    approval.refresh_from_db()
    assert approval.execution_status == ExecutionStatus.FAILED

    # The owner sees the failure, but not the Retry button, and may not retry.
    owner = signed_in(client_user)
    page = html(owner.get(reverse("approval_detail", args=[approval.pk])))
    assert "AWS refused TerminateInstances: UnauthorizedOperation." in page
    assert '<span class="badge badge--error badge--large">Failed</span>' in page
    assert action_forms(page) == [] and "An admin can retry it" in page
    assert owner.post(reverse("approval_retry", args=[approval.pk])).status_code == 403

    page = html(admin.get(reverse("approval_detail", args=[approval.pk])))
    assert action_forms(page) == [reverse("approval_retry", args=[approval.pk])]

    executor.fail_with = None
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(reverse("approval_retry", args=[approval.pk]))
    assert response.status_code == 302
    approval.refresh_from_db()
    assert approval.execution_status == ExecutionStatus.SUCCEEDED
    assert approval.execution_attempts == 2
    page = html(admin.get(reverse("approval_detail", args=[approval.pk])))
    assert "Queued again. The action is running…" in page
    assert '<span class="badge badge--ok badge--large">Succeeded</span>' in page
    assert "UnauthorizedOperation" not in page
    assert action_forms(page) == []


def test_retrying_what_did_not_fail_is_explained(admin_user, make_approval):
    approval = make_approval(
        action_payload=payload(),
        status=ApprovalStatus.APPROVED,
        decided_at=timezone.now(),
        execution_status=ExecutionStatus.SUCCEEDED,
    )
    page = html(signed_in(admin_user).post(reverse("approval_retry", args=[approval.pk]), follow=True))
    assert "Only a failed execution can be retried; this one is succeeded." in page


@pytest.mark.parametrize("comment", ["", "   "])
def test_a_reject_without_a_comment_is_refused_on_the_form(admin_user, make_approval, comment):
    approval = make_approval(action_payload=payload())
    before = snapshot()

    response = signed_in(admin_user).post(reverse("approval_reject", args=[approval.pk]), {"comment": comment})

    assert response.status_code == 400
    page = html(response)
    assert "Say why you reject the request: a comment is required." in page
    assert 'class="field field--invalid"' in page
    assert snapshot() == before


def test_an_overlong_approve_comment_is_refused_on_the_form(admin_user, make_approval):
    approval = make_approval(action_payload=payload())
    before = snapshot()

    response = signed_in(admin_user).post(reverse("approval_approve", args=[approval.pk]), {"comment": "x" * 2001})

    assert response.status_code == 400
    assert "Ensure this value has at most 2000 characters (it has 2001)." in html(response)
    assert snapshot() == before


def test_an_admin_rejects_with_a_comment(admin_user, make_approval, executor, django_capture_on_commit_callbacks):
    approval = make_approval(action_payload=payload())
    client = signed_in(admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("approval_reject", args=[approval.pk]), {"comment": "Owner says keep it."})
    page = html(client.get(response.url))
    assert "Rejected. The action will not run." in page
    approval.refresh_from_db()
    assert approval.status == ApprovalStatus.REJECTED and approval.decision_comment == "Owner says keep it."
    assert executor.calls == []


def test_deciding_an_already_decided_request_says_so(admin_user, make_approval, make_user):
    approver = make_user(Role.ADMIN, username="alex")
    approval = make_approval(
        action_payload=payload(), status=ApprovalStatus.APPROVED, approver=approver, decided_at=timezone.now()
    )
    before = snapshot()
    client = signed_in(admin_user)
    for name in ("approval_approve", "approval_reject"):
        response = client.post(reverse(name, args=[approval.pk]), post_data(name), follow=True)
        assert response.redirect_chain == [(reverse("approval_detail", args=[approval.pk]), 302)]
        assert "This request was already approved by alex at" in html(response)
    assert snapshot() == before


def test_deciding_an_expired_request_says_so_and_marks_it_expired(admin_user, make_approval):
    approval = make_approval(action_payload=payload())
    ApprovalRequest.objects.filter(pk=approval.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    client = signed_in(admin_user)

    page = html(client.post(reverse("approval_approve", args=[approval.pk]), follow=True))

    assert "This request expired before it was decided" in page
    approval.refresh_from_db()
    assert approval.status == ApprovalStatus.EXPIRED and approval.approver is None
    assert '<span class="badge badge--large">Expired</span>' in page
    assert "without a decision. Nothing was done." in page
