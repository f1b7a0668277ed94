import django_filters
from django.db.models import Q

from spotopt.filters import AnySelect, FilterSet, SearchInput, Select

from .choices import AccountStatus, ConnectionMethod, EnvironmentType
from .models import Account


class AccountChoiceField(django_filters.fields.ModelChoiceField):
    def label_from_instance(self, account):
        return account.account_name


class AccountChoiceFilter(django_filters.ModelChoiceFilter):
    """ "Which account": the choices are the accounts the user may see (another tenant's id is an invalid
    choice, not data). Shared by every list that belongs to accounts (fleet, approvals, …)."""

    field_class = AccountChoiceField

    def __init__(self, **kwargs):
        kwargs.setdefault("queryset", self._accounts_of)
        kwargs.setdefault("empty_label", "Any account")
        kwargs.setdefault("widget", Select)
        super().__init__(**kwargs)

    @staticmethod
    def _accounts_of(request):
        if request is None:
            return Account.objects.none()
        # A dropdown of names: the two columns it shows, not the accounts' secrets and discovery logs.
        return Account.objects.for_user(request.user).only("id", "account_name").order_by("account_name", "id")


class AccountFilterSet(FilterSet):
    q = django_filters.CharFilter(
        method="search", label="Search", widget=SearchInput(attrs={"placeholder": "Name or AWS account id"})
    )
    status = django_filters.MultipleChoiceFilter(
        choices=AccountStatus.choices, widget=AnySelect(any_label="Any status")
    )
    environment_type = django_filters.ChoiceFilter(
        choices=EnvironmentType.choices, label="Environment", empty_label="Any environment", widget=Select
    )
    connection_method = django_filters.ChoiceFilter(
        choices=ConnectionMethod.choices, label="Connection", empty_label="Any method", widget=Select
    )

    class Meta(FilterSet.Meta):
        model = Account
        fields = ["q", "status", "environment_type", "connection_method"]

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(account_name__icontains=value) | Q(account_id__icontains=value))
