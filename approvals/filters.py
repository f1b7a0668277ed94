import django_filters

from accounts.models import Account

from .choices import ActionType, ApprovalStatus, ExecutionStatus, RiskLevel
from .models import ApprovalRequest


def _accounts_of(request):
    # The account choices are the ones the user may see (tenant scoping).
    if request is None:
        return Account.objects.none()
    return Account.objects.for_user(request.user).order_by("account_name")


class ApprovalRequestFilterSet(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=ApprovalStatus.choices)
    action_type = django_filters.MultipleChoiceFilter(choices=ActionType.choices)
    risk_level = django_filters.MultipleChoiceFilter(choices=RiskLevel.choices)
    execution_status = django_filters.MultipleChoiceFilter(choices=ExecutionStatus.choices)
    account = django_filters.ModelChoiceFilter(queryset=_accounts_of)

    class Meta:
        model = ApprovalRequest
        fields = ["status", "action_type", "risk_level", "execution_status", "account"]
