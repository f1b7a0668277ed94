"""Filters of the hive and the event lists, shared by the pages (their filter bars) and the API."""

import django_filters

from accounts.filters import AccountChoiceFilter
from spotopt.filters import AnySelect, DateTimePicker, FilterSet, LabelledBooleanWidget, SearchInput, UtcDateTimeFilter

from .choices import EventOutcome, HeldEventStatus, IngestChannel, RejectReason, RiskEventType
from .models import GlobalRiskEvent, HeldRiskEvent, RejectedIngest, SpotPoolRisk
from .selectors import poisoned_now


class SpotPoolFilterSet(FilterSet):
    poisoned = django_filters.BooleanFilter(
        method="filter_poisoned",
        label="Poison",
        widget=LabelledBooleanWidget(any_label="Any pool", yes="Poisoned now", no="Not poisoned"),
    )
    region = django_filters.CharFilter(widget=SearchInput(attrs={"placeholder": "us-east-1"}))
    availability_zone = django_filters.CharFilter(label="AZ", widget=SearchInput(attrs={"placeholder": "us-east-1a"}))
    instance_type = django_filters.CharFilter(label="Type", widget=SearchInput(attrs={"placeholder": "m5.large"}))

    class Meta(FilterSet.Meta):
        model = SpotPoolRisk
        fields = ["poisoned", "region", "availability_zone", "instance_type"]

    def filter_poisoned(self, queryset, name, value):
        return queryset.filter(poisoned_now()) if value else queryset.exclude(poisoned_now())


class RiskEventFilterSet(FilterSet):
    event_type = django_filters.MultipleChoiceFilter(
        choices=RiskEventType.choices, label="Event", widget=AnySelect(any_label="Any event")
    )
    outcome = django_filters.MultipleChoiceFilter(
        choices=EventOutcome.choices, widget=AnySelect(any_label="Any outcome")
    )
    channel = django_filters.MultipleChoiceFilter(
        choices=IngestChannel.choices, label="Via", widget=AnySelect(any_label="Any channel")
    )
    account = AccountChoiceFilter()
    instance_id = django_filters.CharFilter(label="Instance", widget=SearchInput(attrs={"placeholder": "i-…"}))
    pool_id = django_filters.CharFilter(label="Pool", widget=SearchInput(attrs={"placeholder": "region:az:type"}))
    received_after = UtcDateTimeFilter(
        field_name="received_at", lookup_expr="gte", label="From", widget=DateTimePicker()
    )
    received_before = UtcDateTimeFilter(
        field_name="received_at", lookup_expr="lt", label="Until", widget=DateTimePicker()
    )

    class Meta(FilterSet.Meta):
        model = GlobalRiskEvent
        fields = ["event_type", "outcome", "channel", "account", "instance_id", "pool_id"]


class HeldEventFilterSet(FilterSet):
    status = django_filters.MultipleChoiceFilter(
        choices=HeldEventStatus.choices, widget=AnySelect(any_label="Any status")
    )
    account = AccountChoiceFilter()

    class Meta(FilterSet.Meta):
        model = HeldRiskEvent
        fields = ["status", "account"]


class RejectedIngestFilterSet(FilterSet):
    reason = django_filters.MultipleChoiceFilter(choices=RejectReason.choices, widget=AnySelect(any_label="Any reason"))
    channel = django_filters.MultipleChoiceFilter(
        choices=IngestChannel.choices, label="Via", widget=AnySelect(any_label="Any channel")
    )
    account = AccountChoiceFilter()

    class Meta(FilterSet.Meta):
        model = RejectedIngest
        fields = ["reason", "channel", "account"]
