"""Refuse requests carrying a NUL character in their path, query string or headers, before any view.

PostgreSQL cannot store or compare text containing NUL, so such a value reaching a query (a search,
a filter, a token lookup) would fail deep inside it as a 500. No field of this application accepts a
NUL, so one check here answers every route with a 400 that says why. Request bodies are left to the
serializers: DRF's CharField already refuses NUL with the field's name.
"""

from __future__ import annotations

from urllib.parse import unquote_plus

from django.http import JsonResponse


class RefuseNulMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        where = _nul_in(request)
        if where:
            return JsonResponse({"detail": f"The request's {where} contains a NUL character, which nothing here "
                                           f"accepts."}, status=400)
        return self.get_response(request)


def _nul_in(request) -> str | None:
    if "\x00" in request.path:
        return "path"
    if "\x00" in unquote_plus(request.META.get("QUERY_STRING", "")):
        return "query string"
    for key, value in request.META.items():
        if (key.startswith("HTTP_") or key == "CONTENT_TYPE") and isinstance(value, str) and "\x00" in value:
            return f"{key.removeprefix('HTTP_').replace('_', '-').title()} header"
    return None
