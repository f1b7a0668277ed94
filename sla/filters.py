import django_filters

from accounts.filters import AccountChoiceFilter
from spotopt.filters import AnySelect, DateTimePicker, FilterSet, LabelledBooleanWidget, UtcDateTimeFilter

from .choices import DowntimeCause
from .models import DowntimeLog


class DowntimeFilterSet(FilterSet):
    account = AccountChoiceFilter()
    cause = django_filters.MultipleChoiceFilter(choices=DowntimeCause.choices, widget=AnySelect(any_label="Any cause"))
    ongoing = django_filters.BooleanFilter(
        field_name="ended_at",
        lookup_expr="isnull",
        label="State",
        widget=LabelledBooleanWidget(any_label="Ended or ongoing", yes="Ongoing", no="Ended"),
    )
    started_after = UtcDateTimeFilter(field_name="started_at", lookup_expr="gte", label="From", widget=DateTimePicker())
    started_before = UtcDateTimeFilter(
        field_name="started_at", lookup_expr="lt", label="Until", widget=DateTimePicker()
    )

    class Meta(FilterSet.Meta):
        model = DowntimeLog
        fields = ["account", "cause", "ongoing"]
