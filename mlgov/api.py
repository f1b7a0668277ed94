"""API of model governance: /api/v1/models/…

- `models/`: every model (lab users, admins, super_admins; customers get a 403), newest first; `models/{id}/`
  with its moves (who moved it, when).
- `POST models/` (multipart): upload an ONNX file; refused with the reason unless it is a safe model with
  the inputs and outputs its feature schema needs.
- `POST models/{id}/move/` `{"status"}`: one step of the lifecycle (lab users up to GRADUATED; super_admins
  enable); `POST models/{id}/activate/`: the production model (super_admins).
"""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from accounts.roles import Capability
from spotopt.api import error_response
from spotopt.tenancy import TenantViewSet

from . import services
from .filters import ExperimentFilterSet
from .selectors import experiment_detail_for, experiments_for, models_for
from .serializers import (
    ExperimentDetailSerializer,
    ExperimentLogSerializer,
    MLModelSerializer,
    ModelActivateRequestSerializer,
    ModelMoveRequestSerializer,
    ModelUploadSerializer,
)
from .validation import refuse_oversized

LAB_REFUSAL = "Models are governed in the Lab: lab users, admins and super_admins only."


@extend_schema_view(
    list=extend_schema(summary="Models under governance, newest first."),
    retrieve=extend_schema(
        summary="One model, with who moved it through its lifecycle and when.",
        responses={200: MLModelSerializer, 404: error_response(404)},
    ),
)
class MLModelViewSet(TenantViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    selector = models_for
    serializer_class = MLModelSerializer
    read_capability = Capability.USE_LAB
    read_refusal = LAB_REFUSAL
    write_capability = Capability.USE_LAB
    write_refusal = LAB_REFUSAL
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    @extend_schema(
        summary="Upload an ONNX model (multipart): checked, hashed and registered as a CANDIDATE.",
        request={"multipart/form-data": ModelUploadSerializer},
        responses={
            201: MLModelSerializer,
            400: error_response(400, "Not a safe ONNX model with the feature schema's input and outputs."),
            409: error_response(409, "A model of that name exists."),
        },
    )
    def create(self, request):
        form = ModelUploadSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        upload = data["file"]
        refuse_oversized(upload.size)  # before reading it
        model = services.model_upload(
            user=request.user,
            name=data["name"],
            version=data["version"],
            feature_schema_version=data["feature_schema_version"],
            data=upload.read(),
            description=data["description"],
        )
        return Response(
            MLModelSerializer(model, context=self.get_serializer_context()).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(
        summary="Move the model one step of its lifecycle (CANDIDATE, TESTING, GRADUATED, ENABLED, ARCHIVED).",
        request=ModelMoveRequestSerializer,
        responses={
            200: MLModelSerializer,
            400: error_response(400),
            404: error_response(404),
            409: error_response(409),
        },
    )
    @action(detail=True, methods=["post"])
    def move(self, request, pk=None):
        model = self.get_object()
        form = ModelMoveRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        model = services.model_move(user=request.user, model=model, **form.validated_data)
        return Response(MLModelSerializer(model, context=self.get_serializer_context()).data)

    @extend_schema(
        summary="Make this enabled model the active production model (super_admins).",
        request=ModelActivateRequestSerializer,
        responses={200: MLModelSerializer, 404: error_response(404), 409: error_response(409, "Not enabled.")},
    )
    @action(detail=True, methods=["post"])
    def activate(self, request, pk=None):
        model = self.get_object()
        form = ModelActivateRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        model = services.model_activate(user=request.user, model=model, note=form.validated_data["note"])
        return Response(MLModelSerializer(model, context=self.get_serializer_context()).data)


@extend_schema_view(
    list=extend_schema(summary="The optimizer's evaluations of your instances, newest first, with filters."),
    retrieve=extend_schema(
        summary="One evaluation with its candidates, features, thresholds and model.",
        responses={200: ExperimentDetailSerializer, 404: error_response(404)},
    ),
)
class ExperimentViewSet(TenantViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Tenant data: a customer sees its instances' evaluations, lab users LAB accounts', admins every tenant's."""

    selector = experiments_for
    serializer_class = ExperimentLogSerializer
    filterset_class = ExperimentFilterSet

    def get_queryset(self):
        return experiment_detail_for(self.request.user) if self.action == "retrieve" else super().get_queryset()

    def get_serializer_class(self):
        return ExperimentDetailSerializer if self.action == "retrieve" else ExperimentLogSerializer


def register(router) -> None:
    router.register("models", MLModelViewSet, basename="model")
    router.register("experiments", ExperimentViewSet, basename="experiment")
