"""The savings page: per account and month, realized (from what ran) beside projected (from the decisions),
the last 12 months as a chart, the moves of the chosen month, and the CSV of exactly the filtered rows."""

from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.generic import TemplateView

from accounts.roles import Capability, can
from spotopt.csv_export import csv_response
from spotopt.tenancy import TenantScopedMixin

from . import presentation
from .filters import SavingsFilterSet
from .selectors import monthly_summary, months_totals, moves_of, savings_for

CSV_COLUMNS = [
    ("day", lambda r: r.day.isoformat()),
    ("account", lambda r: r.account.account_name),
    ("aws_account_id", lambda r: r.account.account_id),
    ("instance_id", lambda r: r.instance.instance_id),
    ("kind", lambda r: r.kind),
    ("hours", lambda r: f"{r.hours}"),
    ("baseline_cost_usd", lambda r: f"{r.baseline_cost}"),
    ("actual_cost_usd", lambda r: f"{r.actual_cost}"),
    ("overlap_cost_usd", lambda r: f"{r.overlap_cost}"),
    ("realized_saving_usd", lambda r: f"{r.realized_saving}"),
    ("projected_saving_usd", lambda r: f"{r.projected_saving}"),
    ("baseline_prices", lambda r: r.baseline_basis),
    ("actual_prices", lambda r: r.actual_basis),
]


def _filtered(request):
    return SavingsFilterSet(request.GET, queryset=savings_for(request.user), request=request)


@method_decorator(never_cache, name="dispatch")
class SavingsView(TenantScopedMixin, TemplateView):
    template_name = "savings/savings.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        filterset = _filtered(self.request)
        rows = filterset.qs
        summary = monthly_summary(rows)
        today = timezone.now().date()
        months = months_totals(summary, 12, today)
        chosen = self.request.GET.get("month") or f"{today:%Y-%m}"
        month_rows = SavingsFilterSet(
            {**self.request.GET.dict(), "month": chosen}, queryset=savings_for(self.request.user)
        ).qs
        params = self.request.GET.urlencode()
        context.update(
            title="Savings",
            filterset=filterset,
            filtering=any(self.request.GET.get(name) for name in filterset.form.fields),
            clear_url=reverse("savings"),
            summary=summary,
            chart=presentation.months_chart(months) if summary else "",
            this_month=next((m for m in months if m["month"].strftime("%Y-%m") == f"{today:%Y-%m}"), None),
            chosen_month=chosen,
            moves=moves_of(month_rows),
            export_url=f"{reverse('savings_export')}?{params}" if params else reverse("savings_export"),
            show_owner=can(self.request.user, Capability.VIEW_ALL_TENANTS),
        )
        return context


class SavingsExportView(TenantScopedMixin, View):
    def get(self, request):
        rows = _filtered(request).qs
        return csv_response(rows.iterator(chunk_size=2000), CSV_COLUMNS, name="savings")
