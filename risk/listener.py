"""The SQS listener: long-polls every connected account's interruption-event queues and ingests what arrives.

One thread per account (`AccountWorker`) finds the account's queues (risk.queues.event_queue_url, in each
region to scan) and runs one poller thread per queue: ReceiveMessage (long polling, up to 10 messages), each
body through risk.services.risk_events_ingest with the queue's account, and DeleteMessage only once ingest
returned (stored, duplicate and rejected are all handled: a bad event is kept as a RejectedIngest, never
redelivered forever). When ingest itself raises (the database is down) the message stays and SQS delivers
it again after its visibility timeout. The reaction to a stored event (risk.safety) runs on a small pool of
its own, so a burst of warnings in one queue is stored (and poisons its pools) without waiting for the
replacements of the earlier ones.

An account whose role stopped working (AssumeRole or ReceiveMessage denied) or that has no queue is
recorded on its EventChannel (failing / no_queue, a message for a person, the failure count and
listener_retry_at, exponential backoff capped at 15 minutes) and retried then; other accounts are not
affected. The supervisor (`Listener.run`) re-reads the account list every `refresh_seconds`: new
connected accounts get a worker, removed or deactivated ones (or ones whose credentials or regions
changed) lose theirs. `Shard` splits the accounts between several listener processes.
"""

import hashlib
import logging
import queue
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Account
from fleet.tasks import DISCOVERABLE
from ops.aws_errors import flush as aws_errors_flush
from spotopt import aws
from spotopt.aws import client_for, explain_aws_error
from spotopt.errors import DomainError

from .choices import IngestChannel, ListenerState
from .models import EventChannel
from .queues import LISTENER_IAM_ACTIONS, event_queue_url, is_access_denied, queue_name
from .services import REACT_NEVER, IngestResult, ingest_result_react, risk_events_ingest

logger = logging.getLogger(__name__)

DEFAULT_WAIT_SECONDS = 20  # SQS's longest long poll
DEFAULT_REFRESH_SECONDS = 30
MAX_MESSAGES = 10  # SQS's most per ReceiveMessage
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(minutes=15)
# Clients carry the credentials they were built with; assumed-role ones are refreshed 5 minutes before
# they expire (spotopt.aws), so a client is rebuilt well within that margin.
CLIENT_MAX_AGE_SECONDS = 240
# On a stop, how long in-flight ingests get to finish; a thread blocked in a long poll is abandoned (its
# received-but-unhandled messages come back after the visibility timeout).
STOP_GRACE_SECONDS = 5
SLOW_INGEST_SECONDS = 1.0


class QueueUnavailable(Exception):
    """An account's queues cannot be served now: state is ListenerState.FAILING or NO_QUEUE."""

    def __init__(self, state: str, message: str):
        super().__init__(message)
        self.state, self.message = state, message


@dataclass(frozen=True)
class Shard:
    """`--shard I/N` (1-based): this process serves the accounts whose crc32(UUID) % N == I - 1."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> "Shard":
        try:
            index, count = (int(part) for part in text.split("/"))
        except ValueError:
            raise DomainError(f"A shard is I/N, e.g. 2/4 (the second of four), not '{text}'.") from None
        if not (count >= 1 and 1 <= index <= count):
            raise DomainError(f"Shard '{text}': N must be at least 1 and I between 1 and N.")
        return cls(index, count)

    def takes(self, account_pk) -> bool:
        return shard_of(account_pk, self.count) == self.index


def shard_of(account_pk, count: int) -> int:
    """The 1-based shard of an account among `count`: stable across processes and restarts."""
    return zlib.crc32(str(account_pk).encode()) % count + 1


@dataclass
class PollStats:
    received: int = 0
    stored: int = 0
    duplicate: int = 0
    rejected: int = 0
    failed: int = 0  # ingest raised: the message stays for redelivery
    deleted: int = 0

    def add(self, other: "PollStats") -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class AccountOutcome:
    """What one --once pass did for one account."""

    account: Account
    state: str  # a ListenerState, or "waiting" (backing off until retry_at)
    queues: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    stats: PollStats = field(default_factory=PollStats)
    error: str = ""
    retry_at: datetime | None = None


def _connection_refresh() -> None:
    """Between messages: drop this thread's database connection only when it broke (an error occurred on
    it and it no longer answers), never inside a transaction (a caller's, or a test's). The listener's
    threads live for the process, so their connections persist whatever CONN_MAX_AGE says: reconnecting
    for every message would cost more than the ingest itself."""
    if connection.in_atomic_block or connection.connection is None:
        return
    if connection.errors_occurred and not connection.is_usable():
        connection.close()


# --- Which accounts ---------------------------------------------------------------------------------------


def listened_accounts(*, shard: Shard | None = None) -> list[Account]:
    """Connected, active accounts (as discovery takes them), this shard's only."""
    accounts = list(Account.objects.filter(is_active=True, status__in=DISCOVERABLE).order_by("pk"))
    return [account for account in accounts if shard is None or shard.takes(account.pk)]


def worker_key(account: Account) -> tuple:
    """An account's worker is replaced when anything it listens with changes (regions, credentials)."""
    fingerprint = hashlib.sha256(
        "\x00".join(
            [
                account.connection_method,
                account.role_arn,
                account.external_id or "",
                account.access_key_id_encrypted,
                account.secret_access_key_encrypted,
                account.region,
            ]
        ).encode()
    ).hexdigest()
    return (account.pk, tuple(account.regions_to_scan), fingerprint)


# --- The account's EventChannel ---------------------------------------------------------------------------


def listener_backoff(failures: int) -> timedelta:
    """30 s, 1, 2, 4, 8 minutes, ... at most 15 minutes."""
    doublings = min(max(0, failures - 1), 16)  # 2**16 * 30 s is far past the cap; no overflow for any count
    return min(BACKOFF_CAP, BACKOFF_BASE * 2**doublings)


def channel_record_listening(*, account: Account, queues: dict[str, str], missing: list[str]) -> EventChannel:
    note = ""
    if missing:
        note = (
            f"No queue {queue_name()} in {', '.join(missing)}: interruption events of those regions are not "
            "received. Deploy the CloudFormation stack there (CreateRole=false) or run manage.py "
            "setup_event_queue."
        )
    with transaction.atomic():
        channel, _ = EventChannel.objects.select_for_update().get_or_create(account=account)
        channel.move_listener_to(ListenerState.LISTENING)
        channel.queues = dict(queues)
        channel.listener_error = note
        channel.listener_failures = 0
        channel.listener_retry_at = None
        channel.save(
            update_fields=[
                "listener_state",
                "queues",
                "listener_error",
                "listener_failures",
                "listener_retry_at",
                "updated_at",
            ]
        )
    return channel


def channel_record_failure(*, account: Account, state: str, message: str, now: datetime | None = None) -> EventChannel:
    """Failing or no queue: the reason for a person, and when it is tried again (exponential backoff)."""
    now = now or timezone.now()
    with transaction.atomic():
        channel, _ = EventChannel.objects.select_for_update().get_or_create(account=account)
        channel.move_listener_to(state)
        channel.listener_failures += 1
        channel.listener_error = message[:2000]
        channel.listener_retry_at = now + listener_backoff(channel.listener_failures)
        if state == ListenerState.NO_QUEUE:
            channel.queues = {}
        channel.save(
            update_fields=[
                "listener_state",
                "listener_failures",
                "listener_error",
                "listener_retry_at",
                "queues",
                "updated_at",
            ]
        )
    logger.warning(
        "event listener: account %s %s (failure %s, retry at %s): %s",
        account.pk,
        state,
        channel.listener_failures,
        channel.listener_retry_at.isoformat(),
        message,
    )
    return channel


def channel_retry_at(*, account: Account, now: datetime | None = None) -> datetime | None:
    """When the account may be tried again; None when it may be now."""
    now = now or timezone.now()
    retry_at = EventChannel.objects.filter(account=account).values_list("listener_retry_at", flat=True).first()
    return retry_at if retry_at and retry_at > now else None


def _touch(account: Account) -> None:
    EventChannel.objects.filter(account=account).update(last_message_at=timezone.now())


# --- AWS --------------------------------------------------------------------------------------------------


def _unavailable(exc: Exception, *, doing: str) -> QueueUnavailable:
    if isinstance(exc, ClientError) and exc.response.get("Error", {}).get("QueryErrorCode") == "QueueDoesNotExist":
        return QueueUnavailable(ListenerState.NO_QUEUE, f"The queue was deleted while trying to {doing}.")
    needs = f" The role must allow {', '.join(LISTENER_IAM_ACTIONS)} on the queue {queue_name()}."
    if isinstance(exc, ClientError) and is_access_denied(exc):
        # No AWS message text: it can name ARNs of the customer's account we need not repeat.
        return QueueUnavailable(
            ListenerState.FAILING, f"AWS denied {exc.operation_name} while trying to {doing} (AccessDenied).{needs}"
        )
    error = exc if isinstance(exc, DomainError) else explain_aws_error(exc, doing=doing)
    message = error.message + (needs if error.code == "aws_access_denied" else "")
    return QueueUnavailable(ListenerState.FAILING, message)


def sqs_client(account: Account, region: str):
    """A client for the account's queue (assumes the role): QueueUnavailable when that fails."""
    try:
        return client_for(account, "sqs", region)
    except (BotoCoreError, ClientError, DomainError) as exc:
        raise _unavailable(exc, doing=f"reach the interruption-event queue in {region}") from None


def account_queues_find(*, account: Account, regions: list[str] | None = None) -> tuple[dict[str, str], list[str]]:
    """(region -> queue URL, regions without a queue) of the account; QueueUnavailable when AWS refuses."""
    found, missing = {}, []
    for region in regions or account.regions_to_scan:
        client = sqs_client(account, region)
        try:
            url = event_queue_url(account=account, region=region, client=client)
        except DomainError as exc:
            raise _unavailable(exc, doing=f"find the interruption-event queue in {region}") from None
        if url:
            found[region] = url
        else:
            missing.append(region)
    return found, missing


def _no_queue_message(account: Account, regions: list[str]) -> str:
    return (
        f"AWS account {account.account_id} has no SQS queue {queue_name()} in {', '.join(regions)}. Deploy the "
        "CloudFormation stack (one per region) or run manage.py setup_event_queue --account "
        f"{account.account_id}."
    )


def _clients_prepare(account: Account, regions) -> None:
    """Build the clients a reaction uses in this account (EC2, Auto Scaling) now, not inside the two
    minutes (spotopt.aws keeps them for the process)."""
    for region in regions:
        for service in ("ec2", "autoscaling"):
            try:
                client_for(account, service, region)
            except (BotoCoreError, ClientError, DomainError):
                return  # the reaction will say what is wrong


# --- One poll ---------------------------------------------------------------------------------------------


def message_handle(*, account: Account, body: str) -> list[IngestResult]:
    """Ingest one message body for the queue's account (the reaction is left to the caller)."""
    started = time.monotonic()
    results = risk_events_ingest(body=body, channel=IngestChannel.SQS, account=account, react=REACT_NEVER)
    took = time.monotonic() - started
    if took > SLOW_INGEST_SECONDS:
        logger.warning("event listener: ingest of a message of account %s took %.2f s", account.pk, took)
    return results


def queue_poll(
    *,
    account: Account,
    region: str,
    url: str,
    client,
    wait_seconds: int,
    react=None,
) -> PollStats:
    """One ReceiveMessage on the queue; every message ingested, and deleted once ingest returned.
    `react(result)` is called for each stored event. QueueUnavailable when AWS refuses the receive."""
    stats = PollStats()
    try:
        answer = client.receive_message(
            QueueUrl=url, MaxNumberOfMessages=MAX_MESSAGES, WaitTimeSeconds=wait_seconds, AttributeNames=["All"]
        )
    except (BotoCoreError, ClientError) as exc:
        raise _unavailable(exc, doing=f"read the interruption-event queue in {region}") from None
    messages = answer.get("Messages", [])
    if not messages:
        return stats
    handled = []
    for message in messages:
        stats.received += 1
        _connection_refresh()
        try:
            results = message_handle(account=account, body=message.get("Body", ""))
        except Exception:
            # Not handled (the database is down, a bug): the message stays and SQS delivers it again.
            stats.failed += 1
            logger.exception(
                "event listener: ingest failed for message %s of account %s in %s; left for redelivery",
                message.get("MessageId"),
                account.pk,
                region,
            )
            continue
        handled.append(message)
        for result in results:
            if result.status == "stored":
                stats.stored += 1
                if react:
                    react(result)
            elif result.status == "duplicate":
                stats.duplicate += 1
            else:
                stats.rejected += 1
    if handled:
        stats.deleted = _delete(client, url, handled, account=account, region=region)
    try:
        _touch(account)
    except Exception:
        logger.exception("event listener: could not note the last message of account %s", account.pk)
    return stats


def _delete(client, url: str, messages: list[dict], *, account: Account, region: str) -> int:
    entries = [{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)]
    try:
        answer = client.delete_message_batch(QueueUrl=url, Entries=entries)
    except (BotoCoreError, ClientError) as exc:
        # Ingest is idempotent: a message that comes back is a duplicate, nothing worse.
        logger.warning(
            "event listener: could not delete %s handled message(s) of account %s in %s: %s",
            len(entries),
            account.pk,
            region,
            explain_aws_error(exc, doing="delete handled messages").message,
        )
        return 0
    for failed in answer.get("Failed", []):
        logger.warning(
            "event listener: message of account %s in %s not deleted (%s); it will come back as a duplicate",
            account.pk,
            region,
            failed.get("Code"),
        )
    return len(answer.get("Successful", []))


# --- The long-running parts -------------------------------------------------------------------------------


def _react_now(result: IngestResult) -> None:
    _connection_refresh()
    ingest_result_react(result, inline=True)  # logs its own failures


class AccountWorker(threading.Thread):
    """Serves one account until stopped: finds its queues, runs a poller per queue, records its health."""

    def __init__(self, account: Account, *, listener: "Listener"):
        super().__init__(name=f"risk-listen-{account.pk}", daemon=True)
        self.account = account
        self.listener = listener
        self.halt = threading.Event()
        self.pollers: list[threading.Thread] = []

    def stop(self) -> None:
        self.halt.set()

    def _stopping(self) -> bool:
        return self.halt.is_set() or self.listener.stop_event.is_set()

    def _pause(self, seconds: float) -> None:
        if seconds > 0 and not self._stopping():
            self.halt.wait(seconds)  # stop() sets halt, so a pause never delays a stop

    def run(self) -> None:
        try:
            while not self._stopping():
                try:
                    self._cycle()
                except QueueUnavailable as exc:
                    self._record_failure(exc)
                except Exception:
                    logger.exception("event listener: the worker of account %s failed; retrying", self.account.pk)
                    self._pause(5)
        finally:
            connection.close()

    def _cycle(self) -> None:
        _connection_refresh()
        retry_at = channel_retry_at(account=self.account)
        if retry_at:
            self._pause(min((retry_at - timezone.now()).total_seconds(), self.listener.refresh_seconds))
            return
        queues, missing = account_queues_find(account=self.account)
        if not queues:
            raise QueueUnavailable(ListenerState.NO_QUEUE, _no_queue_message(self.account, missing))
        channel_record_listening(account=self.account, queues=queues, missing=missing)
        logger.info("event listener: account %s listening in %s", self.account.pk, ", ".join(queues))
        _clients_prepare(self.account, queues)
        self._serve(queues, missing)

    def _record_failure(self, exc: QueueUnavailable) -> None:
        try:
            channel_record_failure(account=self.account, state=exc.state, message=exc.message)
        except Exception:
            logger.exception("event listener: could not record the failure of account %s", self.account.pk)
            self._pause(5)

    def _serve(self, queues: dict[str, str], missing: list[str]) -> None:
        """Poll every queue until stopped or one of them fails (then raise its QueueUnavailable)."""
        failures: queue.Queue = queue.Queue()
        pollers_halt = threading.Event()
        queues = dict(queues)
        self.pollers = []

        def start(region: str, url: str) -> None:
            poller = threading.Thread(
                target=self._poll_loop,
                args=(region, url, pollers_halt, failures),
                name=f"risk-poll-{self.account.pk}-{region}",
                daemon=True,
            )
            self.pollers.append(poller)
            poller.start()

        for region, url in queues.items():
            start(region, url)
        recheck_at = time.monotonic() + self.listener.refresh_seconds
        try:
            while not self._stopping():
                try:
                    failure = failures.get(timeout=0.5)
                except queue.Empty:
                    failure = None
                if failure is not None:
                    raise failure
                if missing and time.monotonic() >= recheck_at:
                    recheck_at = time.monotonic() + self.listener.refresh_seconds
                    _connection_refresh()
                    found, missing = account_queues_find(account=self.account, regions=missing)
                    if found:
                        queues |= found
                        channel_record_listening(account=self.account, queues=queues, missing=missing)
                        for region, url in found.items():
                            start(region, url)
        finally:
            pollers_halt.set()

    def _poll_loop(self, region: str, url: str, halt: threading.Event, failures: queue.Queue) -> None:
        client, built = None, 0.0
        try:
            while not (halt.is_set() or self._stopping()):
                if client is None or time.monotonic() - built > CLIENT_MAX_AGE_SECONDS:
                    client, built = sqs_client(self.account, region), time.monotonic()
                queue_poll(
                    account=self.account,
                    region=region,
                    url=url,
                    client=client,
                    wait_seconds=self.listener.wait_seconds,
                    react=self.listener.react,
                )
        except QueueUnavailable as exc:
            failures.put(exc)
        except Exception:
            logger.exception("event listener: poller of account %s in %s failed", self.account.pk, region)
            failures.put(QueueUnavailable(ListenerState.FAILING, f"Polling the queue in {region} failed unexpectedly."))
        finally:
            connection.close()


class Listener:
    """`run()` serves the accounts until `stop()`; `run_once()` polls each queue once (tests, cron)."""

    def __init__(
        self,
        *,
        wait_seconds: int = DEFAULT_WAIT_SECONDS,
        refresh_seconds: float = DEFAULT_REFRESH_SECONDS,
        shard: Shard | None = None,
        react: bool = True,
        threads: int = 16,
    ):
        self.wait_seconds = max(0, min(20, int(wait_seconds)))
        self.refresh_seconds = refresh_seconds
        self.shard = shard
        self.threads = max(1, threads)
        self.stop_event = threading.Event()
        self.workers: dict[tuple, AccountWorker] = {}
        self._reactions = self._reaction_pool() if react else None

    @staticmethod
    def _reaction_pool() -> ThreadPoolExecutor:
        return ThreadPoolExecutor(settings.RISK_REACTION_THREADS, thread_name_prefix="risk-react")

    def react(self, result: IngestResult) -> None:
        if self._reactions is not None:
            self._reactions.submit(_react_now, result)

    def stop(self) -> None:
        self.stop_event.set()

    # --- --once ---

    def run_once(self) -> list[AccountOutcome]:
        _connection_refresh()
        accounts = listened_accounts(shard=self.shard)
        if self.threads == 1 or len(accounts) <= 1:
            outcomes = [self._serve_once(account, closing=False) for account in accounts]
        else:
            with ThreadPoolExecutor(min(self.threads, len(accounts)), thread_name_prefix="risk-once") as pool:
                outcomes = list(pool.map(self._serve_once, accounts))
        self._finish_reactions()
        return outcomes

    def _serve_once(self, account: Account, closing: bool = True) -> AccountOutcome:
        outcome = AccountOutcome(account=account, state=ListenerState.LISTENING)
        try:
            _connection_refresh()
            retry_at = channel_retry_at(account=account)
            if retry_at:
                outcome.state, outcome.retry_at = "waiting", retry_at
                return outcome
            try:
                outcome.queues, outcome.missing = account_queues_find(account=account)
                if not outcome.queues:
                    raise QueueUnavailable(ListenerState.NO_QUEUE, _no_queue_message(account, outcome.missing))
                channel_record_listening(account=account, queues=outcome.queues, missing=outcome.missing)
                for region, url in outcome.queues.items():
                    stats = queue_poll(
                        account=account,
                        region=region,
                        url=url,
                        client=sqs_client(account, region),
                        wait_seconds=self.wait_seconds,
                        react=self.react,
                    )
                    outcome.stats.add(stats)
            except QueueUnavailable as exc:
                channel = channel_record_failure(account=account, state=exc.state, message=exc.message)
                outcome.state, outcome.error, outcome.retry_at = exc.state, exc.message, channel.listener_retry_at
            return outcome
        finally:
            if closing:
                connection.close()

    def _finish_reactions(self) -> None:
        if self._reactions is not None:
            self._reactions.shutdown(wait=True)
            self._reactions = self._reaction_pool()

    # --- forever ---

    def refresh(self) -> tuple[int, int]:
        """Start workers for newly listened accounts and stop those of dropped ones: (started, stopped)."""
        _connection_refresh()
        wanted = {worker_key(account): account for account in listened_accounts(shard=self.shard)}
        stopped = 0
        for key in list(self.workers):
            if key not in wanted or not self.workers[key].is_alive():
                self.workers.pop(key).stop()
                stopped += 1
        started = 0
        for key, account in wanted.items():
            if key not in self.workers:
                self.workers[key] = self.start_worker(account)
                started += 1
        if started or stopped:
            logger.info("event listener: %s account(s); %s started, %s stopped", len(wanted), started, stopped)
        return started, stopped

    def start_worker(self, account: Account) -> AccountWorker:
        worker = AccountWorker(account, listener=self)
        worker.start()
        return worker

    def warm_reactions(self) -> None:
        """Make every reaction thread ready before the first warning: its boto3 session (0.2 s of handler
        registration and file lookups), the EC2 and Auto Scaling models and its database connection. A
        cold thread would spend that inside the two minutes."""
        if self._reactions is None:
            return
        threads = settings.RISK_REACTION_THREADS
        ready = threading.Barrier(threads, timeout=30)

        def warm():
            session = aws.session_for_this_thread()
            for service in ("ec2", "autoscaling"):
                session.client(service, region_name=settings.AWS_DEFAULT_REGION, config=aws.client_config())
            try:
                connection.ensure_connection()
            except Exception:  # the database is away: the first reaction connects
                logger.warning("event listener: a reaction thread could not connect yet")
            ready.wait()  # every thread takes one warm-up

        for future in [self._reactions.submit(warm) for _ in range(threads)]:
            future.result()

    def run(self) -> None:
        self.warm_reactions()
        try:
            while not self.stop_event.is_set():
                try:
                    self.refresh()
                    aws_errors_flush()  # the pollers' and reactions' failed AWS calls, for /metrics
                except Exception:  # the database is away: keep the workers, try again
                    logger.exception("event listener: could not refresh the account list")
                finally:
                    connection.close()
                self.stop_event.wait(self.refresh_seconds)
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        self.stop_event.set()
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        workers = list(self.workers.values())
        for worker in workers:
            worker.stop()
        for thread in [t for w in workers for t in (w, *w.pollers)]:
            thread.join(max(0.0, deadline - time.monotonic()))
        self.workers.clear()
        if self._reactions is not None:
            self._reactions.shutdown(wait=True, cancel_futures=False)
            self._reactions = None
