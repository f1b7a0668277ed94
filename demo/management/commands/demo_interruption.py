from django.core.management.base import BaseCommand, CommandError

from demo.interruptions import demo_event_send
from demo.seed import demo_preflight
from fleet.models import Instance
from spotopt.errors import DomainError


class Command(BaseCommand):
    help = (
        "Demo only (the AWS emulator, never real AWS): play AWS and announce that a Spot instance will be "
        "interrupted (or, with --rebalance, recommend rebalancing it). The event goes onto the instance's "
        "account's EventBridge bus; the running `manage.py listen_events` reads it off the queue within a "
        "long poll, poisons the pool and lets the safety net act. Watch the Risk, Fleet and SLA pages."
    )

    def add_arguments(self, parser):
        parser.add_argument("--instance", required=True, help="the EC2 instance id (i-…) of a discovered instance")
        parser.add_argument("--rebalance", action="store_true", help="a rebalance recommendation instead")

    def handle(self, *args, instance, rebalance=False, **options):
        target = Instance.objects.select_related("account").filter(instance_id=instance, is_active=True).first()
        if target is None:
            raise CommandError(f"No active discovered instance {instance}: pick one on the Fleet page.")
        try:
            demo_preflight()
            event_id = demo_event_send(instance=target, rebalance=rebalance)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        what = "Rebalance recommendation" if rebalance else "Spot interruption warning"
        self.stdout.write(
            f"{what} for {target.instance_id} ({target.instance_type}, {target.availability_zone}) put on the "
            f"EventBridge bus of {target.account.account_id} in {target.region} (event {event_id})."
        )
