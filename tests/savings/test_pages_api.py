"""The savings page, its CSV and /api/v1/savings/ (under the API contract) and /api/v1/savings/summary/:
tenancy, the monthly figures from one GROUP BY, the CSV the filtered rows, constant query counts."""

import csv
import io
from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.choices import Role
from savings.choices import MoveKind, PriceBasis
from savings.models import SavingsDay
from tests.api_contract import ApiContract, Call, Endpoint, api_as, environment_of

pytestmark = pytest.mark.django_db
ANYONE = frozenset(Role)
_made = iter(range(1, 10_000))


def make_day(account, n: int = 0, *, day=None, baseline="2.304", actual="0.720", overlap="0", projected="1.584"):
    from fleet.models import Instance

    number = next(_made)
    instance = Instance.objects.create(
        account=account,
        instance_id=f"i-{number:017x}",
        instance_type="m5a.large",
        availability_zone="us-east-1a",
        region="us-east-1",
        lifecycle="spot",
    )
    return SavingsDay.objects.create(
        account=account,
        instance=instance,
        kind=MoveKind.SWITCH,
        day=day or date.today(),
        hours=Decimal("24"),
        baseline_cost=Decimal(baseline),
        actual_cost=Decimal(actual),
        overlap_cost=Decimal(overlap),
        projected_saving=Decimal(projected),
        baseline_basis=PriceBasis.LIST,
        actual_basis=PriceBasis.MEASURED,
    )


class TestSavingsContract(ApiContract):
    endpoint = Endpoint(
        list_url="/api/v1/savings/",
        make=lambda tenant, n: make_day(tenant.account_in(environment_of(n)), n),
        models=(SavingsDay,),
        secrets=lambda row: [row.instance.instance_id, row.account.account_name],
        not_allowed=(
            Call("create", "post", "", {"kind": "switch"}, roles=ANYONE),
            Call("destroy", "delete", "{pk}/", roles=ANYONE),
        ),
        list_queries=("", "?kind=switch&month=2026-12"),
    )


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_summary_is_per_account_and_month(make_team):
    acme, globex = make_team("Acme"), make_team("Globex")
    make_day(acme.account, day=date(2026, 11, 3))
    make_day(acme.account, day=date(2026, 11, 4), overlap="0.048")
    make_day(acme.account, day=date(2026, 10, 30))
    make_day(globex.account, day=date(2026, 11, 3))
    rows = api_as(acme.viewer).get("/api/v1/savings/summary/").json()
    assert [(r["month"], r["moves"]) for r in rows] == [("2026-11-01", 2), ("2026-10-01", 1)]
    november = rows[0]
    assert november["baseline_cost"] == "4.61" and november["actual_cost"] == "1.44"
    assert november["realized_saving"] == "3.12" and november["projected_saving"] == "3.17"
    assert november["difference"] == "-0.05" and november["currency"] == "USD"
    assert {r["account_name"] for r in rows} == {"Acme production"}


def test_the_page_shows_the_months_the_chart_and_the_moves_to_the_tenant_only(make_team, clock):
    from datetime import UTC, datetime

    clock.now = datetime(2026, 11, 20, 12, tzinfo=UTC)
    acme, globex = make_team("Acme"), make_team("Globex")
    mine = make_day(acme.account, day=date(2026, 11, 3))
    theirs = make_day(globex.account, day=date(2026, 11, 3))
    page = signed_in(acme.viewer).get(reverse("savings")).content.decode()
    assert "<svg" in page and "November 2026" in page and "$1.58" in page and "$1.58" in page
    assert mine.instance.instance_id in page and theirs.instance.instance_id not in page
    assert "Globex" not in page
    empty = signed_in(make_team("Initech").client).get(reverse("savings")).content.decode()
    assert "Nothing saved yet" in empty


def test_the_csv_is_the_filtered_rows(make_team):
    acme = make_team("Acme")
    make_day(acme.account, day=date(2026, 11, 3))
    make_day(acme.account, day=date(2026, 10, 3))
    response = signed_in(acme.client).get(reverse("savings_export") + "?month=2026-11")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r["day"] for r in rows] == ["2026-11-03"]
    assert rows[0]["realized_saving_usd"] == "1.584000" and rows[0]["actual_prices"] == "measured"


def test_the_csv_adds_up_to_the_pages_table_of_moves(make_team):
    acme = make_team("Acme")
    first = make_day(acme.account, day=date(2026, 11, 3))
    for day, actual in ((4, "0.800"), (5, "0.650")):  # the same instance on two more days
        SavingsDay.objects.create(
            account=acme.account,
            instance=first.instance,
            kind=MoveKind.SWITCH,
            day=date(2026, 11, day),
            hours=Decimal("24"),
            baseline_cost=Decimal("2.304"),
            actual_cost=Decimal(actual),
            overlap_cost=Decimal("0.010"),
            projected_saving=Decimal("1.584"),
            baseline_basis=PriceBasis.LIST,
            actual_basis=PriceBasis.MEASURED,
        )
    make_day(acme.account, day=date(2026, 11, 9), baseline="1.000", actual="1.200")  # a move that cost us
    client = signed_in(acme.client)
    page = client.get(reverse("savings") + "?month=2026-11")
    export = client.get(reverse("savings_export") + "?month=2026-11")
    summed = {}
    for row in csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode())):
        totals = summed.setdefault((row["instance_id"], row["kind"]), [Decimal(0)] * 5)
        for index, column in enumerate(
            ["hours", "baseline_cost_usd", "actual_cost_usd", "overlap_cost_usd", "realized_saving_usd"]
        ):
            totals[index] += Decimal(row[column])
    table = {
        (move["instance_id"], move["kind"]): [
            move["hours"],
            move["baseline_cost"],
            move["actual_cost"],
            move["overlap_cost"],
            move["realized_saving"],
        ]
        for move in page.context["moves"]
    }
    assert set(table) == set(summed) and len(table) == 2
    for key, figures in table.items():
        assert [Decimal(f).quantize(Decimal("0.01")) for f in figures] == [
            t.quantize(Decimal("0.01")) for t in summed[key]
        ], key
    html = page.content.decode()
    for key, figures in table.items():
        assert key[0] in html and f"{figures[4]:,.2f}".lstrip("-") in html


def test_the_page_makes_the_same_number_of_queries_for_many_rows(make_team):
    acme = make_team("Acme")
    client = signed_in(acme.client)
    counts = []
    for _ in range(2):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(reverse("savings")).status_code == 200
        counts.append(len(queries))
        for n in range(10):
            make_day(acme.account, day=date(2026, 11, 1 + n))
    assert counts[0] == counts[1], counts


def test_the_page_needs_sign_in(client):
    assert client.get(reverse("savings")).status_code == 302
    assert client.get(reverse("savings_export")).status_code == 302
