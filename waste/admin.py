from django.contrib import admin

from .models import WasteResource


@admin.register(WasteResource)
class WasteResourceAdmin(admin.ModelAdmin):
    list_display = (
        "resource_id",
        "resource_type",
        "account",
        "region",
        "monthly_cost",
        "currency",
        "days_unused",
        "status",
        "detected_at",
        "scheduled_deletion_date",
    )
    list_filter = ("status", "resource_type", "deletable", "outcome", "region", "currency")
    search_fields = ("resource_id", "reason", "account__account_name", "account__account_id")
    date_hierarchy = "detected_at"
    ordering = ("-monthly_cost", "resource_id")
    list_select_related = ("account",)
    autocomplete_fields = ("account",)
    raw_id_fields = ("instance", "approval_request")
    # Status and its dates move together through the waste lifecycle (grace period, approval, deletion);
    # a new row starts DETECTED like one found by the scanner.
    readonly_fields = (
        "status",
        "scheduled_deletion_date",
        "deleted_at",
        "detected_at",
        "flagged_at",
        "resolved_at",
        "last_seen_at",
        "approval_request",
        "outcome",
        "outcome_message",
    )
