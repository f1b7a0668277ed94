from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from demo import seed
from risk.models import SpotPoolRisk
from risk.selectors import poisoned_now
from sla.models import DowntimeLog
from spotopt.errors import DomainError


class Command(BaseCommand):
    help = (
        "Fill the demo AWS emulator (settings.AWS_ENDPOINT_URL, never real AWS) and the database through the "
        "product's own services: the Acme team, its two AWS accounts connected by CloudFormation role and "
        "discovered, pending approvals, one user per role. Safe to run again: nothing is duplicated and "
        "existing users keep their passwords. With --reset-passwords it only gives the demo users new "
        "passwords (the database is all it needs) and prints where to sign in."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--reset-passwords",
            action="store_true",
            help="Only give the demo users new passwords and print them (no AWS endpoint needed).",
        )
        parser.add_argument(
            "--summary-file",
            type=Path,
            help="Also write the closing sign-in summary (with passwords) to this file, readable by you only.",
        )

    def handle(self, *args, reset_passwords=False, summary_file=None, **options):
        try:
            if reset_passwords:
                users = seed.demo_users_ensure(reset_passwords=True)
                url = seed.demo_login_url()
            else:
                self.stdout.write(f"Seeding the demo estate (AWS endpoint: {settings.AWS_ENDPOINT_URL or 'not set'})")
                seed.demo_preflight()
                users = seed.demo_users_ensure()
                result = seed.demo_estate_seed(progress=self.stdout.write)
                self._report(result)
                url = result.login_url
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        summary = seed.sign_in_summary(users, url=url)
        if summary_file:
            seed.write_private(summary_file, summary)
        self.stdout.write(summary)

    def _report(self, result):
        self.stdout.write("")
        self.stdout.write("Accounts:")
        for a in result.accounts:
            self.stdout.write(
                f"  {a.name} ({a.aws_account_id}, {a.environment_type}, {a.status}): {a.instances} instances, "
                f"{a.asgs} ASGs, {a.eks_nodes} EKS nodes, {a.spot} Spot, {a.rogue} rogue"
            )
        self.stdout.write(f"Approvals: {result.approvals_pending} pending ({result.approvals_filed} filed by this run)")
        if result.interruptions is not None:
            self.stdout.write(
                f"Interruption events: {SpotPoolRisk.objects.filter(poisoned_now()).count()} poisoned pool(s) "
                f"(Risk page), {DowntimeLog.objects.count()} downtime stretch(es) (SLA page)"
            )
        if result.kubernetes is not None:
            if result.kubernetes.available:
                self.stdout.write(
                    f"Kubernetes: the local kube-apiserver serves acme-prod-eks ({result.kubernetes.nodes} nodes); "
                    "two nodes' interruption warnings were drained (Kubernetes page, each node's Instance page)"
                )
            else:
                self.stdout.write(f"Kubernetes: {result.kubernetes.note}")
        if result.experiments:
            found = ", ".join(f"{n} {d}" for d, n in sorted(result.experiments.items()))
            self.stdout.write(f"Optimizer: one cycle over the fleet ({found}) (Fleet → Experiments, Approvals)")
        if result.preview:
            self.stdout.write(
                f"Savings preview: ${result.preview['monthly_saving']} a month on Acme Production "
                "(its account page, Savings preview)"
            )
        if result.ledger_rows:
            self.stdout.write(f"Savings ledger: {result.ledger_rows} row(s), the last month (Savings, Overview)")
        if result.model:
            self.stdout.write(f"Production model: {result.model} (Lab page)")
        if result.waste:
            found = ", ".join(f"{name}: {count}" for name, count in result.waste.items())
            self.stdout.write(f"Waste: idle resources found by the scanner ({found}) (Waste page)")
        self.stdout.write(f"AWS endpoint: {result.endpoint}")
        self.stdout.write(self.style.SUCCESS("Demo estate ready."))
