"""Platform-level endpoints: the health check, and the error pages Django itself answers with (an unknown
URL, a refused or malformed request, a crash): the product's own pages, or JSON on API paths."""

from django.db import connection
from django.http import JsonResponse
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import requires_csrf_token
from django.views.decorators.http import require_GET

from .api import api_error_response, is_api_request


@never_cache
@require_GET
def healthz(request):
    """200 when the database answers; 503 otherwise. Says nothing about tenants or configuration."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:  # any database failure means "not healthy"
        return JsonResponse({"status": "unavailable", "database": "down"}, status=503)
    return JsonResponse({"status": "ok", "database": "up"})


@requires_csrf_token
def bad_request(request, exception):
    if is_api_request(request):
        return api_error_response(detail="The request could not be read.", code="bad_request", status_code=400)
    return defaults.bad_request(request, exception)


@requires_csrf_token
def permission_denied(request, exception):
    if is_api_request(request):
        detail = str(exception) or "You may not do this."
        return api_error_response(detail=detail, code="permission_denied", status_code=403)
    return defaults.permission_denied(request, exception)


@requires_csrf_token
def page_not_found(request, exception):
    if is_api_request(request):
        return api_error_response(detail="Not found.", code="not_found", status_code=404)
    return defaults.page_not_found(request, exception)


@requires_csrf_token
def server_error(request):
    if is_api_request(request):
        return api_error_response(
            detail="Something went wrong on our side; it has been logged. Try again later.",
            code="server_error",
            status_code=500,
        )
    return defaults.server_error(request)
