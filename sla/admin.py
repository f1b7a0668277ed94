from django.contrib import admin

from .models import DowntimeLog


@admin.register(DowntimeLog)
class DowntimeLogAdmin(admin.ModelAdmin):
    list_display = (
        "started_at",
        "ended_at",
        "duration_seconds",
        "cause",
        "aws_account_ref",
        "instance_ref",
        "user",
    )
    list_filter = ("cause",)
    search_fields = ("aws_account_ref", "instance_ref", "details", "account__account_name", "user__username")
    date_hierarchy = "started_at"
    ordering = ("-started_at",)
    list_select_related = ("user",)
    autocomplete_fields = ("account", "instance", "user")
    # duration_seconds is computed from the start and end on save; the text references are copied from
    # the account and instance when the row is first saved.
    readonly_fields = ("duration_seconds", "aws_account_ref", "instance_ref", "created_at", "updated_at")

    # The references are never recomputed, so moving a log to another account or instance would leave
    # them naming the old one.
    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return self.readonly_fields
        return ("account", "instance", *self.readonly_fields)
