"""Admin for approval requests: read-only rows (only risk and deadline may be adjusted), and two actions that
decide the selected requests through the same services and rules as the dashboard (the admin user is the
decider; four eyes and the decision table apply)."""

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.template.defaultfilters import pluralize
from django.template.response import TemplateResponse

from spotopt.errors import DomainError

from . import services
from .forms import RejectForm
from .models import ApprovalRequest
from .registry import describe


def _label(approval: ApprovalRequest) -> str:
    """How a message names one request: its action, what it acts on, and the start of its id."""
    payload = approval.action_payload or {}
    target = approval.instance_ref or payload.get("instance_id") or payload.get("resource_id") or ""
    return f"{approval.get_action_type_display()}{f' {target}' if target else ''} ({str(approval.pk)[:8]})"


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
        "execution_status",
    )
    list_filter = ("status", "action_type", "risk_level", "execution_status")
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

    actions = ["approve_selected", "reject_selected"]

    # Requests are raised by the workflows that need them, which also notify the approvers.
    def has_add_permission(self, request):
        return False

    def _decide_each(self, request, queryset, decide, *, done: str) -> None:
        """Decide each request on its own (one service call each); report every refusal with its reason."""
        decided = 0
        for approval in queryset.order_by("created_at"):
            try:
                decide(approval)
            except DomainError as error:
                self.message_user(request, f"{_label(approval)}: {error.message}", messages.ERROR)
            else:
                decided += 1
        if decided:
            self.message_user(request, f"{done} {decided} request{pluralize(decided)}.", messages.SUCCESS)

    @admin.action(description="Approve selected requests", permissions=["change"])
    def approve_selected(self, request, queryset):
        self._decide_each(
            request,
            queryset,
            lambda approval: services.approval_approve(user=request.user, request_id=approval.pk),
            done="Approved",
        )

    @admin.action(description="Reject selected requests", permissions=["change"])
    def reject_selected(self, request, queryset):
        """First a page asking why (a comment is required), then the rejection with that comment."""
        form = RejectForm(request.POST if "confirm" in request.POST else None)
        if form.is_bound and form.is_valid():
            comment = form.cleaned_data["comment"]
            self._decide_each(
                request,
                queryset,
                lambda approval: services.approval_reject(user=request.user, request_id=approval.pk, comment=comment),
                done="Rejected",
            )
            return None  # back to the list, with the messages
        requests = list(queryset.select_related("account").order_by("created_at"))
        for approval in requests:
            approval.description = describe(approval.action_type, approval.action_payload)
        context = {
            **self.admin_site.each_context(request),
            "title": "Reject the selected requests?",
            "subtitle": None,
            "opts": self.model._meta,
            "requests": requests,
            "form": form,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(
            request, "admin/approvals/reject_confirmation.html", context, status=400 if form.is_bound else 200
        )
