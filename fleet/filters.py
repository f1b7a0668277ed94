import django_filters
from django.conf import settings

from accounts.filters import AccountChoiceFilter
from spotopt.filters import (
    AnySelect,
    Datalist,
    FilterSet,
    LabelledBooleanWidget,
    NullsLastOrderingFilter,
    SearchInput,
    Select,
)

from .choices import AuthStatus, Lifecycle, OrchestratorType, PipelineMode
from .models import Instance
from .presentation import ROGUE_LABEL
from .pricing import catalog_instance_types


class RegionSelect(Select):
    """The regions spotopt scans (settings.SPOTOPT_REGIONS, read when drawn): no query for the choices."""

    def get_context(self, name, value, attrs):
        self.choices = [("", "Any region"), *((region, region) for region in settings.SPOTOPT_REGIONS)]
        return super().get_context(name, value, attrs)


class InstanceFilterSet(FilterSet):
    """Shared by the fleet dashboard and /api/v1/instances/."""

    q = django_filters.CharFilter(
        method="search",
        label="Search",
        widget=SearchInput(attrs={"placeholder": "Id, name, type, cluster, ASG"}),
    )
    account = AccountChoiceFilter()
    region = django_filters.CharFilter(widget=RegionSelect)
    instance_type = django_filters.CharFilter(
        label="Type", widget=Datalist(suggestions=catalog_instance_types, attrs={"placeholder": "Any type"})
    )
    lifecycle = django_filters.ChoiceFilter(choices=Lifecycle.choices, empty_label="Spot or on-demand", widget=Select)
    orchestrator_type = django_filters.ChoiceFilter(
        choices=OrchestratorType.choices, label="Orchestrator", empty_label="Any", widget=Select
    )
    auth_status = django_filters.MultipleChoiceFilter(
        label="Authorization",
        choices=[
            (value, f"Flagged ({ROGUE_LABEL})" if value == AuthStatus.FLAGGED else label)
            for value, label in AuthStatus.choices
        ],
        widget=AnySelect(any_label="Any status"),
    )
    pipeline_mode = django_filters.ChoiceFilter(
        choices=PipelineMode.choices, label="Pipeline", empty_label="Any pipeline", widget=Select
    )
    is_shadow_mode = django_filters.BooleanFilter(
        label="Shadow mode",
        widget=LabelledBooleanWidget(any_label="Any", yes="In shadow mode", no="Not in shadow mode"),
    )
    is_active = django_filters.BooleanFilter(
        label="State",
        widget=LabelledBooleanWidget(any_label="Any", yes="Running (active)", no="Gone (terminated)"),
    )
    # No order by account name: it is a join, which no index can keep in order (a team's 60,000 instances
    # would be sorted on every page); the account filter narrows to one account instead.
    ordering = NullsLastOrderingFilter(
        tiebreak="instance_id",
        fields=(
            ("instance_id", "instance_id"),
            ("instance_type", "instance_type"),
            ("region", "region"),
            ("availability_zone", "availability_zone"),
            ("lifecycle", "lifecycle"),
            ("orchestrator_type", "orchestrator_type"),
            ("auth_status", "auth_status"),
            ("hourly_price", "hourly_price"),
            ("last_evaluation", "last_evaluation"),
            ("created_at", "discovered_at"),
        ),
    )

    class Meta(FilterSet.Meta):
        model = Instance
        fields = [
            "q",
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
        # One lower-case column holds id, type, Name tag, cluster and ASG (fleet.inventory.search_text),
        # with a trigram index on PostgreSQL: no scan of JSON columns.
        value = value.strip().lower()
        return queryset.filter(search_text__contains=value) if value else queryset
