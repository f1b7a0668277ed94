"""Dashboard views of the approval gate (thin: parse, call a service, render).

- The list: the requests the user may see, pending first, filtered and 25 a page.
- The detail: what will happen in plain words, the payload, the decision (Approve / Reject when the user may
  decide, else the reason why not), and the execution (with Retry for admins when it failed).
- The POSTs: approve, reject, retry. Each fetches the request among the user's own (another tenant's is a
  404), calls the service, and goes back to the detail page with a message.
"""

import json

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.generic import ListView

from accounts.roles import Capability, can
from spotopt.tenancy import ObjectActionView, TenantObjectMixin, TenantScopedMixin

from . import presentation, services
from .choices import ActionType, ApprovalStatus, ExecutionStatus
from .filters import ApprovalRequestFilterSet
from .forms import ApproveForm, RejectForm
from .policy import can_retry_execution, decision_refusal
from .registry import describe
from .selectors import approvals_for

APPROVALS_PER_PAGE = 25


def _pretty_json(data) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def _url_or_none(name: str, *args) -> str | None:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None  # that page does not exist (yet)


@method_decorator(never_cache, name="dispatch")
class ApprovalRequestListView(TenantScopedMixin, ListView):
    """The approval requests the user may see (every tenant's for admins): pending first, soonest to expire
    first; filtered, 25 a page."""

    selector = approvals_for
    template_name = "approvals/approval_list.html"
    paginate_by = APPROVALS_PER_PAGE

    def get_queryset(self):
        self.filterset = ApprovalRequestFilterSet(
            self.request.GET or None, queryset=super().get_queryset(), request=self.request
        )
        return self.filterset.qs

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        now = timezone.now()
        rows = [presentation.decorate(approval, now) for approval in context["object_list"]]
        filtering = any(self.request.GET.get(name) for name in self.filterset.form.fields)
        context.update(
            title="Approvals",
            rows=rows,
            filterset=self.filterset,
            filtering=filtering,
            has_requests=bool(rows) or (filtering and approvals_for(user).exists()),
            show_owner=can(user, Capability.VIEW_ALL_TENANTS),
            can_decide_any=can(user, Capability.DECIDE_APPROVALS),
        )
        return context


def _decision_url(approval) -> str | None:
    """The optimizer's decision behind a SWITCH_INSTANCE request (why, its candidates, the switch's steps)."""
    if approval.action_type != ActionType.SWITCH_INSTANCE:
        return None
    log_id = approval.switches.exclude(experiment_log=None).values_list("experiment_log", flat=True).first()
    return reverse("experiment_detail", args=[log_id]) if log_id else None


def _render_detail(request, approval, *, approve_form=None, reject_form=None, status=200):
    """The detail page; the decision views re-render it with their bound form after an error."""
    user = request.user
    presentation.decorate(approval, timezone.now())
    pending = approval.status == ApprovalStatus.PENDING
    refusal = decision_refusal(user, approval) if pending and not approval.is_overdue else None
    account = approval.account
    context = {
        "title": approval.get_action_type_display(),
        "approval": approval,
        "description": describe(approval.action_type, approval.action_payload),
        "payload_json": _pretty_json(approval.action_payload),
        "batch_rows": presentation.batch_rows(approval),
        "result_json": _pretty_json(approval.execution_result) if approval.execution_result else "",
        "account": account,
        "account_url": reverse("account_detail", args=[account.pk]) if account else None,
        "instance_url": _url_or_none("instance_detail", approval.instance.pk) if approval.instance else None,
        "decision_url": _decision_url(approval),
        "who_decides": presentation.who_decides(approval.risk_level),
        "pending": pending,
        "can_decide": pending and not approval.is_overdue and refusal is None,
        "refusal": refusal,
        "approve_form": approve_form or ApproveForm(),
        "reject_form": reject_form or RejectForm(),
        "executed": approval.execution_status != ExecutionStatus.NOT_STARTED,
        "in_progress": approval.execution_status in (ExecutionStatus.QUEUED, ExecutionStatus.RUNNING),
        "can_retry": approval.execution_status == ExecutionStatus.FAILED and can_retry_execution(user),
        "show_owner": can(user, Capability.VIEW_ALL_TENANTS),
    }
    return render(request, "approvals/approval_detail.html", context, status=status)


class ApprovalObjectMixin(TenantObjectMixin):
    selector = approvals_for
    capability_refusal = "Your role does not decide approval requests."


@method_decorator(never_cache, name="dispatch")
class ApprovalRequestDetailView(ApprovalObjectMixin, View):
    def get(self, request, pk):
        return _render_detail(request, self.get_object())


class _ApprovalActionView(ApprovalObjectMixin, ObjectActionView):
    """A POST on one request (approve, reject, retry); a GET of its URL just shows the request."""

    detail_url_name = "approval_detail"


def _execution_message(request, approval, *, done: str, running: str, failed: str):
    """Say how the action went (the task queue can run it at once), then show the request."""
    approval.refresh_from_db()
    if approval.execution_status == ExecutionStatus.SUCCEEDED:
        messages.success(request, done)
    elif approval.execution_status == ExecutionStatus.FAILED:
        messages.error(request, f"{failed} {approval.execution_error}".strip())
    else:
        messages.success(request, running)
    return redirect("approval_detail", pk=approval.pk)


class ApprovalApproveView(_ApprovalActionView):
    required_capability = Capability.DECIDE_APPROVALS

    def act(self, request, approval):
        form = ApproveForm(request.POST)
        if not form.is_valid():
            return _render_detail(request, approval, approve_form=form, status=400)
        services.approval_approve(user=request.user, request_id=approval.pk, **form.cleaned_data)
        return _execution_message(
            request,
            approval,
            done="Approved and done.",
            running="Approved. The action is running… Refresh this page to see how it went.",
            failed="Approved, but the action failed:",
        )


class ApprovalRejectView(_ApprovalActionView):
    required_capability = Capability.DECIDE_APPROVALS

    def act(self, request, approval):
        form = RejectForm(request.POST)
        if not form.is_valid():
            return _render_detail(request, approval, reject_form=form, status=400)
        services.approval_reject(user=request.user, request_id=approval.pk, **form.cleaned_data)
        messages.success(request, "Rejected. The action will not run.")
        return redirect("approval_detail", pk=approval.pk)


class ApprovalRetryView(_ApprovalActionView):
    """An admin runs a failed action again (the service refuses anyone else with a 403)."""

    def act(self, request, approval):
        services.approval_retry_execution(user=request.user, request_id=approval.pk)
        return _execution_message(
            request,
            approval,
            done="Retried: the action succeeded.",
            running="Queued again. The action is running… Refresh this page to see how it went.",
            failed="Retried, but the action failed again:",
        )
