"""Dashboard views of the fleet (thin: parse, call a selector or service, render).

- The list (/fleet/): summary cards and a per-account breakdown over the filtered instances, then the
  instance table (InstanceFilterSet: filters, search, sortable headers), 50 a page. Active instances by
  default. A constant number of queries whatever the number of instances.
- The detail (/fleet/instances/<id>/): identity, metadata and tags, cluster membership, authorization and
  what happens next, replicas, approval requests and the optimizer's history; the Lab controls on a
  LAB-environment instance for the roles that use the Lab.
- The Lab controls POST: fetches the instance among the user's own (another tenant's is a 404), calls
  fleet.services.instance_lab_update and goes back to the detail page with a message.
"""

from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.decorators import method_decorator
from django.utils.http import urlencode
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.generic import ListView

from accounts.choices import AccountStatus, EnvironmentType, Role
from accounts.roles import Capability, can, effective_role
from accounts.selectors import accounts_for
from approvals.choices import ActionType
from approvals.presentation import RISK_TONES
from approvals.presentation import STATUS_TONES as APPROVAL_STATUS_TONES
from approvals.selectors import approvals_for
from spotopt.errors import DomainError, PermissionRefused
from spotopt.tenancy import TenantScopedMixin

from . import services
from .choices import AuthStatus, Lifecycle, OrchestratorType, PipelineMode
from .filters import InstanceFilterSet
from .forms import InstanceLabForm
from .inventory import authorizing_rule
from .models import Instance
from .pricing import instance_hourly
from .selectors import fleet_summary, instances_for

INSTANCES_PER_PAGE = 50
EXPERIMENTS_SHOWN = 20
ROGUE_LABEL = "rogue"

AUTH_TONES = {
    AuthStatus.AUTHORIZED: "ok",
    AuthStatus.UNAUTHORIZED: "warn",
    AuthStatus.FLAGGED: "error",
    AuthStatus.TERMINATED: "",
}
DECISION_TONES = {"SWITCH": "ok", "HOLD": "", "FALLBACK_ONDEMAND": "warn", "FAILED": "error"}
MEMBERSHIP_LABELS = {
    "cluster_name": "Cluster",
    "node_group": "Node group",
    "nodepool": "Karpenter nodepool",
    "asg_name": "Auto Scaling group",
}

# Sortable columns of the table: (label, ordering parameter of InstanceFilterSet).
SORTABLE_COLUMNS = {
    "instance_id": "Instance",
    "account": "Account",
    "instance_type": "Type",
    "availability_zone": "AZ",
    "lifecycle": "Lifecycle",
    "orchestrator_type": "Orchestrator",
    "auth_status": "Authorization",
    "last_evaluation": "Last evaluation",
}


# ======================================================================================================
# Shared helpers
# ======================================================================================================


def dollars(value: Decimal | None, places: int = 2) -> str:
    """$1,234.56, or with a minus sign (U+2212) when negative: money as the pages show it."""
    if value is None:
        return ""
    sign = "\u2212" if value < 0 else ""
    return f"{sign}${abs(value):,.{places}f}"


def _or_list(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} or {items[-1]}"


def authorizing_tags_sentence() -> str:
    return _or_list(list(settings.FLEET_AUTHORIZING_TAGS))


def _hours_since(moment, now) -> int:
    return max(0, int((now - moment).total_seconds() // 3600))


def _decorate(instance: Instance, now) -> Instance:
    """What the templates need beside the row itself (no query: the account is selected with the row)."""
    metadata = instance.instance_metadata or {}
    membership = instance.cluster_membership or {}
    instance.name_tag = metadata.get("name") or (metadata.get("tags") or {}).get("Name", "")
    instance.hourly_price = instance_hourly(
        lifecycle=instance.lifecycle,
        instance_type=instance.instance_type,
        region=instance.region,
        metadata=metadata,
    )
    instance.hourly_price_text = dollars(instance.hourly_price, 4)
    instance.lifecycle_tone = "spot" if instance.lifecycle == Lifecycle.SPOT else ""
    instance.auth_tone = AUTH_TONES.get(instance.auth_status, "")
    instance.is_rogue = instance.auth_status == AuthStatus.FLAGGED
    instance.flagged_hours = _hours_since(instance.flagged_at, now) if instance.flagged_at else None
    instance.grace_over = instance.flagged_hours is not None and instance.flagged_hours >= settings.ROGUE_GRACE_HOURS
    instance.membership_items = [
        (label, membership[key]) for key, label in MEMBERSHIP_LABELS.items() if membership.get(key)
    ]
    # The table's short form: "cluster / node group" (or nodepool), else "ASG name".
    group = membership.get("node_group") or membership.get("nodepool")
    if membership.get("cluster_name"):
        instance.membership_short = " / ".join(filter(None, [membership["cluster_name"], group]))
    elif group:
        instance.membership_short = group
    elif membership.get("asg_name"):
        instance.membership_short = f"ASG {membership['asg_name']}"
    else:
        instance.membership_short = ""
    instance.membership_title = ", ".join(f"{label}: {value}" for label, value in instance.membership_items)
    return instance


# ======================================================================================================
# The list
# ======================================================================================================


def _summary_rows(per_account: dict, accounts: dict) -> list[dict]:
    rows = []
    for account_id, summary in per_account.items():
        account = accounts.get(account_id)
        if account is None:  # not visible to the reader: cannot happen with a scoped queryset
            continue
        rows.append(
            {
                "account": account,
                "summary": summary,
                "spot": summary.by_lifecycle[Lifecycle.SPOT],
                "on_demand": summary.by_lifecycle[Lifecycle.ON_DEMAND],
                "kubernetes": summary.by_orchestrator[OrchestratorType.KUBERNETES],
                "standalone": summary.by_orchestrator[OrchestratorType.STANDALONE],
                "flagged": summary.by_auth_status[AuthStatus.FLAGGED],
                "hourly": dollars(summary.hourly_cost),
            }
        )
    return sorted(rows, key=lambda row: (row["account"].account_name.lower(), str(row["account"].pk)))


def _counts(counter, choices) -> list[dict]:
    return [{"value": value, "label": label, "count": counter[value]} for value, label in choices if counter[value]]


def _empty_state(user) -> dict:
    """What a reader with no instance at all should do next."""
    role = effective_role(user)
    accounts = list(accounts_for(user))
    discovering = [
        account
        for account in accounts
        if account.status == AccountStatus.CONNECTED
        or (account.account_metadata or {}).get("discovery", {}).get("state") == "running"
    ]
    if not accounts:
        kind = "no_accounts"
    elif discovering:
        kind = "discovering"
    elif all(account.status == AccountStatus.PENDING for account in accounts):
        kind = "pending"
    elif all(account.status == AccountStatus.FAILED for account in accounts):
        kind = "failed"
    else:
        kind = "nothing_found"
    return {
        "kind": kind,
        "accounts": accounts,
        "first_account": (discovering or accounts or [None])[0],
        "is_lab": role == Role.LAB,
    }


def _ordering_links(request, current: str) -> dict[str, dict]:
    """The table's headers: each sortable one links to the same filters sorted by it (page reset)."""
    current_field = current.lstrip("-")
    descending = current.startswith("-")
    headers = {}
    for field, label in SORTABLE_COLUMNS.items():
        active = field == current_field
        target = f"-{field}" if active and not descending else field
        params = request.GET.copy()
        params.pop("page", None)
        params["ordering"] = target
        headers[field] = {
            "field": field,
            "label": label,
            "url": f"?{params.urlencode()}",
            "active": active,
            "aria_sort": ("descending" if descending else "ascending") if active else None,
            "arrow": ("▼" if descending else "▲") if active else "",
            "next": "descending" if active and not descending else "ascending",
        }
    return headers


@method_decorator(never_cache, name="dispatch")
class InstanceListView(TenantScopedMixin, ListView):
    """The user's EC2 instances (every tenant's for admins, LAB accounts' for Lab users)."""

    model = Instance
    template_name = "fleet/instance_list.html"
    paginate_by = INSTANCES_PER_PAGE

    def get_queryset(self):
        data = self.request.GET.copy()
        # Active instances unless the reader chose otherwise ("is_active=" means any).
        self.active_default = "is_active" not in data
        if self.active_default:
            data["is_active"] = "true"
        base = instances_for(self.request.user).order_by("account__account_name", "region", "instance_id")
        self.filterset = InstanceFilterSet(data, queryset=base, request=self.request)
        queryset = self.filterset.qs
        if self.filterset.form.cleaned_data.get("ordering"):
            queryset = queryset.order_by(*queryset.query.order_by, "instance_id")  # a stable page order
        return queryset

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        now = timezone.now()
        rows = [_decorate(instance, now) for instance in context["object_list"]]
        total, per_account = fleet_summary(self.filterset.qs.order_by())
        form = self.filterset.form
        accounts = list(form.fields["account"].queryset.select_related("user"))
        # Anything other than the default view (active instances, any order) can be cleared.
        filtering = any(self.request.GET.get(name) for name in form.fields if name not in ("ordering", "is_active"))
        filtering = filtering or not (self.active_default or self.request.GET.get("is_active") == "true")
        has_instances = bool(rows) or instances_for(user).exists()
        ordering = (form.cleaned_data.get("ordering") or [""])[0]
        scope = instances_for(user).order_by()
        context.update(
            title="Fleet",
            rows=rows,
            total=total,
            total_hourly=dollars(total.hourly_cost),
            total_hourly_exact=dollars(total.hourly_cost, 4),
            total_monthly=dollars(total.monthly_cost),
            lifecycle_counts=_counts(total.by_lifecycle, Lifecycle.choices),
            orchestrator_counts=_counts(total.by_orchestrator, OrchestratorType.choices),
            auth_counts=[
                {**row, "tone": AUTH_TONES.get(row["value"], "")}
                for row in _counts(total.by_auth_status, AuthStatus.choices)
            ],
            region_counts=sorted(total.by_region.items(), key=lambda item: (-item[1], item[0])),
            flagged=total.by_auth_status[AuthStatus.FLAGGED],
            account_rows=_summary_rows(per_account, {account.pk: account for account in accounts}),
            only_active=self.request.GET.get("is_active", "true") == "true",
            filterset=self.filterset,
            filtering=filtering,
            has_instances=has_instances,
            empty=None if has_instances else _empty_state(user),
            headers=_ordering_links(self.request, ordering),
            selected={name: self.request.GET.getlist(name) for name in form.fields},
            active_value="true" if self.active_default else self.request.GET.get("is_active", ""),
            account_choices=accounts,
            region_choices=sorted(set(scope.values_list("region", flat=True).distinct())),
            type_choices=sorted(set(scope.values_list("instance_type", flat=True).distinct())),
            lifecycle_choices=Lifecycle.choices,
            orchestrator_choices=OrchestratorType.choices,
            auth_choices=AuthStatus.choices,
            pipeline_choices=PipelineMode.choices,
            show_owner=can(user, Capability.VIEW_ALL_TENANTS),
            can_connect=can(user, Capability.CONNECT_ACCOUNTS),
            rogue_label=ROGUE_LABEL,
            grace_hours=settings.ROGUE_GRACE_HOURS,
            all_instances_url=f"{reverse('instance_list')}?{urlencode({'is_active': ''})}",
        )
        return context


# ======================================================================================================
# The detail page
# ======================================================================================================


def _what_happens_next(instance: Instance, now) -> dict:
    """The authorization status in plain words: why, and what spotopt does next."""
    grace = settings.ROGUE_GRACE_HOURS
    tags = (instance.instance_metadata or {}).get("tags") or {}
    rule = authorizing_rule(tags)
    sentence = authorizing_tags_sentence()
    if instance.auth_status == AuthStatus.FLAGGED:
        deadline = instance.flagged_at + timedelta(hours=grace) if instance.flagged_at else None
        return {
            "headline": "Flagged as rogue: it has no authorizing tag.",
            "next": (
                f"A termination request will be filed after the {grace} h grace period unless it gets an "
                f"authorizing tag: {sentence}."
            ),
            "deadline": deadline,
            "deadline_passed": deadline is not None and deadline <= now,
            "reassure": "Nothing is terminated automatically: someone other than the requester must approve "
            "the request first.",
        }
    if instance.auth_status == AuthStatus.UNAUTHORIZED:
        return {
            "headline": "Not authorized: it has no authorizing tag.",
            "next": (
                f"The next discovery flags it, and a termination request is filed after the {grace} h grace "
                f"period, unless it gets an authorizing tag: {sentence}."
            ),
        }
    if instance.auth_status == AuthStatus.TERMINATED:
        return {
            "headline": "Terminated by spotopt through an approved request.",
            "next": "Nothing else will happen to it; its history stays here.",
        }
    return {
        "headline": f"Authorized by the tag {rule}." if rule else "Authorized.",
        "next": "spotopt leaves it running. If it loses every authorizing tag "
        f"({sentence}), it is flagged and a termination request is filed after the {grace} h grace period.",
    }


def _render_detail(request, instance: Instance, *, lab_form=None, status=200):
    """The detail page; the Lab controls POST re-renders it with its bound form after an error."""
    user = request.user
    now = timezone.now()
    _decorate(instance, now)
    metadata = instance.instance_metadata or {}
    tags = metadata.get("tags") or {}

    related = list(
        instances_for(user).filter(Q(replica_of=instance) | Q(pk=instance.replica_of_id)).order_by("instance_id")
    )
    replicas = [other for other in related if other.replica_of_id == instance.pk]
    replica_of = next((other for other in related if other.pk == instance.replica_of_id), None)

    approvals = list(approvals_for(user).filter(instance=instance)[:50])
    for approval in approvals:
        approval.status_tone = APPROVAL_STATUS_TONES.get(approval.status, "")
        approval.risk_tone = RISK_TONES.get(approval.risk_level, "")

    experiments = list(instance.experiment_logs.select_related("model").order_by("-execution_time")[:EXPERIMENTS_SHOWN])
    for log in experiments:
        log.decision_tone = DECISION_TONES.get(log.decision, "")
        log.savings_text = dollars(log.projected_hourly_savings, 4)
    experiment_count = len(experiments) if len(experiments) < EXPERIMENTS_SHOWN else instance.experiment_logs.count()

    is_lab = instance.account.environment_type == EnvironmentType.LAB
    show_lab = is_lab and can(user, Capability.USE_LAB)
    context = {
        "title": instance.instance_id,
        "instance": instance,
        "now": now,
        "account_url": reverse("account_detail", args=[instance.account.pk]),
        "launch_time": parse_datetime(metadata.get("launch_time") or "") if metadata.get("launch_time") else None,
        "metadata": metadata,
        # (key, value, whether this tag alone authorizes the instance)
        "tags": [
            (key, value, authorizing_rule({key: value}) is not None)
            for key, value in sorted(tags.items(), key=lambda item: item[0].lower())
        ],
        "auth": _what_happens_next(instance, now),
        "grace_hours": settings.ROGUE_GRACE_HOURS,
        "replicas": replicas,
        "replica_of": replica_of,
        "approvals": approvals,
        # The newest request to terminate it as rogue (approvals are pending first, then newest first).
        "rogue_request": next((a for a in approvals if a.action_type == ActionType.TERMINATE_ROGUE), None),
        "experiments": experiments,
        "experiment_count": experiment_count,
        "experiments_shown": EXPERIMENTS_SHOWN,
        "is_lab": is_lab,
        "show_lab": show_lab,
        "lab_form": (lab_form or InstanceLabForm.for_instance(instance)) if show_lab else None,
        "show_owner": can(user, Capability.VIEW_ALL_TENANTS),
        "rogue_label": ROGUE_LABEL,
    }
    return render(request, "fleet/instance_detail.html", context, status=status)


class _InstanceObjectMixin(TenantScopedMixin):
    """The instance named in the URL, among those the user may see: another tenant's is a 404."""

    model = Instance

    def get_queryset(self):
        return instances_for(self.request.user)

    def get_instance(self) -> Instance:
        return get_object_or_404(self.get_queryset(), pk=self.kwargs["pk"])


@method_decorator(never_cache, name="dispatch")
class InstanceDetailView(_InstanceObjectMixin, View):
    def get(self, request, pk):
        return _render_detail(request, self.get_instance())


# ======================================================================================================
# Lab controls (POST)
# ======================================================================================================


def _lab_change_message(instance: Instance, changed: list[str]) -> str:
    words = {
        "pipeline_mode": f"pipeline mode {instance.get_pipeline_mode_display()}",
        "is_shadow_mode": f"shadow mode {'on' if instance.is_shadow_mode else 'off'}",
        "assigned_model_version": (
            f"model version {instance.assigned_model_version}"
            if instance.assigned_model_version
            else "no model version assigned"
        ),
    }
    return "Lab controls saved: " + ", ".join(words[name] for name in changed) + "."


class InstanceLabUpdateView(_InstanceObjectMixin, View):
    """Pipeline mode, shadow mode and assigned model version of a LAB-environment instance."""

    def get(self, request, pk):
        return redirect("instance_detail", pk=self.get_instance().pk)

    def post(self, request, pk):
        instance = self.get_instance()  # another tenant's (or, for Lab users, a production) instance: 404
        if not can(request.user, Capability.USE_LAB):
            raise PermissionDenied("Only Lab operators and admins change Lab controls.")
        form = InstanceLabForm.for_instance(instance, data=request.POST)
        if not form.is_valid():
            return _render_detail(request, instance, lab_form=form, status=400)
        changes = form.changes(instance)
        if not changes:
            messages.info(request, "Nothing changed: the Lab controls already had these values.")
            return redirect("instance_detail", pk=instance.pk)
        try:
            updated = services.instance_lab_update(user=request.user, instance=instance, **changes)
        except PermissionRefused as error:
            raise PermissionDenied(error.message) from None
        except DomainError as error:
            messages.error(request, error.message)
            return redirect("instance_detail", pk=instance.pk)
        messages.success(request, _lab_change_message(updated, list(changes)))
        return redirect("instance_detail", pk=instance.pk)
