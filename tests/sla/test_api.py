"""The SLA API: /api/v1/sla/downtime/ under the API contract, and /api/v1/sla/summary/: per account and
calendar month against the 60-second budget, from one GROUP BY, ongoing stretches counted until now."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from accounts.choices import Role
from sla.choices import DowntimeCause
from sla.models import DowntimeLog
from sla.selectors import months_back, sla_summary
from sla.services import downtime_open, downtime_record
from tests.api_contract import ApiContract, Call, Endpoint, api_as, assert_error, environment_of, query_count

pytestmark = pytest.mark.django_db

SUMMARY = "/api/v1/sla/summary/"
DOWNTIME = "/api/v1/sla/downtime/"
ANYONE = frozenset(Role)
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def make_downtime(account, n: int = 0, *, started_at=None, seconds: float = 4.5, cause=None, instance=None):
    started = started_at or (datetime.now(UTC) - timedelta(hours=n + 1))
    return downtime_record(
        account=account,
        instance=instance,
        cause=cause or [DowntimeCause.NO_REPLICA, DowntimeCause.EMERGENCY_SWITCH][n % 2],
        started_at=started,
        ended_at=started + timedelta(seconds=seconds),
        details=f"Interruption warning {n}: no replica stood by.",
    )


class TestDowntimeContract(ApiContract):
    endpoint = Endpoint(
        list_url=DOWNTIME,
        make=lambda tenant, n: make_downtime(tenant.account_in(environment_of(n)), n),
        models=(DowntimeLog,),
        secrets=lambda log: [log.account.account_name, log.account.account_id],
        not_allowed=(
            Call("create", "post", "", {"cause": "no_replica"}, roles=ANYONE),
            Call("destroy", "delete", "{pk}/", roles=ANYONE),
        ),
        list_queries=("", "?cause=no_replica&ongoing=false"),
    )


def test_the_summary_is_per_account_and_month_against_the_budget(make_team, clock):
    clock.now = NOW
    acme = make_team("Acme")
    other = make_team("Globex")
    make_downtime(acme.account, started_at=NOW - timedelta(days=1), seconds=40, cause=DowntimeCause.NO_REPLICA)
    make_downtime(acme.account, started_at=NOW - timedelta(hours=2), seconds=25.5, cause=DowntimeCause.WORKER_CRASH)
    make_downtime(acme.account, started_at=datetime(2026, 10, 15, tzinfo=UTC), seconds=12)
    make_downtime(other.account, started_at=NOW - timedelta(hours=1), seconds=3)
    ongoing = downtime_open(
        account=acme.account, instance=None, cause=DowntimeCause.NO_REPLICA, started_at=NOW - timedelta(seconds=5)
    )

    response = api_as(acme.viewer).get(SUMMARY)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["budget_seconds"] == 60 and len(body["months"]) == 12
    assert body["months"][-1]["month"] == "2026-12-01" and body["months"][0]["month"] == "2026-01-01"
    december, october = body["accounts"]
    assert (december["month"], october["month"]) == ("2026-12-01", "2026-10-01")
    assert december["account_name"] == "Acme production"
    assert Decimal(december["downtime_seconds"]) == Decimal("70.500")  # 40 + 25.5 + 5 ongoing
    assert december["over_budget"] is True and Decimal(december["budget_left_seconds"]) == 0
    assert (december["incidents"], december["open_incidents"]) == (3, 1)
    assert {k: Decimal(v) for k, v in december["by_cause"].items()} == {
        "no_replica": Decimal("45.000"),
        "worker_crash": Decimal("25.500"),
    }
    assert Decimal(october["budget_left_seconds"]) == Decimal("48.000")
    assert Decimal(body["months"][-1]["worst_account_seconds"]) == Decimal("70.500")
    assert "Globex" not in response.content.decode()  # another tenant's downtime is not summed
    assert ongoing.duration_seconds is None

    admin = api_as(acme.client).get(SUMMARY + "?months=3").json()
    assert len(admin["months"]) == 3 and len(admin["accounts"]) == 2


def test_the_summary_takes_the_lists_filters_and_refuses_bad_months(make_team, clock):
    clock.now = NOW
    acme = make_team("Acme")
    make_downtime(acme.account, started_at=NOW - timedelta(hours=3), cause=DowntimeCause.NO_REPLICA)
    make_downtime(acme.account, started_at=NOW - timedelta(hours=2), cause=DowntimeCause.WORKER_CRASH)
    api = api_as(acme.client)
    [row] = api.get(SUMMARY + "?cause=worker_crash").json()["accounts"]
    assert list(row["by_cause"]) == ["worker_crash"]
    for months in ("0", "25", "x"):
        assert_error(api.get(f"{SUMMARY}?months={months}"), 400)
    assert_error(api_as().get(SUMMARY), 401)


def test_an_outsider_and_an_empty_tenant_see_zero(make_team, make_user, clock):
    clock.now = NOW
    acme, globex = make_team("Acme"), make_team("Globex")
    make_downtime(acme.account, started_at=NOW - timedelta(hours=1))
    for who in (globex.client, make_user(Role.LAB)):
        body = api_as(who).get(SUMMARY).json()
        assert body["accounts"] == [] and all(Decimal(m["worst_account_seconds"]) == 0 for m in body["months"])


def test_the_summary_is_a_group_by_whatever_the_rows(make_team, clock):
    clock.now = NOW
    acme = make_team("Acme")
    api = api_as(acme.client)
    make_downtime(acme.account, started_at=NOW - timedelta(hours=1))
    query_count(api, SUMMARY)  # the user's account ids are read once per user object
    few, _ = query_count(api, SUMMARY)
    for n in range(40):
        make_downtime(acme.account, n, started_at=NOW - timedelta(days=n * 7))
    many, response = query_count(api, SUMMARY)
    assert many == few
    assert len(response.json()["accounts"]) == 10  # 40 weeks span 10 months of the last 12


def test_months_back_crosses_the_year():
    assert months_back(datetime(2026, 2, 14).date(), 3) == [
        datetime(2025, 12, 1).date(),
        datetime(2026, 1, 1).date(),
        datetime(2026, 2, 1).date(),
    ]


def test_summary_of_nothing(db):
    summary = sla_summary(DowntimeLog.objects.none(), months=12, now=NOW)
    assert summary.rows == [] and len(summary.by_month) == 12 and summary.by_cause["no_replica"] == 0
