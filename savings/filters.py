"""Filters of the savings ledger (page, CSV and API alike)."""

import django_filters

from .choices import MoveKind
from .models import SavingsDay


class SavingsFilterSet(django_filters.FilterSet):
    account = django_filters.UUIDFilter(field_name="account_id", label="Account (id)")
    kind = django_filters.ChoiceFilter(choices=MoveKind.choices)
    month = django_filters.CharFilter(method="in_month", label="Month (YYYY-MM)")
    instance_id = django_filters.CharFilter(field_name="instance__instance_id", label="EC2 instance id")

    class Meta:
        model = SavingsDay
        fields = ["account", "kind", "month", "instance_id"]

    def in_month(self, queryset, name, value):
        try:
            year, month = (int(part) for part in value.split("-"))
        except ValueError:
            return queryset.none()
        return queryset.filter(day__year=year, day__month=month)
