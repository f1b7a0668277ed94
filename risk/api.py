"""API of the hive and the interruption events: /api/v1/risk/…

- `pools/`: the hive's memory of every Spot pool, readable by every signed-in user (global knowledge, no
  word of who was interrupted); `pools/{id}/lift/` for super_admins.
- `events/`, `held/`, `rejected/`: tenant data, scoped like every list (another tenant's row is a 404);
  releasing or dismissing a held event is for super_admins.
- `channels/`: how each account's events reach spotopt (the listener's health, the webhook secret's
  existence); `channels/{account_id}/rotate-secret/` makes a new webhook secret, shown once.
- `events/ingest/`: the webhook for EventBridge API destinations, authenticated by the account's secret
  in `X-SpotOpt-Event-Secret` (no user, no session, so no CSRF), throttled per client address.
"""

from django.contrib.auth.models import AnonymousUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.authentication import BaseAuthentication
from rest_framework.decorators import action
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.generics import get_object_or_404
from rest_framework.parsers import BaseParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle

from accounts.roles import Capability
from accounts.selectors import accounts_for
from spotopt.api import error_response
from spotopt.tenancy import TenantViewSet

from . import services
from .choices import IngestChannel
from .filters import HeldEventFilterSet, RejectedIngestFilterSet, RiskEventFilterSet, SpotPoolFilterSet
from .models import EventChannel
from .selectors import events_for, held_events_for, pools_for, rejected_for
from .serializers import (
    EventChannelSerializer,
    HeldDecisionSerializer,
    HeldEventSerializer,
    IngestResponseSerializer,
    PoolLiftRequestSerializer,
    RejectedIngestSerializer,
    RiskEventDetailSerializer,
    RiskEventSerializer,
    SpotPoolSerializer,
    WebhookSecretSerializer,
)

WEBHOOK_SECRET_HEADER = "X-SpotOpt-Event-Secret"
HIVE_REFUSAL = "Only super_admins overrule the hive: it is every tenant's shared memory."


class WebhookSecretAuthentication(BaseAuthentication):
    """The webhook's caller is an account, not a person: its secret in the header names it. `request.auth`
    is the account; a missing or unknown secret is a 401 with a challenge naming the header."""

    def authenticate(self, request):
        account = services.account_for_webhook_secret(request.headers.get(WEBHOOK_SECRET_HEADER))
        if account is None:
            raise AuthenticationFailed(
                f"Send the account's webhook secret in the {WEBHOOK_SECRET_HEADER} header.", code="not_authenticated"
            )
        return AnonymousUser(), account

    def authenticate_header(self, request):
        return WEBHOOK_SECRET_HEADER


class WebhookSecretScheme(OpenApiAuthenticationExtension):
    """The webhook's security scheme in the OpenAPI schema: an API key in a header."""

    target_class = "risk.api.WebhookSecretAuthentication"
    name = "eventWebhookSecret"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": WEBHOOK_SECRET_HEADER}


class RawBodyParser(BaseParser):
    """The webhook reads its body itself (risk.events.decode_body), whatever the content type says."""

    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None):
        return stream.read() if stream is not None else b""


@extend_schema_view(
    list=extend_schema(summary="Spot pools the hive knows, poisoned ones first (filters: poisoned, region, …)."),
    retrieve=extend_schema(summary="One Spot pool.", responses={200: SpotPoolSerializer, 404: error_response(404)}),
)
class SpotPoolViewSet(TenantViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """The hive: every tenant's memory of interrupted pools. Any signed-in user reads it; only super_admins
    lift a poison early (with a reason, kept in `lifts`)."""

    selector = pools_for
    serializer_class = SpotPoolSerializer
    filterset_class = SpotPoolFilterSet
    write_capability = Capability.MANAGE_HIVE
    write_refusal = HIVE_REFUSAL

    @extend_schema(
        summary="Lift a poison before it expires (super_admin), saying why.",
        request=PoolLiftRequestSerializer,
        responses={
            200: OpenApiResponse(SpotPoolSerializer, description="The pool, no longer poisoned."),
            404: error_response(404),
            409: error_response(409, "The pool is not poisoned."),
        },
    )
    @action(detail=True, methods=["post"])
    def lift(self, request, pk=None):
        pool = self.get_object()
        form = PoolLiftRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        pool = services.pool_poison_lift(pool=pool, user=request.user, reason=form.validated_data["reason"])
        return Response(SpotPoolSerializer(pool).data)


@extend_schema_view(
    list=extend_schema(summary="Interruption events of your accounts, newest first, with filters."),
    retrieve=extend_schema(
        summary="One interruption event, with the EventBridge JSON as received.",
        responses={200: RiskEventDetailSerializer, 404: error_response(404)},
    ),
)
class RiskEventViewSet(TenantViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Interruption warnings and rebalance recommendations of the user's accounts (every tenant's for
    admins), each with what it did to the hive (`outcome`)."""

    selector = events_for
    serializer_class = RiskEventSerializer
    filterset_class = RiskEventFilterSet
    throttle_scope = None  # the ingest action's: "risk_ingest"

    def get_serializer_class(self):
        return RiskEventDetailSerializer if self.action == "retrieve" else RiskEventSerializer

    @extend_schema(
        summary="Webhook for EventBridge API destinations: one EventBridge event or a JSON array of up to 100.",
        description=(
            f"Authenticated by the account's webhook secret in the `{WEBHOOK_SECRET_HEADER}` header (an "
            "EventBridge connection of type API key with that header name). Each event's `account` must be "
            "the secret's AWS account. Every event is stored once (a redelivery is a `duplicate`), or rejected "
            "with its reason (kept for the account to see). 200 when at least one event was accepted (each "
            "event's fate in `results`), 400 when none was (EventBridge does not retry a 400; `code` is the "
            "first event's reason, `errors` every event's by its place), 401 without a valid secret."
        ),
        request={"application/json": OpenApiTypes.OBJECT},
        responses={
            200: OpenApiResponse(IngestResponseSerializer, description="What became of each event."),
            400: error_response(400, "No event was accepted: the reasons, by the event's place in the body."),
            401: error_response(401, f"No valid {WEBHOOK_SECRET_HEADER} header."),
        },
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="ingest",
        authentication_classes=[WebhookSecretAuthentication],
        permission_classes=[AllowAny],
        parser_classes=[RawBodyParser],
        throttle_classes=[ScopedRateThrottle],
        throttle_scope="risk_ingest",
    )
    def ingest(self, request):
        account = request.auth  # WebhookSecretAuthentication
        results = services.risk_events_ingest(
            body=request.data, channel=IngestChannel.WEBHOOK, account=account, react=services.REACT_QUEUED
        )
        counts = {name: sum(1 for r in results if r.status == name) for name in ("stored", "duplicate", "rejected")}
        if not counts["stored"] + counts["duplicate"]:
            # Nothing accepted: the API's error body, each event's reason by its place in the body.
            first = results[0]
            detail = f"No event was accepted: {first.message}" + (
                f" (and {len(results) - 1} more rejected)" if len(results) > 1 else ""
            )
            errors = {str(n): [f"{r.reason}: {r.message}"] for n, r in enumerate(results)}
            return Response(
                {"detail": detail, "code": first.reason or "event_rejected", "errors": errors},
                status=status.HTTP_400_BAD_REQUEST,
            )
        return Response({**counts, "results": [result.as_dict() for result in results]})


@extend_schema_view(
    list=extend_schema(summary="Termination warnings held for review (a tenant over its hourly poison limit)."),
    retrieve=extend_schema(summary="One held event.", responses={200: HeldEventSerializer, 404: error_response(404)}),
)
class HeldEventViewSet(TenantViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Warnings stored but not yet trusted to poison a pool for everybody. A tenant sees its own; a
    super_admin releases one (it poisons now) or dismisses it."""

    selector = held_events_for
    serializer_class = HeldEventSerializer
    filterset_class = HeldEventFilterSet
    write_capability = Capability.MANAGE_HIVE
    write_refusal = HIVE_REFUSAL

    def _decide(self, request, decide):
        held = self.get_object()
        form = HeldDecisionSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        decide(held=held, user=request.user, note=form.validated_data["note"])
        return Response(HeldEventSerializer(self.get_queryset().get(pk=held.pk)).data)

    @extend_schema(
        summary="Release a held warning: it poisons its pool now (super_admin).",
        request=HeldDecisionSerializer,
        responses={200: HeldEventSerializer, 404: error_response(404), 409: error_response(409, "Already decided.")},
    )
    @action(detail=True, methods=["post"])
    def release(self, request, pk=None):
        return self._decide(request, services.held_event_release)

    @extend_schema(
        summary="Dismiss a held warning: it never poisons (super_admin).",
        request=HeldDecisionSerializer,
        responses={200: HeldEventSerializer, 404: error_response(404), 409: error_response(409, "Already decided.")},
    )
    @action(detail=True, methods=["post"])
    def dismiss(self, request, pk=None):
        return self._decide(request, services.held_event_dismiss)


@extend_schema_view(
    list=extend_schema(summary="Messages and webhook calls that could not be ingested, with the reason."),
    retrieve=extend_schema(
        summary="One rejected ingest.", responses={200: RejectedIngestSerializer, 404: error_response(404)}
    ),
)
class RejectedIngestViewSet(TenantViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    selector = rejected_for
    serializer_class = RejectedIngestSerializer
    filterset_class = RejectedIngestFilterSet


def channels_for(user):
    return EventChannel.objects.for_user(user).select_related("account").order_by("account__account_name", "account_id")


@extend_schema_view(
    list=extend_schema(summary="How each of your accounts' interruption events reach spotopt."),
    retrieve=extend_schema(
        summary="One account's event channel (by the account's id).",
        responses={200: EventChannelSerializer, 404: error_response(404)},
    ),
)
class EventChannelViewSet(TenantViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    selector = channels_for
    serializer_class = EventChannelSerializer
    pagination_class = None  # one row per account of the user's: bounded like the accounts list
    lookup_field = "account"
    lookup_url_kwarg = "account_id"
    lookup_value_regex = "[0-9a-fA-F-]{36}"
    write_capability = Capability.MANAGE_ACCOUNTS
    write_refusal = "Read-only users cannot create webhook secrets."

    @extend_schema(
        summary="Make a new webhook secret for the account (the old one stops working); shown only here.",
        request=None,
        responses={201: WebhookSecretSerializer, 404: error_response(404)},
    )
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, account_id=None):
        account = get_object_or_404(accounts_for(request.user), pk=account_id)
        secret = services.event_webhook_secret_rotate(account=account, user=request.user)
        channel = EventChannel.objects.get(account=account)
        body = {"secret": secret, "header": WEBHOOK_SECRET_HEADER, "created_at": channel.webhook_secret_created_at}
        response = Response(WebhookSecretSerializer(body).data, status=status.HTTP_201_CREATED)
        response["Cache-Control"] = "no-store"
        return response


def register(router) -> None:
    router.register("risk/pools", SpotPoolViewSet, basename="risk-pool")
    router.register("risk/events", RiskEventViewSet, basename="risk-event")
    router.register("risk/held", HeldEventViewSet, basename="risk-held")
    router.register("risk/rejected", RejectedIngestViewSet, basename="risk-rejected")
    router.register("risk/channels", EventChannelViewSet, basename="risk-channel")
