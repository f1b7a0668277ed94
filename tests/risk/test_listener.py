"""The SQS listener (risk.listener, manage.py listen_events) against moto: AWS's documented samples sent byte
for byte to the account's queue (made by risk.queues.event_queue_setup, as EventBridge would fill it) and read
by the listener's own code; stored once under redelivery, rejections kept while the next message is stored,
deletion only after ingest, revoked roles and missing queues recorded with backoff while other accounts are
served, accounts picked up and dropped on refresh, and sharding.

Most tests use `Listener.run_once` with WaitTimeSeconds 0 in the test's own thread (SQLite keeps the test's
rows in its open transaction); the threaded long-running loop is exercised on PostgreSQL."""

import io
import json
import threading
import time
import zlib
from datetime import timedelta

import boto3
import pytest
from botocore.exceptions import ClientError
from django.core.management import CommandError, call_command
from django.db import OperationalError, connection

from accounts.choices import AccountStatus
from risk import listener as listener_module
from risk.choices import EventOutcome, IngestChannel, ListenerState, RejectReason
from risk.listener import BACKOFF_CAP, Listener, Shard, listened_accounts, listener_backoff, shard_of
from risk.models import EventChannel, GlobalRiskEvent, RejectedIngest, SpotPoolRisk
from risk.queues import event_queue_setup
from spotopt import aws
from tests.aws_fixtures import MOTO_DEFAULT_ACCOUNT, moto  # noqa: F401
from tests.risk.conftest import INTERRUPTION, REBALANCE, put_sample

pytestmark = pytest.mark.usefixtures("moto")

# AWS's two samples share one event id; a real rebalance recommendation has its own.
REBALANCE_OWN_ID = REBALANCE.replace(b"12345678-1234-1234-1234-123456789012", b"87654321-4321-4321-4321-210987654321")
REGION = "us-east-2"


@pytest.fixture
def queue_url(sample_account):
    return event_queue_setup(account=sample_account)[REGION].queue_url


def sqs():
    return boto3.client("sqs", region_name=REGION)


def send(url, body: bytes | str):
    """What EventBridge does for the rule: the event's JSON as the message body."""
    sqs().send_message(QueueUrl=url, MessageBody=body.decode() if isinstance(body, bytes) else body)


def in_queue(url) -> int:
    attributes = sqs().get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def listen_once(**kwargs):
    kwargs = {"wait_seconds": 0, "react": False, "threads": 1} | kwargs
    return Listener(**kwargs).run_once()


def by_account(outcomes):
    return {outcome.account.pk: outcome for outcome in outcomes}


# --- Messages -------------------------------------------------------------------------------------------


def test_the_documented_samples_are_stored_once_under_duplicate_delivery_and_deleted(sample_instance, queue_url):
    send(queue_url, INTERRUPTION)
    send(queue_url, INTERRUPTION)  # SQS delivers at least once: the same body again
    send(queue_url, REBALANCE_OWN_ID)
    [outcome] = listen_once()
    assert outcome.state == ListenerState.LISTENING and outcome.queues == {REGION: queue_url}
    stats = outcome.stats
    assert (stats.received, stats.stored, stats.duplicate, stats.rejected, stats.deleted) == (3, 2, 1, 0, 3)
    assert in_queue(queue_url) == 0

    event = GlobalRiskEvent.objects.get(event_id="12345678-1234-1234-1234-123456789012")
    assert event.channel == IngestChannel.SQS and event.account == sample_instance.account
    assert event.outcome == EventOutcome.POISONED and event.raw_event == json.loads(INTERRUPTION)
    assert GlobalRiskEvent.objects.count() == 2
    pool = SpotPoolRisk.objects.get(instance_type="c5.xlarge", availability_zone="us-east-2b")
    assert pool.is_poisoned and pool.interruption_count == 1

    # Redelivered later (after a listener restart, say): still once.
    send(queue_url, INTERRUPTION)
    [outcome] = listen_once()
    assert (outcome.stats.duplicate, outcome.stats.deleted) == (1, 1)
    assert GlobalRiskEvent.objects.count() == 2 and in_queue(queue_url) == 0

    channel = EventChannel.objects.get(account=sample_instance.account)
    assert channel.listener_state == ListenerState.LISTENING and channel.queues == {REGION: queue_url}
    assert channel.last_message_at is not None and channel.listener_failures == 0


def test_the_samples_go_from_the_eventbridge_rules_through_the_queue_to_the_listener(sample_instance, queue_url):
    """The whole SQS way in: PutEvents of the samples' source, detail-type, detail and resources; the rules
    event_queue_setup made route them to the queue; the listener's own code stores them."""
    events = boto3.client("events", region_name=REGION)
    for sample in (INTERRUPTION, REBALANCE):
        put_sample(events, sample)
    [outcome] = listen_once()
    assert (outcome.stats.received, outcome.stats.stored, outcome.stats.deleted) == (2, 2, 2)
    stored = {e.event_type: e for e in GlobalRiskEvent.objects.all()}
    assert stored["termination_notice"].outcome == EventOutcome.POISONED
    assert stored["termination_notice"].account == sample_instance.account
    assert stored["rebalance_notice"].outcome == EventOutcome.COUNTED
    assert SpotPoolRisk.objects.get(instance_type="c5.xlarge", availability_zone="us-east-2b").is_poisoned
    assert in_queue(queue_url) == 0


def test_a_malformed_message_is_rejected_with_its_reason_and_the_next_good_one_stored(sample_instance, queue_url):
    send(queue_url, b"{not json")
    send(queue_url, INTERRUPTION)
    [outcome] = listen_once()
    assert (outcome.stats.rejected, outcome.stats.stored, outcome.stats.deleted) == (1, 1, 2)
    rejected = RejectedIngest.objects.get()
    assert rejected.reason == RejectReason.MALFORMED and rejected.channel == IngestChannel.SQS
    assert "not JSON" in rejected.message and rejected.raw_body == "{not json"
    assert rejected.account == sample_instance.account
    assert GlobalRiskEvent.objects.filter(event_id="12345678-1234-1234-1234-123456789012").exists()
    assert in_queue(queue_url) == 0  # a rejected message is handled: it does not come back forever


def test_a_message_is_deleted_only_after_ingest_returned(sample_instance, queue_url, monkeypatch):
    # Visible again at once when not deleted (the queue's visibility timeout is otherwise 30 s).
    sqs().set_queue_attributes(QueueUrl=queue_url, Attributes={"VisibilityTimeout": "0"})
    send(queue_url, INTERRUPTION)
    real_ingest = listener_module.risk_events_ingest

    def database_down(**kwargs):
        raise OperationalError("could not connect to server")

    monkeypatch.setattr(listener_module, "risk_events_ingest", database_down)
    [outcome] = listen_once()
    assert (outcome.stats.received, outcome.stats.failed, outcome.stats.deleted) == (1, 1, 0)
    assert in_queue(queue_url) == 1 and not GlobalRiskEvent.objects.exists()

    monkeypatch.setattr(listener_module, "risk_events_ingest", real_ingest)
    [outcome] = listen_once()
    assert (outcome.stats.stored, outcome.stats.deleted) == (1, 1)
    assert in_queue(queue_url) == 0 and GlobalRiskEvent.objects.count() == 1


def test_a_stored_event_gets_its_reaction_off_the_polling_thread(sample_instance, queue_url, monkeypatch):
    reacted = []
    monkeypatch.setattr(
        listener_module, "ingest_result_react", lambda result, inline: reacted.append((result.event_id, inline))
    )
    send(queue_url, INTERRUPTION)
    send(queue_url, INTERRUPTION)
    listen_once(react=True)
    assert reacted == [("12345678-1234-1234-1234-123456789012", True)]  # the duplicate has none


# --- Accounts that fail ---------------------------------------------------------------------------------


def _deny_assume_role(monkeypatch, role_arn):
    real = aws.assume_role

    def assume(arn, external_id, **kwargs):
        if arn == role_arn:
            raise ClientError(
                {
                    "Error": {
                        "Code": "AccessDenied",
                        "Message": f"User: platform is not authorized to perform: sts:AssumeRole on {arn}",
                    }
                },
                "AssumeRole",
            )
        return real(arn, external_id, **kwargs)

    monkeypatch.setattr(aws, "assume_role", assume)


def test_a_revoked_role_and_a_missing_queue_back_off_while_the_other_account_is_served(
    sample_instance, queue_url, make_account, make_user, monkeypatch, clock
):
    revoked = make_account(
        make_user(),
        account_id="111122223333",
        role_arn="arn:aws:iam::111122223333:role/SpotOptimizerRole",
        external_id="spot-optimizer-revoked-secret-id",
    )
    no_queue = make_account(
        make_user(), account_id="444455556666", role_arn="arn:aws:iam::444455556666:role/SpotOptimizerRole"
    )
    _deny_assume_role(monkeypatch, revoked.role_arn)
    send(queue_url, INTERRUPTION)

    outcomes = by_account(listen_once())
    assert outcomes[sample_instance.account.pk].stats.stored == 1
    assert GlobalRiskEvent.objects.filter(account=sample_instance.account).count() == 1

    failing = EventChannel.objects.get(account=revoked)
    assert failing.listener_state == ListenerState.FAILING and failing.listener_failures == 1
    assert failing.listener_retry_at == clock.now + timedelta(seconds=30)
    assert "AssumeRole" in failing.listener_error and "AccessDenied" in failing.listener_error
    assert "sqs:ReceiveMessage" in failing.listener_error  # says what the role must allow
    assert revoked.external_id not in failing.listener_error
    missing = EventChannel.objects.get(account=no_queue)
    assert missing.listener_state == ListenerState.NO_QUEUE and missing.queues == {}
    assert "no SQS queue spotopt-interruption-events in us-east-1" in missing.listener_error
    assert "setup_event_queue" in missing.listener_error

    # Before the retry time: left alone; the working account still served.
    send(queue_url, json.dumps(json.loads(INTERRUPTION) | {"id": "second-warning"}))
    clock.advance(seconds=10)
    outcomes = by_account(listen_once())
    assert outcomes[revoked.pk].state == "waiting" and outcomes[no_queue.pk].state == "waiting"
    assert outcomes[sample_instance.account.pk].stats.stored == 1
    assert EventChannel.objects.get(account=revoked).listener_failures == 1

    # After it: tried again, failing again, waiting twice as long.
    clock.advance(seconds=30)
    listen_once()
    failing.refresh_from_db()
    assert failing.listener_failures == 2 and failing.listener_retry_at == clock.now + timedelta(seconds=60)

    # The customer fixes it (the queue is created): listening again, failures forgotten.
    event_queue_setup(account=no_queue)
    clock.advance(minutes=5)
    outcomes = by_account(listen_once())
    assert outcomes[no_queue.pk].state == ListenerState.LISTENING
    missing.refresh_from_db()
    assert (missing.listener_state, missing.listener_failures, missing.listener_retry_at) == (
        ListenerState.LISTENING,
        0,
        None,
    )
    assert missing.listener_error == ""


def test_a_queue_denied_on_receive_is_failing(sample_account, queue_url, monkeypatch):
    def denied(self, **kwargs):
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "not authorized"}}, "ReceiveMessage")

    monkeypatch.setattr(listener_module, "queue_poll", _wrap_receive(listener_module.queue_poll, denied))
    [outcome] = listen_once()
    assert outcome.state == ListenerState.FAILING
    channel = EventChannel.objects.get(account=sample_account)
    assert channel.listener_state == ListenerState.FAILING
    assert channel.listener_error.startswith("AWS denied ReceiveMessage while trying to read the interruption-event")


def _wrap_receive(queue_poll, receive):
    def poll(*, client, **kwargs):
        client.receive_message = receive.__get__(client)
        return queue_poll(client=client, **kwargs)

    return poll


def test_some_regions_without_a_queue_are_noted_while_the_others_listen(sample_account, queue_url):
    sample_account.regions = [REGION, "eu-west-1"]
    sample_account.save()
    [outcome] = listen_once()
    assert outcome.state == ListenerState.LISTENING and outcome.missing == ["eu-west-1"]
    channel = EventChannel.objects.get(account=sample_account)
    assert channel.queues == {REGION: queue_url} and "eu-west-1" in channel.listener_error


def test_backoff_doubles_and_is_capped():
    assert [listener_backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert listener_backoff(50) == BACKOFF_CAP == timedelta(minutes=15)


# --- Which accounts -------------------------------------------------------------------------------------


class FakeWorker:
    def __init__(self, account):
        self.account, self.stopped = account, False

    def stop(self):
        self.stopped = True

    def is_alive(self):
        return not self.stopped


def test_refresh_picks_up_new_accounts_and_drops_removed_ones(make_account, make_user, monkeypatch):
    listener = Listener(wait_seconds=0, react=False)
    monkeypatch.setattr(listener, "start_worker", FakeWorker)
    user = make_user()
    first = make_account(user)
    make_account(user, status=AccountStatus.PENDING, account_id="pending-x")  # not connected yet
    assert listener.refresh() == (1, 0)
    assert [w.account.pk for w in listener.workers.values()] == [first.pk]

    second = make_account(user, status=AccountStatus.CONNECTED)
    assert listener.refresh() == (1, 0)
    assert listener.refresh() == (0, 0)  # nothing changed: nothing restarted

    old_workers = dict(listener.workers)
    first.is_active = False
    first.save()
    assert listener.refresh() == (0, 1)
    assert [w.account.pk for w in listener.workers.values()] == [second.pk]
    assert [w.stopped for w in old_workers.values() if w.account.pk == first.pk] == [True]

    second.regions = ["eu-west-1", "us-east-1"]  # what it listens to changed: a new worker
    second.save()
    assert listener.refresh() == (1, 1)
    second.delete()
    assert listener.refresh() == (0, 1) and listener.workers == {}


def test_shards_split_the_accounts(make_account, make_user):
    user = make_user()
    accounts = [make_account(user) for _ in range(12)]
    shards = [{a.pk for a in listened_accounts(shard=Shard(index, 4))} for index in range(1, 5)]
    assert set().union(*shards) == {a.pk for a in accounts}
    assert sum(len(s) for s in shards) == len(accounts)  # disjoint
    for account in accounts:
        assert account.pk in shards[zlib.crc32(str(account.pk).encode()) % 4]  # 1-based: shard I has mod == I-1
        assert shard_of(account.pk, 4) == zlib.crc32(str(account.pk).encode()) % 4 + 1
    assert Shard.parse("2/4") == Shard(2, 4)
    assert {a.pk for a in listened_accounts(shard=Shard.parse("1/1"))} == {a.pk for a in accounts}


@pytest.mark.parametrize("text", ["0/4", "5/4", "2", "a/b", "1/0"])
def test_a_bad_shard_is_refused(db, text):
    with pytest.raises(CommandError, match="hard"):
        call_command("listen_events", "--once", "--shard", text)


# --- The command ----------------------------------------------------------------------------------------


def test_listen_events_once(sample_instance, queue_url):
    send(queue_url, INTERRUPTION)
    send(queue_url, b"garbage")
    out = io.StringIO()
    call_command("listen_events", "--once", "--wait", "0", stdout=out)
    assert f"({MOTO_DEFAULT_ACCOUNT}): {REGION}: 2 message(s); 1 stored, 0 duplicate, 1 rejected" in out.getvalue()
    assert in_queue(queue_url) == 0


def test_listen_events_refuses_a_wait_sqs_does_not_allow(db):
    with pytest.raises(CommandError, match="0 to 20"):
        call_command("listen_events", "--once", "--wait", "21")


# --- The long-running loop (threads: PostgreSQL) --------------------------------------------------------


def _until(predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_running_listener_serves_new_accounts_and_stops_cleanly(
    sample_instance, queue_url, make_account, make_user, make_instance
):
    listener = Listener(wait_seconds=1, refresh_seconds=0.3, react=False)
    runner = threading.Thread(target=listener.run, daemon=True)
    runner.start()
    try:
        assert _until(lambda: EventChannel.objects.filter(listener_state=ListenerState.LISTENING).exists())
        sent = time.monotonic()
        send(queue_url, INTERRUPTION)
        assert _until(lambda: GlobalRiskEvent.objects.exists())
        latency = time.monotonic() - sent
        assert latency < 2.0, f"stored {latency:.2f} s after it was sent"
        assert _until(lambda: in_queue(queue_url) == 0)

        # An account connected while it runs is picked up at the next refresh.
        newcomer = make_account(
            make_user(),
            account_id="111122223333",
            role_arn="arn:aws:iam::111122223333:role/SpotOptimizerRole",
            regions=["us-east-1"],
        )
        make_instance(newcomer, instance_id="i-0aaaabbbbccccdddd", region="us-east-1")
        new_url = event_queue_setup(account=newcomer)["us-east-1"].queue_url
        assert _until(lambda: EventChannel.objects.filter(account=newcomer, queues__has_key="us-east-1").exists())
        body = json.loads(INTERRUPTION) | {
            "id": "newcomer-1",
            "account": "111122223333",
            "region": "us-east-1",
            "detail": {"instance-id": "i-0aaaabbbbccccdddd", "instance-action": "terminate"},
        }
        creds = aws.credentials_for(newcomer)
        boto3.client("sqs", region_name="us-east-1", **creds).send_message(
            QueueUrl=new_url, MessageBody=json.dumps(body)
        )
        assert _until(lambda: GlobalRiskEvent.objects.filter(event_id="newcomer-1", account=newcomer).exists())

        # Deactivated: its worker goes at the next refresh.
        newcomer.is_active = False
        newcomer.save()
        assert _until(lambda: all(key[0] != newcomer.pk for key in list(listener.workers)))
    finally:
        listener.stop()
        runner.join(timeout=10)
        connection.close()
    assert not runner.is_alive()
