"""One account's page (CloudFormation steps while pending, the live status, details, settings) and the
POSTs that act on it: verify the role, connect a pending account with keys instead, save settings, retry,
re-run discovery."""

from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.http import urlencode
from django.views import View
from django.views.decorators.cache import never_cache

from spotopt.errors import DomainError
from spotopt.tenancy import ObjectActionView, TenantObjectMixin

from .. import cloudformation, presentation, services
from ..choices import AccountStatus, ConnectionMethod
from ..forms import AccountSettingsForm, PendingKeysForm, VerifyRoleForm
from ..roles import Capability, can
from ..selectors import account_progress, accounts_for


def render_account_detail(request, account, *, verify_form=None, settings_form=None, keys_form=None, status=200):
    """The detail page; the action views re-render it with their bound form after an error."""
    user = request.user
    can_manage = can(user, Capability.MANAGE_ACCOUNTS)
    progress = account_progress(account)
    guide = presentation.status_guide(user)
    # Re-run discovery was just queued (?queued_after=<start of the run before>): until a newer run has
    # started, the account's final status says nothing about it, so the page keeps polling.
    queued_after = request.GET.get("queued_after")
    awaiting_run = queued_after is not None and (progress["discovery"]["started_at"] or "") == queued_after
    discovery_state = presentation.discovery_state(progress)
    if awaiting_run and discovery_state != "running":
        discovery_state = "queued"
    show_steps = presentation.shows_cloudformation_steps(account)
    context = {
        "title": account.account_name,
        "account": account,
        "aws_account_id": account.aws_account_id,
        "progress": progress,
        "discovery_state_label": presentation.DISCOVERY_STATES.get(discovery_state, discovery_state),
        "region_rows": presentation.region_rows(account, progress, guide),
        # Before the first scan the API says 0 regions in total; the page knows which it will scan.
        "regions_total": progress["discovery"]["regions_total"] or len(account.regions_to_scan),
        "status_guide": guide,
        "status_info": guide["statuses"][account.status],
        "last_error": progress["last_error"],
        "last_error_is_fatal": account.status == AccountStatus.FAILED,
        "poll": not progress["is_final"] or progress["discovery"]["state"] == "running" or awaiting_run,
        "awaiting_run": awaiting_run,
        "queued_after": queued_after,
        "progress_url": reverse("onboarding-discovery", args=[account.pk]),
        "can_manage": can_manage,
        "show_owner": can(user, Capability.VIEW_ALL_TENANTS),
        "is_role": account.connection_method == ConnectionMethod.IAM_ROLE,
        # Retry: a failed account, or a pending one whose role ARN is known.
        "retry_statuses": "failed pending" if account.role_arn else "failed",
        "show_steps": show_steps,
        "stack_name": settings.CLOUDFORMATION_STACK_NAME,
        # What the optimizer would save now (fleet.preview keeps it on the account; made with Estimate now).
        "savings_preview": (account.account_metadata or {}).get("savings_preview"),
        "can_preview": can_manage and account.status == AccountStatus.ACTIVE,
    }
    if show_steps:
        try:
            context["onboarding"] = cloudformation.onboarding_details(account=account, request=request)
        except cloudformation.PlatformSetupIncomplete as error:  # the operator's detail is in the log
            context["onboarding_error"] = error.message
        if can_manage:
            tried = (progress["last_error"] or {}).get("role_arn", "")
            context["verify_form"] = verify_form or VerifyRoleForm(initial={"role_arn": account.role_arn or tried})
            if account.status == AccountStatus.PENDING:
                context["keys_form"] = keys_form or PendingKeysForm()
    if can_manage:
        context["settings_form"] = settings_form or AccountSettingsForm.for_account(account)
    return render(request, "accounts/account_detail.html", context, status=status)


class AccountObjectMixin(TenantObjectMixin):
    selector = accounts_for


@method_decorator(never_cache, name="dispatch")
class AccountDetailView(AccountObjectMixin, View):
    def get(self, request, pk):
        return render_account_detail(request, self.get_object())


class AccountActionView(AccountObjectMixin, ObjectActionView):
    """A POST that acts on one account (MANAGE_ACCOUNTS). A GET of its URL just shows the account."""

    required_capability = Capability.MANAGE_ACCOUNTS
    detail_url_name = "account_detail"


class AccountVerifyView(AccountActionView):
    """Step 3 of the CloudFormation flow: assume the role with the External ID and connect the account."""

    def act(self, request, account):
        form = VerifyRoleForm(request.POST)
        if form.is_valid():
            try:
                account = services.account_verify_role(user=request.user, account=account, **form.cleaned_data)
            except DomainError as error:
                if not presentation.shows_cloudformation_steps(account):  # verified meanwhile: no form to show it on
                    raise
                form.add_domain_error(error)
            else:
                regions = len(account.regions_to_scan)
                messages.success(
                    request,
                    f"Role verified: AWS account {account.account_id} is connected. Discovery is scanning "
                    f"{regions} region{pluralize(regions)}; this page updates as it goes.",
                )
                return redirect("account_detail", pk=account.pk)
            account.refresh_from_db()  # the failed attempt is recorded as the last error
        return render_account_detail(request, account, verify_form=form, status=400)


class AccountConnectKeysView(AccountActionView):
    """A pending CloudFormation account, connected with access keys instead (its External ID is dropped)."""

    def act(self, request, account):
        form = PendingKeysForm(request.POST)
        if form.is_valid():
            try:
                connected = services.account_connect_pending_with_keys(
                    user=request.user, account=account, **form.cleaned_data
                )
            except DomainError as error:
                form.add_domain_error(error)
            else:
                replaced = connected.pk != account.pk
                messages.success(
                    request,
                    f"AWS account {connected.account_id} is connected with access keys"
                    + (
                        f"; your team already had it, so “{account.account_name}” was merged into it."
                        if replaced
                        else ". The CloudFormation External ID is no longer used."
                    )
                    + " Discovery is scanning its regions.",
                )
                return redirect("account_detail", pk=connected.pk)
        return render_account_detail(request, account, keys_form=form, status=400)


class AccountUpdateView(AccountActionView):
    """Rename, change the environment, choose the regions to scan."""

    def act(self, request, account):
        form = AccountSettingsForm(request.POST)
        if form.is_valid():
            regions_before = account.regions_to_scan
            try:
                account = services.account_update(user=request.user, account=account, **form.cleaned_data)
            except DomainError as error:
                form.add_domain_error(error)
            else:
                rescan = (
                    " Re-run discovery to scan the new regions now."
                    if account.regions_to_scan != regions_before
                    and account.status in (AccountStatus.CONNECTED, AccountStatus.ACTIVE)
                    else ""
                )
                messages.success(request, f"Settings saved.{rescan}")
                return redirect("account_detail", pk=account.pk)
        return render_account_detail(request, account, settings_form=form, status=400)


class AccountRetryView(AccountActionView):
    """Try a failed account again: verify its role again, or check its keys again."""

    def act(self, request, account):
        account = services.account_retry(user=request.user, account=account)
        messages.success(request, "spotopt reached the account again. Discovery is scanning its regions.")
        return redirect("account_detail", pk=account.pk)


class AccountRediscoverView(AccountActionView):
    """Run discovery again now (connected or active accounts)."""

    def act(self, request, account):
        previous_run = account_progress(account)["discovery"]["started_at"] or ""
        services.account_discovery_queue(user=request.user, account=account)
        messages.success(request, "Discovery queued. The status below updates as the regions are scanned.")
        query = urlencode({"queued_after": previous_run})
        return redirect(f"{reverse('account_detail', args=[account.pk])}?{query}")
