"""What /api/v1/models/ shows and takes."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .choices import ModelStatus
from .models import ExperimentLog, MLModel, ModelMove


class ModelMoveSerializer(serializers.ModelSerializer):
    class Meta:
        model = ModelMove
        fields = ["from_status", "to_status", "activated", "deactivated", "by_username", "at", "note"]
        read_only_fields = fields


class MLModelSerializer(serializers.ModelSerializer):
    """A model under governance: its lifecycle state, whether it is the production model, its SHA-256 (checked
    on every load) and its track record."""

    uploaded_by = serializers.CharField(source="uploaded_by.username", read_only=True, allow_null=True, default=None)
    moves = serializers.SerializerMethodField()

    class Meta:
        model = MLModel
        fields = [
            "id",
            "name",
            "version",
            "description",
            "feature_schema_version",
            "status",
            "is_active_prod",
            "file_hash",
            "uploaded_by",
            "uploaded_at",
            "graduated_at",
            "deployed_at",
            "archived_at",
            "total_predictions",
            "avg_prediction_score",
            "success_count",
            "failure_count",
            "training_metrics",
            "moves",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "training_metrics": {
                "help_text": "What manage.py train_model measured on its held-out time window: auc, brier, "
                "train and held_out (samples, positives, switches, from, to), window, coefficients; {} for "
                "models uploaded from elsewhere."
            }
        }

    def get_moves(self, model) -> list[dict]:
        if self.context.get("view") and getattr(self.context["view"], "action", "") == "list":
            return []
        return ModelMoveSerializer(model.moves.order_by("-at")[:50], many=True).data


class ModelUploadSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=255)
    version = serializers.CharField(max_length=64)
    feature_schema_version = serializers.CharField(max_length=32, default="1")
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")
    file = serializers.FileField(help_text="The ONNX file (at most MLMODEL_MAX_BYTES).")


class ModelMoveRequestSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=ModelStatus.choices)
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class ModelActivateRequestSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class ExperimentInstanceSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    instance_id = serializers.CharField(read_only=True)
    instance_type = serializers.CharField(read_only=True)
    availability_zone = serializers.CharField(read_only=True)
    account_name = serializers.CharField(source="account.account_name", read_only=True)


class ExperimentModelSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    name = serializers.CharField(read_only=True)
    version = serializers.CharField(read_only=True)


class ExperimentLogSerializer(serializers.ModelSerializer):
    """One evaluation of one instance: the decision, its reason, the prices and the projected saving (USD an
    hour; negative for a fallback to on-demand)."""

    instance = ExperimentInstanceSerializer(read_only=True)
    model = ExperimentModelSerializer(read_only=True, allow_null=True)

    class Meta:
        model = ExperimentLog
        fields = [
            "id",
            "instance",
            "model",
            "decision",
            "decision_reason",
            "error_message",
            "pipeline_mode",
            "is_shadow_run",
            "prediction_score",
            "execution_time",
            "execution_duration_ms",
            "candidates_evaluated",
            "selected_instance_type",
            "selected_availability_zone",
            "old_spot_price",
            "new_spot_price",
            "projected_hourly_savings",
        ]
        read_only_fields = fields


class ExperimentSwitchSerializer(serializers.Serializer):
    """What the decision led to: the switch, its steps with the capacity AWS reported at each, its outcome."""

    id = serializers.UUIDField(read_only=True)
    status = serializers.CharField(read_only=True)
    pipeline_mode = serializers.CharField(read_only=True, help_text="LINEAR (standalone) or CLUSTER (ASG member).")
    asg_name = serializers.CharField(read_only=True)
    target_instance_type = serializers.CharField(read_only=True)
    target_availability_zone = serializers.CharField(read_only=True)
    target_lifecycle = serializers.CharField(read_only=True)
    replacement_instance_id = serializers.CharField(
        source="replacement.instance_id", read_only=True, allow_null=True, default=None
    )
    approval_id = serializers.UUIDField(read_only=True, allow_null=True)
    steps = serializers.ListField(child=serializers.DictField(), read_only=True)
    error_message = serializers.CharField(read_only=True)
    started_at = serializers.DateTimeField(read_only=True, allow_null=True)
    finished_at = serializers.DateTimeField(read_only=True, allow_null=True)
    outcome = serializers.CharField(read_only=True, help_text="PENDING, SUCCESS, FAILURE or NOT_APPLICABLE.")
    downtime_id = serializers.UUIDField(read_only=True, allow_null=True)


class ExperimentDetailSerializer(ExperimentLogSerializer):
    """With what explains it: the features' names and values, every candidate pool (price, saving, risk, why
    excluded), the thresholds, the model's SHA-256, what was planned, and the switch it led to (or null)."""

    switch = serializers.SerializerMethodField()

    class Meta(ExperimentLogSerializer.Meta):
        fields = [*ExperimentLogSerializer.Meta.fields, "features_used", "switch"]
        read_only_fields = fields

    @extend_schema_field(ExperimentSwitchSerializer(allow_null=True))
    def get_switch(self, log) -> dict | None:
        from django.core.exceptions import ObjectDoesNotExist

        try:
            switch = log.switch
        except ObjectDoesNotExist:
            return None
        return ExperimentSwitchSerializer(switch).data
