from django.core.management.base import BaseCommand, CommandError

from accounts.selectors import connected_accounts_named
from fleet.execution import optimizer_cycle
from fleet.tasks import DISCOVERABLE
from mlgov.choices import Decision
from spotopt.templatetags.display import dollars


class Command(BaseCommand):
    help = (
        "Run the optimizer's cycle now for one account (--account) or every connected account: candidate "
        "pools, model scores and a decision with its reason for each active instance, written as experiment "
        "logs; the switches it decides are run here one after another (LAB accounts, and PROD accounts that "
        "allow automatic switches) or filed for approval (other PROD accounts). --dry-run writes and "
        "executes nothing; --no-execute leaves queued switches to the workers."
    )

    def add_arguments(self, parser):
        parser.add_argument("--account", help="spotopt account id (UUID) or AWS account id; default: all")
        parser.add_argument("--dry-run", action="store_true", help="print the decisions, write no log, run nothing")
        parser.add_argument("--no-execute", action="store_true", help="queue switches for the workers")
        parser.add_argument("--verbose-reasons", action="store_true", help="print every instance's reason")

    def handle(self, *args, account=None, dry_run=False, no_execute=False, verbose_reasons=False, **options):
        accounts, found = connected_accounts_named(account, DISCOVERABLE)
        if not found:
            raise CommandError(f"No connected account '{account}' (give its AWS account id or spotopt id).")
        for target in accounts:
            result = optimizer_cycle(account=target, dry_run=dry_run, inline=not no_execute, keep_logs=verbose_reasons)
            summary = ", ".join(f"{n} {d}" for d, n in sorted(result.decisions.items())) or "no active instance"
            self.stdout.write(
                f"{'[dry run] ' if dry_run else ''}{target.account_name} ({target.account_id}): {summary}"
            )
            if dry_run:
                savings = sum(
                    (log.projected_hourly_savings or 0)
                    for log in result.logs
                    if log.decision in (Decision.SWITCH, Decision.RETURN_TO_SPOT)
                )
                self.stdout.write(f"  projected saving of the switches {dollars(savings, 4)}/hour; nothing executed")
            else:
                executed = ", ".join(
                    f"{n} {status.lower()}" for status, n in sorted(_count(result.executed.values()).items())
                )
                self.stdout.write(
                    f"  switches: {len(result.queued)} queued, {result.awaiting_approval} awaiting approval"
                    + (f"; run here: {executed}" if executed else "")
                )
            if verbose_reasons:
                for log in result.logs:
                    self.stdout.write(
                        f"  {log.instance.instance_id}: {log.decision}: {log.decision_reason or log.error_message}"
                        + (f" [{log.features_used['execution']}]" if not dry_run else "")
                    )


def _count(values) -> dict:
    counts: dict = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts
