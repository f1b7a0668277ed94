"""The waste page: totals, the chart, the table with reasons and states, the bulk actions and Scan now for
the roles that manage waste, the CSV export of exactly the filtered table; tenancy and query counts."""

import csv
import io
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.choices import Role
from tests.helpers import changelist_query_count
from tests.sla.test_pages import html, signed_in
from tests.waste.test_api import make_waste
from waste.choices import WasteStatus
from waste.models import WasteResource

pytestmark = pytest.mark.django_db
PAGE = reverse("waste_list")
EXPORT = reverse("waste_export")
ACTIONS = reverse("waste_bulk_action")
SCAN = reverse("waste_scan")


def table_ids(page: str) -> list[str]:
    return re.findall(r'<tr data-resource="([^"]+)"', page)


def csv_rows(response) -> list[dict]:
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_the_page_needs_sign_in(client):
    for url in (PAGE, EXPORT):
        assert client.get(url).status_code == 302
    assert client.post(ACTIONS, {"action": "flag"}).status_code == 302


def test_the_page_shows_totals_the_chart_and_the_rows(make_team):
    acme, globex = make_team("Acme"), make_team("Globex")
    volume = make_waste(acme.account, 1, reason="unattached since 2026-10-02 at the latest, 100 GiB gp3")
    make_waste(acme.account, 0)
    make_waste(acme.account, 2, status=WasteStatus.EXEMPT)
    make_waste(acme.account, 3, status=WasteStatus.RESOLVED)
    theirs = make_waste(globex.account, 5)

    page = html(signed_in(acme.viewer).get(PAGE))

    assert "<svg" in page and "Monthly waste by resource type" in page
    assert "$3.00" in page  # 1 + 2 on the list; the exempt and the resolved ones are not counted
    assert "2 idle resources on the list; 1 exempt" in page
    assert "unattached since 2026-10-02 at the latest, 100 GiB gp3" in page
    assert volume.resource_id in page and theirs.resource_id not in page
    # On the list by default: the resolved one is history.
    assert len(table_ids(page)) == 3
    # A read-only user sees no actions.
    assert 'name="ids"' not in page and "Scan now" not in page


def test_a_manager_sees_the_actions_and_the_instance_link(make_team, make_instance):
    acme = make_team("Acme")
    instance = make_instance(acme.account, instance_id="i-0000000000000stop")
    make_waste(acme.account, 1, instance=instance, deletable=False, reason="attached to i-…, stopped since …")
    page = html(signed_in(acme.client).get(PAGE))
    assert 'name="ids"' in page and 'value="flag"' in page and "Scan now" in page
    assert reverse("instance_detail", args=[instance.pk]) in page and "report only" in page


def test_the_filters_and_the_export_match_row_for_row(make_team):
    acme = make_team("Acme")
    for n in range(12):
        make_waste(acme.account, n, region="eu-west-1" if n % 3 else "us-east-1")
    make_waste(acme.account, 40, status=WasteStatus.DELETED)
    client = signed_in(acme.client)
    for query in ("", "?region=eu-west-1", "?resource_type=ebs_volume&min_cost=3", "?listed=false", "?min_days=15"):
        shown = table_ids(html(client.get(PAGE + query)))
        exported = csv_rows(client.get(EXPORT + query))
        assert [row["resource_id"] for row in exported] == shown, query
    (deleted,) = csv_rows(client.get(EXPORT + "?listed=false"))
    assert deleted["status"] == "DELETED"
    row = csv_rows(client.get(EXPORT + "?resource_type=elastic_ip"))[0]
    assert set(row) >= {"account", "region", "resource_type", "resource_id", "status", "monthly_cost_usd", "reason"}


def test_an_outsider_sees_and_exports_nothing_and_cannot_act(make_team):
    acme, globex = make_team("Acme"), make_team("Globex")
    row = make_waste(acme.account, 1)
    outsider = signed_in(globex.client)
    assert row.resource_id not in html(outsider.get(PAGE))
    assert csv_rows(outsider.get(EXPORT)) == []
    for action in ("flag", "schedule", "exempt"):
        assert outsider.post(ACTIONS, {"action": action, "ids": [str(row.pk)]}).status_code == 404
    assert outsider.post(SCAN, {"account": str(acme.account.pk)}).status_code == 404
    row.refresh_from_db()
    assert row.status == WasteStatus.DETECTED


@pytest.mark.parametrize("role", [Role.USER, Role.LAB])
def test_a_role_that_may_not_act_is_refused(make_team, make_user, role):
    acme = make_team("Acme")
    row = make_waste(acme.account, 1)
    who = acme.viewer if role == Role.USER else make_user(role)
    response = signed_in(who).post(ACTIONS, {"action": "exempt", "ids": [str(row.pk)]})
    assert response.status_code == 403
    assert signed_in(who).post(SCAN, {"account": str(acme.account.pk)}).status_code == 403
    row.refresh_from_db()
    assert row.status == WasteStatus.DETECTED


def test_the_bulk_action_needs_the_csrf_token(make_team):
    acme = make_team("Acme")
    row = make_waste(acme.account, 1, status=WasteStatus.EXEMPT)
    client = Client(enforce_csrf_checks=True)
    client.force_login(acme.client)
    assert client.post(ACTIONS, {"action": "exempt", "ids": [str(row.pk)]}).status_code == 403


def test_a_bulk_action_reports_what_it_skipped_and_keeps_the_filters(make_team):
    acme = make_team("Acme")
    row = make_waste(acme.account, 1, status=WasteStatus.EXEMPT)
    response = signed_in(acme.client).post(
        ACTIONS, {"action": "flag", "ids": [str(row.pk)], "next": f"{PAGE}?region=us-east-1"}, follow=True
    )
    assert response.redirect_chain[-1][0] == f"{PAGE}?region=us-east-1"
    assert "0 resource(s) flagged" in html(response) and "it is exempt" in html(response)
    bad = signed_in(acme.client).post(ACTIONS, {"action": "flag", "ids": [str(row.pk)], "next": "https://evil.test/"})
    assert bad["Location"] == PAGE


def test_scan_now_queues_a_scan_and_the_page_shows_its_progress(make_team, django_capture_on_commit_callbacks):
    acme = make_team("Acme")
    with django_capture_on_commit_callbacks() as callbacks:
        response = signed_in(acme.client).post(SCAN, {"account": str(acme.account.pk)}, follow=True)
    assert len(callbacks) == 1 and "Scanning" in html(response) and "scan queued" in html(response)


def test_the_empty_state_says_when_the_last_scan_ran(make_team):
    acme = make_team("Acme")
    finished = timezone.now() - timedelta(hours=3)
    acme.account.account_metadata = {"waste_scan": {"state": "finished", "finished_at": finished.isoformat()}}
    acme.account.save()
    page = html(signed_in(acme.client).get(PAGE))
    assert "No idle resources" in page and f"The last scan, {finished:%-d %b %Y, %H:%M} UTC, found nothing idle" in page
    assert "No scan has finished yet" in html(signed_in(make_team("Globex").client).get(PAGE))


def test_the_page_makes_as_many_queries_for_many_rows_as_for_one(make_team, make_instance):
    acme = make_team("Acme")
    client = signed_in(acme.client)
    make_waste(acme.account, 0, instance=make_instance(acme.account))
    client.get(PAGE)
    few = changelist_query_count(client, PAGE)
    for n in range(1, 40):
        make_waste(acme.account, n, instance=make_instance(acme.account))
    assert changelist_query_count(client, PAGE) == few
    assert WasteResource.objects.count() == 40
