"""Summaries are SQL aggregates and lists read a page, never a tenant's rows into Python: every query a
summary, a list page or a list endpoint runs is replayed here and the rows it returns are counted. A
summary returns one row per group (a handful, however many instances there are); nothing returns more rows
than a page holds."""

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.choices import Role
from accounts.selectors import accounts_for, with_fleet_totals
from fleet.choices import AuthStatus, Lifecycle, OrchestratorType
from fleet.models import Instance
from fleet.selectors import SUMMARY_GROUPS, fleet_summary, instances_for
from tests.approvals.payloads import rogue_payload

pytestmark = pytest.mark.django_db

INSTANCES = 130  # more than two pages of 50
ACCOUNT_CHOICES = 'SELECT "accounts_account"."id", "accounts_account"."account_name" FROM "accounts_account"'
# The ids of the reader's accounts, which scope their rows (spotopt.scoping.scope_account_ids).
ACCOUNT_IDS = 'SELECT "accounts_account"."id" AS "id" FROM "accounts_account" WHERE'


class Recorder:
    def __init__(self):
        self.statements = []

    def __call__(self, execute, sql, params, many, context):
        self.statements.append((sql, params))
        return execute(sql, params, many, context)


def rows_returned(statements) -> list[tuple[str, int]]:
    """(sql, how many rows it returns) for each SELECT, replayed on a raw cursor."""
    counted = []
    with connection.cursor() as cursor:
        for sql, params in statements:
            if not sql.lstrip().upper().startswith(("SELECT", "WITH")):
                continue
            cursor.execute(sql, params)
            counted.append((sql, len(cursor.fetchall())))
    return counted


def recorded(action):
    recorder = Recorder()
    with connection.execute_wrapper(recorder):
        result = action()
    return result, recorder.statements


@pytest.fixture
def estate(client_user, make_account, make_instance):
    """Two accounts of the client's, 130 instances over a few combinations of the summary's groups."""
    accounts = [make_account(client_user, account_name=f"Account {n}") for n in range(2)]
    lifecycles, orchestrators = [Lifecycle.SPOT, Lifecycle.ON_DEMAND], list(OrchestratorType.values)[:2]
    for n in range(INSTANCES):
        make_instance(
            accounts[n % 2],
            lifecycle=lifecycles[n % 4 // 2],
            orchestrator_type=orchestrators[n % 3 // 2],
            region="us-east-1" if n % 5 else "eu-west-1",
            auth_status=AuthStatus.FLAGGED if n % 13 == 0 else AuthStatus.AUTHORIZED,
        )
    return accounts


def test_the_fleet_summary_is_one_group_by_returning_one_row_per_group(client_user, estate):
    instances = instances_for(client_user).filter(is_active=True)
    groups = set(instances.values_list(*SUMMARY_GROUPS))
    assert len(groups) < INSTANCES / 4  # the estate has far fewer groups than rows

    (total, per_account), statements = recorded(lambda: fleet_summary(instances))

    assert len(statements) == 1
    sql = statements[0][0]
    assert "GROUP BY" in sql and ("COUNT(" in sql and "SUM(" in sql)
    assert [count for _, count in rows_returned(statements)] == [len(groups)]
    assert total.instances == INSTANCES
    assert sum(total.by_lifecycle.values()) == sum(summary.instances for summary in per_account.values()) == INSTANCES
    assert total.hourly_cost == sum(Instance.objects.exclude(hourly_price=None).values_list("hourly_price", flat=True))


def test_account_totals_are_aggregated_in_the_database(client_user, estate):
    accounts, statements = recorded(lambda: list(with_fleet_totals(accounts_for(client_user))))

    assert len(statements) == 1
    sql = statements[0][0]
    assert sql.count("GROUP BY") == 2 and "COUNT(" in sql and "SUM(" in sql  # one per total, per account
    assert [count for _, count in rows_returned(statements)] == [len(estate)]  # one row per account
    assert sorted(account.instance_count for account in accounts) == [INSTANCES // 2, INSTANCES // 2]


def _session(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _api(user) -> APIClient:
    api = APIClient()
    api.force_authenticate(user)
    return api


LISTS = [
    ("fleet page", _session, lambda: reverse("instance_list"), 50),
    ("fleet page, filtered", _session, lambda: reverse("instance_list") + "?lifecycle=spot&ordering=-hourly_price", 50),
    ("accounts page", _session, lambda: reverse("account_list"), 25),
    ("approvals page", _session, lambda: reverse("approval_list"), 25),
    ("instances API", _api, lambda: "/api/v1/instances/", 50),
    ("accounts API", _api, lambda: "/api/v1/accounts/", 50),
    ("approvals API", _api, lambda: "/api/v1/approvals/", 50),
]


@pytest.mark.parametrize(("name", "signed_in", "url", "page_size"), LISTS, ids=[row[0] for row in LISTS])
@pytest.mark.parametrize("role", [Role.CLIENT, Role.ADMIN])
def test_no_query_of_a_list_reads_more_rows_than_a_page(
    name, signed_in, url, page_size, role, client_user, admin_user, estate, make_account, make_approval
):
    for instance in Instance.objects.filter(auth_status=AuthStatus.FLAGGED)[:4]:
        for _ in range(20):  # 80 requests: more than a page of them
            make_approval(
                account=instance.account, instance=instance, action_payload=rogue_payload(instance.instance_id)
            )
    for n in range(60):  # more accounts than a page holds
        make_account(client_user, account_name=f"Spare {n}")
    user = client_user if role == Role.CLIENT else admin_user

    response, statements = recorded(lambda: signed_in(user).get(url()))

    assert response.status_code == 200
    counted = rows_returned(statements)
    assert counted, "the list ran no SELECT"
    # A page and the row after it (to know there is a next page); summaries return groups, counts one row.
    # The account filter's choices and the scope's account ids are the reader's accounts: bounded by accounts.
    too_many = [
        (sql[:160], count)
        for sql, count in counted
        if count > page_size + 1 and not sql.startswith((ACCOUNT_CHOICES, ACCOUNT_IDS))
    ]
    assert not too_many
