"""Label Studio authenticates with a shared secret: a header on webhooks, basic auth on the ML backend.

Both compare in constant time against LABEL_STUDIO_WEBHOOK_SECRET.
"""

from __future__ import annotations

import base64
import hmac

from django.conf import settings
from rest_framework.permissions import BasePermission

from labeling.services.provisioning import ML_BACKEND_USER, SECRET_HEADER


def _matches(given: str, expected: str) -> bool:
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


class HasWebhookSecret(BasePermission):
    message = "A missing or wrong webhook secret."

    def has_permission(self, request, view) -> bool:
        return _matches(request.headers.get(SECRET_HEADER, ""), settings.LABEL_STUDIO_WEBHOOK_SECRET)


class HasMlBackendCredentials(BasePermission):
    """Basic auth as Label Studio's ML-backend settings send it (user `inkloop`, password the secret)."""

    message = "Label Studio's ML-backend credentials are missing or wrong."

    def has_permission(self, request, view) -> bool:
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except ValueError:  # not base64 (binascii.Error), non-ASCII in the header, or not UTF-8 inside
            return False
        # Both compared, always, so the time taken says nothing about which one was wrong.
        user_ok = _matches(user, ML_BACKEND_USER)
        password_ok = _matches(password, settings.LABEL_STUDIO_WEBHOOK_SECRET)
        return user_ok and password_ok
