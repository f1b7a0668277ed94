from collections import Counter

from django.core.management.base import BaseCommand, CommandError

from accounts.selectors import connected_accounts_named
from fleet.optimizer import NOT_EXECUTED, optimizer_evaluate, optimizer_instances
from fleet.tasks import DISCOVERABLE
from spotopt.templatetags.display import dollars


class Command(BaseCommand):
    help = (
        "Evaluate the active instances of one account (--account) or of every connected account: candidate "
        "pools, model scores and a decision with its reason for each, written as experiment logs. --dry-run "
        f"writes nothing. Decisions are {NOT_EXECUTED}."
    )

    def add_arguments(self, parser):
        parser.add_argument("--account", help="spotopt account id (UUID) or AWS account id; default: all")
        parser.add_argument("--dry-run", action="store_true", help="print the decisions, write no log")
        parser.add_argument("--verbose-reasons", action="store_true", help="print every instance's reason")

    def handle(self, *args, account=None, dry_run=False, verbose_reasons=False, **options):
        accounts, found = connected_accounts_named(account, DISCOVERABLE)
        if not found:
            raise CommandError(f"No connected account '{account}' (give its AWS account id or spotopt id).")
        total = Counter()
        for target in accounts:
            logs = optimizer_evaluate(instances=optimizer_instances(account=target), write=not dry_run)
            decisions = Counter(log.decision for log in logs)
            total.update(decisions)
            savings = sum((log.projected_hourly_savings or 0) for log in logs if log.decision == "SWITCH")
            summary = ", ".join(f"{n} {d}" for d, n in sorted(decisions.items())) or "no active instance"
            self.stdout.write(
                f"{'[dry run] ' if dry_run else ''}{target.account_name} ({target.account_id}): {summary}; "
                f"projected saving of the switches {dollars(savings, 4)}/hour"
            )
            if verbose_reasons:
                for log in logs:
                    self.stdout.write(
                        f"  {log.instance.instance_id}: {log.decision}: {log.decision_reason or log.error_message}"
                    )
        self.stdout.write(f"Decisions {NOT_EXECUTED}." if total else "Nothing evaluated.")
