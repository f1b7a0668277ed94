"""The overview (where signing in lands): this month's savings, the SLA budget used, approvals the user may
decide, waste found, poisoned pools in the user's fleet, accounts with errors; only the user's scope, and a
constant number of queries."""

import re
from datetime import UTC, date, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.choices import AccountStatus
from approvals.choices import RiskLevel
from tests.risk.factories import make_pool
from tests.savings.test_pages_api import make_day

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


def stat(page: str, name: str) -> str:
    """The value of one card (data-stat="name")."""
    card = re.search(rf'data-stat="{name}".*?stat-card__value">([^<]*)<', page, re.S)
    assert card, f"no {name} card"
    return card.group(1).strip()


def page_of(client, user) -> str:
    client.force_login(user)
    response = client.get(reverse("overview"))
    assert response.status_code == 200
    return response.content.decode()


def test_the_overview_shows_the_users_world(client, make_team, make_account, make_approval, make_instance, clock):
    clock.now = NOW
    acme, globex = make_team("Acme"), make_team("Globex")
    make_day(acme.account, day=date(2026, 11, 3))  # $2.304 - $0.720 = $1.58 realized
    make_day(globex.account, day=date(2026, 11, 3), baseline="100", actual="1")
    make_approval(account=acme.account, risk_level=RiskLevel.MEDIUM)  # a client decides up to MEDIUM
    make_approval(account=acme.account, risk_level=RiskLevel.HIGH)
    make_instance(acme.account, instance_type="m5.large", availability_zone="us-east-1a", lifecycle="spot")
    make_pool(region="us-east-1", availability_zone="us-east-1a", instance_type="m5.large")
    make_pool(region="us-east-1", availability_zone="us-east-1b", instance_type="c5.large")  # nobody's
    make_account(acme.client, status=AccountStatus.FAILED, account_name="Broken")

    page = page_of(client, acme.client)

    assert "$1.58" in page and "$99.00" not in page
    assert "Approvals for you to decide" in page
    assert '<p class="stat-card__value">1</p>' in page  # one to decide, and one poisoned pool, one failing account
    assert "2 pending in all" in page
    assert page.count("stat-card--alert") == 2  # poisoned pools and accounts with errors


def test_the_overview_needs_sign_in_and_signing_in_lands_there(client, make_team, make_user):
    from accounts.choices import Role

    assert client.get(reverse("overview")).status_code == 302
    client.force_login(make_team("Acme").client)
    assert client.get("/")["Location"] == reverse("overview")
    # A new customer without an account is told what to do first.
    page = page_of(client, make_user(Role.CLIENT))
    assert "No AWS account connected yet" in page and "Connect your first AWS account" in page


def test_the_overview_makes_the_same_number_of_queries_for_a_bigger_world(client, make_team, make_approval):
    acme = make_team("Acme")
    client.force_login(acme.client)
    counts = []
    for _ in range(2):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(reverse("overview")).status_code == 200
        counts.append(len(queries))
        for n in range(5):
            make_day(acme.account, day=date(2026, 11, 1 + n))
            make_approval(account=acme.account)
    assert counts[0] == counts[1], counts
