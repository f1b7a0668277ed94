"""The experiment log: /api/v1/experiments/ under the API contract (tenant data), the page with its filters,
CSV export of exactly the filtered table, and the detail page that explains a decision."""

import csv
import io
import itertools
import re
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.choices import Role
from mlgov.choices import Decision
from mlgov.models import ExperimentLog
from tests.api_contract import ApiContract, Call, Endpoint, api_as, environment_of
from tests.helpers import changelist_query_count
from tests.sla.test_pages import html, signed_in

pytestmark = pytest.mark.django_db
_serial = itertools.count(1)
ANYONE = frozenset(Role)
EXPERIMENTS = "/api/v1/experiments/"
PAGE = reverse("experiment_list")
EXPORT = reverse("experiment_export")
FEATURES = {
    "schema": "1",
    "names": ["price_ratio_to_on_demand", "price_ratio_to_current"],
    "chosen": [0.31, 0.33],
    "model_sha256": "0" * 64,
    "candidates": [
        {
            "pool": "us-east-1:us-east-1a:m5a.large",
            "own": False,
            "price": 0.03,
            "saving": 0.6875,
            "risk": 0.04,
            "excluded": "",
        },
        {
            "pool": "us-east-1:us-east-1a:m5.large",
            "own": True,
            "price": 0.09,
            "saving": 0.0625,
            "risk": 0.05,
            "excluded": "",
        },
        {
            "pool": "us-east-1:us-east-1b:m6i.large",
            "own": False,
            "price": 0.02,
            "saving": 0.79,
            "risk": None,
            "excluded": "poisoned",
        },
    ],
    "thresholds": {"max_risk": 0.15, "min_saving": 0.2},
    "execution": "not executed: the optimizer's execution is not built yet",
}


def make(tenant_or_account, n=0, make_instance=None, **fields):
    account = tenant_or_account
    instance = make_instance(account, instance_id=f"i-{n:08x}{next(_serial):09x}", instance_type="m5.large")
    values = {
        "pipeline_mode": "LINEAR",
        "decision": [Decision.SWITCH, Decision.HOLD, Decision.FAILED][n % 3],
        "decision_reason": f"reason {n}: m5a.large in us-east-1a: 69 % cheaper than m5.large in us-east-1a",
        "execution_time": "2026-12-03T10:00:00Z",
        "prediction_score": 0.04,
        "selected_instance_type": "m5a.large",
        "selected_availability_zone": "us-east-1a",
        "old_spot_price": Decimal("0.096"),
        "new_spot_price": Decimal("0.030"),
        "projected_hourly_savings": Decimal("0.066"),
        "features_used": FEATURES,
        **fields,
    }
    return ExperimentLog.objects.create(instance=instance, **values)


class TestExperimentsContract(ApiContract):
    endpoint = Endpoint(
        list_url=EXPERIMENTS,
        make=lambda tenant, n: make(tenant.account_in(environment_of(n)), n, tenant.fixture("make_instance")),
        models=(ExperimentLog,),
        secrets=lambda log: [log.instance.instance_id, log.instance.account.account_name],
        not_allowed=(
            Call("create", "post", "", {"decision": "SWITCH"}, roles=ANYONE),
            Call("destroy", "delete", "{pk}/", roles=ANYONE),
        ),
        list_queries=("", "?decision=SWITCH&pipeline_mode=LINEAR&is_shadow_run=false"),
    )


def test_the_detail_carries_the_candidates_and_features(make_team, make_instance):
    acme = make_team("Acme")
    log = make(acme.account, 0, make_instance)
    body = api_as(acme.viewer).get(f"{EXPERIMENTS}{log.pk}/").json()
    assert body["features_used"]["candidates"][2]["excluded"] == "poisoned"
    assert body["switch"] is None  # an evaluation that led to no switch
    assert "features_used" not in api_as(acme.viewer).get(EXPERIMENTS).json()["results"][0]


def test_the_page_lists_filters_and_exports_exactly_the_table(make_team, make_instance):
    acme, globex = make_team("Acme"), make_team("Globex")
    for n in range(6):
        make(acme.account, n, make_instance)
    theirs = make(globex.account, 9, make_instance)
    client = signed_in(acme.client)
    for query in ("", "?decision=SWITCH", "?decision=FAILED"):
        page = html(client.get(PAGE + query))
        shown = re.findall(r'<tr data-experiment="([^"]+)"', page)
        response = client.get(EXPORT + query)
        exported = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
        ids = {str(e.pk): e.instance.instance_id for e in ExperimentLog.objects.select_related("instance")}
        assert [row["instance_id"] for row in exported] == [ids[pk] for pk in shown], query
        assert theirs.instance.instance_id not in page
    assert "production's wait for an approval" in html(client.get(PAGE))


def test_the_detail_page_explains_the_decision_and_is_a_404_for_an_outsider(make_team, make_instance):
    acme, globex = make_team("Acme"), make_team("Globex")
    log = make(acme.account, 0, make_instance)
    url = reverse("experiment_detail", args=[log.pk])
    page = html(signed_in(acme.viewer).get(url))
    assert "m5a.large in us-east-1a: 69 % cheaper" in page and "us-east-1:us-east-1b:m6i.large" in page
    assert "poisoned" in page and "price_ratio_to_on_demand" in page and "risk ≤ 0.15" in page
    assert "not executed" in page
    assert signed_in(globex.client).get(url).status_code == 404
    assert signed_in(globex.client).get(PAGE).status_code == 200


def test_the_page_needs_sign_in(client):
    assert client.get(PAGE).status_code == 302 and client.get(EXPORT).status_code == 302


def test_the_page_makes_as_many_queries_for_many_rows_as_for_one(make_team, make_instance):
    acme = make_team("Acme")
    client = signed_in(acme.client)
    make(acme.account, 0, make_instance)
    client.get(PAGE)
    few = changelist_query_count(client, PAGE)
    for n in range(1, 30):
        make(acme.account, n, make_instance)
    assert changelist_query_count(client, PAGE) == few
