"""/metrics: Prometheus text that the Prometheus parser reads, with the figures from the database; refused
without the token, off without the setting."""

from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from approvals.choices import ApprovalStatus
from tests.kube.test_api import make_drain
from tests.risk.factories import make_event, make_rejected

pytestmark = pytest.mark.django_db

TOKEN = "scrape-me-9f2c"


@pytest.fixture
def token(settings):
    settings.METRICS_TOKEN = TOKEN
    return TOKEN


def scrape(client, token=TOKEN):
    return client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")


def samples(response) -> dict:
    found = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_metrics_parse_and_count_what_the_database_holds(
    client, token, make_team, make_approval, make_experiment, make_instance
):
    acme = make_team("Acme")
    now = timezone.now()
    make_event(acme.account, 0, reported_at=now - timedelta(seconds=3), received_at=now)
    make_event(acme.account, 1, reported_at=now - timedelta(seconds=40), received_at=now)
    make_rejected(acme.account, 0)
    make_approval(account=acme.account)
    make_approval(account=acme.account, status=ApprovalStatus.REJECTED, decided_at=now)
    make_experiment(make_instance(acme.account))
    make_drain(acme.account, 0)

    response = scrape(client)

    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    found = samples(response)
    assert found[("spotopt_risk_events_total", (("outcome", "poisoned"), ("type", "termination_notice")))] == 1
    assert found[("spotopt_risk_events_total", (("outcome", "counted"), ("type", "rebalance_notice")))] == 1
    assert sum(v for (name, _), v in found.items() if name == "spotopt_risk_events_rejected_total") == 1
    assert found[("spotopt_event_ingest_latency_seconds_bucket", (("le", "5.0"),))] == 1
    assert found[("spotopt_event_ingest_latency_seconds_bucket", (("le", "60.0"),))] == 2
    assert found[("spotopt_event_ingest_latency_seconds_count", ())] == 2
    assert found[("spotopt_event_ingest_latency_seconds_sum", ())] == pytest.approx(43, abs=0.5)
    assert found[("spotopt_approvals_pending", ())] == 1
    assert found[("spotopt_node_drains_total", (("status", "DRAINED"),))] == 1
    assert sum(v for (name, _), v in found.items() if name == "spotopt_decisions_total") == 1
    assert ("spotopt_task_failures_total", ()) in found
    assert acme.account.account_name not in response.content.decode()


def test_metrics_are_refused_without_the_right_token_and_off_without_the_setting(client, settings, token):
    assert client.get("/metrics").status_code == 401
    refused = scrape(client, token="wrong")
    assert refused.status_code == 401 and refused["WWW-Authenticate"].startswith("Bearer")
    assert client.post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 405
    settings.METRICS_TOKEN = ""
    assert scrape(client).status_code == 404
