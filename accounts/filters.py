import django_filters
from django.db.models import Q

from .choices import AccountStatus, ConnectionMethod, EnvironmentType
from .models import Account


class AccountFilterSet(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=AccountStatus.choices)
    environment_type = django_filters.ChoiceFilter(choices=EnvironmentType.choices)
    connection_method = django_filters.ChoiceFilter(choices=ConnectionMethod.choices)
    q = django_filters.CharFilter(method="search", label="Name or AWS account id")

    class Meta:
        model = Account
        fields = ["status", "environment_type", "connection_method"]

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(account_name__icontains=value) | Q(account_id__icontains=value))
