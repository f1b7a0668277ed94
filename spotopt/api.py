"""API plumbing shared by every app: one error body, one router, one schema convention.

- Every error of the API is JSON `{"detail": "…", "code": "…"}` (validation errors add `"errors"`: the
  messages by field), whoever raised it: a service's DomainError, DRF (404, 405, 415, 429 …) or Django
  itself before DRF runs (an unknown path, a body over the size limit, a crash), see `api_error_response`.
- The router has no format-suffix routes (`…/approve.json/`): the API speaks JSON, chosen by Accept.
- The schema documents, on every operation, the error statuses it can answer: ProductAutoSchema adds what
  the framework answers, the actions declare what only their services know (`error_response`).
"""

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, JsonResponse
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema_field
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
    # Django's own 404 and 403 (get_object_or_404, PermissionDenied) as DRF's, so they get a code too; a 404
    # says "Not found." like every other 404 of the API, never "No Account matches the given query.".
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(*exc.args)
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


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {
            "oneOf": [
                {"type": "array", "items": {"type": "string"}},
                {"type": "object", "description": "A list's or a nested field's messages, by index or by field."},
            ]
        },
    }
)
class FieldErrorsField(serializers.DictField):
    """The messages by field: a list of messages, or for a list or nested field the messages by index/field."""


class ErrorSerializer(serializers.Serializer):
    """Every error of the API: a message for the person and a stable code for programs."""

    detail = serializers.CharField()
    code = serializers.CharField()
    errors = FieldErrorsField(required=False, help_text="Validation errors only: the messages by field.")


ERROR_DESCRIPTIONS = {
    "400": "Invalid input, or a request the product refuses: the message says which field or why.",
    "401": "Not signed in, or the credentials were not accepted.",
    "403": "Your role may not do this.",
    "404": "No such object among those you may see.",
    "409": "Conflict: the object is not in a state that allows this (the message says why).",
    "413": "The request body is too large.",
    "415": "The body is not in a format the API reads (JSON; forms for the browsable API).",
    "429": "Too many requests: wait and try again (Retry-After).",
    "503": "AWS could not be reached; try again later.",
}


def error_response(status_code: int, description: str = "") -> OpenApiResponse:
    """An error answer for `@extend_schema(responses={...})`, with the error body: the statuses a service
    answers that ProductAutoSchema cannot see (a conflict, a refusal of an action without a body)."""
    return OpenApiResponse(ErrorSerializer, description=description or ERROR_DESCRIPTIONS[str(status_code)])


class ProductAutoSchema(AutoSchema):
    """Adds to every operation the error statuses the framework answers, each with the error body:

    - 401 always (the API needs a signed-in user; the token endpoints answer 401 for wrong credentials);
    - 400 where there is a request body or query parameters (a paginated list's page_size among them);
    - 403 on writes (the role matrix, a service's policy, CSRF for session sign-in) except on the public
      token endpoints, and on reads of views that need a `read_capability`;
    - 404 on paths with an id, and on paginated lists (a cursor the list did not give out);
    - 413 and 415 where there is a request body;
    - 429 where the view throttles that method (its `get_throttles()`);
    - 503 on the actions that call AWS (the view's `aws_actions`).

    What only a service knows (409 conflicts, a 400 refusal of an action without a body, a 404 of a view
    without an id) is declared on the action: `@extend_schema(responses={200: ..., 409: error_response(409)})`.
    """

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code, description in self._error_statuses().items():
            if code not in responses:
                responses[code] = self._get_response_for_code(
                    OpenApiResponse(ErrorSerializer, description=description), code, direction=direction
                )
        return dict(sorted(responses.items()))

    def _is_public(self) -> bool:
        """The token endpoints take anyone (no permission classes)."""
        permissions = self.view.permission_classes
        return not permissions or any(getattr(permission, "__name__", "") == "AllowAny" for permission in permissions)

    def _has_request_body(self) -> bool:
        return self.method in ("POST", "PUT", "PATCH") and self.get_request_serializer() is not None

    def _has_query_parameters(self) -> bool:
        return bool(self._get_filter_parameters()) or any(
            not isinstance(parameter, OpenApiParameter) or parameter.location == OpenApiParameter.QUERY
            for parameter in self.get_override_parameters()
        )

    def _is_paginated_list(self) -> bool:
        return self.method == "GET" and self._is_list_view() and self._get_paginator() is not None

    def _is_throttled(self) -> bool:
        try:
            return bool(self.view.get_throttles())
        except Exception:  # a view whose throttles need more of the request than the schema's mock has
            return bool(getattr(self.view, "throttle_classes", ()))

    def _error_statuses(self) -> dict[str, str]:
        view, method = self.view, self.method
        codes = {"401"}
        if self._has_request_body() or self._has_query_parameters() or self._is_paginated_list():
            codes.add("400")
        if method in SAFE_METHODS:
            if getattr(view, "read_capability", None):
                codes.add("403")
        elif not self._is_public():
            codes.add("403")
        if "{" in self.path or self._is_paginated_list():
            codes.add("404")
        if self._has_request_body():
            codes |= {"413", "415"}
        if self._is_throttled():
            codes.add("429")
        if getattr(view, "action", None) in getattr(view, "aws_actions", ()):
            codes.add("503")
        descriptions = {**ERROR_DESCRIPTIONS}
        if self._is_paginated_list():
            descriptions["404"] = "No such page."
        return {code: descriptions[code] for code in sorted(codes)}
