"""The OpenAPI schema says what every operation can answer, errors included.

drf-spectacular documents the success responses each view declares; this adds the error answers
every route can give, in the one error shape of `webapp/api/errors.py` ({"detail", "errors"?}):
- 400: the input was refused (the reason in `detail`);
- 401 / 403: not authenticated / not allowed (role, or another project's resource);
- 404: nothing of that id in the caller's projects (also a malformed id);
- 503: the database is unavailable (with Retry-After), see `webapp/outages.py`.
Operations that throttle (429) or answer conflicts (409) declare those themselves.
`schemathesis` checks, in the test suite, that no response falls outside what the schema says.
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination

ERROR_CODES = {
    "400": "The input was refused; `detail` says why and `errors` which field.",
    "401": "Not authenticated: send a token (Authorization: Token …) or a session cookie.",
    "403": "Authenticated, but not allowed: `detail` names the role needed.",
    "404": "Nothing with that id among your projects.",
    "503": "The database is unavailable; nothing was changed. Retry after the Retry-After seconds.",
}


class ErrorOut(serializers.Serializer):
    detail = serializers.CharField(help_text="What was wrong, in words.")
    errors = serializers.DictField(required=False, help_text="Per field, when the input was refused.")


class ConflictOut(serializers.Serializer):
    """What a 409 says: why, and what is there now (when a stale version was refused)."""

    detail = serializers.CharField()
    current = serializers.JSONField(required=False, help_text="The current state, to apply the edit to again.")
    stale_ids = serializers.ListField(child=serializers.IntegerField(), required=False)


class InkloopAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for code, description in ERROR_CODES.items():
            if code not in responses:
                responses[code] = {**self._get_response_for_code(ErrorOut, code, direction=direction),
                                   "description": description}
        return responses


_PAGINATED: dict[str, type[serializers.Serializer]] = {}


def paginated(serializer_class: type[serializers.Serializer], *, results=None,
              name: str | None = None) -> type[serializers.Serializer]:
    """The body of a paginated list of `serializer_class` items (or of the `results` field given), as
    PageNumberPagination answers it."""
    name = name or f"Paginated{serializer_class.__name__}List"
    if name not in _PAGINATED:
        _PAGINATED[name] = type(name, (serializers.Serializer,), {
            "count": serializers.IntegerField(help_text="Items in all pages."),
            "next": serializers.URLField(allow_null=True, help_text="The next page, or null on the last."),
            "previous": serializers.URLField(allow_null=True, help_text="The previous page, or null on the first."),
            "results": results if results is not None else serializer_class(many=True),
            "__module__": __name__,
        })
    return _PAGINATED[name]


class StrictPageNumberPagination(PageNumberPagination):
    """PageNumberPagination whose `page_size` must be a whole number from 1 to max_page_size (400 otherwise):
    DRF's silently falls back to the default size, so a client asking for 1,000 gets 50 and thinks it has all."""

    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_size(self, request):
        raw = request.query_params.getlist(self.page_size_query_param)
        if not raw:
            return self.page_size
        if len(raw) > 1 or not raw[0].isdigit() or not 1 <= int(raw[0]) <= self.max_page_size:
            raise ValidationError({self.page_size_query_param: f"A whole number from 1 to {self.max_page_size}."})
        return int(raw[0])


# The query parameters of every paginated list (PageNumberPagination with page_size_query_param).
PAGE_PARAMETERS = [
    OpenApiParameter("page", int, description="A page number (from 1); past the last page is a 404."),
    OpenApiParameter("page_size", int, description="Items per page (at most 500)."),
]
