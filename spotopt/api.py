"""API plumbing shared by every app: domain errors become 4xx/5xx answers with a message."""

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .errors import Conflict, DomainError, NotFound, PermissionRefused, ServiceUnavailable, TransitionNotAllowed

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


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        return Response({"detail": exc.message, "code": exc.code}, status=status_for(exc))
    return drf_exception_handler(exc, context)
