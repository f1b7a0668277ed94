from django.contrib import admin

from spotopt.admin import ViewOnlyAdminMixin

from .models import GlobalRiskEvent, SpotPoolRisk


@admin.register(SpotPoolRisk)
class SpotPoolRiskAdmin(admin.ModelAdmin):
    list_display = (
        "pool_id",
        "is_poisoned",
        "interruption_count",
        "last_interruption",
        "poisoned_at",
        "poison_expires_at",
        "updated_at",
    )
    list_filter = ("is_poisoned", "region")
    search_fields = ("region", "availability_zone", "instance_type")
    date_hierarchy = "last_interruption"
    ordering = ("region", "availability_zone", "instance_type")
    # The counters are the hive's memory of interruption events; only the block itself
    # (is_poisoned with its dates, validated together by the model's constraint) may be set by hand.
    readonly_fields = (
        "pool_id",
        "interruption_count",
        "last_interruption",
        "triggering_customer_id",
        "created_at",
        "updated_at",
    )

    @admin.display(description="Pool", ordering="region")
    def pool_id(self, pool):
        return pool.pool_id

    # A pool is named by region, zone and instance type; renaming one would rewrite its history.
    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return self.readonly_fields
        return ("region", "availability_zone", "instance_type", *self.readonly_fields)


@admin.register(GlobalRiskEvent)
class GlobalRiskEventAdmin(ViewOnlyAdminMixin, admin.ModelAdmin):
    """Append-only (the ORM and, on PostgreSQL, a trigger refuse updates and deletes): view only.
    Events arrive through the interruption-event ingest."""

    list_display = (
        "reported_at",
        "event_type",
        "pool_id",
        "instance_id",
        "account",
        "expires_at",
    )
    list_filter = ("event_type", "region")
    search_fields = ("event_id", "pool_id", "instance_id")
    date_hierarchy = "reported_at"
    ordering = ("-reported_at",)
    # A LEFT JOIN also copes with events whose account is gone (the key has no database constraint).
    list_select_related = ("account",)
