"""Dashboard views of the approval gate (thin: parse, call a service, render).

- The list: the requests the user may see, pending first, filtered and 25 a page.
- The detail: what will happen in plain words, the payload, the decision (Approve / Reject when the user may
  decide, else the reason why not), and the execution (with Retry for admins when it failed).
- The POSTs: approve, reject, retry. Each fetches the request among the user's own (another tenant's is a
  404), calls the service, and goes back to the detail page with a message.
"""

import json

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.generic import ListView

from accounts.choices import Role
from accounts.roles import Capability, can
from spotopt.errors import DomainError, PermissionRefused
from spotopt.tenancy import TenantScopedMixin

from . import services
from .choices import ActionType, ApprovalStatus, ExecutionStatus, RiskLevel
from .filters import ApprovalRequestFilterSet
from .forms import ApproveForm, RejectForm
from .models import ApprovalRequest
from .policy import DECISION_SCOPE, can_retry_execution, decision_refusal
from .presentation import EXECUTION_TONES, RISK_TONES, STATUS_TONES
from .registry import describe
from .selectors import approvals_for

APPROVALS_PER_PAGE = 25

AUTOMATIC_REQUESTER = "spotopt (automatic)"


def _call(service, **kwargs):
    """Call a service. PermissionRefused becomes a 403; the other DomainErrors are the caller's to show."""
    try:
        return service(**kwargs)
    except PermissionRefused as error:
        raise PermissionDenied(error.message) from None


def _short_description(approval: ApprovalRequest) -> str:
    """The first sentence of the plain-words description (the list shows that much)."""
    sentence = describe(approval.action_type, approval.action_payload)
    first, dot, _rest = sentence.partition(". ")
    return f"{first}." if dot else sentence


def _person(user) -> str:
    return (user.full_name or user.username) if user else ""


def _who_decides(risk_level: str) -> str:
    """The decision table in words, for one risk level."""
    names = {Role.SUPER_ADMIN: "a super_admin", Role.ADMIN: "an admin", Role.CLIENT: "the account's owner"}
    roles = [names[role] for role, scopes in DECISION_SCOPE.items() if risk_level in scopes and role in names]
    who = roles[0] if len(roles) == 1 else f"{', '.join(roles[:-1])} or {roles[-1]}"
    return f"{who[0].upper()}{who[1:]}, other than the requester."


def _pretty_json(data) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def _url_or_none(name: str, *args) -> str | None:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None  # that page does not exist (yet)


def _decorate(approval: ApprovalRequest, now) -> ApprovalRequest:
    """What the templates need beside the row itself."""
    approval.status_tone = STATUS_TONES.get(approval.status, "")
    approval.risk_tone = RISK_TONES.get(approval.risk_level, "")
    approval.execution_tone = EXECUTION_TONES.get(approval.execution_status, "")
    approval.is_overdue = approval.status == ApprovalStatus.PENDING and approval.expires_at <= now
    approval.requester_name = _person(approval.requester) or AUTOMATIC_REQUESTER
    approval.approver_name = _person(approval.approver)
    return approval


# ======================================================================================================
# The list
# ======================================================================================================


@method_decorator(never_cache, name="dispatch")
class ApprovalRequestListView(TenantScopedMixin, ListView):
    """The approval requests the user may see (every tenant's for admins): pending first, soonest to expire
    first; filtered, 25 a page."""

    model = ApprovalRequest
    template_name = "approvals/approval_list.html"
    paginate_by = APPROVALS_PER_PAGE

    def get_queryset(self):
        self.filterset = ApprovalRequestFilterSet(
            self.request.GET or None, queryset=approvals_for(self.request.user), request=self.request
        )
        return self.filterset.qs

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        now = timezone.now()
        rows = [_decorate(approval, now) for approval in context["object_list"]]
        for approval in rows:
            approval.summary = _short_description(approval)
        form = self.filterset.form
        filtering = any(self.request.GET.get(name) for name in form.fields)
        context.update(
            title="Approvals",
            rows=rows,
            filterset=self.filterset,
            filtering=filtering,
            has_requests=bool(rows) or (filtering and approvals_for(user).exists()),
            selected={name: self.request.GET.getlist(name) for name in form.fields},
            status_choices=ApprovalStatus.choices,
            action_choices=ActionType.choices,
            risk_choices=RiskLevel.choices,
            execution_choices=ExecutionStatus.choices,
            account_choices=list(form.fields["account"].queryset),
            show_owner=can(user, Capability.VIEW_ALL_TENANTS),
            can_decide_any=can(user, Capability.DECIDE_APPROVALS),
        )
        return context


# ======================================================================================================
# The detail page
# ======================================================================================================


class _ApprovalObjectMixin(TenantScopedMixin):
    """The request named in the URL, among those the user may see: another tenant's is a 404."""

    model = ApprovalRequest

    def get_queryset(self):
        return approvals_for(self.request.user)

    def get_approval(self) -> ApprovalRequest:
        return get_object_or_404(self.get_queryset(), pk=self.kwargs["pk"])


def _render_detail(request, approval, *, approve_form=None, reject_form=None, status=200):
    """The detail page; the decision views re-render it with their bound form after an error."""
    user = request.user
    now = timezone.now()
    _decorate(approval, now)
    pending = approval.status == ApprovalStatus.PENDING
    refusal = None
    if pending and not approval.is_overdue:
        refusal = decision_refusal(user, approval)
    can_decide = pending and not approval.is_overdue and refusal is None
    account = approval.account
    context = {
        "title": approval.get_action_type_display(),
        "approval": approval,
        "description": describe(approval.action_type, approval.action_payload),
        "payload_json": _pretty_json(approval.action_payload),
        "result_json": _pretty_json(approval.execution_result) if approval.execution_result else "",
        "account": account,
        "account_url": reverse("account_detail", args=[account.pk]) if account else None,
        "instance_url": _url_or_none("instance_detail", approval.instance.pk) if approval.instance else None,
        "who_decides": _who_decides(approval.risk_level),
        "pending": pending,
        "can_decide": can_decide,
        "refusal": refusal,
        "approve_form": approve_form or ApproveForm(),
        "reject_form": reject_form or RejectForm(),
        "executed": approval.execution_status != ExecutionStatus.NOT_STARTED,
        "in_progress": approval.execution_status in (ExecutionStatus.QUEUED, ExecutionStatus.RUNNING),
        "can_retry": approval.execution_status == ExecutionStatus.FAILED and can_retry_execution(user),
        "show_owner": can(user, Capability.VIEW_ALL_TENANTS),
    }
    return render(request, "approvals/approval_detail.html", context, status=status)


@method_decorator(never_cache, name="dispatch")
class ApprovalRequestDetailView(_ApprovalObjectMixin, View):
    def get(self, request, pk):
        return _render_detail(request, self.get_approval())


# ======================================================================================================
# Decisions and retry (POST)
# ======================================================================================================


class _ApprovalActionView(_ApprovalObjectMixin, View):
    """A POST on one request. A GET of its URL just shows the request."""

    # Checked after the lookup (a foreign request stays a 404); the services apply the full rules.
    required_capability: Capability | None = None

    def get(self, request, pk):
        return redirect("approval_detail", pk=self.get_approval().pk)

    def get_approval(self) -> ApprovalRequest:
        approval = super().get_approval()
        if self.required_capability and not can(self.request.user, self.required_capability):
            raise PermissionDenied("Your role does not decide approval requests.")
        return approval


def _execution_message(request, approval: ApprovalRequest, *, done: str, running: str, failed: str) -> None:
    """Say how the action went: it may have run already (the task queue can run it at once)."""
    approval.refresh_from_db()
    if approval.execution_status == ExecutionStatus.SUCCEEDED:
        messages.success(request, done)
    elif approval.execution_status == ExecutionStatus.FAILED:
        messages.error(request, f"{failed} {approval.execution_error}".strip())
    else:
        messages.success(request, running)


class ApprovalApproveView(_ApprovalActionView):
    required_capability = Capability.DECIDE_APPROVALS

    def post(self, request, pk):
        approval = self.get_approval()
        form = ApproveForm(request.POST)
        if not form.is_valid():
            return _render_detail(request, approval, approve_form=form, status=400)
        try:
            _call(services.approval_approve, user=request.user, request_id=approval.pk, **form.cleaned_data)
        except DomainError as error:
            messages.error(request, error.message)
            return redirect("approval_detail", pk=approval.pk)
        _execution_message(
            request,
            approval,
            done="Approved and done.",
            running="Approved. The action is running… Refresh this page to see how it went.",
            failed="Approved, but the action failed:",
        )
        return redirect("approval_detail", pk=approval.pk)


class ApprovalRejectView(_ApprovalActionView):
    required_capability = Capability.DECIDE_APPROVALS

    def post(self, request, pk):
        approval = self.get_approval()
        form = RejectForm(request.POST)
        if not form.is_valid():
            return _render_detail(request, approval, reject_form=form, status=400)
        try:
            _call(services.approval_reject, user=request.user, request_id=approval.pk, **form.cleaned_data)
        except DomainError as error:  # the form already asks for the comment the service requires
            messages.error(request, error.message)
            return redirect("approval_detail", pk=approval.pk)
        messages.success(request, "Rejected. The action will not run.")
        return redirect("approval_detail", pk=approval.pk)


class ApprovalRetryView(_ApprovalActionView):
    """An admin runs a failed action again (the service refuses anyone else with a 403)."""

    def post(self, request, pk):
        approval = self.get_approval()
        try:
            _call(services.approval_retry_execution, user=request.user, request_id=approval.pk)
        except DomainError as error:
            messages.error(request, error.message)
            return redirect("approval_detail", pk=approval.pk)
        _execution_message(
            request,
            approval,
            done="Retried: the action succeeded.",
            running="Queued again. The action is running… Refresh this page to see how it went.",
            failed="Retried, but the action failed again:",
        )
        return redirect("approval_detail", pk=approval.pk)
