"""The accounts list, connecting an account (CloudFormation role or access keys) and removing one."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.generic import ListView

from spotopt.errors import DomainError
from spotopt.tenancy import CapabilityRequiredMixin, ObjectActionView, TenantScopedMixin

from .. import cloudformation, services
from ..choices import Role
from ..filters import AccountFilterSet
from ..forms import AccessKeysConnectForm, RoleConnectForm
from ..roles import Capability, can, effective_role
from ..selectors import account_removal_impact, accounts_for, with_fleet_totals

ACCOUNTS_PER_PAGE = 25
LIST_ERROR_CHARS = 90


@method_decorator(never_cache, name="dispatch")
class AccountListView(TenantScopedMixin, ListView):
    """The accounts the user may see (every tenant's for admins) with their fleet's size and hourly cost,
    filtered and 25 a page."""

    selector = accounts_for
    template_name = "accounts/account_list.html"
    paginate_by = ACCOUNTS_PER_PAGE

    def get_queryset(self):
        self.filterset = AccountFilterSet(self.request.GET or None, queryset=super().get_queryset())
        return with_fleet_totals(self.filterset.qs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        rows = list(context["object_list"])
        filtering = any(self.request.GET.get(name) for name in self.filterset.form.fields)
        context.update(
            title="AWS accounts",
            rows=rows,
            filterset=self.filterset,
            filtering=filtering,
            has_accounts=bool(rows) or (filtering and accounts_for(user).exists()),
            can_connect=can(user, Capability.CONNECT_ACCOUNTS),
            can_manage=can(user, Capability.MANAGE_ACCOUNTS),
            show_owner=can(user, Capability.VIEW_ALL_TENANTS),
            is_lab=effective_role(user) == Role.LAB,
            error_chars=LIST_ERROR_CHARS,
        )
        return context


@method_decorator(never_cache, name="dispatch")
class AccountConnectView(CapabilityRequiredMixin, View):
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
                account = services.account_create_pending(user=request.user, **form.cleaned_data)
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
                account, created = services.account_connect_access_keys(user=request.user, **form.cleaned_data)
            except DomainError as error:
                form.add_domain_error(error)
            else:
                what = (
                    "is connected with access keys"
                    if created
                    else "was already connected to your team: it is reconnected with the new access keys"
                )
                messages.success(
                    request,
                    f"AWS account {account.account_id} {what}. Discovery is scanning its regions; this page "
                    "updates as it goes.",
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


@method_decorator(never_cache, name="dispatch")
class AccountDeleteView(ObjectActionView):
    """GET: what removing the account deletes and what it keeps. POST: remove it."""

    selector = accounts_for
    required_capability = Capability.MANAGE_ACCOUNTS
    detail_url_name = "account_detail"

    def get(self, request, pk):
        account = self.get_object()
        context = {
            "title": f"Remove {account.account_name}?",
            "account": account,
            "aws_account_id": account.aws_account_id,
            "impact": account_removal_impact(account),
        }
        return render(request, "accounts/account_confirm_delete.html", context)

    def act(self, request, account):
        name, aws_account_id = account.account_name, account.aws_account_id
        services.account_delete(user=request.user, account=account)
        what = f"“{name}” (AWS account {aws_account_id})" if aws_account_id else f"“{name}”"
        messages.success(request, f"Removed {what} from spotopt.")
        return redirect("account_list")
