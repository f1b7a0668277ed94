import django_filters

from accounts.filters import AccountChoiceFilter
from spotopt.filters import AnySelect, FilterSet

from .choices import ActionType, ApprovalStatus, ExecutionStatus, RiskLevel
from .models import ApprovalRequest


class ApprovalRequestFilterSet(FilterSet):
    status = django_filters.MultipleChoiceFilter(
        choices=ApprovalStatus.choices, widget=AnySelect(any_label="Any status")
    )
    action_type = django_filters.MultipleChoiceFilter(
        choices=ActionType.choices, label="Action", widget=AnySelect(any_label="Any action")
    )
    risk_level = django_filters.MultipleChoiceFilter(
        choices=RiskLevel.choices, label="Risk", widget=AnySelect(any_label="Any risk")
    )
    execution_status = django_filters.MultipleChoiceFilter(
        choices=ExecutionStatus.choices, label="Execution", widget=AnySelect(any_label="Any execution")
    )
    account = AccountChoiceFilter()

    class Meta(FilterSet.Meta):
        model = ApprovalRequest
        fields = ["status", "action_type", "risk_level", "execution_status", "account"]
