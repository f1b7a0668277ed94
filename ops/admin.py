from django.contrib import admin

from spotopt.admin import ViewOnlyAdminMixin

from .models import AwsApiError


@admin.register(AwsApiError)
class AwsApiErrorAdmin(ViewOnlyAdminMixin, admin.ModelAdmin):
    """Failed AWS API calls by service, operation and code, as /metrics reports them: view only."""

    list_display = ("service", "operation", "code", "count", "last_seen_at")
    list_filter = ("service", "code")
    search_fields = ("operation", "code")
    ordering = ("-last_seen_at",)
