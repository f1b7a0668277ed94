from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from spotopt import demo
from spotopt.errors import DomainError


class Command(BaseCommand):
    help = (
        "Fill the demo AWS emulator (settings.AWS_ENDPOINT_URL, never real AWS) and the database with a "
        "believable estate: two Acme accounts, their fleet, waste, risk history and one user per role. "
        "Safe to run again: nothing is duplicated and existing users keep their passwords."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--reset-passwords",
            action="store_true",
            help="Give the existing demo users new passwords and print them.",
        )

    def handle(self, *args, reset_passwords=False, **options):
        self.stdout.write(f"Seeding the demo estate (AWS endpoint: {settings.AWS_ENDPOINT_URL or 'not set'})")
        try:
            demo.demo_preflight()
            users = demo.demo_users_ensure(reset_passwords=reset_passwords)
            self._show_users(users)
            result = demo.demo_estate_seed(progress=self.stdout.write)
        except DomainError as exc:
            raise CommandError(exc.message) from exc

        self.stdout.write("")
        self.stdout.write("Accounts:")
        for a in result.accounts:
            self.stdout.write(
                f"  {a.name} ({a.aws_account_id}, {a.environment_type}, {a.status}): {a.instances} instances, "
                f"{a.asgs} ASGs, {a.eks_nodes} EKS nodes, {a.spot} Spot, {a.rogue} rogue, "
                f"{a.waste} waste resources (${a.waste_monthly_cost:.2f}/month)"
            )
        self.stdout.write(f"Approvals: {result.approvals_pending} pending ({result.approvals_filed} filed by this run)")
        self.stdout.write("")
        self.stdout.write(f"Sign in at:   {result.login_url}  (Django admin for demo-superadmin: /admin/)")
        self.stdout.write(f"AWS endpoint: {result.endpoint}")
        self.stdout.write(self.style.SUCCESS("Demo estate ready."))

    def _show_users(self, users):
        self.stdout.write("Users (a password is shown only when it is set, so note it now):")
        for user in users:
            if user.password:
                state = "created" if user.created else "password reset"
                self.stdout.write(f"  {user.username:16} {user.role:12} {state}, password: {user.password}")
            else:
                self.stdout.write(
                    f"  {user.username:16} {user.role:12} already exists, password unchanged "
                    "(--reset-passwords sets a new one)"
                )
