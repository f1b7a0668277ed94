"""/metrics: Prometheus text that the Prometheus parser reads, with the figures from the database; refused
without the token, off without the setting."""

from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from approvals.choices import ApprovalStatus
from tests.aws_fixtures import moto  # noqa: F401
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


def test_failed_aws_calls_are_counted_by_code_once_written(client, token, moto, settings):  # noqa: F811
    from botocore.exceptions import ClientError, EndpointConnectionError

    from ops import aws_errors
    from spotopt import aws

    ec2 = aws.platform_client("ec2")
    for _ in range(2):
        with pytest.raises(ClientError):
            ec2.describe_instances(InstanceIds=["i-0123456789abcdef0"])
    ec2.describe_instances()  # a call that succeeds is not an error
    settings.AWS_ENDPOINT_URL, settings.AWS_MAX_ATTEMPTS, settings.AWS_CONNECT_TIMEOUT = "http://127.0.0.1:9", 1, 1
    with pytest.raises(EndpointConnectionError):
        aws.platform_client("sts").get_caller_identity()

    assert aws_errors.flush() == 3
    found = samples(scrape(client))

    not_found = (("code", "InvalidInstanceID.NotFound"), ("operation", "DescribeInstances"), ("service", "ec2"))
    unreachable = (("code", "EndpointConnectionError"), ("operation", "GetCallerIdentity"), ("service", "sts"))
    assert found[("spotopt_aws_api_errors_total", not_found)] == 2
    assert found[("spotopt_aws_api_errors_total", unreachable)] == 1
    # Counts add up across flushes (every process adds its own).
    with pytest.raises(EndpointConnectionError):
        aws.platform_client("sts").get_caller_identity()
    assert aws_errors.flush() == 1
    assert samples(scrape(client))[("spotopt_aws_api_errors_total", unreachable)] == 2


def test_reaction_time_is_a_histogram_by_action_over_the_last_day(client, token, make_user, make_account):
    from risk.models import EventReaction

    account = make_account(make_user())
    now = timezone.now()
    for seconds, action, acted_at in [
        (0.4, "emergency_replacement", now),
        (3.0, "emergency_replacement", now),
        (0.1, "replica_promoted", now),
        (0.2, "replica_promoted", now - timedelta(days=2)),  # outside the window
    ]:
        EventReaction.objects.create(
            account=account,
            event_id=f"e-{seconds}",
            event_type="termination_notice",
            action=action,
            received_at=acted_at - timedelta(seconds=seconds),
            acted_at=acted_at,
            seconds=seconds,
        )

    found = samples(scrape(client))

    emergency = ("action", "emergency_replacement")
    assert found[("spotopt_reaction_seconds_bucket", tuple(sorted([emergency, ("le", "0.5")])))] == 1
    assert found[("spotopt_reaction_seconds_bucket", tuple(sorted([emergency, ("le", "5.0")])))] == 2
    assert found[("spotopt_reaction_seconds_count", (emergency,))] == 2
    assert found[("spotopt_reaction_seconds_sum", (emergency,))] == pytest.approx(3.4)
    assert found[("spotopt_reaction_seconds_count", (("action", "replica_promoted"),))] == 1
