"""The waste page in a real browser (Debian's chromium, headless), over a real scan of a moto account: a
customer reads the totals and the reasons, filters, exports exactly the filtered table as CSV, flags a
volume (tagged in AWS) and exempts a snapshot."""

import csv
import io
import re
from pathlib import Path

import pytest

from tests.browser import browser_page, expect, screenshot, sign_in  # noqa: F401
from waste.choices import WasteStatus
from waste.models import WasteResource
from waste.services import account_scan_waste

pytestmark = pytest.mark.browser


def _table_ids(page) -> list[str]:
    return page.locator(".waste-table tbody tr").evaluate_all("rows => rows.map(r => r.dataset.resource)")


def test_a_customer_reads_filters_exports_and_acts_on_waste(
    live_server,
    browser_page,  # noqa: F811
    estate,
    waste_account,
    client_user,
):
    account_scan_waste(account=waste_account)
    page = browser_page
    sign_in(page, live_server, client_user.username)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Waste").click()
    page.wait_for_url(f"{live_server.url}/waste/")

    expect(page.locator('[data-stat="monthly"]')).to_contain_text("$29.45")
    expect(page.locator(".waste-chart")).to_be_visible()
    expect(page.locator(".waste-table tbody tr")).to_have_count(8)  # 7 idle and the exempt one
    volume_row = page.locator(f'tr[data-resource="{estate["old_volume"]}"]')
    expect(volume_row).to_contain_text("100 GiB gp3")
    expect(volume_row).to_contain_text("$16.00")
    stopped_row = page.locator(f'tr[data-resource="{estate["stopped_root_volume"]}"]')
    expect(stopped_row).to_contain_text("report only")
    expect(page.locator(f'tr[data-resource="{estate["kept_volume"]}"]')).to_contain_text("Exempt")
    screenshot(page, "waste-01-list")

    # Filter to the volumes; the export is exactly that table.
    page.get_by_label("Type", exact=True).select_option("ebs_volume")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r".*resource_type=ebs_volume.*"))
    shown = _table_ids(page)
    assert len(shown) == 4
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    exported = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8"))))
    assert [row["resource_id"] for row in exported] == shown

    # Flag the old volume: tagged in AWS with its planned deletion date.
    page.get_by_label(f"Select {estate['old_volume']}").check()
    page.get_by_role("button", name="Flag").click()
    expect(page.locator(".message--success")).to_contain_text("1 resource(s) flagged")
    expect(page.locator(f'tr[data-resource="{estate["old_volume"]}"]')).to_contain_text("Flagged")
    expect(page.locator(f'tr[data-resource="{estate["old_volume"]}"]')).to_contain_text("grace ends")
    assert estate.tag("old_volume").startswith("delete@")

    # Exempt the orphan snapshot from the full list.
    page.get_by_role("link", name="Clear").click()
    page.get_by_label(f"Select {estate['orphan_snapshot']}").check()
    page.get_by_role("button", name="Exempt").click()
    expect(page.locator(".message--success")).to_contain_text("1 resource(s) exempted")
    screenshot(page, "waste-02-acted")
    assert WasteResource.objects.get(resource_id=estate["orphan_snapshot"]).status == WasteStatus.EXEMPT
    assert estate.tag("orphan_snapshot") == "keep"
