from django.contrib import admin

from .models import ApprovalRequest


@admin.register(ApprovalRequest)
class ApprovalRequestAdmin(admin.ModelAdmin):
    list_display = (
        "action_type",
        "risk_level",
        "status",
        "aws_account_ref",
        "instance_ref",
        "requester",
        "approver",
        "created_at",
        "expires_at",
        "decided_at",
    )
    list_filter = ("status", "action_type", "risk_level")
    search_fields = (
        "aws_account_ref",
        "instance_ref",
        "account__account_name",
        "requester__username",
        "approver__username",
        "decision_comment",
    )
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    list_select_related = ("requester", "approver")
    fields = (
        "action_type",
        "action_payload",
        "risk_level",
        "status",
        "expires_at",
        "account",
        "aws_account_ref",
        "instance",
        "instance_ref",
        "requester",
        "approver",
        "decided_at",
        "decision_comment",
        "created_at",
        "updated_at",
    )
    # An approver decides on exactly what was requested, so the request itself never changes, and the
    # decision (status, approver, time, comment) is made only through the workflow's transition table.
    # Only the risk rating and the deadline may be adjusted.
    readonly_fields = tuple(field for field in fields if field not in ("risk_level", "expires_at"))

    # Requests are raised by the workflows that need them, which also notify the approvers.
    def has_add_permission(self, request):
        return False
