"""API of accounts and onboarding: /api/v1/accounts/ and /api/v1/onboarding/…"""

from django.http import HttpResponse
from django.utils.cache import add_never_cache_headers
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle

from spotopt.api import error_response
from spotopt.errors import DomainError, NotFound
from spotopt.tenancy import TenantViewSet

from . import cloudformation, services, teams
from .filters import AccountFilterSet
from .models import Account, Team
from .roles import Capability
from .selectors import account_progress, accounts_for, open_invitations, team_members
from .serializers import (
    AccessKeysOnlySerializer,
    AccessKeysSerializer,
    AccountProgressSerializer,
    AccountSerializer,
    AccountUpdateSerializer,
    CloudFormationTemplateSerializer,
    OnboardingSerializer,
    PendingAccountCreateSerializer,
    TeamInvitationCreatedSerializer,
    TeamInvitationCreateSerializer,
    TeamInvitationSerializer,
    TeamMemberSerializer,
    TeamRenameSerializer,
    TeamSerializer,
    VerifyRoleSerializer,
)

# Statuses the services answer that the schema cannot see (spotopt.api.ProductAutoSchema adds the rest).
_OWNED_ELSEWHERE = error_response(
    409, "The AWS account is connected by another customer, or was just connected by another request."
)
_TEMPLATE = OpenApiResponse(
    CloudFormationTemplateSerializer, description="The template, as JSON or (?output=yaml) the same document as YAML."
)


class AccountViewSet(TenantViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin):
    """Connected AWS accounts. Customers see their team's; admins every tenant's; lab users LAB accounts."""

    selector = accounts_for
    serializer_class = AccountSerializer
    filterset_class = AccountFilterSet
    write_capability = Capability.MANAGE_ACCOUNTS
    aws_actions = ("retry",)

    @extend_schema(request=AccountUpdateSerializer, responses=AccountSerializer)
    def partial_update(self, request, *args, **kwargs):
        """Rename, change the environment type, choose the regions to scan, or change the account's settings
        (instance types, waste, optimizer). A field left out stays as it is; null on an optimizer threshold
        puts back the installation's default."""
        account = self.get_object()
        form = AccountUpdateSerializer(data=request.data, partial=True)
        form.is_valid(raise_exception=True)
        account = services.account_update(user=request.user, account=account, **form.validated_data)
        return Response(AccountSerializer(account).data)

    def perform_destroy(self, instance):
        services.account_delete(user=self.request.user, account=instance)

    @extend_schema(
        request=None,
        responses={
            200: AccountSerializer,
            400: error_response(400, "Only a failed or pending account is retried, and a role account needs its ARN."),
            409: _OWNED_ELSEWHERE,
        },
    )
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        """Try a failed account again (re-verify the role or re-check the keys)."""
        account = services.account_retry(user=request.user, account=self.get_object())
        return Response(AccountSerializer(account).data)


class OutputChosenByQuery(DefaultContentNegotiation):
    """The template's format is `?output=`, whatever the Accept header says (an `Accept: application/x-yaml`
    has no DRF renderer; the action writes the file itself). Errors are still JSON."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class OnboardingViewSet(TenantViewSet):
    """Connecting an AWS account: by CloudFormation role (create -> template -> verify) or by access keys."""

    model = Account
    serializer_class = AccountSerializer
    write_capability = Capability.CONNECT_ACCOUNTS
    throttle_scope = "onboarding"
    # The CloudFormation template needs the platform's identity (STS) too; discovery is only queued.
    aws_actions = ("create_pending", "template", "verify", "connect_credentials", "credentials")

    def get_throttles(self):
        return [ScopedRateThrottle()] if self.request.method == "POST" else []

    @extend_schema(request=PendingAccountCreateSerializer, responses={201: OnboardingSerializer})
    @action(detail=False, methods=["post"], url_path="create")
    def create_pending(self, request):
        """Step 1: a pending account with a server-generated External ID."""
        form = PendingAccountCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        account = services.account_create_pending(user=request.user, **form.validated_data)
        details = cloudformation.onboarding_details(account=account, request=request)
        return Response(OnboardingSerializer(details).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[
            OpenApiParameter("output", enum=["json", "yaml"], default="json"),
            OpenApiParameter(
                "Content-Disposition",
                location=OpenApiParameter.HEADER,
                response=[200],
                description='attachment; filename="spotopt-<external id>.<output>"',
            ),
        ],
        responses={
            (200, "application/json"): _TEMPLATE,
            (200, "application/x-yaml"): _TEMPLATE,
            400: error_response(400, "Not a role-connected account, or an output other than json or yaml."),
        },
    )
    @action(detail=True, methods=["get"], content_negotiation_class=OutputChosenByQuery)
    def template(self, request, pk=None):
        """Step 2: the CloudFormation template with this account's External ID (JSON or YAML download)."""
        account = self.get_object()
        output = request.query_params.get("output", "json")
        if output not in ("json", "yaml") or account.connection_method != "iam_role" or not account.external_id:
            raise DomainError(
                "The template is for role-connected accounts, as ?output=json or ?output=yaml.", code="no_template"
            )
        text, content_type = cloudformation.template_text_for_account(account=account, output=output)
        response = HttpResponse(text, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="spotopt-{account.external_id}.{output}"'
        return response

    @extend_schema(request=VerifyRoleSerializer, responses={200: AccountSerializer, 409: _OWNED_ELSEWHERE})
    @action(detail=True, methods=["post"])
    def verify(self, request, pk=None):
        """Step 3: the Role ARN from the stack's outputs; the role is assumed with the External ID."""
        form = VerifyRoleSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        account = services.account_verify_role(
            user=request.user, account=self.get_object(), role_arn=form.validated_data["role_arn"]
        )
        return Response(AccountSerializer(account).data)

    @extend_schema(
        request=AccessKeysSerializer, responses={200: AccountSerializer, 201: AccountSerializer, 409: _OWNED_ELSEWHERE}
    )
    @action(detail=False, methods=["post"], url_path="connect/credentials")
    def connect_credentials(self, request):
        """Method 2: access keys, checked with STS and stored encrypted. 409 if another user has the account."""
        form = AccessKeysSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        account, created = services.account_connect_access_keys(user=request.user, **form.validated_data)
        return Response(
            AccountSerializer(account).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )

    @extend_schema(request=AccessKeysOnlySerializer, responses={200: AccountSerializer, 409: _OWNED_ELSEWHERE})
    @action(detail=True, methods=["post"])
    def credentials(self, request, pk=None):
        """A pending CloudFormation account, connected with access keys instead (its External ID is dropped).
        When the team already has the keys' AWS account, that one is answered and the placeholder removed."""
        form = AccessKeysOnlySerializer(data=request.data)
        form.is_valid(raise_exception=True)
        account = services.account_connect_pending_with_keys(
            user=request.user, account=self.get_object(), **form.validated_data
        )
        return Response(AccountSerializer(account).data)

    @extend_schema(methods=["GET"], request=None, responses=AccountProgressSerializer)
    @extend_schema(
        methods=["POST"],
        request=None,
        responses={
            202: AccountProgressSerializer,
            400: error_response(400, "Discovery needs a connected (or active) account."),
        },
    )
    @action(detail=True, methods=["get", "post"])
    def discovery(self, request, pk=None):
        """GET: status and discovery progress (what the onboarding page polls). POST: discover again."""
        account = self.get_object()
        if request.method == "POST":
            services.account_discovery_queue(user=request.user, account=account)
            account.refresh_from_db()
            return Response(account_progress(account), status=status.HTTP_202_ACCEPTED)
        return Response(account_progress(account))


# --- Teams ------------------------------------------------------------------------------------------------

TEAMS_ARE_FOR_CUSTOMERS = "Teams are for customers; operators see every tenant by role."
_NO_TEAM = error_response(404, "You are not in a team (a client of a team has to invite you).")


class TeamViewSet(TenantViewSet):
    """Your team: its name and members (GET), rename it (PATCH, clients). /api/v1/team/"""

    read_capability = Capability.VIEW_TEAM
    read_refusal = TEAMS_ARE_FOR_CUSTOMERS
    write_capability = Capability.MANAGE_TEAM
    write_refusal = "Only the team's clients rename the team."
    serializer_class = TeamSerializer

    def get_queryset(self):
        return Team.objects.filter(pk=getattr(self.request.user, "team_id", None))

    def _team(self, request):
        if request.user.team_id is None:
            raise NotFound("You are not in a team: a client of a team has to invite you.")
        return request.user.team

    @extend_schema(responses={200: TeamSerializer, 404: _NO_TEAM})
    def retrieve(self, request):
        return Response(TeamSerializer(self._team(request), context={"request": request}).data)

    @extend_schema(request=TeamRenameSerializer, responses={200: TeamSerializer, 404: _NO_TEAM})
    def partial_update_team(self, request):
        self._team(request)
        form = TeamRenameSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        team = teams.team_rename(user=request.user, name=form.validated_data["name"])
        return Response(TeamSerializer(team, context={"request": request}).data)


@extend_schema_view(
    destroy=extend_schema(
        responses={
            204: None,
            400: error_response(400, "You cannot remove yourself (another client of the team can)."),
        }
    )
)
class TeamMemberViewSet(TenantViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin):
    """The members of your team; DELETE takes one out of the team (clients; not yourself)."""

    selector = team_members
    serializer_class = TeamMemberSerializer
    read_capability = Capability.VIEW_TEAM
    read_refusal = TEAMS_ARE_FOR_CUSTOMERS
    write_capability = Capability.MANAGE_TEAM
    write_refusal = "Only the team's clients remove members."

    def perform_destroy(self, member):
        teams.team_member_remove(user=self.request.user, member=member)


@extend_schema_view(
    destroy=extend_schema(responses={204: None, 409: error_response(409, "The invitation is no longer pending.")})
)
class TeamInvitationViewSet(TenantViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin):
    """Your team's open invitations; POST invites (the answer carries the link, once); DELETE withdraws."""

    selector = open_invitations
    serializer_class = TeamInvitationSerializer
    read_capability = Capability.MANAGE_TEAM
    read_refusal = "Only the team's clients see and send invitations."
    write_capability = Capability.MANAGE_TEAM
    write_refusal = "Only the team's clients see and send invitations."

    @extend_schema(
        request=TeamInvitationCreateSerializer,
        responses={
            201: TeamInvitationCreatedSerializer,
            409: error_response(409, "That person is already a member of your team."),
        },
    )
    def create(self, request):
        form = TeamInvitationCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        invitation, link = teams.team_invitation_create(user=request.user, **form.validated_data)
        data = {**TeamInvitationSerializer(invitation).data, "link": link}
        response = Response(data, status=status.HTTP_201_CREATED)
        add_never_cache_headers(response)  # the answer holds the link: no cache may keep it
        return response

    def perform_destroy(self, invitation):
        teams.team_invitation_revoke(user=self.request.user, invitation=invitation)


def register(router) -> None:
    router.register("accounts", AccountViewSet, basename="account")
    router.register("onboarding", OnboardingViewSet, basename="onboarding")
    router.register("team/members", TeamMemberViewSet, basename="team-member")
    router.register("team/invitations", TeamInvitationViewSet, basename="team-invitation")


# One object (the user's team), so GET is `retrieve`: not a list, not paginated.
team_view = TeamViewSet.as_view({"get": "retrieve", "patch": "partial_update_team"})
