"""API of the approval gate: /api/v1/approvals/.

Requests are filed by the product's workflows (the optimizer, the rogue-instance enforcer, the waste
lifecycle), never through the API: it lists and shows them, and decides (approve, reject) or retries
them. Who may decide what is approvals.policy's decision table, applied by the services; the API only
makes sure the request is one the person may see first, so another tenant's request is a 404.
"""

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from spotopt.api import ErrorSerializer
from spotopt.tenancy import TenantViewSet

from . import services
from .filters import ApprovalRequestFilterSet
from .selectors import approvals_for
from .serializers import ApprovalApproveSerializer, ApprovalRejectSerializer, ApprovalRequestSerializer

_NOT_FOUND = OpenApiResponse(ErrorSerializer, description="No such request among those you may see.")
_REFUSED = OpenApiResponse(ErrorSerializer, description="Your role may not do this (the policy says why).")


def _decision_responses(ok: str) -> dict:
    return {
        200: OpenApiResponse(ApprovalRequestSerializer, description=ok),
        400: OpenApiResponse(ErrorSerializer, description="Invalid input (a field error)."),
        403: _REFUSED,
        404: _NOT_FOUND,
        409: OpenApiResponse(ErrorSerializer, description="Already decided, or expired before a decision."),
    }


@extend_schema_view(
    list=extend_schema(summary="Approval requests you may see, pending first (soonest to expire first)."),
    retrieve=extend_schema(
        summary="One approval request.", responses={200: ApprovalRequestSerializer, 404: _NOT_FOUND}
    ),
)
class ApprovalRequestViewSet(TenantViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Approval requests: customers (client, user) see their team's requests, lab users LAB accounts',
    admins every tenant's. `can_decide` and `can_retry` say what the person asking may do. Every signed-in
    role may call the actions (no write_capability): the services refuse by the decision table."""

    selector = approvals_for
    serializer_class = ApprovalRequestSerializer
    filterset_class = ApprovalRequestFilterSet

    def _answer(self, approval_id, *, status_code=status.HTTP_200_OK) -> Response:
        approval = self.get_queryset().get(pk=approval_id)
        return Response(self.get_serializer(approval).data, status=status_code)

    @extend_schema(
        summary="Approve a pending request; its action is queued for execution.",
        request=ApprovalApproveSerializer,
        responses=_decision_responses("The approved request (execution queued)."),
    )
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        approval = self.get_object()
        form = ApprovalApproveSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        services.approval_approve(user=request.user, request_id=approval.pk, comment=form.validated_data["comment"])
        return self._answer(approval.pk)

    @extend_schema(
        summary="Reject a pending request; say why in the comment.",
        request=ApprovalRejectSerializer,
        responses=_decision_responses("The rejected request."),
    )
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        approval = self.get_object()
        form = ApprovalRejectSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        services.approval_reject(user=request.user, request_id=approval.pk, comment=form.validated_data["comment"])
        return self._answer(approval.pk)

    @extend_schema(
        summary="Queue a failed execution again (admins only).",
        request=None,
        responses={
            202: OpenApiResponse(ApprovalRequestSerializer, description="The request, its execution queued again."),
            403: _REFUSED,
            404: _NOT_FOUND,
            409: OpenApiResponse(ErrorSerializer, description="Only a failed execution can be retried."),
        },
    )
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        approval = self.get_object()
        services.approval_retry_execution(user=request.user, request_id=approval.pk)
        return self._answer(approval.pk, status_code=status.HTTP_202_ACCEPTED)


def register(router) -> None:
    router.register("approvals", ApprovalRequestViewSet, basename="approval")
