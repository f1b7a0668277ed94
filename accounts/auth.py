"""Sign-in throttling (django-axes) and the JWT sign-in endpoint.

How a lockout travels, for the three ways in:
- the sign-in page and the Django admin login: the axes backend (first in AUTHENTICATION_BACKENDS) refuses a
  locked username or IP inside `authenticate()`, axes' signal handler flags the request, and
  `axes.middleware.AxesMiddleware` swaps the view's answer for `lockout_response()` below (the sign-in page
  with the message, status 429);
- the JWT endpoint: simplejwt authenticates with DRF's Request, so the flag lands on that wrapper and the
  middleware never sees it; `TokenObtainPairView` checks the flag itself and answers the same JSON 429.

Every way in first maps the typed username to its stored spelling (accounts.signin.canonical_username).
"""

import math

from axes.helpers import get_client_ip_address, get_cool_off
from axes.utils import reset as axes_reset
from django.conf import settings
from django.contrib.auth import REDIRECT_FIELD_NAME, get_user_model
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.http import url_has_allowed_host_and_scheme
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.response import Response
from rest_framework_simplejwt import serializers as jwt_serializers
from rest_framework_simplejwt import views as jwt_views

from spotopt.api import error_response, is_api_request

from .forms import LoginForm
from .signin import INVALID_LOGIN_MESSAGE, canonical_username

LOCKED_OUT_CODE = "locked_out"
LOGIN_TEMPLATE = "accounts/login.html"


def lockout_message(request: HttpRequest | None = None) -> str:
    """The lockout message, e.g. "Too many failed sign-in attempts. Try again in 15 minutes." (AXES_COOLOFF_TIME)."""
    cool_off = get_cool_off(request)
    if not cool_off:
        return "Too many failed sign-in attempts. Ask an administrator to unlock your account."
    minutes = max(1, math.ceil(cool_off.total_seconds() / 60))
    return f"Too many failed sign-in attempts. Try again in {minutes} minute{'' if minutes == 1 else 's'}."


def _retry_after_seconds(request) -> int | None:
    cool_off = get_cool_off(request)
    return max(1, math.ceil(cool_off.total_seconds())) if cool_off else None


def _safe_next_url(request) -> str:
    candidate = request.POST.get(REDIRECT_FIELD_NAME) or request.GET.get(REDIRECT_FIELD_NAME) or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    # Locked out at the admin's own login page: come back to the admin after signing in.
    if request.path == reverse("admin:login"):
        return reverse("admin:index")
    return ""


def render_locked_out_sign_in(request, *, message: str):
    """The sign-in page with the lockout message, status 429.

    The form is fresh (no "wrong password" error: the password was not even checked) and keeps the
    username as typed; it posts to the sign-in page whichever page the attempt came from (e.g. the admin).
    """
    form = LoginForm(request, initial={"username": request.POST.get("username", "")[:150]})
    context = {"form": form, "lockout_message": message, "title": "Sign in", "next": _safe_next_url(request)}
    response = render(request, LOGIN_TEMPLATE, context, status=429)
    add_never_cache_headers(response)
    return response


def lockout_response(request, original_response=None, credentials=None) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: what a locked-out sign-in attempt gets (status 429).

    API paths get DRF-style JSON ({"detail", "code": "locked_out"}); everything else (the sign-in page, the
    admin login) gets the sign-in page with the message. The username shown back is the one typed, never
    the stored spelling (that would tell a stranger the account exists).
    """
    message = lockout_message(request)
    if is_api_request(request):
        response = JsonResponse({"detail": message, "code": LOCKED_OUT_CODE}, status=status.HTTP_429_TOO_MANY_REQUESTS)
    else:
        response = render_locked_out_sign_in(request, message=message)
    retry_after = _retry_after_seconds(request)
    if retry_after:
        response["Retry-After"] = str(retry_after)
    return response


# --- JWT ----------------------------------------------------------------------------------------------


class TokenObtainPairSerializer(jwt_serializers.TokenObtainPairSerializer):
    """simplejwt's pair serializer with case-insensitive usernames (one axes counter per person) and the
    product's sign-in failure message."""

    default_error_messages = {"no_active_account": INVALID_LOGIN_MESSAGE}

    def validate(self, attrs):
        attrs[self.username_field] = canonical_username(attrs[self.username_field])
        return super().validate(attrs)


# --- The token endpoints' schema: what they answer (simplejwt's serializers only describe what they take).
_TOKEN_PAIR = inline_serializer(
    "TokenPair",
    fields={
        "access": serializers.CharField(help_text="Send as `Authorization: Bearer <access>`; short-lived."),
        "refresh": serializers.CharField(help_text="Exchange at /api/v1/auth/token/refresh/; works once."),
    },
)
_TOKEN_REFUSED = error_response(401, "The refresh token is not valid: expired, already used, or signed out.")


@extend_schema_view(
    post=extend_schema(
        responses={
            200: _TOKEN_PAIR,
            401: error_response(401, "Wrong username or password, or the person may not sign in."),
            429: error_response(429, "Too many failed sign-in attempts (code locked_out): wait (Retry-After)."),
        }
    )
)
class TokenObtainPairView(jwt_views.TokenObtainPairView):
    """POST username + password -> {"refresh", "access"}; throttled by django-axes like the sign-in page.

    A locked-out username or IP gets 429 {"detail": "Too many failed sign-in attempts. ...", "code":
    "locked_out"} instead of the generic 401, and a successful sign-in clears the failures the way a page
    sign-in does (AXES_RESET_ON_SUCCESS).
    """

    serializer_class = TokenObtainPairSerializer

    def post(self, request, *args, **kwargs):
        try:
            response = super().post(request, *args, **kwargs)
        except AuthenticationFailed:
            # Set on DRF's Request by the axes backend (already locked) or its failure handler (this failure
            # reached the limit).
            if getattr(request, "axes_locked_out", False):
                return self._locked_out(request)
            raise
        if settings.AXES_RESET_ON_SUCCESS:
            username = request.data.get(get_user_model().USERNAME_FIELD, "")
            ip_address = getattr(request, "axes_ip_address", None) or get_client_ip_address(request)
            axes_reset(ip=ip_address, username=canonical_username(username), ip_or_username=True)
        return response

    def _locked_out(self, request) -> Response:
        headers = {}
        retry_after = _retry_after_seconds(request)
        if retry_after:
            headers["Retry-After"] = str(retry_after)
        return Response(
            {"detail": lockout_message(request), "code": LOCKED_OUT_CODE},
            status=status.HTTP_429_TOO_MANY_REQUESTS,
            headers=headers,
        )


class TokenRefreshSerializer(jwt_serializers.TokenRefreshSerializer):
    """simplejwt's refresh serializer; a token of a deleted user is a 401 (simplejwt 5.5.1 lets the
    DoesNotExist through: a 500)."""

    def validate(self, attrs):
        try:
            return super().validate(attrs)
        except get_user_model().DoesNotExist:
            raise AuthenticationFailed(self.error_messages["no_active_account"], "no_active_account") from None


@extend_schema_view(post=extend_schema(responses={200: _TOKEN_PAIR, 401: _TOKEN_REFUSED}))
class TokenRefreshView(jwt_views.TokenRefreshView):
    """POST {"refresh"} -> a new {"access", "refresh"}; the refresh token sent is blacklisted (a second use is
    401), and an inactive or deleted user's token is refused."""

    serializer_class = TokenRefreshSerializer


@extend_schema_view(
    post=extend_schema(
        responses={
            200: OpenApiResponse(
                {"type": "object", "additionalProperties": False}, description="Signed out: an empty object."
            ),
            401: _TOKEN_REFUSED,
        }
    )
)
class TokenBlacklistView(jwt_views.TokenBlacklistView):
    """POST {"refresh"}: signs an API client out (that refresh token no longer works)."""
