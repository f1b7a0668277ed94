"""Interruption-event ingest through risk.services.risk_events_ingest (the code both ways in share): AWS's
documented samples byte for byte, attribution, pool resolution, idempotency, rejections."""

import json

import boto3
import pytest

from accounts.choices import EnvironmentType
from fleet.models import Instance
from risk.choices import EventOutcome, IngestChannel, RejectReason, RiskEventType
from risk.models import GlobalRiskEvent, RejectedIngest, SpotPoolRisk
from risk.services import risk_events_ingest
from tests.aws_fixtures import MOTO_DEFAULT_ACCOUNT, moto  # noqa: F401
from tests.risk.conftest import INTERRUPTION, REBALANCE


def ingest(body, **kwargs):
    kwargs.setdefault("channel", IngestChannel.WEBHOOK)
    return risk_events_ingest(body=body, **kwargs)


def test_the_documented_samples_are_the_bytes_aws_publishes():
    assert b'"time": "yyyy-mm-ddThh:mm:ssZ"' in INTERRUPTION and b'"instance-action": "action"' in INTERRUPTION
    assert json.loads(INTERRUPTION)["detail-type"] == "EC2 Spot Instance Interruption Warning"
    assert json.loads(REBALANCE)["detail-type"] == "EC2 Instance Rebalance Recommendation"


def test_interruption_sample_poisons_the_pool_resolved_from_inventory(sample_instance):
    [result] = ingest(INTERRUPTION)
    assert result.status == "stored" and result.outcome == EventOutcome.POISONED
    assert result.pool_id == "us-east-2:us-east-2b:c5.xlarge"  # the inventory's zone, not the ARN's hint
    event = GlobalRiskEvent.objects.get()
    assert event.event_type == RiskEventType.TERMINATION_NOTICE
    assert event.instance_action == "action" and event.raw_event == json.loads(INTERRUPTION)
    assert (event.expires_at - event.reported_at).days == 15
    pool = SpotPoolRisk.objects.get()
    assert pool.is_poisoned and pool.interruption_count == 1
    assert pool.triggering_customer_id == sample_instance.account.team_id
    assert pool.poison_expires_at == event.reported_at + (event.expires_at - event.reported_at)


def test_rebalance_sample_is_counted_and_does_not_poison(sample_instance):
    [result] = ingest(REBALANCE)
    assert result.outcome == EventOutcome.COUNTED
    pool = SpotPoolRisk.objects.get()
    assert not pool.is_poisoned and pool.pool_metadata["rebalance_count"] == 1


def test_duplicate_delivery_is_stored_once(sample_instance):
    first, again = ingest(INTERRUPTION), ingest(INTERRUPTION, channel=IngestChannel.SQS)
    assert first[0].status == "stored" and again[0].status == "duplicate"
    assert GlobalRiskEvent.objects.count() == 1
    assert SpotPoolRisk.objects.get().interruption_count == 1


def test_lab_account_events_are_logged_and_never_poison(sample_instance):
    sample_instance.account.environment_type = EnvironmentType.LAB
    sample_instance.account.save()
    [result] = ingest(INTERRUPTION)
    assert result.outcome == EventOutcome.LAB_ONLY
    assert GlobalRiskEvent.objects.count() == 1
    assert not SpotPoolRisk.objects.filter(is_poisoned=True).exists()


@pytest.mark.usefixtures("moto")
def test_an_undiscovered_instance_is_looked_up_in_the_account_and_recorded(sample_account):
    ec2 = boto3.client("ec2", region_name="us-east-2")
    launched = ec2.run_instances(
        ImageId="ami-12345678",
        MinCount=1,
        MaxCount=1,
        InstanceType="r5.large",
        Placement={"AvailabilityZone": "us-east-2c"},
    )["Instances"][0]["InstanceId"]
    body = json.loads(INTERRUPTION)
    body["detail"]["instance-id"] = launched
    [result] = ingest(json.dumps(body))
    assert result.status == "stored" and result.pool_id == "us-east-2:us-east-2c:r5.large"
    assert Instance.objects.filter(instance_id=launched, account=sample_account, region="us-east-2").exists()


@pytest.mark.usefixtures("moto")
def test_an_instance_the_account_does_not_have_is_rejected_unattributable(sample_account):
    [result] = ingest(INTERRUPTION)
    assert result.status == "rejected" and result.reason == RejectReason.UNATTRIBUTABLE
    rejected = RejectedIngest.objects.get()
    assert rejected.account == sample_account and rejected.event_id == "12345678-1234-1234-1234-123456789012"
    assert not GlobalRiskEvent.objects.exists()


def test_unknown_account_malformed_and_foreign_events_are_rejected_and_the_next_good_one_stored(
    sample_instance, make_account, make_user
):
    other = make_account(make_user())
    unknown = json.loads(INTERRUPTION) | {"account": "999999999999", "id": "unknown-1"}
    wrong = json.loads(INTERRUPTION) | {"id": "wrong-1"}
    results = [
        *ingest(b"{not json"),
        *ingest(json.dumps(unknown)),
        *ingest(json.dumps(wrong), account=other),
        *ingest(json.dumps({"source": "aws.ec2", "detail-type": "EC2 Instance State-change Notification", "id": "x"})),
        *ingest(INTERRUPTION),
    ]
    assert [r.reason for r in results[:4]] == [
        RejectReason.MALFORMED,
        RejectReason.UNKNOWN_ACCOUNT,
        RejectReason.WRONG_ACCOUNT,
        RejectReason.UNKNOWN_TYPE,
    ]
    assert results[4].status == "stored"
    assert RejectedIngest.objects.filter(account=other, reason=RejectReason.WRONG_ACCOUNT).exists()
    assert RejectedIngest.objects.count() == 4


def test_a_batch_is_taken_event_by_event(sample_instance):
    second = json.loads(INTERRUPTION) | {"id": "second-event"}
    results = ingest(json.dumps([json.loads(INTERRUPTION), second, "garbage"]))
    assert [r.status for r in results] == ["stored", "stored", "rejected"]
    assert [r.outcome for r in results[:2]] == [EventOutcome.POISONED, EventOutcome.EXTENDED]
    assert SpotPoolRisk.objects.get().interruption_count == 2


def test_an_envelope_without_account_is_the_queue_owners_but_never_the_webhooks(sample_instance):
    without = {k: v for k, v in json.loads(INTERRUPTION).items() if k != "account"}
    account = sample_instance.account
    [webhook] = ingest(json.dumps(without), account=account, channel=IngestChannel.WEBHOOK)
    assert webhook.status == "rejected" and webhook.reason == RejectReason.MALFORMED
    [queued] = ingest(json.dumps(without), account=account, channel=IngestChannel.SQS)
    assert queued.status == "stored"
    other = json.loads(INTERRUPTION) | {"id": "other", "account": "999999999999"}
    [foreign] = ingest(json.dumps(other), account=account, channel=IngestChannel.SQS)
    assert foreign.reason == RejectReason.WRONG_ACCOUNT
