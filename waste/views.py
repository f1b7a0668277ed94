"""Dashboard views of waste (thin: parse, call a service, render).

- `/waste/`: totals by type and by account, the chart, the filtered table with its reasons and states, the
  bulk Flag / Schedule / Exempt actions and Scan now for roles that manage waste, the last scans.
- `/waste/export.csv`: exactly the filtered table (every page of it), same filters, same defaults.
- `/waste/actions/` and `/waste/scan/`: the POSTs behind the buttons.
"""

import uuid

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.generic import ListView

from accounts.roles import Capability, can
from accounts.selectors import accounts_for
from spotopt.csv_export import csv_response
from spotopt.errors import DomainError, PermissionRefused
from spotopt.tenancy import CapabilityRequiredMixin, TenantScopedMixin

from . import presentation, services
from .filters import WasteFilterSet
from .selectors import waste_for, waste_summary

ROWS_PER_PAGE = 50
DEFAULT_FILTERS = {"listed": "true"}
ACTIONS = {
    "flag": (services.waste_flag, "flagged (tagged in AWS; deletion is asked for after the grace period)"),
    "schedule": (services.waste_schedule, "scheduled: the deletion request waits for an approver"),
    "exempt": (services.waste_exempt, "exempted: never flagged again"),
}
CSV_COLUMNS = [
    ("account", lambda r: r.account.account_name),
    ("aws_account_id", lambda r: r.account.account_id),
    ("region", lambda r: r.region),
    ("resource_type", lambda r: r.resource_type),
    ("resource_id", lambda r: r.resource_id),
    ("status", lambda r: r.status),
    ("monthly_cost_usd", lambda r: f"{r.monthly_cost:.2f}"),
    ("days_unused", lambda r: r.days_unused),
    ("deletable", lambda r: "yes" if r.deletable else "report only"),
    ("scheduled_deletion", lambda r: r.scheduled_deletion_date.isoformat() if r.scheduled_deletion_date else ""),
    ("reason", lambda r: r.reason),
]


def filtered(request):
    """The list's FilterSet on the user's waste, with the page's defaults (the list, not the history)."""
    data = request.GET.copy()
    for name, value in DEFAULT_FILTERS.items():
        data.setdefault(name, value)
    return WasteFilterSet(data, queryset=waste_for(request.user), request=request)


@method_decorator(never_cache, name="dispatch")
class WasteListView(TenantScopedMixin, ListView):
    selector = waste_for
    template_name = "waste/waste_list.html"
    paginate_by = ROWS_PER_PAGE

    def get_queryset(self):
        self.filterset = filtered(self.request)
        return self.filterset.qs

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        params = self.request.GET
        filtering = any(params.get(name) for name in self.filterset.form.fields if name not in DEFAULT_FILTERS)
        filtering = filtering or any(name in params and params[name] != v for name, v in DEFAULT_FILTERS.items())
        summary = waste_summary(self.filterset.qs)
        user = self.request.user
        scans = presentation.scans_of(user)
        context.update(
            title="Waste",
            filterset=self.filterset,
            filtering=filtering,
            clear_url=reverse("waste_list"),
            summary=summary,
            chart=presentation.by_type_chart(summary["by_type"]) if summary["count"] else "",
            scans=scans,
            last_scan=max((s["finished_at"] for s in scans if s["finished_at"]), default=None),
            can_manage=can(user, Capability.MANAGE_WASTE),
            show_owner=can(user, Capability.VIEW_ALL_TENANTS),
            export_url=f"{reverse('waste_export')}?{params.urlencode()}" if params else reverse("waste_export"),
            now=timezone.now(),
            query=params.urlencode(),
        )
        return context


class WasteExportView(TenantScopedMixin, View):
    """The filtered table as CSV, every row of it, streamed (a large estate is not held in memory)."""

    def get(self, request):
        return csv_response(filtered(request).qs.iterator(chunk_size=2000), CSV_COLUMNS, name="waste")


def _back(request) -> str:
    """Back to the list as it was filtered (only a path of this site)."""
    target = request.POST.get("next", "")
    if target.startswith(reverse("waste_list")) and url_has_allowed_host_and_scheme(target, allowed_hosts=None):
        return target
    return reverse("waste_list")


class WasteBulkActionView(CapabilityRequiredMixin, View):
    """Flag, schedule or exempt the ticked rows. A row outside the user's scope is a 404 and nothing is done."""

    required_capability = Capability.MANAGE_WASTE
    capability_refusal = services.MANAGE_REFUSAL

    def post(self, request):
        action = ACTIONS.get(request.POST.get("action", ""))
        if action is None:
            messages.error(request, "Choose Flag, Schedule or Exempt.")
            return redirect(_back(request))
        try:
            ids = {uuid.UUID(value) for value in request.POST.getlist("ids")}
        except ValueError:
            raise Http404("No such waste resource.") from None
        if not ids:
            messages.error(request, "Tick the resources to act on first.")
            return redirect(_back(request))
        resources = waste_for(request.user).filter(pk__in=ids)
        if resources.count() != len(ids):
            raise Http404("No such waste resource.")
        service, verb = action
        try:
            result = service(user=request.user, resources=resources)
        except PermissionRefused as error:
            raise PermissionDenied(error.message) from None
        except DomainError as error:
            messages.error(request, error.message)
            return redirect(_back(request))
        (messages.success if result.done else messages.warning)(request, result.message(verb))
        return redirect(_back(request))


class WasteScanView(CapabilityRequiredMixin, View):
    """Scan now: one account's scan, queued on the workers; its progress shows on the page."""

    required_capability = Capability.MANAGE_WASTE
    capability_refusal = services.MANAGE_REFUSAL

    def post(self, request):
        try:
            account = accounts_for(request.user).get(pk=uuid.UUID(request.POST.get("account", "")))
        except (ValueError, accounts_for(request.user).model.DoesNotExist):
            raise Http404("No such account.") from None
        try:
            services.waste_scan_queue(user=request.user, account=account)
        except PermissionRefused as error:
            raise PermissionDenied(error.message) from None
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(
                request, f"Scanning {account.account_name} for idle resources; this page shows its progress."
            )
        return redirect(_back(request))
