import uuid

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Account
from risk.queues import SETUP_IAM_ACTIONS, EventQueueSetupRefused, event_queue_setup, queue_name
from spotopt.errors import DomainError


class Command(BaseCommand):
    help = (
        "Create the interruption-event SQS queue, its policy and the EventBridge rules (Spot interruption "
        "warning, rebalance recommendation) in a customer's AWS account, in each region to scan (or --region). "
        "For accounts connected with access keys (CloudFormation stacks create these themselves); works for role "
        "accounts too. Running it again changes nothing. The credentials must allow: " + ", ".join(SETUP_IAM_ACTIONS)
    )

    def add_arguments(self, parser):
        parser.add_argument("--account", required=True, help="spotopt account id (UUID) or AWS account id")
        parser.add_argument(
            "--region", action="append", dest="regions", metavar="REGION", help="a region (repeatable); default: all"
        )

    def handle(self, *args, account, regions=None, **options):
        target = _account(account)
        try:
            done = event_queue_setup(account=target, regions=regions)
        except EventQueueSetupRefused as exc:
            raise CommandError(f"{exc.message}\nNeeded IAM actions:\n  " + "\n  ".join(SETUP_IAM_ACTIONS)) from exc
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"{target.account_name} ({target.account_id}): queue {queue_name()}")
        for region, setup in done.items():
            what = "created" if setup.queue_created else "already there, settings and policy checked"
            self.stdout.write(f"  {region}: queue {what}: {setup.queue_url}")
            for rule, arn in setup.rule_arns.items():
                self.stdout.write(f"  {region}: rule {rule} -> queue ({arn})")
        self.stdout.write(self.style.SUCCESS(f"Interruption events are wired in {len(done)} region(s)."))


def _account(value: str) -> Account:
    accounts = Account.objects.filter(is_active=True)
    match = accounts.filter(account_id=value).first()
    if match is None:
        try:
            match = accounts.filter(pk=uuid.UUID(value)).first()
        except ValueError:
            match = None
    if match is None:
        raise CommandError(f"No active account '{value}' (give its AWS account id or spotopt id).")
    return match
