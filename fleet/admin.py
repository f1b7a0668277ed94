from django.contrib import admin

from spotopt.admin import ViewOnlyAdminMixin

from .models import (
    ActiveInstanceView,
    CapacitySignal,
    Instance,
    InstanceTypeFacts,
    InstanceTypeOffering,
    OnDemandPrice,
    SpotPriceStep,
    Switch,
)


@admin.register(Instance)
class InstanceAdmin(admin.ModelAdmin):
    list_display = (
        "instance_id",
        "account",
        "instance_type",
        "availability_zone",
        "lifecycle",
        "auth_status",
        "pipeline_mode",
        "is_shadow_mode",
        "is_replica",
        "is_active",
        "last_evaluation",
    )
    list_filter = (
        "auth_status",
        "lifecycle",
        "pipeline_mode",
        "orchestrator_type",
        "is_active",
        "is_replica",
        "is_shadow_mode",
        "region",
    )
    search_fields = (
        "instance_id",
        "instance_type",
        "availability_zone",
        "account__account_name",
        "account__account_id",
    )
    date_hierarchy = "created_at"
    ordering = ("account__account_name", "region", "instance_id")
    list_select_related = ("account",)
    autocomplete_fields = ("account", "replica_of")
    # auth_status and flagged_at move together through the security enforcer (its transition table);
    # last_evaluation is written by the optimizer.
    readonly_fields = (
        "auth_status",
        "flagged_at",
        "last_evaluation",
        "hourly_price",
        "price_source",
        "pool_id",
        "created_at",
        "updated_at",
    )

    @admin.display(description="Pool")
    def pool_id(self, instance):
        return instance.pool_id


@admin.register(ActiveInstanceView)
class ActiveInstanceViewAdmin(ViewOnlyAdminMixin, admin.ModelAdmin):
    """A database view: rows can be looked at, never written."""

    # The view already carries the account and model columns, so listing them needs no join.
    list_display = (
        "instance_id",
        "aws_account_id",
        "account_name",
        "environment_type",
        "instance_type",
        "availability_zone",
        "lifecycle",
        "auth_status",
        "model_name",
        "model_version",
        "last_evaluation",
    )
    list_filter = ("auth_status", "lifecycle", "pipeline_mode", "environment_type", "region")
    search_fields = ("instance_id", "aws_account_id", "account_name", "instance_type", "model_name")
    date_hierarchy = "last_evaluation"
    ordering = ("aws_account_id", "instance_id")


@admin.register(InstanceTypeFacts)
class InstanceTypeFactsAdmin(ViewOnlyAdminMixin, admin.ModelAdmin):
    """AWS's instance-type catalog as last read (daily job fleet.refresh-instance-types): view only."""

    list_display = (
        "instance_type",
        "region",
        "vcpus",
        "memory_mib",
        "architecture",
        "gpu_name",
        "gpu_count",
        "supports_spot",
        "current_generation",
        "refreshed_at",
    )
    list_filter = ("region", "architecture", "supports_spot", "burstable", "current_generation", "gpu_manufacturer")
    search_fields = ("instance_type", "gpu_name")
    ordering = ("region", "instance_type")


@admin.register(InstanceTypeOffering)
class InstanceTypeOfferingAdmin(ViewOnlyAdminMixin, admin.ModelAdmin):
    """Which zones offer which instance types (DescribeInstanceTypeOfferings), as last read: view only."""

    list_display = ("instance_type", "availability_zone", "region", "refreshed_at")
    list_filter = ("region", "availability_zone")
    search_fields = ("instance_type",)
    ordering = ("region", "availability_zone", "instance_type")


@admin.register(SpotPriceStep)
class SpotPriceStepAdmin(ViewOnlyAdminMixin, admin.ModelAdmin):
    """Spot price steps as AWS reported them (hourly job fleet.refresh-market-data): view only."""

    list_display = ("instance_type", "availability_zone", "price", "observed_at", "source")
    list_filter = ("source", "region")
    search_fields = ("instance_type", "availability_zone")
    date_hierarchy = "observed_at"
    show_full_result_count = False


@admin.register(OnDemandPrice)
class OnDemandPriceAdmin(ViewOnlyAdminMixin, admin.ModelAdmin):
    """On-demand prices from the Pricing API or the shipped catalog (the source says which): view only."""

    list_display = ("instance_type", "region", "price", "source", "fetched_at")
    list_filter = ("source", "region")
    search_fields = ("instance_type",)


@admin.register(CapacitySignal)
class CapacitySignalAdmin(ViewOnlyAdminMixin, admin.ModelAdmin):
    """Placement scores and advisor bands (missing ones with the reason): view only."""

    list_display = ("instance_type", "region", "placement_score", "placement_missing_reason", "advisor_band_max")
    list_filter = ("region", "advisor_band_max")
    search_fields = ("instance_type",)


@admin.register(Switch)
class SwitchAdmin(ViewOnlyAdminMixin, admin.ModelAdmin):
    """The optimizer's switches with their steps (written by fleet.execution): view only; a switch is
    retried through its approval request, never edited."""

    list_display = ("instance", "decision", "target_instance_type", "target_availability_zone", "status", "outcome")
    list_filter = ("status", "outcome", "decision", "pipeline_mode")
    search_fields = ("instance__instance_id", "replacement__instance_id", "asg_name", "account__account_id")
    list_select_related = ("instance",)
    raw_id_fields = ("instance", "replacement", "experiment_log", "approval", "downtime")
    date_hierarchy = "created_at"
    show_full_result_count = False
