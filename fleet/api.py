"""API of the fleet: /api/v1/instances/.

Instances are written by discovery, never through the API: it lists and shows them, and lets Lab
operators and admins change the Lab controls (pipeline mode, shadow mode, assigned model version) of
LAB-environment instances through fleet.services.instance_lab_update. Scoping is fleet.selectors'
`instances_for`: another tenant's instance is a 404, lab users see LAB accounts' instances only.
"""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers
from rest_framework.exceptions import NotFound
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from accounts.roles import Capability
from spotopt.api import error_response
from spotopt.tenancy import CapabilityPermission, TenantViewSet

from . import services
from .filters import InstanceFilterSet
from .selectors import instances_for
from .serializers import InstanceLabUpdateSerializer, InstanceSerializer

LAB_CONTROLS_REFUSED = "Only Lab operators and admins change Lab controls; customers can read instances only."
_NOT_FOUND = error_response(404, "No such instance among those you may see.")


@extend_schema_view(
    list=extend_schema(summary="EC2 instances you may see, with filters, search (q) and ordering."),
    retrieve=extend_schema(summary="One EC2 instance.", responses={200: InstanceSerializer, 404: _NOT_FOUND}),
)
class InstanceViewSet(TenantViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """EC2 instances as last discovered. Customers (client, user) see their team's accounts' instances and
    only read them; lab users see LAB accounts' instances; admins every tenant's. Writes (the Lab controls)
    need the Lab capability, checked before the instance is looked up, so a refusal says nothing about
    whether it exists."""

    selector = instances_for
    serializer_class = InstanceSerializer
    filterset_class = InstanceFilterSet
    write_capability = Capability.USE_LAB
    write_refusal = LAB_CONTROLS_REFUSED

    def get_serializer_class(self):
        # The browsable API's PATCH form shows (and takes) the Lab controls only.
        if self.action == "partial_update":
            return InstanceLabUpdateSerializer
        return InstanceSerializer

    @extend_schema(
        summary="Change the Lab controls of a LAB-environment instance (lab, admin, super_admin).",
        request=InstanceLabUpdateSerializer,
        responses={
            200: OpenApiResponse(InstanceSerializer, description="The instance with its new Lab controls."),
            400: error_response(
                400,
                "A field error (a read-only field, a bad pipeline mode), or a refusal with a "
                "code: not_lab (a production instance), unknown_model_version (no such model, or archived).",
            ),
            404: _NOT_FOUND,
        },
    )
    def partial_update(self, request, *args, **kwargs):
        instance = self.get_object()
        form = InstanceLabUpdateSerializer(data=request.data, partial=True)
        form.is_valid(raise_exception=True)
        instance = services.instance_lab_update(user=request.user, instance=instance, **form.validated_data)
        # Read back through the scoped selector: the answer is what a GET shows.
        return Response(InstanceSerializer(self.get_queryset().get(pk=instance.pk)).data)


class PreviewRowSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    instance_id = serializers.CharField()
    instance_type = serializers.CharField()
    availability_zone = serializers.CharField()
    lifecycle = serializers.CharField()
    monthly_cost = serializers.DecimalField(max_digits=14, decimal_places=2)
    target = serializers.CharField(help_text="Where the optimizer would move it (empty when left alone).")
    monthly_saving = serializers.DecimalField(max_digits=14, decimal_places=2)
    reason = serializers.CharField()


class SavingsPreviewSerializer(serializers.Serializer):
    computed_at = serializers.DateTimeField()
    currency = serializers.CharField()
    model = serializers.CharField(help_text="The model that scored the pools (empty: none could).")
    instances = serializers.IntegerField()
    current_monthly_cost = serializers.DecimalField(max_digits=14, decimal_places=2)
    monthly_saving = serializers.DecimalField(max_digits=14, decimal_places=2)
    saving_share = serializers.DecimalField(max_digits=6, decimal_places=3)
    prices = serializers.CharField(help_text="Which prices the figures are made of.")
    moves = PreviewRowSerializer(many=True)
    left_alone = PreviewRowSerializer(many=True)


class SavingsPreviewView(GenericAPIView):
    """What the optimizer would save on the account now (fleet.preview): GET the last preview, POST to make
    one (a dry run of the optimizer: nothing is written to AWS). Another tenant's account is a 404."""

    permission_classes = [CapabilityPermission]
    write_capability = Capability.MANAGE_ACCOUNTS
    write_refusal = "Only those who manage the account estimate its savings."
    serializer_class = SavingsPreviewSerializer
    pagination_class = None

    def _account(self, pk):
        from accounts.selectors import accounts_for

        return get_object_or_404(accounts_for(self.request.user), pk=pk)

    @extend_schema(
        summary="The account's last savings preview.",
        responses={200: SavingsPreviewSerializer, 404: error_response(404, "No such account, or no preview yet.")},
    )
    def get(self, request, pk):
        from .preview import stored_preview

        preview = stored_preview(self._account(pk))
        if preview is None:
            raise NotFound("No preview yet: POST to make one.")
        return Response(SavingsPreviewSerializer(preview).data)

    @extend_schema(
        summary="Estimate the account's savings now (the optimizer's evaluation as a dry run).",
        request=None,
        responses={200: SavingsPreviewSerializer, 403: error_response(403), 404: error_response(404)},
    )
    def post(self, request, pk):
        from .preview import savings_preview

        return Response(SavingsPreviewSerializer(savings_preview(account=self._account(pk))).data)


def register(router) -> None:
    router.register("instances", InstanceViewSet, basename="instance")
