"""The SLA page: the month's downtime against the budget, the chart, the causes and the rows; tenancy and
query counts."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.choices import Role
from sla.choices import DowntimeCause
from tests.sla.test_api import make_downtime

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def html(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def test_the_sla_page_needs_sign_in(client):
    assert client.get(reverse("sla_dashboard")).status_code == 302


def test_the_page_shows_the_month_the_chart_and_the_rows(make_team, clock):
    clock.now = NOW
    acme, globex = make_team("Acme"), make_team("Globex")
    make_downtime(acme.account, started_at=NOW - timedelta(hours=5), seconds=75, cause=DowntimeCause.NO_REPLICA)
    make_downtime(globex.account, started_at=NOW - timedelta(hours=5), seconds=9)
    page = html(signed_in(acme.viewer).get(reverse("sla_dashboard")))
    assert "<svg" in page and "sla-bar--over" in page and "60-second budget" in page
    assert "1 min 15 s" in page and "Acme production" in page and "December 2026" in page
    assert "No replica available" in page and "Globex" not in page
    three = html(signed_in(acme.viewer).get(reverse("sla_dashboard") + "?months=3"))
    assert "The last 3 months" in three and "October 2026" in three and "September 2026" not in three


def test_an_empty_tenant_sees_its_budget_whole(make_team):
    acme = make_team("Acme")
    page = html(signed_in(acme.client).get(reverse("sla_dashboard")))
    assert "no downtime on any account" in page and "spotopt has caused no downtime" in page


@pytest.mark.parametrize("role", [Role.LAB, Role.ADMIN, Role.SUPER_ADMIN])
def test_operators_see_what_their_role_covers(make_team, make_user, role, clock):
    clock.now = NOW
    acme = make_team("Acme")
    make_downtime(acme.account, started_at=NOW - timedelta(hours=1), seconds=5)
    page = html(signed_in(make_user(role)).get(reverse("sla_dashboard")))
    assert ("Acme production" in page) == (role != Role.LAB)  # a production account


def test_the_page_makes_as_many_queries_for_many_rows_as_for_few(make_team, clock):
    clock.now = NOW
    acme = make_team("Acme")
    client = signed_in(acme.client)

    def queries(start, count):
        for n in range(start, start + count):
            make_downtime(acme.account, n, started_at=NOW - timedelta(days=n * 5))
        client.get(reverse("sla_dashboard"))
        with CaptureQueriesContext(connection) as captured:
            html(client.get(reverse("sla_dashboard")))
        return len(captured)

    assert queries(0, 2) == queries(2, 40)
