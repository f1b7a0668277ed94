"""Filters of the experiment log, shared by the Lab page, its CSV export and /api/v1/experiments/."""

import django_filters

from accounts.filters import AccountChoiceFilter
from fleet.choices import PipelineMode
from spotopt.filters import (
    AnySelect,
    DateTimePicker,
    FilterSet,
    LabelledBooleanWidget,
    SearchInput,
    Select,
    UtcDateTimeFilter,
)

from .choices import Decision
from .models import ExperimentLog, MLModel


class ExperimentFilterSet(FilterSet):
    decision = django_filters.MultipleChoiceFilter(choices=Decision.choices, widget=AnySelect(any_label="Any decision"))
    account = AccountChoiceFilter(field_name="instance__account")
    model = django_filters.ModelChoiceFilter(
        queryset=MLModel.objects.only("id", "name", "version").order_by("name"), empty_label="Any model", widget=Select
    )
    pipeline_mode = django_filters.MultipleChoiceFilter(
        choices=PipelineMode.choices, label="Pipeline", widget=AnySelect(any_label="Any pipeline")
    )
    is_shadow_run = django_filters.BooleanFilter(
        label="Shadow", widget=LabelledBooleanWidget(any_label="Shadow or not", yes="Shadow runs", no="Not shadow")
    )
    instance_id = django_filters.CharFilter(
        field_name="instance__instance_id", label="Instance", widget=SearchInput(attrs={"placeholder": "i-…"})
    )
    after = UtcDateTimeFilter(field_name="execution_time", lookup_expr="gte", label="From", widget=DateTimePicker())
    before = UtcDateTimeFilter(field_name="execution_time", lookup_expr="lt", label="Until", widget=DateTimePicker())

    class Meta(FilterSet.Meta):
        model = ExperimentLog
        fields = ["decision", "account", "model", "pipeline_mode", "is_shadow_run", "instance_id"]
