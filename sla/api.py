"""API of the SLA: /api/v1/sla/summary/ (per account and month against the 60-second budget) and
/api/v1/sla/downtime/ (the rows, with filters). Downtime is tenant data: another tenant's row is a 404."""

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from spotopt.api import error_response
from spotopt.tenancy import CapabilityPermission, ScopedQuerysetMixin, TenantViewSet

from .filters import DowntimeFilterSet
from .selectors import downtime_for, sla_summary
from .serializers import DowntimeSerializer, SlaSummarySerializer, SummaryQuerySerializer, summary_data


@extend_schema_view(
    list=extend_schema(summary="Downtime spotopt caused on your accounts, newest first, with filters."),
    retrieve=extend_schema(
        summary="One stretch of downtime.", responses={200: DowntimeSerializer, 404: error_response(404)}
    ),
)
class DowntimeViewSet(TenantViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    selector = downtime_for
    serializer_class = DowntimeSerializer
    filterset_class = DowntimeFilterSet


class SlaSummaryView(ScopedQuerysetMixin, GenericAPIView):
    """The SLA per account and calendar month (UTC): downtime against the budget, what is left, the causes,
    and per month the worst account. Takes the downtime list's filters (account, cause, …) and `months`."""

    selector = downtime_for
    filterset_class = DowntimeFilterSet
    permission_classes = [CapabilityPermission]
    pagination_class = None

    @extend_schema(
        summary="Downtime per account and month against the 60-second budget (the last `months`, default 12).",
        parameters=[OpenApiParameter("months", int, description="1 to 24 calendar months, this one included.")],
        responses={200: SlaSummarySerializer},
    )
    def get(self, request):
        query = SummaryQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        summary = sla_summary(self.filter_queryset(self.get_queryset()), months=query.validated_data["months"])
        return Response(SlaSummarySerializer(summary_data(summary)).data)


def register(router) -> None:
    router.register("sla/downtime", DowntimeViewSet, basename="sla-downtime")
