"""Dashboard views of Kubernetes (thin: parse, call a service, render).

- `/kube/`: the clusters of your accounts (EKS ones from discovery, registered ones), whether spotopt can
  reach them and, when not, what to grant; the last drains.
- `/kube/register/`: register a self-managed cluster (roles that manage accounts).
- `/kube/clusters/<id>/`: one cluster: access, state, the RBAC to apply, Check now, Remove, its drains.
- `/kube/drains/` and `/kube/drains/<id>/`: every drain with filters; one drain's timeline.
"""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.generic import ListView

from accounts.roles import Capability, can
from accounts.selectors import accounts_for
from spotopt.errors import DomainError, PermissionRefused
from spotopt.tenancy import CapabilityRequiredMixin, ObjectActionView, TenantObjectMixin, TenantScopedMixin

from . import services
from .filters import DrainFilterSet
from .forms import ClusterRegisterForm
from .rbac import RBAC_YAML, eks_access_commands
from .selectors import clusters_for, drains_for

ROWS_PER_PAGE = 50
RECENT_DRAINS = 10


@method_decorator(never_cache, name="dispatch")
class ClusterListView(TenantScopedMixin, ListView):
    selector = clusters_for
    template_name = "kube/cluster_list.html"
    paginate_by = ROWS_PER_PAGE

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        context.update(
            title="Kubernetes",
            rows=context["object_list"],
            recent_drains=list(drains_for(user)[:RECENT_DRAINS]),
            can_manage=can(user, Capability.MANAGE_ACCOUNTS),
            show_owner=can(user, Capability.VIEW_ALL_TENANTS),
        )
        return context


class ClusterRegisterView(CapabilityRequiredMixin, View):
    required_capability = Capability.MANAGE_ACCOUNTS
    capability_refusal = "Only those who manage an account register its clusters."

    def _form(self, request, data=None):
        return ClusterRegisterForm(data, accounts=accounts_for(request.user))

    def _render(self, request, form, status=200):
        context = {"title": "Register a cluster", "form": form, "rbac_yaml": RBAC_YAML}
        return render(request, "kube/cluster_register.html", context, status=status)

    def get(self, request):
        return self._render(request, self._form(request))

    def post(self, request):
        form = self._form(request, request.POST)
        if not form.is_valid():
            return self._render(request, form, status=400)
        try:
            cluster = services.cluster_register(user=request.user, **form.cleaned_data)
        except PermissionRefused as error:
            raise PermissionDenied(error.message) from None
        except DomainError as error:
            form.add_domain_error(error)
            return self._render(request, form, status=400)
        if cluster.state == "reachable":
            messages.success(request, f"Cluster {cluster.name} registered and reachable ({cluster.server_version}).")
        else:
            messages.warning(request, f"Cluster {cluster.name} registered, but: {cluster.state_detail}")
        return redirect("kube_cluster_detail", pk=cluster.pk)


@method_decorator(never_cache, name="dispatch")
class ClusterDetailView(TenantObjectMixin, View):
    selector = clusters_for

    def get(self, request, pk):
        cluster = self.get_object()
        context = {
            "title": cluster.name,
            "cluster": cluster,
            "drains": list(drains_for(request.user).filter(cluster=cluster)[:RECENT_DRAINS]),
            "can_manage": can(request.user, Capability.MANAGE_ACCOUNTS),
            "rbac_yaml": RBAC_YAML,
            "eks_commands": eks_access_commands(cluster),
            "show_owner": can(request.user, Capability.VIEW_ALL_TENANTS),
        }
        return render(request, "kube/cluster_detail.html", context)


class ClusterCheckView(ObjectActionView):
    selector = clusters_for
    detail_url_name = "kube_cluster_detail"
    required_capability = Capability.MANAGE_ACCOUNTS
    capability_refusal = "Only those who manage the account check its clusters."

    def act(self, request, cluster):
        cluster = services.cluster_check(cluster=cluster)
        if cluster.state == "reachable":
            messages.success(
                request, f"{cluster.name} is reachable ({cluster.server_version}) and RBAC allows the drain."
            )
        else:
            messages.error(request, cluster.state_detail)
        return redirect(self.detail_url(cluster))


class ClusterDeleteView(ObjectActionView):
    selector = clusters_for
    detail_url_name = "kube_cluster_detail"
    required_capability = Capability.MANAGE_ACCOUNTS
    capability_refusal = "Only those who manage the account remove its clusters."

    def act(self, request, cluster):
        services.cluster_delete(user=request.user, cluster=cluster)
        messages.success(request, f"Cluster {cluster.name} removed; its token is deleted.")
        return redirect("kube_cluster_list")


@method_decorator(never_cache, name="dispatch")
class DrainListView(TenantScopedMixin, ListView):
    selector = drains_for
    template_name = "kube/drain_list.html"
    paginate_by = ROWS_PER_PAGE

    def get_queryset(self):
        self.filterset = DrainFilterSet(self.request.GET, queryset=super().get_queryset(), request=self.request)
        return self.filterset.qs

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(
            title="Node drains",
            rows=context["object_list"],
            filterset=self.filterset,
            filtering=any(self.request.GET.get(name) for name in self.filterset.form.fields),
            clear_url=reverse("kube_drain_list"),
            show_owner=can(self.request.user, Capability.VIEW_ALL_TENANTS),
        )
        return context


@method_decorator(never_cache, name="dispatch")
class DrainDetailView(TenantObjectMixin, View):
    selector = drains_for

    def get(self, request, pk):
        drain = self.get_object()
        return render(
            request,
            "kube/drain_detail.html",
            {"title": f"Drain of {drain.node_name or drain.ec2_instance_id}", "drain": drain},
        )
