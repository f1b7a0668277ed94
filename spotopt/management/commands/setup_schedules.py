from django.core.management.base import BaseCommand

from spotopt.q import schedules_sync


class Command(BaseCommand):
    help = "Create or update every app's periodic django-q2 jobs by name (idempotent) and drop stale ones."

    def handle(self, *args, **options):
        result = schedules_sync()
        for label, names in (
            ("created", result.created),
            ("updated", result.updated),
            ("unchanged", result.unchanged),
            ("removed", result.removed),
        ):
            for name in names:
                self.stdout.write(f"{label:9} {name}")
        self.stdout.write(
            self.style.SUCCESS(
                f"Schedules: {len(result.created)} created, {len(result.updated)} updated, "
                f"{len(result.unchanged)} unchanged, {len(result.removed)} removed."
            )
        )
