import logging
import signal

from django.core.management.base import BaseCommand, CommandError

from risk.listener import DEFAULT_REFRESH_SECONDS, DEFAULT_WAIT_SECONDS, Listener, Shard
from spotopt.errors import DomainError

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Long-poll every connected account's interruption-event SQS queues and ingest the events (deleting each "
        "message once it is stored, or rejected with its reason). Runs until SIGTERM/SIGINT; the account list "
        "is re-read every --refresh seconds."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--wait", type=int, default=DEFAULT_WAIT_SECONDS, help="ReceiveMessage WaitTimeSeconds, 0-20 (20)"
        )
        parser.add_argument(
            "--refresh",
            type=float,
            default=DEFAULT_REFRESH_SECONDS,
            help=f"seconds between re-reads of the account list ({DEFAULT_REFRESH_SECONDS})",
        )
        parser.add_argument(
            "--shard",
            metavar="I/N",
            help="serve only the accounts of shard I of N (1-based: crc32 of the account's UUID mod N == I-1)",
        )
        parser.add_argument(
            "--once", action="store_true", help="poll each queue once and exit (tests, cron; use with --wait 0)"
        )

    def handle(self, *args, wait, refresh, shard=None, once=False, **options):
        if not 0 <= wait <= 20:
            raise CommandError("--wait is 0 to 20 seconds (SQS's long-poll limit).")
        if refresh <= 0:
            raise CommandError("--refresh must be a positive number of seconds.")
        try:
            shard = Shard.parse(shard) if shard else None
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        listener = Listener(wait_seconds=wait, refresh_seconds=refresh, shard=shard)
        if once:
            self._once(listener)
            return
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: listener.stop())
        where = f"shard {shard.index}/{shard.count}" if shard else "every account"
        self.stdout.write(f"Listening for interruption events ({where}; wait {wait} s, refresh {refresh:g} s).")
        self.stdout.flush()
        listener.run()
        self.stdout.write("Event listener stopped.")

    def _once(self, listener: Listener) -> None:
        outcomes = listener.run_once()
        if not outcomes:
            self.stdout.write("No connected accounts to listen to.")
        for outcome in outcomes:
            label = f"{outcome.account.account_name} ({outcome.account.account_id})"
            if outcome.state == "waiting":
                self.stdout.write(f"{label}: backing off until {outcome.retry_at:%Y-%m-%d %H:%M:%S} UTC")
            elif outcome.error:
                self.stdout.write(self.style.ERROR(f"{label}: {outcome.state}: {outcome.error}"))
            else:
                s = outcome.stats
                self.stdout.write(
                    f"{label}: {', '.join(outcome.queues)}: {s.received} message(s); {s.stored} stored, "
                    f"{s.duplicate} duplicate, {s.rejected} rejected, {s.failed} left for redelivery"
                )
