"""Sign-in throttling (django-axes) and the JWT sign-in endpoint.

How a lockout travels, for the three ways in:
- the sign-in page and the Django admin login: the axes backend (first in AUTHENTICATION_BACKENDS) refuses a
  locked username or IP inside `authenticate()`, axes' signal handler flags the request, and
  `axes.middleware.AxesMiddleware` swaps the view's answer for `lockout_response()` below (the sign-in page
  with the message, status 429);
- the JWT endpoint: simplejwt authenticates with DRF's Request, so the flag lands on that wrapper and the
  middleware never sees it; `TokenObtainPairView` checks the flag itself and answers the same JSON 429.

Usernames are case-insensitive (accounts.models.UserManager), so every way in first maps the typed name to
one spelling (`canonical_username`): otherwise "Alice", "ALICE" and "alice" would each get their own
AXES_FAILURE_LIMIT tries.
"""

import math

from axes.helpers import get_client_ip_address, get_cool_off
from axes.utils import reset as axes_reset
from django.conf import settings
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework import status
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.response import Response
from rest_framework_simplejwt import serializers as jwt_serializers
from rest_framework_simplejwt import views as jwt_views

API_PATH_PREFIX = "/api/"
LOCKED_OUT_CODE = "locked_out"
# One message for the sign-in page, the admin and the API: it does not say which of the two was wrong, nor
# whether the account exists or is inactive.
INVALID_LOGIN_MESSAGE = "No active account matches that username and password. Passwords are case-sensitive."


def canonical_username(raw: str) -> str:
    """The stored spelling of `raw` (matched ignoring case), or `raw` lower-cased when no user has it."""
    stored = get_user_model().objects.filter(username__iexact=raw).values_list("username", flat=True).first()
    return stored if stored is not None else raw.lower()


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


def _is_api_request(request) -> bool:
    return request.path.startswith(API_PATH_PREFIX)


def lockout_response(request, original_response=None, credentials=None) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: what a locked-out sign-in attempt gets (status 429).

    API paths get DRF-style JSON ({"detail", "code": "locked_out"}); everything else (the sign-in page, the
    admin login) gets the sign-in page with the message. The username shown back is the one typed, never
    the stored spelling (that would tell a stranger the account exists).
    """
    message = lockout_message(request)
    if _is_api_request(request):
        response = JsonResponse({"detail": message, "code": LOCKED_OUT_CODE}, status=status.HTTP_429_TOO_MANY_REQUESTS)
    else:
        from .views import render_locked_out_sign_in  # the views import this module

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


class TokenRefreshView(jwt_views.TokenRefreshView):
    """POST {"refresh"} -> a new {"access", "refresh"}; the refresh token sent is blacklisted (a second use is
    401), and an inactive or deleted user's token is refused."""

    serializer_class = TokenRefreshSerializer


class TokenBlacklistView(jwt_views.TokenBlacklistView):
    """POST {"refresh"}: signs an API client out (that refresh token no longer works)."""
