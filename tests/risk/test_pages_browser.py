"""The risk and SLA pages in a real browser (Debian's chromium, headless): a super_admin opens Risk, reads
the poisoned pools and lifts one with a reason; a customer reads its events, its account's event channel
(makes a webhook secret, shown once) and the SLA page with its chart and a month over budget."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.choices import Role
from risk.models import SpotPoolRisk
from sla.choices import DowntimeCause
from tests.browser import browser_page, expect, screenshot, sign_in  # noqa: F401
from tests.risk.factories import make_event, make_pool
from tests.sla.test_api import make_downtime

pytestmark = pytest.mark.browser


@pytest.fixture
def estate(make_team, make_instance):
    acme = make_team("Acme")
    pool = make_pool(0, instance_type="c5.xlarge", availability_zone="eu-west-1b")
    make_pool(1, instance_type="m5.large", availability_zone="eu-west-1a")
    make_event(acme.account, 0, instance_id="i-0aaaaaaaaaaaaaaa1", instance_type="c5.xlarge")
    make_event(acme.account, 1, instance_id="i-0aaaaaaaaaaaaaaa2")
    now = timezone.now()
    make_downtime(acme.account, started_at=now - timedelta(minutes=30), seconds=48, cause=DowntimeCause.NO_REPLICA)
    make_downtime(acme.account, started_at=now - timedelta(minutes=10), seconds=21, cause=DowntimeCause.WORKER_CRASH)
    return acme, pool


def test_a_super_admin_lifts_a_poisoned_pool(live_server, browser_page, make_user, estate):  # noqa: F811
    page = browser_page
    _, pool = estate
    boss = make_user(Role.SUPER_ADMIN, full_name="Sam Super")
    sign_in(page, live_server, boss.username)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Risk").click()
    page.wait_for_url(f"{live_server.url}/risk/")
    row = page.locator(f'tr[data-pool="{pool.pool_id}"]')
    expect(row).to_contain_text("Poisoned")
    expect(row).to_contain_text("expires in")
    expect(page.locator(".risk-pools tbody tr")).to_have_count(2)
    screenshot(page, "risk-01-pools")

    row.get_by_label(f"Why {pool.pool_id} is safe again").fill("AWS confirmed the capacity is back")
    row.get_by_role("button", name="Lift").click()
    page.wait_for_url(f"{live_server.url}/risk/")
    expect(page.locator(".message--success")).to_contain_text(f"Pool {pool.pool_id} lifted")
    expect(page.locator(".risk-pools tbody tr")).to_have_count(1)
    pool.refresh_from_db()
    assert not pool.is_poisoned and pool.pool_metadata["lifts"][0]["by"] == boss.username
    assert SpotPoolRisk.objects.filter(is_poisoned=True).count() == 1


def test_a_customer_reads_events_makes_a_webhook_secret_and_reads_the_sla(live_server, browser_page, estate):  # noqa: F811
    page = browser_page
    acme, _ = estate
    sign_in(page, live_server, acme.client.username)

    page.goto(f"{live_server.url}/risk/events/")
    expect(page.locator(".risk-events tbody tr")).to_have_count(2)
    expect(page.locator(".risk-events")).to_contain_text("i-0aaaaaaaaaaaaaaa1")
    expect(page.locator(".risk-events")).to_contain_text("Poisoned the pool")
    page.get_by_label("Outcome").select_option("counted")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator(".risk-events tbody tr")).to_have_count(1)
    screenshot(page, "risk-02-events")

    page.goto(f"{live_server.url}/accounts/{acme.account.pk}/")
    page.get_by_role("link", name="How they reach spotopt").click()
    page.wait_for_url(f"{live_server.url}/risk/accounts/{acme.account.pk}/")
    expect(page.get_by_text("No webhook secret yet")).to_be_visible()
    page.get_by_role("button", name="Make a secret").click()
    secret = page.locator("#webhook-secret")
    expect(secret).to_contain_text("spe_")
    shown = secret.inner_text()
    screenshot(page, "risk-03-webhook-secret")
    page.goto(f"{live_server.url}/risk/accounts/{acme.account.pk}/")  # the secret lived in that one answer
    expect(page.get_by_text("A secret was made")).to_be_visible()
    expect(page.locator("#webhook-secret")).to_have_count(0)
    assert shown not in page.content()

    page.get_by_role("navigation", name="Main").get_by_role("link", name="SLA").click()
    page.wait_for_url(f"{live_server.url}/sla/")
    expect(page.locator("svg.sla-chart")).to_be_visible()
    expect(page.locator("svg.sla-chart rect.sla-bar--over")).to_have_count(1)
    expect(page.locator("[data-stat=this-month]")).to_contain_text("1 min 9 s")
    expect(page.locator(".sla-accounts")).to_contain_text("Acme production")
    expect(page.locator(".sla-downtime tbody tr")).to_have_count(2)
    screenshot(page, "sla-01-dashboard")
