"""The CloudFormation onboarding in a real browser: sign in, connect, verify, and watch the status panel
turn active by polling, without reloading the page.

AWS is moto in-process (`mock_aws` patches botocore for the whole process, so the live server's threads use
it too). Discovery is the one thing that does not run as in the other tests: there, django-q's sync mode runs
it inline when the verify request commits, so the page would already say "active" when it loads and the
polling would have nothing to show. Here the queued task is held back and run by the test once the page
shows "Connected", the way a django-q worker would run it a moment later.
"""

import re

import pytest

from accounts import services
from accounts.choices import AccountStatus, Role
from accounts.models import Account
from fleet.tasks import discover_account
from tests.aws_fixtures import CUSTOMER_ACCOUNT, launch_instances, moto  # noqa: F401
from tests.browser import browser_page, expect, screenshot, sign_in  # noqa: F401

pytestmark = pytest.mark.browser

ROLE_ARN = f"arn:aws:iam::{CUSTOMER_ACCOUNT}:role/SpotOptimizerCrossAccountRole"
# moto's own identity (arn:aws:sts::…:user/moto) is not a principal a trust policy can name.
PLATFORM_ARN = "arn:aws:iam::999988887777:role/spotopt-platform"


@pytest.fixture
def queued_discoveries(monkeypatch):
    """Discovery tasks the pages queue, held back instead of run (the test plays the django-q worker)."""
    queued = []

    def hold_back(func, *args, **kwargs):
        assert func == services.DISCOVERY_TASK
        queued.append(args[0])

    monkeypatch.setattr(services, "enqueue_on_commit", hold_back)
    return queued


@pytest.mark.usefixtures("moto")
def test_connect_an_account_with_cloudformation_and_watch_it_become_active(
    live_server,
    browser_page,  # noqa: F811 (the fixture imported above)
    make_user,
    queued_discoveries,
    settings,
):
    settings.PLATFORM_AWS_PRINCIPAL_ARN = PLATFORM_ARN
    page = browser_page
    user = make_user(Role.CLIENT, full_name="Casey Client")
    launch_instances(CUSTOMER_ACCOUNT, "us-east-1", 2)
    launch_instances(CUSTOMER_ACCOUNT, "eu-west-1", 1)

    # Sign in: home is the overview, which for a new customer says what to do first.
    sign_in(page, live_server, user.username)
    assert page.get_by_role("heading", name="No AWS account connected yet").is_visible()
    screenshot(page, "01-accounts-empty")

    # Connect: the role tab is open; the keys tab switches without a reload and back.
    page.get_by_role("link", name="Connect your first AWS account").click()
    page.wait_for_url(f"{live_server.url}/accounts/connect/")
    role_tab = page.get_by_role("tab", name=re.compile("CloudFormation role"))
    keys_tab = page.get_by_role("tab", name="Access keys")
    assert role_tab.get_attribute("aria-selected") == "true"
    screenshot(page, "02-connect-role")
    keys_tab.click()
    assert keys_tab.get_attribute("aria-selected") == "true"
    assert page.locator("#panel-keys").is_visible() and not page.locator("#panel-role").is_visible()
    assert page.url.endswith("?method=keys")
    assert page.get_by_label("Secret access key").get_attribute("type") == "password"
    screenshot(page, "03-connect-keys")
    keys_tab.press("ArrowLeft")  # keyboard: back to the first tab
    assert role_tab.get_attribute("aria-selected") == "true"
    assert page.locator("#panel-role").is_visible()

    panel = page.locator("#panel-role")
    panel.get_by_label("Account name").fill("Payments production")
    panel.get_by_label("us-east-1").check()
    panel.get_by_label("eu-west-1").check()
    panel.get_by_role("button", name="Continue to the CloudFormation step").click()

    # The pending account's page: the External ID and the template downloads.
    account = Account.objects.get(account_name="Payments production")
    page.wait_for_url(f"{live_server.url}/accounts/{account.pk}/")
    assert account.status == AccountStatus.PENDING
    assert page.locator("#external-id").inner_text() == account.external_id
    json_link = page.get_by_role("link", name="Download template (JSON)")
    assert page.get_by_role("link", name="Download template (YAML)").is_visible()
    template = page.request.get(json_link.get_attribute("href"))  # with the browser's session cookie
    assert template.ok and account.external_id in template.text()
    # The copy buttons (hidden without JavaScript) put the External ID and the template on the clipboard.
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    copy_id = page.locator('[data-copy-target="external-id"]')
    copy_id.click()
    expect(copy_id).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == account.external_id
    copy_template = page.locator("[data-copy-url]")
    expect(copy_template).to_have_text("Copy template")
    copy_template.click()
    expect(copy_template).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == template.text()
    screenshot(page, "04-detail-pending")

    # Verify with the stack's Role ARN: connected, discovery queued.
    page.get_by_label("Role ARN").fill(ROLE_ARN)
    page.get_by_role("button", name="Verify and connect").click()
    page.wait_for_url(f"{live_server.url}/accounts/{account.pk}/")
    status_badge = page.locator("#account-status [data-status-badge]")
    assert status_badge.inner_text() == "Connected"
    assert page.locator("[data-discovery-state]").inner_text() == "Queued"
    assert queued_discoveries == [str(account.pk)]
    page.evaluate("window.stillTheSamePage = true")
    screenshot(page, "05-detail-connected")

    # The worker runs discovery; the panel follows by polling the discovery API.
    discover_account(queued_discoveries.pop())
    page.wait_for_function(
        "document.querySelector('#account-status [data-status-badge]').textContent.trim() === 'Active'"
    )
    assert page.locator("[data-instances-found]").inner_text() == "3"
    assert page.locator("[data-regions-done]").inner_text() == "2"
    assert page.locator('[data-region="eu-west-1"] [data-region-result]').inner_text() == "1"
    assert page.locator("[data-discovery-state]").inner_text() == "Finished"
    assert page.get_by_role("button", name="Re-run discovery").is_visible()
    assert not page.get_by_role("heading", name="Finish connecting: three steps").is_visible()
    assert page.evaluate("window.stillTheSamePage") is True  # updated in place, not reloaded
    screenshot(page, "06-detail-active")

    account.refresh_from_db()
    assert account.status == AccountStatus.ACTIVE
    assert account.account_id == CUSTOMER_ACCOUNT
