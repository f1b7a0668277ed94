"""The SLA page: downtime spotopt caused, per account and month against the 60-second budget, a chart of
the last months, the causes, and the downtime rows (filtered like /api/v1/sla/downtime/)."""

from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django.views.generic import ListView

from accounts.roles import Capability, can
from spotopt.tenancy import TenantScopedMixin

from . import presentation
from .choices import DowntimeCause
from .filters import DowntimeFilterSet
from .selectors import downtime_for, month_start, sla_summary

ROWS_PER_PAGE = 50
MONTH_CHOICES = (3, 6, 12, 24)


@method_decorator(never_cache, name="dispatch")
class SlaDashboardView(TenantScopedMixin, ListView):
    selector = downtime_for
    template_name = "sla/dashboard.html"
    paginate_by = ROWS_PER_PAGE

    def get_queryset(self):
        data = self.request.GET.copy()
        data.pop("months", None)
        self.filterset = DowntimeFilterSet(data, queryset=super().get_queryset(), request=self.request)
        return self.filterset.qs

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        try:
            months = int(self.request.GET.get("months", 12))
        except ValueError:
            months = 12
        months = months if months in MONTH_CHOICES else 12
        now = timezone.now()
        summary = sla_summary(self.filterset.qs, months=months, now=now)
        this_month = summary.month_rows(month_start(now.date()))
        by_month = summary.by_month
        causes = summary.by_cause
        context.update(
            title="SLA",
            summary=summary,
            this_month=this_month,
            this_month_worst=this_month[0] if this_month else None,
            by_month=list(reversed(by_month)),
            chart=presentation.months_chart(by_month, summary.budget_seconds),
            incidents_total=sum(month["incidents"] for month in by_month),
            accounts_over_budget_total=sum(month["accounts_over_budget"] for month in by_month),
            causes=[(label, causes[value]) for value, label in DowntimeCause.choices],
            months=months,
            month_choices=MONTH_CHOICES,
            filterset=self.filterset,
            filtering=any(self.request.GET.get(name) for name in self.filterset.form.fields),
            show_owner=can(self.request.user, Capability.VIEW_ALL_TENANTS),
            rows=context["object_list"],
        )
        return context
