from django.core.management.base import BaseCommand, CommandError

from accounts.selectors import connected_accounts_named
from fleet.services import account_discover
from fleet.tasks import DISCOVERABLE


class Command(BaseCommand):
    help = "Discover the EC2 fleet of one account (--account: id or AWS account id) or of every connected account."

    def add_arguments(self, parser):
        parser.add_argument("--account", help="spotopt account id (UUID) or AWS account id; default: all")

    def handle(self, *args, account=None, **options):
        accounts, found = connected_accounts_named(account, DISCOVERABLE)
        if not found:
            raise CommandError(f"No connected account '{account}' (give its AWS account id or spotopt id).")
        if not accounts.exists():
            self.stdout.write("No connected accounts to discover.")
            return
        failures = 0
        for target in accounts:
            self.stdout.write(f"{target.account_name} ({target.account_id}): {len(target.regions_to_scan)} region(s)")
            result = account_discover(account=target)
            for region in target.regions_to_scan:
                if region in result.errors_by_region:
                    self.stdout.write(self.style.ERROR(f"  {region}: failed: {result.errors_by_region[region]}"))
                else:
                    self.stdout.write(f"  {region}: {result.instances_by_region.get(region, 0)} instances")
            target.refresh_from_db()
            self.stdout.write(
                f"  {result.instances_found} instances; {result.created} new, {result.updated} changed, "
                f"{result.deactivated} gone; {result.flagged} flagged, {result.reauthorized} re-authorized, "
                f"{result.rogue_requests} termination request(s) filed; account {target.status}"
            )
            failures += not result.succeeded
        if failures:
            raise CommandError(f"Discovery failed for {failures} account(s); see above.")
