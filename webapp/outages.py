"""When PostgreSQL is away: 503 with Retry-After, in JSON for API clients, instead of a 500 page.

A database error reaches here from any view (DRF re-raises what it does not handle) or from the
lazy session and user lookups the views trigger. The request wrote nothing, since nothing could
be written, so the client may safely retry after the pause. The connection is closed so the next
request opens a new one instead of reusing the broken one.
"""

from __future__ import annotations

import logging

from django.db import InterfaceError, OperationalError, connection
from django.http import HttpResponse, JsonResponse
from django.views.defaults import server_error as html_server_error

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 30
# Paths whose clients are programs: they get JSON errors, never an HTML page.
MACHINE_PREFIXES = ("/api/", "/ml/", "/labeling/")


def speaks_json(request) -> bool:
    return request.path.startswith(MACHINE_PREFIXES)


class DatabaseOutageMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, (OperationalError, InterfaceError)):
            return None
        logger.error("database unavailable during %s %s: %s", request.method, request.path, exception)
        connection.close()
        message = "The database is unavailable; nothing was changed. Try again in a moment."
        if speaks_json(request):
            response = JsonResponse({"detail": message}, status=503)
        else:
            response = HttpResponse(message, status=503, content_type="text/plain; charset=utf-8")
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response


def server_error(request, *args, **kwargs):
    """handler500: JSON for API clients, Django's page for people (with DEBUG off; DEBUG shows its own)."""
    if speaks_json(request):
        return JsonResponse({"detail": "Internal server error; it has been logged."}, status=500)
    return html_server_error(request, *args, **kwargs)


def not_found(request, exception=None):
    """handler404 for API clients; people get Django's page."""
    from django.views.defaults import page_not_found

    if speaks_json(request):
        return JsonResponse({"detail": "Not found."}, status=404)
    return page_not_found(request, exception)
