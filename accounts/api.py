"""API of accounts and onboarding: /api/v1/accounts/ and /api/v1/onboarding/…"""

from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from spotopt.tenancy import CapabilityPermission, TenantScopedViewSetMixin

from . import cloudformation, services
from .filters import AccountFilterSet
from .models import Account
from .roles import Capability
from .selectors import account_progress
from .serializers import (
    AccessKeysSerializer,
    AccountSerializer,
    AccountUpdateSerializer,
    OnboardingSerializer,
    PendingAccountCreateSerializer,
    VerifyRoleSerializer,
)


def onboarding_details(*, account: Account, request) -> dict:
    """The CloudFormation step of a pending account: External ID, template links, quick-create link."""
    template_url = reverse("onboarding-template", args=[account.pk])
    return {
        "account": account,
        "external_id": account.external_id,
        "platform_principal_arn": cloudformation.platform_principal(),
        "template_json_url": request.build_absolute_uri(f"{template_url}?output=json"),
        "template_yaml_url": request.build_absolute_uri(f"{template_url}?output=yaml"),
        "quick_create_url": cloudformation.quick_create_url_for_account(account=account),
        "role_arn_example": cloudformation.role_arn_for("123456789012", cloudformation.role_name()),
    }


class AccountViewSet(
    TenantScopedViewSetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Connected AWS accounts. Customers see their own; admins every tenant's; lab users LAB accounts."""

    queryset = Account.objects.select_related("user").order_by("account_name", "created_at")
    serializer_class = AccountSerializer
    filterset_class = AccountFilterSet
    permission_classes = [CapabilityPermission]
    write_capability = Capability.MANAGE_ACCOUNTS

    @extend_schema(request=AccountUpdateSerializer, responses=AccountSerializer)
    def partial_update(self, request, *args, **kwargs):
        """Rename, change the environment type, or choose the regions to scan."""
        account = self.get_object()
        form = AccountUpdateSerializer(data=request.data, partial=True)
        form.is_valid(raise_exception=True)
        account = services.account_update(user=request.user, account=account, **form.validated_data)
        return Response(AccountSerializer(account).data)

    def perform_destroy(self, instance):
        services.account_delete(user=self.request.user, account=instance)

    @extend_schema(request=None, responses=AccountSerializer)
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        """Try a failed account again (re-verify the role or re-check the keys)."""
        account = services.account_retry(user=request.user, account=self.get_object())
        return Response(AccountSerializer(account).data)


class OnboardingViewSet(TenantScopedViewSetMixin, viewsets.GenericViewSet):
    """Connecting an AWS account: by CloudFormation role (create -> template -> verify) or by access keys."""

    queryset = Account.objects.select_related("user")
    serializer_class = AccountSerializer
    permission_classes = [CapabilityPermission]
    write_capability = Capability.CONNECT_ACCOUNTS
    throttle_scope = "onboarding"

    def get_throttles(self):
        from rest_framework.throttling import ScopedRateThrottle

        return [ScopedRateThrottle()] if self.request.method == "POST" else []

    @extend_schema(request=PendingAccountCreateSerializer, responses={201: OnboardingSerializer})
    @action(detail=False, methods=["post"], url_path="create")
    def create_pending(self, request):
        """Step 1: a pending account with a server-generated External ID."""
        form = PendingAccountCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        account = services.account_create_pending(user=request.user, **form.validated_data)
        details = onboarding_details(account=account, request=request)
        return Response(OnboardingSerializer(details).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[OpenApiParameter("output", enum=["json", "yaml"], default="json")],
        responses={(200, "application/json"): dict, (200, "application/x-yaml"): str},
    )
    @action(detail=True, methods=["get"])
    def template(self, request, pk=None):
        """Step 2: the CloudFormation template with this account's External ID (JSON or YAML download)."""
        account = self.get_object()
        output = request.query_params.get("output", "json")
        if output not in ("json", "yaml") or account.connection_method != "iam_role" or not account.external_id:
            return Response(
                {"detail": "The template is for role-connected accounts, as ?output=json or ?output=yaml."},
                status=status.HTTP_400_BAD_REQUEST,
            )
        text, content_type = cloudformation.template_text_for_account(account=account, output=output)
        response = HttpResponse(text, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="spotopt-{account.external_id}.{output}"'
        return response

    @extend_schema(request=VerifyRoleSerializer, responses=AccountSerializer)
    @action(detail=True, methods=["post"])
    def verify(self, request, pk=None):
        """Step 3: the Role ARN from the stack's outputs; the role is assumed with the External ID."""
        form = VerifyRoleSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        account = services.account_verify_role(
            user=request.user, account=self.get_object(), role_arn=form.validated_data["role_arn"]
        )
        return Response(AccountSerializer(account).data)

    @extend_schema(request=AccessKeysSerializer, responses={200: AccountSerializer, 201: AccountSerializer})
    @action(detail=False, methods=["post"], url_path="connect/credentials")
    def connect_credentials(self, request):
        """Method 2: access keys, checked with STS and stored encrypted. 409 if another user has the account."""
        form = AccessKeysSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        account, created = services.account_connect_access_keys(user=request.user, **form.validated_data)
        return Response(
            AccountSerializer(account).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )

    @extend_schema(methods=["GET"], request=None, responses=dict)
    @extend_schema(methods=["POST"], request=None, responses={202: dict})
    @action(detail=True, methods=["get", "post"])
    def discovery(self, request, pk=None):
        """GET: status and discovery progress (what the onboarding page polls). POST: discover again."""
        account = self.get_object()
        if request.method == "POST":
            services.account_discovery_queue(user=request.user, account=account)
            account.refresh_from_db()
            return Response(account_progress(account), status=status.HTTP_202_ACCEPTED)
        return Response(account_progress(account))


def register(router) -> None:
    router.register("accounts", AccountViewSet, basename="account")
    router.register("onboarding", OnboardingViewSet, basename="onboarding")
