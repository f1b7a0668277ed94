"""API plumbing shared by every app: one error body, one router, one schema convention.

- Every error of the API is JSON `{"detail": "…", "code": "…"}` (validation errors add `"errors"`: the
  messages by field), whoever raised it: a service's DomainError, DRF (404, 405, 415, 429 …) or Django
  itself before DRF runs (an unknown path, a body over the size limit, a crash), see `api_error_response`.
- The router has no format-suffix routes (`…/approve.json/`): the API speaks JSON, chosen by Accept.
- The schema documents, on every operation, the error statuses it can answer (ProductAutoSchema).
"""

from django.conf import settings
from django.http import JsonResponse
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import SAFE_METHODS
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter
from rest_framework.views import exception_handler as drf_exception_handler

from .errors import Conflict, DomainError, NotFound, PermissionRefused, ServiceUnavailable, TransitionNotAllowed

API_PATH_PREFIX = "/api/"

_STATUS_BY_ERROR = [
    (NotFound, status.HTTP_404_NOT_FOUND),
    (PermissionRefused, status.HTTP_403_FORBIDDEN),
    (Conflict, status.HTTP_409_CONFLICT),
    (TransitionNotAllowed, status.HTTP_409_CONFLICT),
    (ServiceUnavailable, status.HTTP_503_SERVICE_UNAVAILABLE),
]


def status_for(error: DomainError) -> int:
    for error_class, http_status in _STATUS_BY_ERROR:
        if isinstance(error, error_class):
            return http_status
    return status.HTTP_400_BAD_REQUEST


def _first_code(codes) -> str:
    """DRF's codes come as a string, or a list/dict of them (validation errors): the first one."""
    if isinstance(codes, dict):
        codes = next(iter(codes.values()), "invalid")
    if isinstance(codes, list):
        return _first_code(codes[0]) if codes else "invalid"
    return str(codes)


def _messages(detail, prefix="") -> list[str]:
    if isinstance(detail, dict):
        return [message for key, value in detail.items() for message in _messages(value, f"{prefix}{key}: ")]
    if isinstance(detail, list):
        return [message for value in detail for message in _messages(value, prefix)]
    return [f"{prefix}{detail}"]


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        return Response({"detail": exc.message, "code": exc.code}, status=status_for(exc))
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # not an API error: Django's handler500 answers (as JSON on API paths)
    if isinstance(exc, exceptions.ValidationError):
        errors = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        response.data = {
            "detail": "Invalid input: " + " ".join(_messages(errors)),
            "code": _first_code(exc.get_codes()),
            "errors": errors,
        }
    elif isinstance(exc, exceptions.APIException):
        detail = exc.detail
        if isinstance(detail, dict) and "detail" in detail:  # raised with {"detail", "code"} already
            response.data = {"detail": str(detail["detail"]), "code": str(detail.get("code", exc.default_code))}
        else:
            response.data = {"detail": " ".join(_messages(detail)), "code": _first_code(exc.get_codes())}
    return response


def is_api_request(request) -> bool:
    return request.path.startswith(API_PATH_PREFIX)


def api_error_response(*, detail: str, code: str, status_code: int) -> JsonResponse:
    return JsonResponse({"detail": detail, "code": code}, status=status_code)


class RequestSizeLimitMiddleware:
    """API requests whose body is over settings.DATA_UPLOAD_MAX_MEMORY_SIZE get a 413 JSON answer before
    anything reads them (DRF's parsers read the stream directly, past Django's own limit)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if limit is not None and length > limit and is_api_request(request):
            return api_error_response(
                detail=f"The request body is {length:,} bytes; the API takes at most {limit:,}.",
                code="request_too_large",
                status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            )
        return self.get_response(request)


class ApiRouter(DefaultRouter):
    """/api/v1/: no format-suffix routes (a custom action's `approve.json/` form answered 500 before)."""

    include_format_suffixes = False


# --- The schema -----------------------------------------------------------------------------------------


class ErrorSerializer(serializers.Serializer):
    """Every error of the API: a message for the person and a stable code for programs."""

    detail = serializers.CharField()
    code = serializers.CharField()
    errors = serializers.DictField(
        required=False,
        help_text="Validation errors only: the messages by field.",
        child=serializers.ListField(child=serializers.CharField()),
    )


class ProductAutoSchema(AutoSchema):
    """Adds to every operation the error statuses it can answer, each with the error body:

    401 always (the API needs a signed-in user); 400 where the operation takes a body or query
    parameters; 403 on writes (the role matrix) and on actions whose service checks a policy; 404 on
    one-object paths, and on lists (a page past the end); 409 on writes; 413 and 415 where there is a
    body; 429 where the view is throttled; 503 where the view calls AWS (`aws_actions`)."""

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code, description in self._error_statuses().items():
            if code not in responses:
                responses[code] = self._get_response_for_code(
                    OpenApiResponse(ErrorSerializer, description=description), code, direction=direction
                )
        return responses

    def _error_statuses(self) -> dict[str, str]:
        view, method = self.view, self.method
        # The token endpoints take anyone (no permission classes): no role check, but sign-in throttling.
        public = not view.permission_classes or any(
            getattr(permission, "__name__", "") == "AllowAny" for permission in view.permission_classes
        )
        errors = {"401": "Not signed in, or the credentials were not accepted."}
        has_body = method in ("POST", "PUT", "PATCH")
        if has_body or self._get_filter_parameters() or self.get_override_parameters():
            errors["400"] = "Invalid input: the message says which field and why."
        if method not in SAFE_METHODS and not public:
            errors["403"] = "Your role may not do this."
            errors["409"] = "Conflict: the object is not in a state that allows this (the message says why)."
        if "{" in self.path:
            errors["404"] = "No such object among those you may see."
        elif self._is_list_view():
            errors["404"] = "No such page."
        if has_body:
            errors["413"] = "The request body is too large."
            errors["415"] = "The body must be JSON."
        if getattr(view, "throttle_scope", None) or public:
            errors["429"] = "Too many requests (or sign-in attempts): wait and try again (Retry-After)."
        if getattr(view, "action", None) in getattr(view, "aws_actions", ()):
            errors["503"] = "AWS could not be reached; try again later."
        return errors
