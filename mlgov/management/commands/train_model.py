from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from mlgov.training import DEFAULT_DAYS, DEFAULT_HOLDOUT, DEFAULT_STEP_HOURS, model_train
from spotopt.errors import DomainError


def _when(iso: str | None) -> str:
    return f"{iso[:10]} {iso[11:16]}" if iso else "—"


class Command(BaseCommand):
    help = (
        "Train a logistic-regression risk model (numpy; no scikit-learn needed) on the platform's own history: "
        "every pool with Spot price steps, sampled every --step-hours over the last --days (label: an "
        "interruption warning of the pool within 24 h), and the settled switches of the window. The latest "
        "--holdout share of sample times is held out for its AUC and Brier score. The ONNX file is registered "
        "as a CANDIDATE with those metrics (--dry-run: printed, nothing registered). See mlgov/training.py."
    )

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=DEFAULT_DAYS, help=f"the window (default {DEFAULT_DAYS})")
        parser.add_argument(
            "--step-hours", type=int, default=DEFAULT_STEP_HOURS, help=f"sampling step (default {DEFAULT_STEP_HOURS})"
        )
        parser.add_argument(
            "--holdout", type=float, default=DEFAULT_HOLDOUT, help="held-out share of the latest sample times (0.2)"
        )
        parser.add_argument("--name", default="", help="model name (default trained-YYYYMMDD-HHMM)")
        parser.add_argument("--user", default="", help="username recorded as the uploader (a Lab role); default none")
        parser.add_argument("--dry-run", action="store_true", help="print the metrics, register nothing")

    def handle(self, *args, days, step_hours, holdout, name, user, dry_run, **options):
        uploader = None
        if user:
            uploader = get_user_model().objects.filter(username=user).first()
            if uploader is None:
                raise CommandError(f"No user '{user}'.")
        try:
            result = model_train(
                days=days, step_hours=step_hours, holdout=holdout, name=name, user=uploader, dry_run=dry_run
            )
        except DomainError as error:
            raise CommandError(error.message) from None
        m = result.metrics
        train, held = m["train"], m["held_out"]
        history = train["samples"] + held["samples"] - train["switches"] - held["switches"]
        positives = train["positives"] + held["positives"] - train["switch_failures"] - held["switch_failures"]
        switches = train["switches"] + held["switches"]
        failures = train["switch_failures"] + held["switch_failures"]
        write = self.stdout.write
        write(
            f"Read {m['days']} days ({_when(m['window']['from'])} to {_when(m['window']['to'])} UTC): {m['pools']} "
            f"pools with Spot price steps, {m['sample_times']} sample times every {m['step_hours']} h."
        )
        write(
            f"Used {history} pool samples ({positives} interrupted within 24 h) and settled switches: {switches} "
            f"({failures} interrupted within 24 h); skipped switches without stored features of schema "
            f"{m['feature_schema_version']}: {m['switches_skipped']}."
        )
        for label, split in (("Train", train), ("Held out", held)):
            write(
                f"{label}: {split['samples']} samples ({split['positives']} positive; switches: {split['switches']}), "
                f"{_when(split['from'])} to {_when(split['to'])} UTC."
            )
        write(
            f"Held-out AUC {m['auc']:.3f}, Brier {m['brier']:.4f} (the training base rate alone: "
            f"{m['brier_reference']:.4f}); {m['iterations']} Newton iterations, ONNX file {m['onnx_bytes']:,} bytes."
        )
        if m["features_unused"]:
            write(f"Weight 0 (too few training samples where they vary): {', '.join(m['features_unused'])}.")
        if result.model is None:
            write("Dry run: nothing registered (the file passes the upload checks).")
        else:
            write(self.style.SUCCESS(f"Registered candidate {result.model} (id {result.model.pk})."))
