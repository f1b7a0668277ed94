"""Dashboard views of the fleet (thin: parse, call a selector or service, render).

- The list (/fleet/): summary cards and a per-account breakdown over the filtered instances (SQL
  aggregates), then the instance table (InstanceFilterSet: filters, search, sortable headers), 50 a page.
  Active instances by default. A constant number of queries whatever the number of instances.
- The detail (/fleet/instances/<id>/): identity, metadata and tags, cluster membership, authorization and
  what happens next, replicas, approval requests and the optimizer's history; the Lab controls on a
  LAB-environment instance for the roles that use the Lab.
- The Lab controls POST: the instance among the user's own (another tenant's is a 404), then the Lab
  capability (403), then fleet.services.instance_lab_update.
"""

from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.http import urlencode
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.generic import ListView

from accounts.choices import EnvironmentType, Role
from accounts.roles import Capability, can, effective_role
from accounts.selectors import accounts_for
from approvals.choices import ActionType
from spotopt.tenancy import ObjectActionView, TenantObjectMixin, TenantScopedMixin

from . import presentation, services
from .choices import AuthStatus, Lifecycle, OrchestratorType
from .filters import InstanceFilterSet
from .forms import InstanceLabForm
from .inventory import authorizing_rule
from .selectors import fleet_empty_state, fleet_summary, instance_relations, instances_for

INSTANCES_PER_PAGE = 50
# Filters that are not "the default view" (active instances, any order): anything else can be cleared.
DEFAULT_VIEW_PARAMS = ("ordering", "is_active", "page", "cursor")


def _counts(counter, choices) -> list[dict]:
    return [{"value": value, "label": label, "count": counter[value]} for value, label in choices if counter[value]]


def _account_rows(user, per_account: dict) -> list[dict]:
    """The per-account breakdown: the accounts that have instances in the summary, by name."""
    accounts = accounts_for(user).filter(pk__in=list(per_account))
    rows = []
    for account in accounts:
        summary = per_account[account.pk]
        rows.append(
            {
                "account": account,
                "summary": summary,
                "spot": summary.by_lifecycle[Lifecycle.SPOT],
                "on_demand": summary.by_lifecycle[Lifecycle.ON_DEMAND],
                "kubernetes": summary.by_orchestrator[OrchestratorType.KUBERNETES],
                "standalone": summary.by_orchestrator[OrchestratorType.STANDALONE],
                "flagged": summary.by_auth_status[AuthStatus.FLAGGED],
            }
        )
    return rows


@method_decorator(never_cache, name="dispatch")
class InstanceListView(TenantScopedMixin, ListView):
    """The user's EC2 instances (every tenant's for admins, LAB accounts' for Lab users)."""

    selector = instances_for
    template_name = "fleet/instance_list.html"
    paginate_by = INSTANCES_PER_PAGE

    def get_queryset(self):
        data = self.request.GET.copy()
        # Active instances unless the reader chose otherwise ("is_active=" means any).
        self.active_default = "is_active" not in data
        if self.active_default:
            data["is_active"] = "true"
        base = super().get_queryset()
        self.filterset = InstanceFilterSet(data, queryset=base, request=self.request)
        return self.filterset.qs

    def list_count(self, queryset):
        # The summary counts the filtered instances exactly (one GROUP BY): the table's count comes with it.
        self.summary = fleet_summary(queryset)
        return self.summary[0].instances, False

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        now = timezone.now()
        rows = [presentation.decorate(instance, now) for instance in context["object_list"]]
        total, per_account = self.summary
        params = self.request.GET
        filtering = any(params.get(name) for name in params if name not in DEFAULT_VIEW_PARAMS)
        filtering = filtering or not (self.active_default or params.get("is_active") == "true")
        has_instances = bool(rows) or instances_for(user).exists()
        context.update(
            title="Fleet",
            rows=rows,
            total=total,
            lifecycle_counts=_counts(total.by_lifecycle, Lifecycle.choices),
            orchestrator_counts=_counts(total.by_orchestrator, OrchestratorType.choices),
            auth_counts=_counts(total.by_auth_status, AuthStatus.choices),
            region_counts=sorted(total.by_region.items(), key=lambda item: (-item[1], item[0])),
            flagged=total.by_auth_status[AuthStatus.FLAGGED],
            account_rows=_account_rows(user, per_account) if per_account else [],
            only_active=params.get("is_active", "true") == "true",
            filterset=self.filterset,
            filtering=filtering,
            flagged_filter=AuthStatus.FLAGGED in params.getlist("auth_status"),
            has_instances=has_instances,
            empty=None if has_instances else {**fleet_empty_state(user), "is_lab": effective_role(user) == Role.LAB},
            show_owner=can(user, Capability.VIEW_ALL_TENANTS),
            can_connect=can(user, Capability.CONNECT_ACCOUNTS),
            rogue_label=presentation.ROGUE_LABEL,
            grace_hours=settings.ROGUE_GRACE_HOURS,
            all_instances_url=f"{reverse('instance_list')}?{urlencode({'is_active': ''})}",
        )
        return context


def _render_detail(request, instance, *, lab_form=None, status=200):
    """The detail page; the Lab controls POST re-renders it with its bound form after an error."""
    user = request.user
    now = timezone.now()
    presentation.decorate(instance, now)
    relations = instance_relations(user, instance)
    metadata = instance.instance_metadata or {}
    show_lab = instance.account.environment_type == EnvironmentType.LAB and can(user, Capability.USE_LAB)
    context = {
        **relations,
        "title": instance.instance_id,
        "instance": instance,
        "now": now,
        "metadata": metadata,
        # (key, value, whether this tag alone authorizes the instance)
        "tags": [
            (key, value, authorizing_rule({key: value}) is not None)
            for key, value in sorted(instance.tags.items(), key=lambda item: item[0].lower())
        ],
        "auth": presentation.what_happens_next(instance, now),
        "grace_hours": settings.ROGUE_GRACE_HOURS,
        # The newest request to terminate it as rogue (approvals are pending first, then newest first).
        "rogue_request": next((a for a in relations["approvals"] if a.action_type == ActionType.TERMINATE_ROGUE), None),
        "is_lab": instance.account.environment_type == EnvironmentType.LAB,
        "show_lab": show_lab,
        "lab_form": (lab_form or InstanceLabForm.for_instance(instance)) if show_lab else None,
        "show_owner": can(user, Capability.VIEW_ALL_TENANTS),
        "rogue_label": presentation.ROGUE_LABEL,
        "interruption": presentation.interruption_note(metadata),
        "drains": _drains_of(instance),
    }
    return render(request, "fleet/instance_detail.html", context, status=status)


def _drains_of(instance) -> list:
    """The node's last drains, newest first (the instance is the user's: so are they)."""
    if instance.orchestrator_type != OrchestratorType.KUBERNETES:
        return []
    from kube.models import NodeDrain

    return list(
        NodeDrain.objects.filter(instance=instance).select_related("cluster", "event").order_by("-started_at")[:5]
    )


class InstanceObjectMixin(TenantObjectMixin):
    selector = instances_for


@method_decorator(never_cache, name="dispatch")
class InstanceDetailView(InstanceObjectMixin, View):
    def get(self, request, pk):
        return _render_detail(request, self.get_object())


class InstanceLabUpdateView(InstanceObjectMixin, ObjectActionView):
    """Pipeline mode, shadow mode and assigned model version of a LAB-environment instance."""

    detail_url_name = "instance_detail"
    # Another tenant's (or, for Lab users, a production) instance is a 404 before this is checked.
    required_capability = Capability.USE_LAB
    capability_refusal = "Only Lab operators and admins change Lab controls."

    def act(self, request, instance):
        form = InstanceLabForm.for_instance(instance, data=request.POST)
        if not form.is_valid():
            return _render_detail(request, instance, lab_form=form, status=400)
        changes = form.changes(instance)
        if not changes:
            messages.info(request, "Nothing changed: the Lab controls already had these values.")
        else:
            updated = services.instance_lab_update(user=request.user, instance=instance, **changes)
            messages.success(request, presentation.lab_change_message(updated, list(changes)))
        return redirect("instance_detail", pk=instance.pk)


class AccountSavingsPreviewView(ObjectActionView):
    """Estimate now: the optimizer's dry run over the account (fleet.preview), shown on its page."""

    selector = accounts_for
    required_capability = Capability.MANAGE_ACCOUNTS
    capability_refusal = "Only those who manage the account estimate its savings."
    detail_url_name = "account_detail"

    def act(self, request, account):
        from .preview import savings_preview

        preview = savings_preview(account=account)
        messages.success(
            request,
            f"Estimated: ${preview['monthly_saving']} a month on {preview['instances']} instance(s) "
            f"({len(preview['moves'])} would move, {len(preview['left_alone'])} left alone).",
        )
        return redirect(f"{reverse('account_detail', args=[account.pk])}#savings-preview")
