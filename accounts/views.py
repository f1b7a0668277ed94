"""Dashboard views of the accounts app (thin: parse, call a service, render).

Sections:
- Sign-in: the sign-in page, sign-out, the home redirect and the page django-axes shows when locked out.
- Onboarding: the accounts pages: the list, connect (CloudFormation role or access keys), the account's page
  (CloudFormation steps, live status, settings, retry, re-run discovery) and remove.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.views import LoginView, LogoutView
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.urls import NoReverseMatch, reverse
from django.utils.cache import add_never_cache_headers
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django.views.generic import ListView

from spotopt.errors import DomainError, PermissionRefused
from spotopt.tenancy import CapabilityRequiredMixin, SignInRequiredMixin, TenantScopedMixin

from . import cloudformation, services
from .api import onboarding_details
from .choices import AccountStatus, ConnectionMethod, EnvironmentType, Role
from .context_processors import nav_items_for
from .filters import AccountFilterSet
from .forms import AccessKeysConnectForm, AccountSettingsForm, LoginForm, RoleConnectForm, VerifyRoleForm
from .models import Account
from .roles import Capability, can, effective_role
from .selectors import account_progress, account_removal_impact, accounts_for

# ======================================================================================================
# Sign-in
# ======================================================================================================

LOGIN_TEMPLATE = "accounts/login.html"


class SignInView(LoginView):
    """GET: the sign-in form. POST: sign in and go to ?next= when it is a URL of this site, else home.

    Throttled by django-axes: a locked-out username or IP gets `render_locked_out_sign_in` (via
    accounts.auth.lockout_response) instead of this view's answer. A signed-in visitor is sent home.
    """

    template_name = LOGIN_TEMPLATE
    form_class = LoginForm
    redirect_authenticated_user = True
    extra_context = {"title": "Sign in"}


class SignOutView(LogoutView):
    """POST (with the CSRF token): sign out and go to the sign-in page. GET only asks for confirmation."""

    http_method_names = ["get", "post", "options"]
    template_name = "accounts/logout.html"
    extra_context = {"title": "Sign out"}

    def get(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect(settings.LOGIN_URL)
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["title"] = "Sign out"
        return context

    def post(self, request, *args, **kwargs):
        was_signed_in = request.user.is_authenticated
        response = super().post(request, *args, **kwargs)
        if was_signed_in:
            messages.info(request, "You have signed out.")
        return response


def _safe_next_url(request) -> str:
    candidate = request.POST.get(REDIRECT_FIELD_NAME) or request.GET.get(REDIRECT_FIELD_NAME) or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    # Locked out at the admin's own login page: come back to the admin after signing in.
    if request.path == reverse("admin:login"):
        return reverse("admin:index")
    return ""


def render_locked_out_sign_in(request, *, message: str):
    """The sign-in page with the lockout message, status 429 (accounts.auth.lockout_response).

    The form is fresh (no "wrong password" error: the password was not even checked) and keeps the
    username as typed; it posts to the sign-in page whichever page the attempt came from (e.g. the admin).
    """
    form = LoginForm(request, initial={"username": request.POST.get("username", "")[:150]})
    context = {"form": form, "lockout_message": message, "title": "Sign in", "next": _safe_next_url(request)}
    response = render(request, LOGIN_TEMPLATE, context, status=429)
    add_never_cache_headers(response)
    return response


@never_cache
@require_GET
def home(request):
    """Signed out: the sign-in page. Signed in: the accounts list; until that page exists, the admin for
    super admins, or a page listing the sections the user's role opens."""
    if not request.user.is_authenticated:
        return redirect(settings.LOGIN_URL)
    try:
        return redirect(reverse("account_list"))
    except NoReverseMatch:
        pass
    if can(request.user, Capability.USE_DJANGO_ADMIN):
        return redirect("admin:index")
    sections = [item for item in nav_items_for(request) if item.url != request.path]
    return render(request, "accounts/home.html", {"title": "Home", "sections": sections})


# ======================================================================================================
# Onboarding
# ======================================================================================================

ACCOUNTS_PER_PAGE = 25
# How many regions the list shows before "+N more".
LIST_REGIONS_SHOWN = 2
LIST_ERROR_CHARS = 90

# One place for what each status looks like and means: the pages render it and onboarding.js reads the same
# table (json_script) when the live status panel changes, so the two never disagree.
STATUS_TONES = {
    AccountStatus.PENDING: "warn",
    AccountStatus.CONNECTED: "info",
    AccountStatus.ACTIVE: "ok",
    AccountStatus.FAILED: "error",
}
DISCOVERY_STATES = {
    "not_started": "Not started",
    "queued": "Queued",
    "running": "Running",
    "succeeded": "Finished",
    "failed": "Failed",
}


def _status_guide(user) -> dict:
    """Label, badge tone and a sentence saying what happens next, per status, for this reader."""
    manages = can(user, Capability.MANAGE_ACCOUNTS)
    summaries = {
        AccountStatus.PENDING: (
            "Waiting for the CloudFormation stack. Follow the three steps on this page, then verify the role."
            if manages
            else "Waiting for the account owner to create the CloudFormation stack and verify the role."
        ),
        AccountStatus.CONNECTED: "spotopt can reach this account. Discovery is scanning its regions.",
        AccountStatus.ACTIVE: "Discovery finished. spotopt watches this account's EC2 fleet for savings.",
        AccountStatus.FAILED: (
            "The last attempt failed. Fix what the error below says, then choose Retry."
            if manages
            else "The last attempt failed. Ask the account owner to fix it and retry."
        ),
    }
    return {
        "statuses": {
            status: {"label": status.label, "tone": STATUS_TONES[status], "summary": summaries[status]}
            for status in AccountStatus
        },
        "discovery_states": DISCOVERY_STATES,
        "region_waiting": "Waiting",
        "region_not_scanned": "Not scanned yet",
        "region_failed": "Failed: see the last error below",
    }


def _discovery_state(progress: dict) -> str:
    state = progress["discovery"]["state"]
    return "queued" if state == "not_started" and progress["status"] == AccountStatus.CONNECTED else state


def _last_error(account) -> dict | None:
    return (account.account_metadata or {}).get("last_error")


def _call(service, **kwargs):
    """Call a service. PermissionRefused becomes a 403; the other DomainErrors are the caller's to show."""
    try:
        return service(**kwargs)
    except PermissionRefused as error:
        raise PermissionDenied(error.message) from None


@method_decorator(never_cache, name="dispatch")
class AccountListView(TenantScopedMixin, ListView):
    """The user's AWS accounts (every tenant's for admins), filtered and 25 a page."""

    model = Account
    template_name = "accounts/account_list.html"
    paginate_by = ACCOUNTS_PER_PAGE

    def get_queryset(self):
        self.filterset = AccountFilterSet(self.request.GET or None, queryset=accounts_for(self.request.user))
        return self.filterset.qs

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        rows = list(context["object_list"])
        for account in rows:
            account.status_tone = STATUS_TONES.get(account.status, "info")
            regions = account.regions_to_scan
            account.regions_shown = regions[:LIST_REGIONS_SHOWN]
            account.regions_more = len(regions) - len(account.regions_shown)
            account.regions_all = ", ".join(regions)
            error = _last_error(account)
            account.last_error_message = error.get("message", "") if error else ""
        filtering = any(self.request.GET.get(name) for name in self.filterset.form.fields)
        context.update(
            title="AWS accounts",
            rows=rows,
            filterset=self.filterset,
            filtering=filtering,
            has_accounts=bool(rows) or (filtering and accounts_for(user).exists()),
            selected_statuses=self.request.GET.getlist("status"),
            status_choices=AccountStatus.choices,
            environment_choices=EnvironmentType.choices,
            method_choices=ConnectionMethod.choices,
            can_connect=can(user, Capability.CONNECT_ACCOUNTS),
            can_manage=can(user, Capability.MANAGE_ACCOUNTS),
            show_owner=can(user, Capability.VIEW_ALL_TENANTS),
            is_lab=effective_role(user) == Role.LAB,
            error_chars=LIST_ERROR_CHARS,
        )
        return context


@method_decorator(never_cache, name="dispatch")
class AccountConnectView(SignInRequiredMixin, CapabilityRequiredMixin, View):
    """Two ways to connect an AWS account, as tabs: a CloudFormation role (recommended) or access keys.
    ?method=keys opens the second tab without JavaScript; the POST's `method` says which form was sent."""

    required_capability = Capability.CONNECT_ACCOUNTS
    template_name = "accounts/account_connect.html"
    METHODS = ("role", "keys")

    def get(self, request):
        method = request.GET.get("method")
        return self._render(method=method if method in self.METHODS else "role")

    def post(self, request):
        if request.POST.get("method") == "keys":
            return self._connect_access_keys(request)
        return self._create_pending(request)

    def _create_pending(self, request):
        form = RoleConnectForm(request.POST, auto_id="role-%s")
        if form.is_valid():
            try:
                account = _call(services.account_create_pending, user=request.user, **form.cleaned_data)
            except DomainError as error:
                form.add_domain_error(error)
            else:
                messages.success(
                    request,
                    f"“{account.account_name}” is waiting to be connected. Create the CloudFormation stack "
                    "with the steps below, then paste the Role ARN.",
                )
                return redirect("account_detail", pk=account.pk)
        return self._render(method="role", role_form=form, status=400)

    def _connect_access_keys(self, request):
        form = AccessKeysConnectForm(request.POST, auto_id="keys-%s")
        if form.is_valid():
            try:
                account, created = _call(services.account_connect_access_keys, user=request.user, **form.cleaned_data)
            except DomainError as error:
                form.add_domain_error(error)
            else:
                verb = "connected" if created else "reconnected"
                messages.success(
                    request,
                    f"AWS account {account.account_id} is {verb} with access keys. Discovery is scanning its "
                    "regions; this page updates as it goes.",
                )
                return redirect("account_detail", pk=account.pk)
        return self._render(method="keys", keys_form=form, status=400)

    def _render(self, *, method, role_form=None, keys_form=None, status=200):
        context = {
            "title": "Connect an AWS account",
            "method": method,
            "role_form": role_form or RoleConnectForm(auto_id="role-%s"),
            "keys_form": keys_form or AccessKeysConnectForm(auto_id="keys-%s"),
            "role_name": cloudformation.role_name(),
        }
        return render(self.request, self.template_name, context, status=status)


class _AccountObjectMixin(TenantScopedMixin):
    """The account named in the URL, among the accounts the user may see: another tenant's is a 404.
    `required_capability` (to act on it) is checked after the lookup, so a foreign account stays a 404."""

    model = Account
    required_capability: Capability | None = None

    def get_queryset(self):
        return accounts_for(self.request.user)

    def get_account(self) -> Account:
        account = get_object_or_404(self.get_queryset(), pk=self.kwargs["pk"])
        if self.required_capability and not can(self.request.user, self.required_capability):
            raise PermissionDenied("Your role does not allow this.")
        return account


def _shows_cloudformation_steps(account) -> bool:
    """The steps (and the verify form) are for role accounts that are pending, or failed and may need a fix."""
    return account.connection_method == ConnectionMethod.IAM_ROLE and account.status in (
        AccountStatus.PENDING,
        AccountStatus.FAILED,
    )


def _render_account_detail(request, account, *, verify_form=None, settings_form=None, status=200):
    """The detail page; the verify and settings views re-render it with their bound form after an error."""
    user = request.user
    can_manage = can(user, Capability.MANAGE_ACCOUNTS)
    progress = account_progress(account)
    guide = _status_guide(user)
    last_error = progress["last_error"]
    # Re-run discovery was just queued (?queued_after=<start of the run before>): until a newer run has
    # started, the account's final status says nothing about it, so the page keeps polling.
    queued_after = request.GET.get("queued_after")
    awaiting_run = queued_after is not None and (progress["discovery"]["started_at"] or "") == queued_after
    discovery_state = _discovery_state(progress)
    if awaiting_run and discovery_state != "running":
        discovery_state = "queued"
    context = {
        "title": account.account_name,
        "account": account,
        "aws_account_id": account.aws_account_id,
        "progress": progress,
        "discovery_state": discovery_state,
        "discovery_state_label": DISCOVERY_STATES.get(discovery_state, discovery_state),
        "region_rows": _region_rows(account, progress, guide),
        # Before the first scan the API says 0 regions in total; the page knows which it will scan.
        "regions_total": progress["discovery"]["regions_total"] or len(account.regions_to_scan),
        "status_guide": guide,
        "status_info": guide["statuses"][account.status],
        "last_error": last_error,
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
        "show_steps": _shows_cloudformation_steps(account),
        "stack_name": settings.CLOUDFORMATION_STACK_NAME,
    }
    if context["show_steps"]:
        try:
            details = onboarding_details(account=account, request=request)
            # Build the template once (pure, no AWS call) so a configuration problem shows here, not as a
            # broken download.
            cloudformation.cloudformation_template(
                external_id=account.external_id,
                platform_principal_arn=details["platform_principal_arn"],
                role_name=cloudformation.role_name(),
            )
            context["onboarding"] = details
        except DomainError as error:  # no platform identity (no AWS credentials, AWS down, bad setting)
            context["onboarding_error"] = error.message
        if can_manage and verify_form is None:
            tried = (last_error or {}).get("role_arn", "")
            verify_form = VerifyRoleForm(initial={"role_arn": account.role_arn or tried})
        context["verify_form"] = verify_form
    if can_manage:
        context["settings_form"] = settings_form or AccountSettingsForm.for_account(account)
    return render(request, "accounts/account_detail.html", context, status=status)


def _region_rows(account, progress, guide) -> list[dict]:
    """One row per region to scan: instances found, the error (unless the last error already says it), or
    that it has not been scanned yet."""
    discovery = progress["discovery"]
    waiting = guide["region_waiting"] if discovery["state"] == "running" else guide["region_not_scanned"]
    last_error = (progress["last_error"] or {}).get("message", "")
    rows = []
    for region in account.regions_to_scan:
        if region in discovery["errors"]:
            error = discovery["errors"][region]
            rows.append({"region": region, "error": guide["region_failed"] if error in last_error else error})
        elif region in discovery["regions"]:
            rows.append({"region": region, "instances": discovery["regions"][region]})
        else:
            rows.append({"region": region, "waiting": waiting})
    return rows


@method_decorator(never_cache, name="dispatch")
class AccountDetailView(_AccountObjectMixin, View):
    """One account: the CloudFormation steps while pending, the live status, details and management."""

    def get(self, request, pk):
        return _render_account_detail(request, self.get_account())


class _AccountActionView(_AccountObjectMixin, View):
    """A POST that acts on one account (MANAGE_ACCOUNTS). A GET of its URL just shows the account."""

    required_capability = Capability.MANAGE_ACCOUNTS

    def get(self, request, pk):
        account = self.get_account()
        return redirect("account_detail", pk=account.pk)


class AccountVerifyView(_AccountActionView):
    """Step 3 of the CloudFormation flow: assume the role with the External ID and connect the account."""

    def post(self, request, pk):
        account = self.get_account()
        form = VerifyRoleForm(request.POST)
        if form.is_valid():
            try:
                account = _call(services.account_verify_role, user=request.user, account=account, **form.cleaned_data)
            except DomainError as error:
                if not _shows_cloudformation_steps(account):  # e.g. verified meanwhile: no form to show it on
                    messages.error(request, error.message)
                    return redirect("account_detail", pk=account.pk)
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
        return _render_account_detail(request, account, verify_form=form, status=400)


class AccountUpdateView(_AccountActionView):
    """Rename, change the environment, choose the regions to scan."""

    def post(self, request, pk):
        account = self.get_account()
        form = AccountSettingsForm(request.POST)
        if form.is_valid():
            regions_before = account.regions_to_scan
            try:
                account = _call(services.account_update, user=request.user, account=account, **form.cleaned_data)
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
        return _render_account_detail(request, account, settings_form=form, status=400)


class AccountRetryView(_AccountActionView):
    """Try a failed account again: verify its role again, or check its keys again."""

    def post(self, request, pk):
        account = self.get_account()
        try:
            account = _call(services.account_retry, user=request.user, account=account)
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, "spotopt reached the account again. Discovery is scanning its regions.")
        return redirect("account_detail", pk=account.pk)


class AccountRediscoverView(_AccountActionView):
    """Run discovery again now (connected or active accounts)."""

    def post(self, request, pk):
        account = self.get_account()
        previous_run = account_progress(account)["discovery"]["started_at"] or ""
        try:
            _call(services.account_discovery_queue, user=request.user, account=account)
        except DomainError as error:
            messages.error(request, error.message)
            return redirect("account_detail", pk=account.pk)
        messages.success(request, "Discovery queued. The status below updates as the regions are scanned.")
        query = urlencode({"queued_after": previous_run})
        return redirect(f"{reverse('account_detail', args=[account.pk])}?{query}")


@method_decorator(never_cache, name="dispatch")
class AccountDeleteView(_AccountObjectMixin, View):
    """GET: what removing the account deletes and what it keeps. POST: remove it."""

    required_capability = Capability.MANAGE_ACCOUNTS
    template_name = "accounts/account_confirm_delete.html"

    def get(self, request, pk):
        account = self.get_account()
        context = {
            "title": f"Remove {account.account_name}?",
            "account": account,
            "aws_account_id": account.aws_account_id,
            "impact": account_removal_impact(account),
        }
        return render(request, self.template_name, context)

    def post(self, request, pk):
        account = self.get_account()
        name, aws_account_id = account.account_name, account.aws_account_id
        try:
            _call(services.account_delete, user=request.user, account=account)
        except DomainError as error:
            messages.error(request, error.message)
            return redirect("account_detail", pk=account.pk)
        what = f"“{name}” (AWS account {aws_account_id})" if aws_account_id else f"“{name}”"
        messages.success(request, f"Removed {what} from spotopt.")
        return redirect("account_list")
