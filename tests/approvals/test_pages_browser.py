"""The approval gate in a real browser: an admin signs in, opens Approvals, reads what a pending request will
do, approves it and sees the action done; a failed action is retried; a client reads why they cannot decide.

The live server runs in this process, so the test executor registered on approvals.registry with monkeypatch
is the one the server calls. django-q runs in sync mode in the test settings and the live server's database
really commits, so the approved action runs inline when the decision commits, before the page answers.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.choices import Role
from approvals import registry
from approvals.choices import ActionType, ApprovalStatus, ExecutionStatus, RiskLevel
from approvals.models import ApprovalRequest
from spotopt.errors import DomainError
from tests.approvals.payloads import switch_payload, waste_payload
from tests.browser import browser_page, expect, screenshot, sign_in  # noqa: F401

pytestmark = pytest.mark.browser

INSTANCE = "i-0a1b2c3d4e5f60718"
DESCRIPTION = (
    f"Terminate the unauthorized instance {INSTANCE} in us-east-1. Terminating deletes the instance and any "
    "volumes set to delete on termination; this cannot be undone."
)


@pytest.fixture
def executor(monkeypatch):
    """The TERMINATE_ROGUE executor the live server calls; set `fail_with` to make it fail."""

    class FakeExecutor:
        fail_with = None

        def __call__(self, request):
            if self.fail_with:
                raise DomainError(self.fail_with)
            return {"terminated": request.action_payload["instance_id"], "previous_state": "running"}

    fake = FakeExecutor()
    monkeypatch.setattr(registry.ACTIONS[ActionType.TERMINATE_ROGUE], "executor", fake)
    return fake


@pytest.fixture
def estate(make_user, make_account, make_instance, make_approval):
    """A customer's account with a pending rogue-instance request, and a few other requests around it."""
    owner = make_user(Role.CLIENT, full_name="Casey Client")
    account = make_account(owner, account_name="Payments production", account_id="123412341234")
    instance = make_instance(account, instance_id=INSTANCE, instance_type="c5.xlarge")
    rogue = make_approval(
        account=account,
        instance=instance,
        action_payload={"instance_id": INSTANCE, "region": "us-east-1", "reason": "No spotopt:authorized tag."},
        risk_level=RiskLevel.HIGH,
        expires_at=timezone.now() + timedelta(hours=20),
    )
    make_approval(
        account=account,
        action_type=ActionType.SWITCH_INSTANCE,
        action_payload=switch_payload(),
        requester=owner,
        risk_level=RiskLevel.MEDIUM,
        expires_at=timezone.now() + timedelta(hours=40),
    )
    make_approval(
        account=account,
        action_type=ActionType.DELETE_WASTE,
        action_payload=waste_payload("vol-0123456789abcdef0", "us-east-1"),
        risk_level=RiskLevel.LOW,
        status=ApprovalStatus.REJECTED,
        approver=make_user(Role.ADMIN, full_name="Alex Admin"),
        decided_at=timezone.now() - timedelta(hours=2),
        decision_comment="Still attached to a stopped build box.",
    )
    return {"owner": owner, "account": account, "rogue": rogue}


@pytest.fixture
def admin_page(live_server, browser_page, make_user):  # noqa: F811 (the fixture imported above)
    """The browser signed in as an admin, Avery Admin: (page, admin)."""
    admin = make_user(Role.ADMIN, full_name="Avery Admin")
    sign_in(browser_page, live_server, admin.username)
    return browser_page, admin


def test_an_admin_approves_a_pending_request_and_sees_the_action_done(live_server, admin_page, estate, executor):
    page, admin = admin_page
    rogue = estate["rogue"]

    # Open Approvals: the pending request is first.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Approvals").click()
    page.wait_for_url(f"{live_server.url}/approvals/")
    first_row = page.locator(".approvals-table tbody tr").first
    expect(first_row).to_contain_text("Terminate rogue instance")
    expect(first_row).to_contain_text(f"Terminate the unauthorized instance {INSTANCE} in us-east-1.")
    expect(first_row).to_contain_text("Pending")
    expect(first_row).to_contain_text("High")
    expect(first_row).to_contain_text("spotopt (automatic)")
    screenshot(page, "approvals-01-list")

    # Open it: what will happen, in plain words, and the forms to decide.
    first_row.get_by_role("link", name="Terminate rogue instance").click()
    page.wait_for_url(f"{live_server.url}/approvals/{rogue.pk}/")
    expect(page.locator(".approval-description")).to_have_text(DESCRIPTION)
    expect(page.locator("[data-payload]")).to_contain_text('"reason": "No spotopt:authorized tag."')
    expect(page.get_by_role("link", name="Payments production")).to_be_visible()
    screenshot(page, "approvals-02-pending-admin")

    # Approve: the action runs at once and the page shows how it went.
    page.get_by_label("Comment (optional)").fill("Nobody claimed it in the channel.")
    page.get_by_role("button", name="Approve").click()
    page.wait_for_url(f"{live_server.url}/approvals/{rogue.pk}/")
    expect(page.locator(".message--success")).to_have_text("Approved and done.")
    execution = page.locator("#execution")
    expect(execution.locator(".badge")).to_have_text("Succeeded")
    expect(execution.locator("[data-execution-result]")).to_contain_text(f'"terminated": "{INSTANCE}"')
    expect(page.locator("#decision")).to_contain_text("Approved by Avery Admin")
    expect(page.locator("#decision")).to_contain_text("Nobody claimed it in the channel.")
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)
    screenshot(page, "approvals-03-succeeded")

    rogue.refresh_from_db()
    assert rogue.status == ApprovalStatus.APPROVED and rogue.approver == admin
    assert rogue.execution_status == ExecutionStatus.SUCCEEDED
    assert rogue.execution_result == {"terminated": INSTANCE, "previous_state": "running"}


def test_an_admin_retries_a_failed_action(live_server, admin_page, estate, executor):
    page, _ = admin_page
    rogue = estate["rogue"]
    executor.fail_with = "AWS refused TerminateInstances: the instance has termination protection on."

    page.goto(f"{live_server.url}/approvals/{rogue.pk}/")
    page.get_by_role("button", name="Approve").click()
    page.wait_for_url(f"{live_server.url}/approvals/{rogue.pk}/")
    expect(page.locator(".message--error")).to_contain_text("Approved, but the action failed: AWS refused")
    execution = page.locator("#execution")
    expect(execution.locator(".badge")).to_have_text("Failed")
    expect(execution).to_contain_text("the instance has termination protection on.")
    screenshot(page, "approvals-04-failed-retry")

    executor.fail_with = None
    execution.get_by_role("button", name="Retry").click()
    page.wait_for_url(f"{live_server.url}/approvals/{rogue.pk}/")
    expect(page.locator(".message--success")).to_have_text("Retried: the action succeeded.")
    expect(execution.locator(".badge")).to_have_text("Succeeded")
    expect(execution.locator('dt:has-text("Attempts") + dd')).to_have_text("2")
    expect(page.get_by_role("button", name="Retry")).to_have_count(0)
    screenshot(page, "approvals-05-retried")
    assert ApprovalRequest.objects.get(pk=rogue.pk).execution_attempts == 2


def test_a_client_reads_why_they_cannot_decide_a_high_request(
    live_server,
    browser_page,  # noqa: F811
    estate,
):
    page = browser_page
    sign_in(page, live_server, estate["owner"].username)
    page.goto(f"{live_server.url}/approvals/")
    expect(page.locator(".approvals-table tbody tr")).to_have_count(3)
    page.get_by_role("link", name="Terminate rogue instance").click()

    expect(page.locator(".decision-refusal")).to_have_text(
        "You cannot decide this request: Clients decide requests up to MEDIUM risk; this one is HIGH."
    )
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)
    expect(page.get_by_role("button", name="Reject")).to_have_count(0)
    screenshot(page, "approvals-06-client-cannot-decide-high")
