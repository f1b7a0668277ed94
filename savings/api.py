"""API of the savings ledger: /api/v1/savings/ (the daily rows, with filters) and /api/v1/savings/summary/
(per account and month: baseline, actual, overlap, realized, projected). Scoped: another tenant's rows are
never there, another tenant's row is a 404."""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from spotopt.api import error_response
from spotopt.tenancy import CapabilityPermission, ScopedQuerysetMixin, TenantViewSet

from .filters import SavingsFilterSet
from .selectors import monthly_summary, savings_for
from .serializers import SavingsDaySerializer, SavingsMonthSerializer


@extend_schema_view(
    list=extend_schema(summary="The savings ledger's daily rows of your accounts, newest first, with filters."),
    retrieve=extend_schema(summary="One ledger row.", responses={200: SavingsDaySerializer, 404: error_response(404)}),
)
class SavingsViewSet(TenantViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    selector = savings_for
    serializer_class = SavingsDaySerializer
    filterset_class = SavingsFilterSet


class SavingsSummaryView(ScopedQuerysetMixin, GenericAPIView):
    """Per account and calendar month (UTC), newest first; takes the list's filters."""

    selector = savings_for
    filterset_class = SavingsFilterSet
    permission_classes = [CapabilityPermission]
    pagination_class = None

    @extend_schema(
        summary="Realized and projected savings per account and month (USD).",
        responses={200: SavingsMonthSerializer(many=True)},
    )
    def get(self, request):
        rows = monthly_summary(self.filter_queryset(self.get_queryset()))
        return Response(SavingsMonthSerializer(rows, many=True).data)


def register(router) -> None:
    router.register("savings", SavingsViewSet, basename="savings")
