from django.contrib import admin, messages

from spotopt.admin import ViewOnlyAdminMixin
from spotopt.errors import DomainError

from . import services
from .choices import HeldEventStatus
from .models import EventChannel, EventReaction, GlobalRiskEvent, HeldRiskEvent, RejectedIngest, SpotPoolRisk


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
        "outcome",
        "pool_id",
        "instance_id",
        "account",
        "channel",
        "expires_at",
    )
    list_filter = ("event_type", "outcome", "channel", "region")
    search_fields = ("event_id", "pool_id", "instance_id")
    date_hierarchy = "reported_at"
    ordering = ("-reported_at",)
    # A LEFT JOIN also copes with events whose account is gone (the key has no database constraint).
    list_select_related = ("account",)


@admin.register(RejectedIngest)
class RejectedIngestAdmin(ViewOnlyAdminMixin, admin.ModelAdmin):
    """What the listener and the webhook could not take, with the reason: view only."""

    list_display = ("received_at", "reason", "channel", "aws_account_id", "account", "event_id")
    list_filter = ("reason", "channel")
    search_fields = ("event_id", "aws_account_id", "message")
    date_hierarchy = "received_at"
    ordering = ("-received_at",)
    list_select_related = ("account",)


@admin.register(EventReaction)
class EventReactionAdmin(ViewOnlyAdminMixin, admin.ModelAdmin):
    """What the safety net did about each event, and how fast: view only."""

    list_display = ("acted_at", "action", "seconds", "event_type", "event_id", "account", "instance")
    list_filter = ("action", "event_type")
    search_fields = ("event_id", "instance__instance_id")
    date_hierarchy = "acted_at"
    ordering = ("-acted_at",)
    list_select_related = ("account", "instance")


@admin.register(HeldRiskEvent)
class HeldRiskEventAdmin(admin.ModelAdmin):
    """Warnings of a tenant over its hourly poison limit. Released (poisons the pool) or dismissed through
    the actions, which call the risk services; nothing is edited by hand."""

    list_display = ("created_at", "status", "event", "account", "decided_by", "decided_at")
    list_filter = ("status",)
    search_fields = ("event__event_id", "event__pool_id")
    ordering = ("-created_at",)
    list_select_related = ("event", "account", "decided_by")
    readonly_fields = ("event", "account", "status", "decided_by", "decided_at", "decision_note", "created_at")
    actions = ("release", "dismiss")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def _decide(self, request, queryset, decide, done: str):
        count = 0
        for held in queryset.filter(status=HeldEventStatus.HELD):
            try:
                decide(held=held, user=request.user, note=f"{done} in the admin")
                count += 1
            except DomainError as exc:
                self.message_user(request, exc.message, messages.ERROR)
        self.message_user(request, f"{count} held event(s) {done}.")

    @admin.action(description="Release: poison their pools now")
    def release(self, request, queryset):
        self._decide(request, queryset, services.held_event_release, "released")

    @admin.action(description="Dismiss: never poison")
    def dismiss(self, request, queryset):
        self._decide(request, queryset, services.held_event_dismiss, "dismissed")


@admin.register(EventChannel)
class EventChannelAdmin(ViewOnlyAdminMixin, admin.ModelAdmin):
    """How each account's events reach us (the listener's health per account). The webhook secret is
    stored hashed and never shown."""

    list_display = ("account", "listener_state", "listener_failures", "listener_retry_at", "last_message_at")
    list_filter = ("listener_state",)
    search_fields = ("account__account_id", "account__account_name")
    list_select_related = ("account",)
    exclude = ("webhook_secret_hash",)
