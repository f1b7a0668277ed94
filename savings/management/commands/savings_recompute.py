from datetime import date, timedelta

from django.core.management.base import BaseCommand, CommandError

from savings.ledger import days_close


class Command(BaseCommand):
    help = "Close every day of a month (YYYY-MM) of the savings ledger again from its inputs (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--month", required=True, help="YYYY-MM")

    def handle(self, *args, month, **options):
        try:
            first = date.fromisoformat(f"{month}-01")
        except ValueError:
            raise CommandError(f"--month is YYYY-MM, not {month!r}.") from None
        last = (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
        rows = days_close(first=first, last=last)
        self.stdout.write(f"{month}: {rows} ledger row(s) closed ({first} to {last}).")
