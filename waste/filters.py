"""Filters of the waste list, shared by the page (its filter bar), its CSV export and the API."""

import django_filters
from django import forms
from django.db.models import Q

from accounts.filters import AccountChoiceFilter
from spotopt.filters import AnySelect, FilterSet, LabelledBooleanWidget, SearchInput

from .choices import ResourceType, WasteStatus
from .models import WasteResource


def _number(placeholder: str, step: str = "any") -> forms.NumberInput:
    return forms.NumberInput(attrs={"placeholder": placeholder, "min": "0", "step": step})


ON_THE_LIST = (WasteStatus.DETECTED, WasteStatus.FLAGGED, WasteStatus.SCHEDULED_DELETE, WasteStatus.EXEMPT)


class WasteFilterSet(FilterSet):
    listed = django_filters.BooleanFilter(
        method="filter_listed",
        label="List",
        widget=LabelledBooleanWidget(any_label="Everything", yes="On the list", no="History (resolved, deleted)"),
    )
    account = AccountChoiceFilter()
    region = django_filters.CharFilter(widget=SearchInput(attrs={"placeholder": "us-east-1"}))
    resource_type = django_filters.MultipleChoiceFilter(
        choices=ResourceType.choices, label="Type", widget=AnySelect(any_label="Any type")
    )
    status = django_filters.MultipleChoiceFilter(choices=WasteStatus.choices, widget=AnySelect(any_label="Any status"))
    min_cost = django_filters.NumberFilter(
        field_name="monthly_cost", lookup_expr="gte", label="From $/month", widget=_number("0")
    )
    max_cost = django_filters.NumberFilter(
        field_name="monthly_cost", lookup_expr="lte", label="To $/month", widget=_number("any")
    )
    min_days = django_filters.NumberFilter(
        field_name="days_unused", lookup_expr="gte", label="Idle days ≥", widget=_number("0", step="1")
    )

    class Meta(FilterSet.Meta):
        model = WasteResource
        fields = ["listed", "account", "region", "resource_type", "status", "min_cost", "max_cost", "min_days"]

    def filter_listed(self, queryset, name, value):
        on_the_list = Q(status__in=ON_THE_LIST)
        return queryset.filter(on_the_list) if value else queryset.exclude(on_the_list)
