"""Limits on guessing passwords, for the login page, the admin and /api/auth/token/ alike.

Two rules, each with one owner:

- failed logins per username and client address: django-axes (its authentication backend and
  middleware, records in PostgreSQL, so every web process sees them). After
  INKLOOP_LOGIN_FAILURE_LIMIT failures the pair is refused for INKLOOP_LOGIN_COOLOFF_MINUTES,
  even with the right password; a success before that starts the count again.
- requests to /api/auth/token/ per client address: DRF's throttling (webapp.api.auth), counted
  in the shared cache (Redis), so spraying many usernames from one address is slowed too.

Both answer 429 with Retry-After. https://django-axes.readthedocs.io/en/latest/4_configuration.html
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse


def client_address(request: HttpRequest) -> str:
    """The caller's address: REMOTE_ADDR, or, behind INKLOOP_TRUSTED_PROXIES proxies, the address the
    outermost of them saw (written by them into X-Forwarded-For; what the client itself wrote there is
    further left and never read)."""
    proxies = settings.INKLOOP_TRUSTED_PROXIES
    if proxies:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR", "")


def cooloff_seconds() -> int:
    return int(settings.AXES_COOLOFF_TIME.total_seconds())


def lockout_message() -> str:
    minutes = max(1, round(cooloff_seconds() / 60))
    return (f"Too many failed logins for this username from your address: try again in {minutes} minute"
            f"{'s' if minutes != 1 else ''}, or reset your password.")


def lockout_response(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """What axes answers a locked-out login with (AXES_LOCKOUT_CALLABLE). A failure during the lockout
    starts the cool-off again, so the whole cool-off is the time to wait."""
    response = HttpResponse(lockout_message(), status=429, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(cooloff_seconds())
    return response
