"""The waste API: /api/v1/waste/ under the API contract, the bulk actions (outsiders, roles, a row of another
tenant in the batch), Scan now, and /api/v1/waste/summary/ as GROUP BYs."""

import uuid
from decimal import Decimal

import pytest

from accounts.choices import Role
from approvals.models import ApprovalRequest
from tests.api_contract import ApiContract, Call, Endpoint, api_as, assert_error, environment_of, query_count
from tests.aws_fixtures import moto  # noqa: F401
from waste.choices import ResourceType, WasteStatus
from waste.models import WasteResource
from waste.services import MANAGE_REFUSAL

pytestmark = pytest.mark.django_db

WASTE = "/api/v1/waste/"
SUMMARY = "/api/v1/waste/summary/"
ANYONE = frozenset(Role)
MANAGERS = frozenset({Role.CLIENT, Role.ADMIN, Role.SUPER_ADMIN})
TYPES = list(ResourceType)


def make_waste(account, n: int = 0, **fields):
    kind = TYPES[n % len(TYPES)]
    prefix = {"elastic_ip": "eipalloc", "ebs_volume": "vol", "ebs_snapshot": "snap", "ami": "ami"}[kind]
    values = {
        "resource_type": kind,
        "resource_id": f"{prefix}-{n:017x}",
        "region": "us-east-1",
        "monthly_cost": Decimal(n + 1),
        "days_unused": 10 + n,
        "reason": f"idle resource {n}",
        **fields,
    }
    return WasteResource.objects.create(account=account, **values)


class TestWasteContract(ApiContract):
    endpoint = Endpoint(
        list_url=WASTE,
        make=lambda tenant, n: make_waste(tenant.account_in(environment_of(n)), n),
        models=(WasteResource, ApprovalRequest),
        secrets=lambda row: [row.resource_id, row.account.account_name, row.account.account_id],
        writers=MANAGERS,
        write_refusal=MANAGE_REFUSAL,
        # Refused roles are refused before any row is looked up (the ids here name no row).
        writes=(
            Call("flag", "post", "flag/", {"ids": [str(uuid.uuid4())]}),
            Call("schedule", "post", "schedule/", {"ids": [str(uuid.uuid4())]}),
            Call("exempt", "post", "exempt/", {"ids": [str(uuid.uuid4())]}),
            Call("scan", "post", "scan/", {"account": str(uuid.uuid4())}),
        ),
        not_allowed=(
            Call("create", "post", "", {"resource_id": "vol-1"}, roles=ANYONE),
            Call("destroy", "delete", "{pk}/", roles=ANYONE),
            Call("update", "patch", "{pk}/", {"status": "DELETED"}, roles=ANYONE),
        ),
        list_queries=(
            "",
            "?resource_type=elastic_ip&listed=true&min_cost=1&min_days=5",
            "?status=DETECTED&region=us-east-1",
        ),
    )


def test_an_outsiders_bulk_action_is_a_404_and_changes_nothing(make_team):
    acme, globex = make_team("Acme"), make_team("Globex")
    ours = make_waste(acme.account, 1)
    theirs = make_waste(globex.account, 2)
    for path in ("flag/", "schedule/", "exempt/"):
        response = api_as(acme.client).post(f"{WASTE}{path}", {"ids": [str(ours.pk), str(theirs.pk)]}, format="json")
        assert_error(response, 404)
        assert theirs.resource_id not in response.content.decode()
    assert set(WasteResource.objects.values_list("status", flat=True)) == {WasteStatus.DETECTED}
    assert_error(api_as(acme.client).post(f"{WASTE}scan/", {"account": str(globex.account.pk)}, format="json"), 404)


def test_exempt_through_the_api_answers_what_it_did(make_team, moto):  # noqa: F811 (the fixture)
    acme = make_team("Acme")
    row, done = make_waste(acme.account, 1), make_waste(acme.account, 2, status=WasteStatus.EXEMPT)

    response = api_as(acme.client).post(f"{WASTE}exempt/", {"ids": [str(row.pk), str(done.pk)]}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["done"] == [str(row.pk)] and body["skipped"] == {done.resource_id: "it is exempt"}
    assert body["approval_requests"] == []
    row.refresh_from_db()
    assert row.status == WasteStatus.EXEMPT and row.resource_metadata["exempted_by"] == acme.client.username


def test_a_bulk_action_needs_ids(make_team):
    acme = make_team("Acme")
    for body in ({}, {"ids": []}, {"ids": ["nope"]}):
        assert_error(api_as(acme.client).post(f"{WASTE}flag/", body, format="json"), 400)


def test_scan_now_is_queued(make_team, django_capture_on_commit_callbacks):
    acme = make_team("Acme")
    with django_capture_on_commit_callbacks() as callbacks:
        response = api_as(acme.client).post(f"{WASTE}scan/", {"account": str(acme.account.pk)}, format="json")
    assert response.status_code == 202 and response.json()["state"] == "queued"
    assert len(callbacks) == 1
    acme.account.refresh_from_db()
    assert acme.account.account_metadata["waste_scan"]["state"] == "queued"


def test_the_summary_is_by_type_and_account_with_the_lists_filters(make_team):
    acme, globex = make_team("Acme"), make_team("Globex")
    make_waste(acme.account, 0, monthly_cost=Decimal("3.65"))  # elastic_ip
    make_waste(acme.account, 1, monthly_cost=Decimal("16"))  # ebs_volume
    make_waste(acme.account, 5, monthly_cost=Decimal("8"))  # ebs_volume
    make_waste(acme.account, 2, monthly_cost=Decimal("2.5"), status=WasteStatus.EXEMPT)  # snapshot, exempt
    make_waste(acme.account, 3, monthly_cost=Decimal("9"), status=WasteStatus.RESOLVED)  # ami, history
    make_waste(globex.account, 4, monthly_cost=Decimal("100"))

    body = api_as(acme.viewer).get(SUMMARY).json()

    assert body["count"] == 3 and Decimal(body["monthly_cost"]) == Decimal("27.65") and body["exempt"] == 1
    by_type = {t["resource_type"]: (t["count"], Decimal(t["monthly_cost"]), t["exempt"]) for t in body["by_type"]}
    assert by_type == {
        "elastic_ip": (1, Decimal("3.65"), 0),
        "ebs_volume": (2, Decimal("24"), 0),
        "ebs_snapshot": (0, Decimal("0"), 1),
        "ami": (0, Decimal("0"), 0),
    }
    (account,) = body["by_account"]
    assert account["account_name"] == acme.account.account_name and Decimal(account["monthly_cost"]) == Decimal("27.65")
    filtered = api_as(acme.viewer).get(f"{SUMMARY}?resource_type=ebs_volume").json()
    assert Decimal(filtered["monthly_cost"]) == Decimal("24")
    assert_error(api_as().get(SUMMARY), 401)


def test_the_summary_makes_as_many_queries_for_many_rows_as_for_one(make_team):
    acme = make_team("Acme")
    api = api_as(acme.client)
    make_waste(acme.account, 0)
    query_count(api, SUMMARY)
    few, _ = query_count(api, SUMMARY)
    for n in range(1, 40):
        make_waste(acme.account, n)
    many, _ = query_count(api, SUMMARY)
    assert many == few
