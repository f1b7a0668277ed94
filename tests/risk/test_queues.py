"""The interruption-event queue in a customer's account (risk.queues, manage.py setup_event_queue), against
moto: the queue (SSE, 5-minute retention), its policy, the two EventBridge rules, idempotency, the refusal
naming the IAM actions, and AWS's documented samples travelling EventBridge -> the queue."""

import io
import json

import boto3
import pytest
from django.core.management import CommandError, call_command

from accounts.choices import ConnectionMethod
from accounts.cloudformation import EVENT_RULES
from risk.queues import SETUP_IAM_ACTIONS, EventQueueSetupRefused, event_queue_setup, event_queue_url
from tests.aws_fixtures import (
    KEYS_ACCOUNT,
    MOTO_DEFAULT_ACCOUNT,
    create_user_with_keys,
    customer_session,
    moto,  # noqa: F401
    with_iam_auth,
)
from tests.risk.conftest import INTERRUPTION, REBALANCE, put_sample

pytestmark = pytest.mark.usefixtures("moto")

QUEUE = "spotopt-interruption-events"


def keys_account(make_account, user, keys, **overrides):
    account = make_account(user, connection_method=ConnectionMethod.ACCESS_KEYS, role_arn="", **overrides)
    account.set_access_keys(*keys)
    account.save()
    return account


def test_setup_creates_the_queue_policy_and_rules_and_is_idempotent(sample_account):
    assert event_queue_url(account=sample_account, region="us-east-2") is None

    [(region, first)] = event_queue_setup(account=sample_account).items()
    assert region == "us-east-2" and first.queue_created
    assert event_queue_url(account=sample_account, region="us-east-2") == first.queue_url

    sqs = boto3.client("sqs", region_name="us-east-2")
    attributes = sqs.get_queue_attributes(QueueUrl=first.queue_url, AttributeNames=["All"])["Attributes"]
    assert attributes["MessageRetentionPeriod"] == "300"
    assert attributes["SqsManagedSseEnabled"] == "true"
    assert attributes["QueueArn"] == f"arn:aws:sqs:us-east-2:{MOTO_DEFAULT_ACCOUNT}:{QUEUE}"
    [statement] = json.loads(attributes["Policy"])["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage" and statement["Resource"] == attributes["QueueArn"]
    assert sorted(statement["Condition"]["ArnEquals"]["aws:SourceArn"]) == sorted(first.rule_arns.values())

    events = boto3.client("events", region_name="us-east-2")
    for name, detail_type in EVENT_RULES.items():
        rule = events.describe_rule(Name=name)
        assert rule["State"] == "ENABLED"
        assert json.loads(rule["EventPattern"]) == {"source": ["aws.ec2"], "detail-type": [detail_type]}
        assert [t["Arn"] for t in events.list_targets_by_rule(Rule=name)["Targets"]] == [attributes["QueueArn"]]

    again = event_queue_setup(account=sample_account)["us-east-2"]
    assert not again.queue_created
    assert (again.queue_url, again.rule_arns) == (first.queue_url, first.rule_arns)
    assert len(sqs.list_queues(QueueNamePrefix=QUEUE)["QueueUrls"]) == 1
    for name in EVENT_RULES:
        assert len(events.list_targets_by_rule(Rule=name)["Targets"]) == 1


def test_an_existing_queue_with_other_settings_is_brought_back_in_line(sample_account):
    sqs = boto3.client("sqs", region_name="us-east-2")
    url = sqs.create_queue(QueueName=QUEUE, Attributes={"MessageRetentionPeriod": "86400"})["QueueUrl"]
    setup = event_queue_setup(account=sample_account)["us-east-2"]
    assert setup.queue_url == url and not setup.queue_created
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["MessageRetentionPeriod"] == "300" and "Policy" in attributes


def test_the_documented_samples_travel_from_eventbridge_to_the_queue(sample_account):
    """EventBridge delivers its own envelope (its own id and time) around the sample's source, detail-type,
    detail and resources; the listener's tests also send the samples' bytes straight to the queue."""
    url = event_queue_setup(account=sample_account)["us-east-2"].queue_url
    events = boto3.client("events", region_name="us-east-2")
    put_sample(events, INTERRUPTION)
    put_sample(events, REBALANCE)
    events.put_events(
        Entries=[{"Source": "aws.ec2", "DetailType": "EC2 Instance State-change Notification", "Detail": "{}"}]
    )
    sqs = boto3.client("sqs", region_name="us-east-2")
    bodies = [
        json.loads(m["Body"])
        for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)["Messages"]
    ]
    for sample, body in zip(
        (INTERRUPTION, REBALANCE), sorted(bodies, key=lambda b: b["detail-type"], reverse=True), strict=True
    ):
        expected = json.loads(sample)
        assert {k: body[k] for k in ("source", "detail-type", "detail", "resources", "region")} == {
            k: expected[k] for k in ("source", "detail-type", "detail", "resources", "region")
        }
    assert len(bodies) == 2  # the state-change notification matched no rule


def test_setup_in_several_regions_acts_in_the_customers_account(make_user, make_account):
    account = make_account(
        make_user(),
        account_id="111122223333",
        role_arn="arn:aws:iam::111122223333:role/SpotOptimizerRole",
        regions=["us-east-1", "eu-west-1"],
    )
    done = event_queue_setup(account=account)
    assert set(done) == {"us-east-1", "eu-west-1"}
    assert done["eu-west-1"].queue_arn == f"arn:aws:sqs:eu-west-1:111122223333:{QUEUE}"
    customer = customer_session("111122223333").client("sqs", region_name="eu-west-1")
    assert customer.get_queue_url(QueueName=QUEUE)["QueueUrl"] == done["eu-west-1"].queue_url
    # Only the regions asked for.
    assert set(event_queue_setup(account=account, regions=["us-east-1"])) == {"us-east-1"}


def _denied_keys():
    """Keys of an IAM user of KEYS_ACCOUNT that may only look for queues."""
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sqs:GetQueueUrl", "Resource": "*"}]}
    _, key_id, secret = create_user_with_keys(KEYS_ACCOUNT, "no-queue-rights", policy=policy)
    return key_id, secret


def test_access_denied_names_every_iam_action_needed(make_user, make_account):
    account = keys_account(make_account, make_user(), _denied_keys(), account_id=KEYS_ACCOUNT, regions=["us-east-1"])

    def attempt():
        with pytest.raises(EventQueueSetupRefused) as excinfo:
            event_queue_setup(account=account)
        return excinfo.value

    refusal = with_iam_auth(attempt)
    assert refusal.code == "event_queue_access_denied"
    for action in SETUP_IAM_ACTIONS:
        assert action in refusal.message
    assert "CreateQueue" in refusal.message and account.get_access_keys()[1] not in refusal.message


def test_command_prints_what_it_made_per_region(sample_account):
    out = io.StringIO()
    call_command("setup_event_queue", "--account", MOTO_DEFAULT_ACCOUNT, "--region", "us-east-2", stdout=out)
    text = out.getvalue()
    assert "us-east-2: queue created" in text
    for name in EVENT_RULES:
        assert f"rule {name}" in text
    out = io.StringIO()
    call_command("setup_event_queue", f"--account={sample_account.pk}", stdout=out)
    assert "us-east-2: queue already there" in out.getvalue()


def test_command_prints_the_needed_permissions_on_refusal(make_user, make_account):
    keys_account(make_account, make_user(), _denied_keys(), account_id=KEYS_ACCOUNT)

    def attempt():
        with pytest.raises(CommandError) as excinfo:
            call_command("setup_event_queue", "--account", KEYS_ACCOUNT, stdout=io.StringIO())
        return str(excinfo.value)

    message = with_iam_auth(attempt)
    assert "Needed IAM actions:" in message
    assert all(action in message for action in SETUP_IAM_ACTIONS)


def test_command_refuses_an_unknown_account(db):
    with pytest.raises(CommandError, match="No active account"):
        call_command("setup_event_queue", "--account", "999999999999")
