from datetime import UTC, datetime
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from spotopt.errors import DomainError


class Command(BaseCommand):
    help = (
        "Write a replay trace (JSON lines, replay/trace.py) of a region's last --days: the Spot price history "
        "DescribeSpotPriceHistory gave the platform, the hive's interruption and rebalance log, and the "
        "connected accounts' fleets. bench/replay.py --trace FILE replays it."
    )

    def add_arguments(self, parser):
        parser.add_argument("--region", required=True)
        parser.add_argument("--days", type=int, default=30)
        parser.add_argument("--end", help="the trace's end, YYYY-MM-DD (UTC; default: now)")
        parser.add_argument("--out", type=Path, required=True, help="the trace file to write")
        parser.add_argument(
            "--refresh-from",
            metavar="AWS_ACCOUNT_ID",
            help="first fetch the price history with this connected account's credentials",
        )

    def handle(self, *args, region, days, end, out, refresh_from, **options):
        from accounts.models import Account
        from replay.recorder import trace_record
        from replay.trace import write_trace

        if days <= 0:
            raise CommandError("--days must be a positive number.")
        try:
            until = datetime.fromisoformat(end).replace(tzinfo=UTC) if end else None
        except ValueError:
            raise CommandError(f"--end {end!r} is not a date (YYYY-MM-DD).") from None
        account = None
        if refresh_from:
            account = Account.objects.filter(account_id=refresh_from, is_active=True).first()
            if account is None:
                raise CommandError(f"No connected account has the AWS account id {refresh_from}.")
        try:
            trace = trace_record(region=region, days=days, end=until, refresh_account=account)
        except DomainError as exc:
            raise CommandError(exc.message) from None
        if not trace.pools:
            raise CommandError(f"No Spot price history is stored for {region} in that window: nothing to record.")
        lines = write_trace(trace, out)
        events = sum(1 for e in trace.market if e.kind != "price")
        self.stdout.write(
            f"Wrote {out}: {lines} lines, {len(trace.pools)} pools, {len(trace.instances)} instances of "
            f"{len(trace.tenants)} tenants, {events} interruption/rebalance events."
        )
