"""Dashboard views of the hive (thin: parse, call a service, render).

- `/risk/`: the pools the hive remembers (poisoned now by default), with the lift action for super_admins.
- `/risk/events/`: the interruption events of the user's accounts; `/risk/held/`: warnings held for review
  (release / dismiss for super_admins); `/risk/rejected/`: what could not be ingested, with the reason.
- `/risk/accounts/<id>/`: how one account's events reach spotopt (the SQS queues the listener found, the
  webhook and its secret, made and shown once by the rotate POST).
"""

from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.generic import ListView

from accounts.roles import Capability, can
from accounts.selectors import accounts_for
from spotopt.tenancy import ObjectActionView, TenantObjectMixin, TenantScopedMixin

from . import presentation, services
from .api import WEBHOOK_SECRET_HEADER
from .choices import HeldEventStatus, ListenerState
from .filters import HeldEventFilterSet, RejectedIngestFilterSet, RiskEventFilterSet, SpotPoolFilterSet
from .forms import HeldDecisionForm, PoolLiftForm
from .queues import LISTENER_IAM_ACTIONS, SETUP_IAM_ACTIONS
from .selectors import event_channel_of, events_for, held_events_for, pools_for, rejected_for

ROWS_PER_PAGE = 50
TABS = (
    ("risk_pools", "Pools"),
    ("risk_events", "Events"),
    ("risk_held", "Held for review"),
    ("risk_rejected", "Rejected"),
)


class _RiskListView(TenantScopedMixin, ListView):
    """A list of the risk section: its FilterSet over the scoped selector, 50 a page, the section's tabs."""

    filterset_class = None
    paginate_by = ROWS_PER_PAGE
    tab = ""
    title = ""
    default_filters: dict = {}

    def get_queryset(self):
        data = self.request.GET.copy()
        for name, value in self.default_filters.items():
            data.setdefault(name, value)
        self.filterset = self.filterset_class(data, queryset=super().get_queryset(), request=self.request)
        return self.filterset.qs

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        params = self.request.GET
        filtering = any(params.get(name) for name in self.filterset.form.fields if name not in self.default_filters)
        filtering = filtering or any(
            name in params and params.get(name) != value for name, value in self.default_filters.items()
        )
        context.update(
            title=self.title,
            tabs=[(reverse(name), label, name == self.tab) for name, label in TABS],
            filterset=self.filterset,
            filtering=filtering,
            clear_url=reverse(self.tab),
            rows=self.rows(context["object_list"]),
            show_owner=can(self.request.user, Capability.VIEW_ALL_TENANTS),
            can_manage_hive=can(self.request.user, Capability.MANAGE_HIVE),
            rules=presentation.hive_rules(),
        )
        return context

    def rows(self, objects):
        return list(objects)


@method_decorator(never_cache, name="dispatch")
class PoolListView(_RiskListView):
    selector = pools_for
    filterset_class = SpotPoolFilterSet
    template_name = "risk/pool_list.html"
    tab = "risk_pools"
    title = "Risk"
    default_filters = {"poisoned": "true"}

    def rows(self, objects):
        now = timezone.now()
        return [presentation.pool_row(pool, now) for pool in objects]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["lift_form"] = PoolLiftForm()
        context["held_waiting"] = held_events_for(self.request.user).filter(status=HeldEventStatus.HELD).count()
        return context


class PoolLiftView(ObjectActionView):
    """A super_admin lifts a poison early, with a reason (kept in the pool's history)."""

    selector = pools_for
    required_capability = Capability.MANAGE_HIVE
    capability_refusal = "Only super_admins overrule the hive: it is every tenant's shared memory."

    def detail_url(self, pool) -> str:
        return reverse("risk_pools")

    def act(self, request, pool):
        form = PoolLiftForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Say why the pool is safe again: the reason is kept and shown.")
            return redirect("risk_pools")
        services.pool_poison_lift(pool=pool, user=request.user, reason=form.cleaned_data["reason"])
        messages.success(request, f"Pool {pool.pool_id} lifted: launch paths may pick it again.")
        return redirect("risk_pools")


@method_decorator(never_cache, name="dispatch")
class EventListView(_RiskListView):
    selector = events_for
    filterset_class = RiskEventFilterSet
    template_name = "risk/event_list.html"
    tab = "risk_events"
    title = "Interruption events"


@method_decorator(never_cache, name="dispatch")
class HeldEventListView(_RiskListView):
    selector = held_events_for
    filterset_class = HeldEventFilterSet
    template_name = "risk/held_list.html"
    tab = "risk_held"
    title = "Held for review"
    default_filters = {"status": HeldEventStatus.HELD}

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["decision_form"] = HeldDecisionForm()
        return context


class _HeldDecisionView(ObjectActionView):
    selector = held_events_for
    required_capability = Capability.MANAGE_HIVE
    capability_refusal = "Only super_admins release or dismiss held events."
    decide = None
    done = ""

    def detail_url(self, held) -> str:
        return reverse("risk_held")

    def act(self, request, held):
        form = HeldDecisionForm(request.POST)
        note = form.cleaned_data["note"] if form.is_valid() else ""
        type(self).decide(held=held, user=request.user, note=note)
        messages.success(request, self.done.format(pool=held.event.pool_id))
        return redirect("risk_held")


class HeldReleaseView(_HeldDecisionView):
    decide = services.held_event_release
    done = "Released: pool {pool} is poisoned for every tenant."


class HeldDismissView(_HeldDecisionView):
    decide = services.held_event_dismiss
    done = "Dismissed: the warning on {pool} poisons nothing."


@method_decorator(never_cache, name="dispatch")
class RejectedListView(_RiskListView):
    selector = rejected_for
    filterset_class = RejectedIngestFilterSet
    template_name = "risk/rejected_list.html"
    tab = "risk_rejected"
    title = "Rejected events"


def render_account_channel(request, account, *, new_secret: str = ""):
    channel = event_channel_of(account)
    context = {
        "title": f"Interruption events: {account.account_name}",
        "account": account,
        "channel": channel,
        "queue_name": settings.RISK_EVENT_QUEUE_NAME,
        "regions": account.regions_to_scan,
        # Known only once the listener has looked.
        "missing_regions": [r for r in account.regions_to_scan if r not in channel.queues]
        if channel is not None and channel.listener_state != ListenerState.UNKNOWN
        else [],
        "webhook_url": request.build_absolute_uri(reverse("risk-event-ingest")),
        "secret_header": WEBHOOK_SECRET_HEADER,
        "new_secret": new_secret,
        "can_manage": can(request.user, Capability.MANAGE_ACCOUNTS),
        "listener_actions": LISTENER_IAM_ACTIONS,
        "setup_actions": SETUP_IAM_ACTIONS,
        "recent_events": events_for(request.user).filter(account=account)[:10],
    }
    return render(request, "risk/account_channel.html", context)


@method_decorator(never_cache, name="dispatch")
class AccountChannelView(TenantObjectMixin, View):
    selector = accounts_for

    def get(self, request, pk):
        return render_account_channel(request, self.get_object())


@method_decorator(never_cache, name="dispatch")
class WebhookSecretRotateView(ObjectActionView):
    """Make a new webhook secret and show it on this one answer (only its hash is kept)."""

    selector = accounts_for
    required_capability = Capability.MANAGE_ACCOUNTS
    capability_refusal = "Read-only users cannot create webhook secrets."
    detail_url_name = "risk_account_channel"

    def act(self, request, account):
        secret = services.event_webhook_secret_rotate(account=account, user=request.user)
        return render_account_channel(request, account, new_secret=secret)
