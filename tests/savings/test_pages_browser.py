"""The overview and the savings page in a real browser (Debian's chromium, headless): signing in lands on
the overview with this month's saving, which links to the savings page with its chart and moves."""

import pytest
from django.utils import timezone

from tests.browser import browser_page, expect, screenshot, sign_in  # noqa: F401
from tests.savings.test_pages_api import make_day

pytestmark = pytest.mark.browser


def test_a_customer_reads_the_overview_and_the_savings_page(live_server, browser_page, client_user, make_account):  # noqa: F811
    account = make_account(client_user, account_name="Shop production")
    today = timezone.now().date()
    row = make_day(account, day=today.replace(day=1))
    page = browser_page
    sign_in(page, live_server, client_user.username)

    expect(page.locator('[data-stat="realized"]')).to_contain_text("$1.58")
    screenshot(page, "savings-01-overview")
    page.locator('[data-stat="realized"]').click()
    page.wait_for_url(f"{live_server.url}/savings/")
    expect(page.locator(".savings-chart")).to_be_visible()
    expect(page.locator(".savings-months tbody tr")).to_have_count(1)
    expect(page.locator(".savings-months tbody tr").first).to_contain_text("Shop production")
    expect(page.locator(".savings-moves")).to_contain_text(row.instance.instance_id)
    expect(page.get_by_role("heading", name=f"Moves in {today:%Y-%m}")).to_be_visible()
    screenshot(page, "savings-02-page")
