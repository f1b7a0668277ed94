"""API of waste: /api/v1/waste/…

- `waste/`: the user's tenants' idle resources, with the page's filters; `waste/{id}/` one of them.
- `waste/flag/`, `waste/schedule/`, `waste/exempt/`: the page's bulk actions on a list of ids (any id outside
  the user's scope is a 404 and nothing is done); for roles that manage waste.
- `waste/scan/`: scan one account now (queued; 202).
- `waste/summary/`: monthly waste by type and by account, with the list's filters (a plain view: one
  object per user, not a list).
"""

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from accounts.roles import Capability
from accounts.selectors import accounts_for
from spotopt.api import error_response
from spotopt.tenancy import CapabilityPermission, ScopedQuerysetMixin, TenantViewSet

from . import services
from .filters import WasteFilterSet
from .selectors import waste_for, waste_summary
from .serializers import (
    BulkActionRequestSerializer,
    BulkActionResultSerializer,
    ScanQueuedSerializer,
    ScanRequestSerializer,
    WasteResourceSerializer,
    WasteSummarySerializer,
)

BULK_RESPONSES = {
    200: OpenApiResponse(BulkActionResultSerializer, description="What was done, and what was skipped and why."),
    404: error_response(404, "An id is not one of your waste resources; nothing was done."),
}


@extend_schema_view(
    list=extend_schema(summary="Idle resources of your accounts, the costliest first (filters as on the page)."),
    retrieve=extend_schema(
        summary="One idle resource.", responses={200: WasteResourceSerializer, 404: error_response(404)}
    ),
)
class WasteViewSet(TenantViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Idle Elastic IPs, volumes, snapshots and AMIs, each with its reason, monthly cost and lifecycle state.
    Flag tags it in AWS; Schedule files the deletion request once the grace period is over; Exempt keeps it."""

    selector = waste_for
    serializer_class = WasteResourceSerializer
    filterset_class = WasteFilterSet
    write_capability = Capability.MANAGE_WASTE
    write_refusal = services.MANAGE_REFUSAL

    def _bulk(self, request, service):
        form = BulkActionRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        ids = set(form.validated_data["ids"])
        resources = waste_for(request.user).filter(pk__in=ids)
        if resources.count() != len(ids):
            raise NotFound("An id is not one of your waste resources; nothing was done.")
        result = service(user=request.user, resources=resources)
        return Response(
            {
                "done": [row.pk for row in result.done],
                "skipped": result.skipped,
                "approval_requests": [r.pk for r in result.requests],
            }
        )

    @extend_schema(
        summary="Flag: tag each resource `spotopt:waste = delete@<grace end>` in AWS.",
        request=BulkActionRequestSerializer,
        responses=BULK_RESPONSES,
    )
    @action(detail=False, methods=["post"])
    def flag(self, request):
        return self._bulk(request, services.waste_flag)

    @extend_schema(
        summary="Schedule: file one deletion request per account for flagged resources past their grace period.",
        request=BulkActionRequestSerializer,
        responses=BULK_RESPONSES,
    )
    @action(detail=False, methods=["post"])
    def schedule(self, request):
        return self._bulk(request, services.waste_schedule)

    @extend_schema(
        summary="Exempt: keep these resources; they are never flagged again (tagged `spotopt:waste = keep`).",
        request=BulkActionRequestSerializer,
        responses=BULK_RESPONSES,
    )
    @action(detail=False, methods=["post"])
    def exempt(self, request):
        return self._bulk(request, services.waste_exempt)

    @extend_schema(
        summary="Scan one connected account for idle resources now (queued on the workers).",
        request=ScanRequestSerializer,
        responses={
            202: OpenApiResponse(ScanQueuedSerializer, description="Queued; the account's scan state is `queued`."),
            400: error_response(400, "The account is not connected."),
            404: error_response(404, "Not one of your accounts."),
        },
    )
    @action(detail=False, methods=["post"])
    def scan(self, request):
        form = ScanRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        account = accounts_for(request.user).filter(pk=form.validated_data["account"]).first()
        if account is None:
            raise NotFound("That account is not one of yours.")
        services.waste_scan_queue(user=request.user, account=account)
        return Response({"account": account.pk, "state": "queued"}, status=status.HTTP_202_ACCEPTED)


class WasteSummaryView(ScopedQuerysetMixin, GenericAPIView):
    """Monthly waste still on the list by type and by account, with the list's filters."""

    selector = waste_for
    filterset_class = WasteFilterSet
    permission_classes = [CapabilityPermission]
    pagination_class = None

    @extend_schema(
        summary="Monthly waste by type and by account (USD), with the list's filters.",
        responses={200: WasteSummarySerializer, 400: error_response(400, "A filter value is not valid.")},
    )
    def get(self, request):
        return Response(WasteSummarySerializer(waste_summary(self.filter_queryset(self.get_queryset()))).data)


def register(router) -> None:
    router.register("waste", WasteViewSet, basename="waste")
