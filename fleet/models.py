from django.db import models
from django.utils.dateparse import parse_datetime

from accounts.models import Account
from spotopt.db import ReadOnlyModel, TimestampedModel, UUIDModel, choices_check, non_negative
from spotopt.scoping import TenantQuerySet
from spotopt.states import TransitionTable, transition

from .choices import (
    AuthStatus,
    Lifecycle,
    MarketSource,
    OrchestratorType,
    PipelineMode,
    PriceSource,
    SwitchOutcome,
    SwitchStatus,
)

# UNAUTHORIZED: seen without an authorizing tag, not yet flagged. FLAGGED: the grace period runs.
# TERMINATED is final: the rogue instance was terminated through an approved request.
AUTH_STATUS_TRANSITIONS = TransitionTable(
    "Instance authorization status",
    AuthStatus,
    {
        AuthStatus.AUTHORIZED: {AuthStatus.UNAUTHORIZED, AuthStatus.FLAGGED},
        AuthStatus.UNAUTHORIZED: {AuthStatus.AUTHORIZED, AuthStatus.FLAGGED},
        AuthStatus.FLAGGED: {AuthStatus.AUTHORIZED, AuthStatus.TERMINATED},
        AuthStatus.TERMINATED: set(),
    },
)


# The columns discovery learns from DescribeInstances (besides the metadata it keeps and is_active).
DISCOVERED_FIELDS = (
    "instance_type",
    "availability_zone",
    "region",
    "lifecycle",
    "hourly_price",
    "price_source",
    "orchestrator_type",
    "cluster_membership",
)
# The orderings the fleet's lists offer besides the price (each has an index of active instances).
INDEXED_ORDERINGS = (
    "account",  # one account's instances in order: the account filter, and a tenant of one account
    "region",
    "instance_type",
    "availability_zone",
    "lifecycle",
    "orchestrator_type",
    "auth_status",
    "last_evaluation",
    "created_at",
)
ACTIVE = models.Q(is_active=True)


class InstanceQuerySet(TenantQuerySet):
    account_path = "account"


class Instance(TimestampedModel):
    """An EC2 instance of a connected account, as last discovered."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="instances")
    instance_id = models.CharField(max_length=32, unique=True)
    instance_type = models.CharField(max_length=64, db_index=True)
    availability_zone = models.CharField(max_length=32)
    region = models.CharField(max_length=32, db_index=True)
    lifecycle = models.CharField(max_length=16, choices=Lifecycle.choices, default=Lifecycle.ON_DEMAND)
    assigned_model_version = models.CharField(max_length=64, blank=True)
    pipeline_mode = models.CharField(max_length=16, choices=PipelineMode.choices, default=PipelineMode.CLUSTER)
    is_shadow_mode = models.BooleanField(default=False)
    auth_status = models.CharField(
        max_length=16, choices=AuthStatus.choices, default=AuthStatus.UNAUTHORIZED, db_index=True
    )
    flagged_at = models.DateTimeField(null=True, blank=True)
    cluster_membership = models.JSONField(default=dict, blank=True)
    orchestrator_type = models.CharField(
        max_length=16, choices=OrchestratorType.choices, default=OrchestratorType.STANDALONE
    )
    is_replica = models.BooleanField(default=False)
    # A replica keeps its row when the instance it stood in for is gone.
    replica_of = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="replicas")
    replica_expiry = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True, db_index=True)
    last_evaluation = models.DateTimeField(null=True, blank=True)
    instance_metadata = models.JSONField(default=dict, blank=True)
    # USD an hour, written by discovery (and the price refresh) so summaries can sum it in SQL; null when
    # not known, which pages show as unknown, never as zero.
    hourly_price = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    price_source = models.CharField(max_length=16, choices=PriceSource.choices, default=PriceSource.UNKNOWN)
    # What the search box matches, lower case: id, type, Name tag, cluster, node group, nodepool, ASG (written
    # by discovery; a trigram index on PostgreSQL makes "contains" fast, migration 0006).
    search_text = models.TextField(blank=True, default="")

    objects = InstanceQuerySet.as_manager()

    class Meta:
        ordering = ["account_id", "region", "instance_id"]
        indexes = [
            models.Index(fields=["account", "is_active"]),
            models.Index(fields=["region", "availability_zone", "instance_type"]),
            # The fleet summary (an index-only GROUP BY per account) and the filters on these columns.
            models.Index(
                fields=["account", "lifecycle", "orchestrator_type", "region", "auth_status"],
                include=["hourly_price"],
                condition=ACTIVE,
                name="instance_summary",
            ),
            # Sorting active instances by price, unknown prices last (PostgreSQL puts NULLs last ascending; the
            # descending orders of the nullable columns, NULLs last too, have indexes of their own on
            # PostgreSQL, migrations 0005 and 0006, since SQLite cannot index NULLS LAST). Descending orders of
            # the other columns read these indexes backwards (the tiebreak descends with them).
            models.Index(fields=["hourly_price", "instance_id"], condition=ACTIVE, name="instance_by_price"),
            # Spot (or on-demand) by price, the product's own question: lifecycle and price are correlated
            # (Spot costs less), so the price index alone is walked past every on-demand row first.
            models.Index(
                fields=["lifecycle", "hourly_price", "instance_id"],
                condition=ACTIVE,
                name="instance_by_lifecycle_price",
            ),
            *(
                models.Index(fields=[field, "instance_id"], condition=ACTIVE, name=f"instance_by_{field}"[:30])
                for field in INDEXED_ORDERINGS
            ),
        ]
        constraints = [
            choices_check("lifecycle", Lifecycle, name="instance_lifecycle_valid"),
            choices_check("pipeline_mode", PipelineMode, name="instance_pipeline_mode_valid"),
            choices_check("auth_status", AuthStatus, name="instance_auth_status_valid"),
            choices_check("orchestrator_type", OrchestratorType, name="instance_orchestrator_type_valid"),
            choices_check("price_source", PriceSource, name="instance_price_source_valid"),
            non_negative("hourly_price", name="instance_hourly_price_non_negative"),
            # A price and where it came from are known together.
            models.CheckConstraint(
                condition=models.Q(hourly_price__isnull=True, price_source=PriceSource.UNKNOWN)
                | models.Q(hourly_price__isnull=False) & ~models.Q(price_source=PriceSource.UNKNOWN),
                name="instance_price_has_source",
            ),
            models.CheckConstraint(
                condition=models.Q(is_replica=True) | models.Q(replica_of__isnull=True),
                name="instance_replica_of_only_on_replicas",
            ),
        ]

    def __str__(self):
        return f"{self.instance_id} ({self.instance_type}, {self.availability_zone})"

    @property
    def tags(self) -> dict:
        return (self.instance_metadata or {}).get("tags") or {}

    @property
    def name(self) -> str:
        """The Name tag ("" when it has none)."""
        metadata = self.instance_metadata or {}
        return metadata.get("name") or self.tags.get("Name", "")

    @property
    def launched_at(self):
        launch_time = (self.instance_metadata or {}).get("launch_time")
        return parse_datetime(launch_time) if launch_time else None

    @property
    def pool_id(self) -> str:
        return f"{self.region}:{self.availability_zone}:{self.instance_type}"

    def move_auth_status(self, status: str) -> None:
        transition(self, "auth_status", AUTH_STATUS_TRANSITIONS, status)


class ActiveInstanceView(ReadOnlyModel):
    """Row of the v_active_instances database view: active instances with account and model details."""

    id = models.UUIDField(primary_key=True)
    instance_id = models.CharField(max_length=32)
    instance_type = models.CharField(max_length=64)
    availability_zone = models.CharField(max_length=32)
    region = models.CharField(max_length=32)
    lifecycle = models.CharField(max_length=16, choices=Lifecycle.choices)
    pipeline_mode = models.CharField(max_length=16, choices=PipelineMode.choices)
    is_shadow_mode = models.BooleanField()
    auth_status = models.CharField(max_length=16, choices=AuthStatus.choices)
    orchestrator_type = models.CharField(max_length=16, choices=OrchestratorType.choices)
    last_evaluation = models.DateTimeField(null=True)
    account = models.ForeignKey(Account, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    aws_account_id = models.CharField(max_length=64)
    account_name = models.CharField(max_length=255)
    environment_type = models.CharField(max_length=8)
    owner = models.ForeignKey("accounts.User", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    assigned_model_version = models.CharField(max_length=64)
    model_name = models.CharField(max_length=255, null=True)
    model_version = models.CharField(max_length=64, null=True)
    model_status = models.CharField(max_length=16, null=True)

    class Meta(ReadOnlyModel.Meta):
        db_table = "v_active_instances"
        ordering = ["aws_account_id", "instance_id"]
        verbose_name = "active instance (report)"
        verbose_name_plural = "active instances (report)"


class InstanceTypeFacts(UUIDModel):
    """What one instance type is in one region, as DescribeInstanceTypes last said (fleet.catalog, refreshed
    daily by fleet.refresh-instance-types): the facts the compatible-pool search compares."""

    region = models.CharField(max_length=32)
    instance_type = models.CharField(max_length=64)
    vcpus = models.PositiveIntegerField()
    memory_mib = models.PositiveIntegerField()
    # As AWS lists them: ["x86_64"], ["arm64"], ["i386", "x86_64"], ["x86_64_mac"] …
    architectures = models.JSONField(default=list)
    # The one the search filters on (indexed): the first of them other than i386.
    architecture = models.CharField(max_length=16)
    # GPUs: manufacturer and model name of the first GPU kind ("NVIDIA", "T4"); the count sums every kind.
    gpu_manufacturer = models.CharField(max_length=32, blank=True)
    gpu_name = models.CharField(max_length=64, blank=True)
    gpu_count = models.PositiveIntegerField(default=0)
    gpu_memory_mib = models.PositiveIntegerField(default=0)
    instance_storage_gb = models.PositiveIntegerField(default=0)
    network_performance = models.CharField(max_length=64, blank=True)
    # ["on-demand", "spot", "capacity-block"]; supports_spot is the indexed question of it.
    supported_usage_classes = models.JSONField(default=list)
    supports_spot = models.BooleanField(default=False)
    # CPU credits (the T families): offered as a replacement only for an instance that is burstable itself.
    burstable = models.BooleanField(default=False)
    current_generation = models.BooleanField(default=False)
    refreshed_at = models.DateTimeField()

    class Meta:
        ordering = ["region", "instance_type"]
        verbose_name = "instance type"
        constraints = [models.UniqueConstraint(fields=["region", "instance_type"], name="instance_type_facts_unique")]
        indexes = [
            # The compatible-type search: one region and architecture, a range of vCPUs (then memory).
            models.Index(fields=["region", "architecture", "vcpus", "memory_mib"], name="instance_type_fit"),
        ]

    def __str__(self):
        return f"{self.instance_type} ({self.region})"


class InstanceTypeOffering(UUIDModel):
    """An instance type offered in one availability zone (DescribeInstanceTypeOfferings, refreshed daily)."""

    region = models.CharField(max_length=32)
    availability_zone = models.CharField(max_length=32)
    instance_type = models.CharField(max_length=64)
    refreshed_at = models.DateTimeField()
    # The type's facts, joined on (region, instance_type): no column, no database constraint (the two are
    # refreshed together, and an offering of a type the catalog does not describe simply matches nothing).
    facts = models.ForeignObject(
        InstanceTypeFacts,
        on_delete=models.DO_NOTHING,
        from_fields=["region", "instance_type"],
        to_fields=["region", "instance_type"],
        related_name="offerings",
        null=True,
    )

    class Meta:
        ordering = ["region", "availability_zone", "instance_type"]
        constraints = [
            # Also the index of "these types offered in these zones of the region" (the pool search).
            models.UniqueConstraint(
                fields=["region", "availability_zone", "instance_type"], name="instance_type_offering_unique"
            )
        ]
        # The join from a type's facts to the zones offering it.
        indexes = [models.Index(fields=["region", "instance_type"], name="instance_type_offering_type")]

    def __str__(self):
        return f"{self.instance_type} in {self.availability_zone}"


class SpotPriceStep(UUIDModel):
    """One Spot price change of a pool (DescribeSpotPriceHistory): the price holds from `observed_at` until the
    pool's next step. Kept (not overwritten) so trends and volatility can be computed."""

    region = models.CharField(max_length=32)
    availability_zone = models.CharField(max_length=32)
    instance_type = models.CharField(max_length=64)
    price = models.DecimalField(max_digits=12, decimal_places=6)
    observed_at = models.DateTimeField()
    source = models.CharField(max_length=16, choices=MarketSource.choices, default=MarketSource.AWS)

    class Meta:
        ordering = ["region", "availability_zone", "instance_type", "-observed_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["region", "availability_zone", "instance_type", "observed_at"], name="spot_price_step_unique"
            ),
            non_negative("price", name="spot_price_step_price_non_negative"),
            choices_check("source", MarketSource, name="spot_price_step_source_valid"),
        ]
        indexes = [
            # A pool's history newest first, and the types of a region over a window.
            models.Index(
                fields=["region", "instance_type", "availability_zone", "-observed_at"], name="spot_price_pool"
            )
        ]

    def __str__(self):
        return f"{self.instance_type} {self.availability_zone} ${self.price} at {self.observed_at:%Y-%m-%d %H:%M}"


class OnDemandPrice(UUIDModel):
    """The on-demand hourly price of a type in a region (Linux, shared tenancy): the Pricing API's answer, or
    the shipped catalog's when the API cannot be asked."""

    region = models.CharField(max_length=32)
    instance_type = models.CharField(max_length=64)
    price = models.DecimalField(max_digits=12, decimal_places=6)
    source = models.CharField(max_length=16, choices=MarketSource.choices)
    fetched_at = models.DateTimeField()

    class Meta:
        ordering = ["region", "instance_type"]
        constraints = [
            models.UniqueConstraint(fields=["region", "instance_type"], name="on_demand_price_unique"),
            non_negative("price", name="on_demand_price_non_negative"),
            choices_check("source", MarketSource, name="on_demand_price_source_valid"),
        ]


class CapacitySignal(UUIDModel):
    """What AWS says about a type's Spot capacity in a region: the placement score (1-10,
    GetSpotPlacementScores) and the Spot Instance Advisor's interruption band. Either may be missing, with
    the reason (not permitted, not offered by the endpoint, not listed): the feature is then marked missing,
    never invented."""

    region = models.CharField(max_length=32)
    instance_type = models.CharField(max_length=64)
    placement_score = models.PositiveSmallIntegerField(null=True, blank=True)
    placement_missing_reason = models.CharField(max_length=255, blank=True)
    placement_fetched_at = models.DateTimeField(null=True, blank=True)
    # The band's upper bound in percent of interruptions a month: 5, 11, 16, 22 or 100 (the advisor's ranges).
    advisor_band_max = models.PositiveSmallIntegerField(null=True, blank=True)
    advisor_savings_percent = models.PositiveSmallIntegerField(null=True, blank=True)
    advisor_fetched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["region", "instance_type"]
        constraints = [
            models.UniqueConstraint(fields=["region", "instance_type"], name="capacity_signal_unique"),
            models.CheckConstraint(
                condition=models.Q(placement_score__isnull=True)
                | models.Q(placement_score__gte=1, placement_score__lte=10),
                name="capacity_signal_placement_1_10",
            ),
            models.CheckConstraint(
                condition=models.Q(advisor_band_max__isnull=True) | models.Q(advisor_band_max__in=[5, 11, 16, 22, 100]),
                name="capacity_signal_advisor_band",
            ),
        ]


# --- Executing the optimizer's decisions ------------------------------------------------------------------

# A PROD switch waits for its approval (AWAITING_APPROVAL -> QUEUED, or CANCELLED when it is rejected or
# expires); a worker claims a QUEUED one (RUNNING) and it ends SUCCEEDED, ROLLED_BACK (the new instance
# terminated, the old one untouched: an approval's retry may queue it again) or FAILED (part of it stays
# done and a person looks: the message says what).
SWITCH_STATUS_TRANSITIONS = TransitionTable(
    "Switch status",
    SwitchStatus,
    {
        SwitchStatus.AWAITING_APPROVAL: {SwitchStatus.QUEUED, SwitchStatus.CANCELLED},
        SwitchStatus.QUEUED: {SwitchStatus.RUNNING, SwitchStatus.CANCELLED},
        SwitchStatus.RUNNING: {SwitchStatus.SUCCEEDED, SwitchStatus.ROLLED_BACK, SwitchStatus.FAILED},
        SwitchStatus.ROLLED_BACK: {SwitchStatus.QUEUED},
        SwitchStatus.SUCCEEDED: set(),
        SwitchStatus.FAILED: set(),
        SwitchStatus.CANCELLED: set(),
    },
)
SWITCH_OPEN = (SwitchStatus.AWAITING_APPROVAL, SwitchStatus.QUEUED, SwitchStatus.RUNNING)


class SwitchQuerySet(TenantQuerySet):
    account_path = "account"


class Switch(TimestampedModel):
    """One execution of an optimizer decision (SWITCH, FALLBACK_ONDEMAND, RETURN_TO_SPOT): the instance it
    replaces, the pool it moves to, every step with the capacity seen then, and how it turned out."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="switches")
    instance = models.ForeignKey(Instance, on_delete=models.CASCADE, related_name="switches_out")
    replacement = models.ForeignKey(
        Instance, on_delete=models.SET_NULL, null=True, blank=True, related_name="switches_in"
    )
    experiment_log = models.OneToOneField(
        "mlgov.ExperimentLog", on_delete=models.SET_NULL, null=True, blank=True, related_name="switch"
    )
    model = models.ForeignKey("mlgov.MLModel", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    approval = models.ForeignKey(
        "approvals.ApprovalRequest", on_delete=models.SET_NULL, null=True, blank=True, related_name="switches"
    )
    downtime = models.ForeignKey(
        "sla.DowntimeLog", on_delete=models.SET_NULL, null=True, blank=True, related_name="switches"
    )
    decision = models.CharField(max_length=20)
    pipeline_mode = models.CharField(max_length=16, choices=PipelineMode.choices)
    asg_name = models.CharField(max_length=255, blank=True)
    target_instance_type = models.CharField(max_length=64)
    target_availability_zone = models.CharField(max_length=32)
    target_lifecycle = models.CharField(max_length=16, choices=Lifecycle.choices)
    old_hourly_price = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    new_hourly_price = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    status = models.CharField(max_length=20, choices=SwitchStatus.choices, db_index=True)
    steps = models.JSONField(default=list, blank=True)
    error_message = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=SwitchOutcome.choices, default=SwitchOutcome.PENDING)
    outcome_settled_at = models.DateTimeField(null=True, blank=True)

    objects = SwitchQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "switches"
        indexes = [models.Index(fields=["status", "outcome", "finished_at"])]
        constraints = [
            choices_check("status", SwitchStatus, name="switch_status_valid"),
            choices_check("outcome", SwitchOutcome, name="switch_outcome_valid"),
            choices_check("pipeline_mode", PipelineMode, name="switch_pipeline_mode_valid"),
            choices_check("target_lifecycle", Lifecycle, name="switch_target_lifecycle_valid"),
            # One open switch per instance, and one running swap per Auto Scaling group, held by the database.
            models.UniqueConstraint(
                fields=["instance"], condition=models.Q(status__in=SWITCH_OPEN), name="switch_one_open_per_instance"
            ),
            models.UniqueConstraint(
                fields=["account", "asg_name"],
                condition=models.Q(status=SwitchStatus.RUNNING) & ~models.Q(asg_name=""),
                name="switch_one_running_per_group",
            ),
        ]

    def __str__(self):
        return f"{self.decision} {self.instance_id} -> {self.target_instance_type} {self.target_availability_zone}"

    def move_to(self, status: str) -> None:
        transition(self, "status", SWITCH_STATUS_TRANSITIONS, status)

    @property
    def is_open(self) -> bool:
        return self.status in SWITCH_OPEN
