"""API of Kubernetes: /api/v1/clusters/ (list, detail, register a self-managed cluster, remove it, check it)
and /api/v1/node-drains/ (every drain with its timeline, filters as on the page). Another tenant's cluster or
drain is a 404; registering, checking and removing need a role that manages accounts."""

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from accounts.roles import Capability
from accounts.selectors import accounts_for
from spotopt.api import error_response
from spotopt.tenancy import TenantViewSet

from . import services
from .filters import DrainFilterSet
from .selectors import clusters_for, drains_for
from .serializers import ClusterRegisterSerializer, ClusterSerializer, DrainSerializer


@extend_schema_view(
    list=extend_schema(
        summary="The Kubernetes clusters of your accounts: EKS ones found by discovery, registered ones."
    ),
    retrieve=extend_schema(summary="One cluster.", responses={200: ClusterSerializer, 404: error_response(404)}),
    destroy=extend_schema(
        summary="Remove a registered cluster (and its token). EKS clusters go with discovery.",
        responses={204: None, 400: error_response(400), 403: error_response(403), 404: error_response(404)},
    ),
)
class ClusterViewSet(TenantViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin):
    selector = clusters_for
    serializer_class = ClusterSerializer
    write_capability = Capability.MANAGE_ACCOUNTS
    write_refusal = "Only those who manage an account register, check or remove its clusters."

    @extend_schema(
        summary="Register a self-managed cluster: API URL, CA and a service-account token (checked at once).",
        request=ClusterRegisterSerializer,
        responses={
            201: ClusterSerializer,
            400: error_response(400),
            403: error_response(403),
            404: error_response(404, "Not one of your accounts."),
        },
    )
    def create(self, request):
        form = ClusterRegisterSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = dict(form.validated_data)
        account = accounts_for(request.user).filter(pk=data.pop("account")).first()
        if account is None:
            raise NotFound("That account is not one of yours.")
        cluster = services.cluster_register(user=request.user, account=account, **data)
        return Response(ClusterSerializer(cluster).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        services.cluster_delete(user=self.request.user, cluster=instance)

    @extend_schema(
        summary="Reach the cluster now and ask it whether spotopt may drain (SelfSubjectAccessReview).",
        request=None,
        responses={200: OpenApiResponse(ClusterSerializer, description="Its state and, when not, what to grant.")},
    )
    @action(detail=True, methods=["post"])
    def check(self, request, pk=None):
        cluster = services.cluster_check(cluster=self.get_object())
        return Response(ClusterSerializer(cluster).data)


@extend_schema_view(
    list=extend_schema(summary="Node drains on your accounts, newest first (taint, cordon, evictions, what was left)."),
    retrieve=extend_schema(
        summary="One drain with its timeline.", responses={200: DrainSerializer, 404: error_response(404)}
    ),
)
class DrainViewSet(TenantViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    selector = drains_for
    serializer_class = DrainSerializer
    filterset_class = DrainFilterSet


def register(router) -> None:
    router.register("clusters", ClusterViewSet, basename="kube-cluster")
    router.register("node-drains", DrainViewSet, basename="kube-drain")
