import django_filters
from django.db.models import Q

from accounts.models import Account

from .choices import AuthStatus, Lifecycle, OrchestratorType, PipelineMode
from .models import Instance


def _accounts_of(request):
    # Only accounts the user may see are choices (another tenant's id is an invalid choice, not data).
    if request is None:
        return Account.objects.none()
    return Account.objects.for_user(request.user).order_by("account_name")


class InstanceFilterSet(django_filters.FilterSet):
    """Shared by the fleet dashboard and /api/v1/instances/."""

    account = django_filters.ModelChoiceFilter(queryset=_accounts_of)
    region = django_filters.CharFilter()
    instance_type = django_filters.CharFilter()
    lifecycle = django_filters.ChoiceFilter(choices=Lifecycle.choices)
    orchestrator_type = django_filters.ChoiceFilter(choices=OrchestratorType.choices)
    auth_status = django_filters.MultipleChoiceFilter(choices=AuthStatus.choices)
    pipeline_mode = django_filters.ChoiceFilter(choices=PipelineMode.choices)
    is_shadow_mode = django_filters.BooleanFilter()
    is_active = django_filters.BooleanFilter()
    q = django_filters.CharFilter(method="search", label="Instance id, type, name, cluster or ASG")
    ordering = django_filters.OrderingFilter(
        fields=(
            ("instance_id", "instance_id"),
            ("instance_type", "instance_type"),
            ("region", "region"),
            ("availability_zone", "availability_zone"),
            ("lifecycle", "lifecycle"),
            ("orchestrator_type", "orchestrator_type"),
            ("auth_status", "auth_status"),
            ("account__account_name", "account"),
            ("last_evaluation", "last_evaluation"),
            ("created_at", "discovered_at"),
        )
    )

    class Meta:
        model = Instance
        fields = [
            "account",
            "region",
            "instance_type",
            "lifecycle",
            "orchestrator_type",
            "auth_status",
            "pipeline_mode",
            "is_shadow_mode",
            "is_active",
        ]

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(instance_id__icontains=value)
            | Q(instance_type__icontains=value)
            | Q(instance_metadata__name__icontains=value)
            | Q(cluster_membership__cluster_name__icontains=value)
            | Q(cluster_membership__asg_name__icontains=value)
        )
