import json

from django.contrib import admin
from django.utils.html import format_html

from spotopt.admin import ViewOnlyAdminMixin

from .models import ExperimentLog, MLModel, ModelMove, RecentExperimentView


@admin.register(MLModel)
class MLModelAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "version",
        "status",
        "is_active_prod",
        "feature_schema_version",
        "uploaded_by",
        "uploaded_at",
        "total_predictions",
        "success_count",
        "failure_count",
        "avg_prediction_score",
    )
    list_filter = ("status", "is_active_prod", "feature_schema_version")
    search_fields = ("name", "version", "file_hash", "description")
    date_hierarchy = "uploaded_at"
    ordering = ("-uploaded_at",)
    list_select_related = ("uploaded_by",)
    fields = (
        "name",
        "version",
        "description",
        "status",
        "is_active_prod",
        "file",
        "file_hash",
        "feature_schema_version",
        "uploaded_by",
        "uploaded_at",
        "graduated_at",
        "deployed_at",
        "archived_at",
        "total_predictions",
        "success_count",
        "failure_count",
        "avg_prediction_score",
        "offline_metrics",
    )
    # A governed model changes only through its lifecycle (status transition table, one active production
    # model, lifecycle dates) and its scoring counters; the file and its hash must stay as uploaded.
    # Only the description is free text.
    readonly_fields = tuple(field for field in fields if field != "description")

    # Uploads go through the model registry, which validates the ONNX file and records its hash.
    def has_add_permission(self, request):
        return False

    @admin.display(description="Offline metrics")
    def offline_metrics(self, obj):
        """What manage.py train_model measured on its held-out window (read-only, like the file)."""
        metrics = obj.training_metrics or {}
        if not metrics:
            return "— (uploaded, not trained here: no offline metrics)"
        return format_html(
            "AUC {} · Brier {} on {} held-out samples<pre>{}</pre>",
            f"{metrics['auc']:.3f}" if metrics.get("auc") is not None else "—",
            f"{metrics['brier']:.4f}" if metrics.get("brier") is not None else "—",
            (metrics.get("held_out") or {}).get("samples", "—"),
            json.dumps(metrics, indent=2, sort_keys=True),
        )


@admin.register(ExperimentLog)
class ExperimentLogAdmin(admin.ModelAdmin):
    """The optimizer's record of its decisions: viewable and deletable, never written by hand."""

    list_display = (
        "execution_time",
        "instance",
        "model",
        "decision",
        "pipeline_mode",
        "is_shadow_run",
        "prediction_score",
        "selected_instance_type",
        "projected_hourly_savings",
    )
    list_filter = ("decision", "pipeline_mode", "is_shadow_run")
    search_fields = ("instance__instance_id", "model__name", "decision_reason", "selected_instance_type")
    date_hierarchy = "execution_time"
    ordering = ("-execution_time",)
    list_select_related = ("instance", "model")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(RecentExperimentView)
class RecentExperimentViewAdmin(ViewOnlyAdminMixin, admin.ModelAdmin):
    """A database view: rows can be looked at, never written."""

    # The view already carries the instance, account and model columns, so listing them needs no join.
    list_display = (
        "execution_time",
        "instance_ref",
        "aws_account_id",
        "account_name",
        "model_name",
        "model_version",
        "decision",
        "prediction_score",
        "projected_hourly_savings",
    )
    list_filter = ("decision", "pipeline_mode", "is_shadow_run", "region")
    search_fields = ("instance_ref", "aws_account_id", "account_name", "model_name")
    date_hierarchy = "execution_time"
    ordering = ("-execution_time",)


@admin.register(ModelMove)
class ModelMoveAdmin(ViewOnlyAdminMixin, admin.ModelAdmin):
    """The models' lifecycle audit trail: view only."""

    list_display = ("at", "model", "from_status", "to_status", "activated", "deactivated", "by_username", "note")
    list_filter = ("to_status", "activated")
    search_fields = ("model__name", "by_username", "note")
    list_select_related = ("model",)
    date_hierarchy = "at"
