"""Reads of the models under governance: platform-wide (not tenant data), for the roles that use the Lab."""

from datetime import timedelta

from django.db.models import Avg, Count, Q
from django.utils import timezone

from accounts.roles import Capability, can

from .choices import Decision
from .models import MLModel, ModelMove


def models_for(user):
    if not can(user, Capability.USE_LAB):
        return MLModel.objects.none()
    return MLModel.objects.select_related("uploaded_by").order_by("-uploaded_at", "id")


def moves_of(model):
    return ModelMove.objects.filter(model=model).order_by("-at", "-id")


def model_comparison(*, days: int = 7) -> list[dict]:
    """Per model, its runs of the last `days`: how many, the mean crash probability, the switches and the
    mean projected hourly saving (one GROUP BY), next to its settled switch outcomes (all time)."""
    since = timezone.now() - timedelta(days=days)
    recent = Q(experiment_logs__execution_time__gte=since)
    return list(
        MLModel.objects.exclude(status="ARCHIVED")
        .annotate(
            runs=Count("experiment_logs", filter=recent),
            mean_crash_probability=Avg("experiment_logs__prediction_score", filter=recent),
            switches=Count(
                "experiment_logs",
                filter=recent & Q(experiment_logs__decision__in=[Decision.SWITCH, Decision.RETURN_TO_SPOT]),
            ),
            mean_projected_savings=Avg("experiment_logs__projected_hourly_savings", filter=recent),
        )
        .values(
            "id",
            "name",
            "version",
            "status",
            "is_active_prod",
            "runs",
            "mean_crash_probability",
            "switches",
            "mean_projected_savings",
            "success_count",
            "failure_count",
        )
        .order_by("-is_active_prod", "-runs", "name")
    )


def experiments_for(user):
    """The optimizer's evaluations of the user's instances (tenant data: scoped like the fleet), newest first,
    with the instance, its account and the model the pages show."""
    from fleet.selectors import ACCOUNT_COLUMNS

    from .models import ExperimentLog

    return (
        ExperimentLog.objects.for_user(user)
        .select_related("instance", "instance__account", "model")
        .defer("features_used")
        .only(
            *(f.name for f in ExperimentLog._meta.concrete_fields if f.name not in ("features_used",)),
            "instance__id",
            "instance__instance_id",
            "instance__instance_type",
            "instance__availability_zone",
            "instance__region",
            "instance__account",
            *(f"instance__account__{c}" for c in ACCOUNT_COLUMNS),
            "model__id",
            "model__name",
            "model__version",
        )
        .order_by("-execution_time", "-id")
    )


def experiment_detail_for(user):
    from .models import ExperimentLog

    return ExperimentLog.objects.for_user(user).select_related(
        "instance", "instance__account", "model", "switch", "switch__replacement"
    )
