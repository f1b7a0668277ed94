from django.core.management.base import BaseCommand, CommandError

from accounts.selectors import connected_accounts_named
from spotopt.templatetags.display import dollars
from waste.services import SCANNABLE, account_scan_waste


class Command(BaseCommand):
    help = (
        "Find idle Elastic IPs, volumes, snapshots and AMIs of one account (--account: id or AWS account id) or "
        "of every connected account. --dry-run reads AWS and prints what would change, writing nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--account", help="spotopt account id (UUID) or AWS account id; default: all")
        parser.add_argument("--dry-run", action="store_true", help="write nothing (no rows, no tags, no requests)")

    def handle(self, *args, account=None, dry_run=False, **options):
        accounts, found = connected_accounts_named(account, SCANNABLE)
        if not found:
            raise CommandError(f"No connected account '{account}' (give its AWS account id or spotopt id).")
        if not accounts.exists():
            self.stdout.write("No connected accounts to scan.")
            return
        failures = 0
        for target in accounts:
            prefix = "[dry run] " if dry_run else ""
            self.stdout.write(
                f"{prefix}{target.account_name} ({target.account_id}): {len(target.regions_to_scan)} region(s)"
            )

            def progress(region, outcome):
                if outcome.error:
                    self.stdout.write(self.style.ERROR(f"  {region}: failed: {outcome.error}"))
                else:
                    self.stdout.write(
                        f"  {region}: {outcome.found} idle ({outcome.new} new), {outcome.left} left the list, "
                        f"{outcome.exempt} exempt, {dollars(outcome.monthly_cost)}/month"
                    )

            result = account_scan_waste(account=target, dry_run=dry_run, progress=progress)
            self.stdout.write(
                f"  {result.found} idle resource(s), {dollars(result.monthly_cost)}/month; {result.left} left the "
                f"list; {result.scheduled_requests} deletion request(s) filed; {result.aws_calls} AWS calls"
            )
            failures += bool(result.errors)
        if failures:
            raise CommandError(f"The scan failed in some region of {failures} account(s); see above.")
