from django.conf import settings
from django.db import models

from fleet.choices import PipelineMode
from fleet.models import Instance
from spotopt.db import ReadOnlyModel, UUIDModel, choices_check, non_negative
from spotopt.scoping import TenantQuerySet
from spotopt.states import TransitionTable, transition

from .choices import Decision, ModelStatus

# A model is uploaded as a CANDIDATE, tested (shadow runs), GRADUATED when it passes, ENABLED when in
# use (at most one of them is the active production model), and ARCHIVED when retired (final).
MODEL_STATUS_TRANSITIONS = TransitionTable(
    "ML model status",
    ModelStatus,
    {
        ModelStatus.CANDIDATE: {ModelStatus.TESTING, ModelStatus.ARCHIVED},
        ModelStatus.TESTING: {ModelStatus.GRADUATED, ModelStatus.CANDIDATE, ModelStatus.ARCHIVED},
        ModelStatus.GRADUATED: {ModelStatus.ENABLED, ModelStatus.ARCHIVED},
        ModelStatus.ENABLED: {ModelStatus.GRADUATED, ModelStatus.ARCHIVED},
        ModelStatus.ARCHIVED: set(),
    },
)


class MLModel(UUIDModel):
    """An ONNX interruption-risk model under governance."""

    name = models.CharField(max_length=255, unique=True)
    version = models.CharField(max_length=64)
    # Stored through Django's storage API: local files by default, S3 when configured.
    file = models.FileField(upload_to="models/%Y/%m/")
    feature_schema_version = models.CharField(max_length=32)
    file_hash = models.CharField(max_length=64, help_text="SHA-256 of the file, hex.")
    status = models.CharField(max_length=16, choices=ModelStatus.choices, default=ModelStatus.CANDIDATE, db_index=True)
    is_active_prod = models.BooleanField(default=False)
    description = models.TextField(blank=True)
    # Models outlive the people who uploaded them.
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="uploaded_models"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)
    graduated_at = models.DateTimeField(null=True, blank=True)
    deployed_at = models.DateTimeField(null=True, blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)
    total_predictions = models.PositiveBigIntegerField(default=0)
    avg_prediction_score = models.FloatField(null=True, blank=True)
    success_count = models.PositiveBigIntegerField(default=0)
    failure_count = models.PositiveBigIntegerField(default=0)
    # What `manage.py train_model` measured on its held-out time window (AUC, Brier, counts, dates); empty
    # for models uploaded from elsewhere.
    training_metrics = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-uploaded_at"]
        verbose_name = "ML model"
        constraints = [
            choices_check("status", ModelStatus, name="mlmodel_status_valid"),
            # At most one active production model, held by the database.
            models.UniqueConstraint(
                fields=["is_active_prod"],
                condition=models.Q(is_active_prod=True),
                name="mlmodel_single_active_prod",
            ),
            models.CheckConstraint(
                condition=models.Q(is_active_prod=False) | models.Q(status=ModelStatus.ENABLED),
                name="mlmodel_active_prod_is_enabled",
            ),
            models.CheckConstraint(
                condition=models.Q(file_hash__regex=r"^[0-9a-f]{64}$"), name="mlmodel_file_hash_sha256"
            ),
        ]

    def __str__(self):
        return f"{self.name} {self.version}"

    def move_to(self, status: str) -> None:
        transition(self, "status", MODEL_STATUS_TRANSITIONS, status)


class ModelMove(UUIDModel):
    """Who moved a model, when, from which status to which (and activations as the production model): the
    lifecycle's audit trail, kept when the people go."""

    model = models.ForeignKey(MLModel, on_delete=models.CASCADE, related_name="moves")
    from_status = models.CharField(max_length=16, choices=ModelStatus.choices)
    to_status = models.CharField(max_length=16, choices=ModelStatus.choices)
    activated = models.BooleanField(default=False, help_text="Made the active production model by this move.")
    deactivated = models.BooleanField(default=False, help_text="No longer the active production model after it.")
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="model_moves"
    )
    by_username = models.CharField(max_length=150, blank=True)
    at = models.DateTimeField(db_index=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-at"]
        constraints = [
            choices_check("from_status", ModelStatus, name="modelmove_from_status_valid"),
            choices_check("to_status", ModelStatus, name="modelmove_to_status_valid"),
        ]

    def __str__(self):
        return f"{self.model} {self.from_status} -> {self.to_status}"


class ExperimentLogQuerySet(TenantQuerySet):
    account_path = "instance__account"


class ExperimentLog(UUIDModel):
    """One evaluation of one instance by the optimizer: what the model said and what was decided."""

    instance = models.ForeignKey(Instance, on_delete=models.CASCADE, related_name="experiment_logs")
    # The log (the history of decisions) stays when a model is deleted.
    model = models.ForeignKey(MLModel, on_delete=models.SET_NULL, null=True, blank=True, related_name="experiment_logs")
    pipeline_mode = models.CharField(max_length=16, choices=PipelineMode.choices)
    is_shadow_run = models.BooleanField(default=False)
    prediction_score = models.FloatField(null=True, blank=True)
    decision = models.CharField(max_length=20, choices=Decision.choices)
    decision_reason = models.TextField(blank=True)
    execution_time = models.DateTimeField(db_index=True)
    execution_duration_ms = models.PositiveIntegerField(null=True, blank=True)
    candidates_evaluated = models.PositiveIntegerField(default=0)
    selected_instance_type = models.CharField(max_length=64, blank=True)
    selected_availability_zone = models.CharField(max_length=32, blank=True)
    old_spot_price = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    new_spot_price = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    # Can be negative: a fallback to on-demand costs more than the spot price it leaves.
    projected_hourly_savings = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    features_used = models.JSONField(default=dict, blank=True)
    error_message = models.TextField(blank=True)

    objects = ExperimentLogQuerySet.as_manager()

    class Meta:
        ordering = ["-execution_time"]
        indexes = [models.Index(fields=["instance", "-execution_time"])]
        constraints = [
            choices_check("pipeline_mode", PipelineMode, name="experimentlog_pipeline_mode_valid"),
            choices_check("decision", Decision, name="experimentlog_decision_valid"),
            non_negative("old_spot_price", name="experimentlog_old_spot_price_non_negative"),
            non_negative("new_spot_price", name="experimentlog_new_spot_price_non_negative"),
            models.CheckConstraint(
                condition=models.Q(prediction_score__isnull=True)
                | models.Q(prediction_score__gte=0, prediction_score__lte=1),
                name="experimentlog_prediction_score_0_1",
            ),
        ]

    def __str__(self):
        return f"{self.decision} for {self.instance_id} at {self.execution_time:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs):
        if self.decision == "STAY":
            self.decision = Decision.HOLD
        super().save(*args, **kwargs)


class RecentExperimentView(ReadOnlyModel):
    """Row of the v_recent_experiments database view: the last 1000 experiment logs with details."""

    id = models.UUIDField(primary_key=True)
    execution_time = models.DateTimeField()
    decision = models.CharField(max_length=20, choices=Decision.choices)
    decision_reason = models.TextField()
    pipeline_mode = models.CharField(max_length=16)
    is_shadow_run = models.BooleanField()
    prediction_score = models.FloatField(null=True)
    selected_instance_type = models.CharField(max_length=64)
    selected_availability_zone = models.CharField(max_length=32)
    old_spot_price = models.DecimalField(max_digits=12, decimal_places=6, null=True)
    new_spot_price = models.DecimalField(max_digits=12, decimal_places=6, null=True)
    projected_hourly_savings = models.DecimalField(max_digits=12, decimal_places=6, null=True)
    execution_duration_ms = models.IntegerField(null=True)
    error_message = models.TextField()
    instance = models.ForeignKey(Instance, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    instance_ref = models.CharField(max_length=32, db_column="instance_id_str")
    instance_type = models.CharField(max_length=64)
    availability_zone = models.CharField(max_length=32)
    region = models.CharField(max_length=32)
    account = models.ForeignKey("accounts.Account", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    aws_account_id = models.CharField(max_length=64)
    account_name = models.CharField(max_length=255)
    owner = models.ForeignKey("accounts.User", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    model_name = models.CharField(max_length=255, null=True)
    model_version = models.CharField(max_length=64, null=True)

    class Meta(ReadOnlyModel.Meta):
        db_table = "v_recent_experiments"
        ordering = ["-execution_time"]
        verbose_name = "recent experiment (report)"
        verbose_name_plural = "recent experiments (report)"
