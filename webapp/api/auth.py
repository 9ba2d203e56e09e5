"""POST /api/auth/token/: a username and password for the user's API token, rate-limited.

Fetching a token is a login: it sends `user_logged_in`, as Django's login view does, so open
invitations are fulfilled (webapp.projects.receivers) and the last login is recorded.
"""

from __future__ import annotations

from django.contrib.auth.signals import user_logged_in
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import Throttled
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle

from webapp.api.schema import ErrorOut
from webapp.login_limits import client_address, cooloff_seconds, lockout_message


class TokenRequestThrottle(SimpleRateThrottle):
    """Requests per client address (REST_FRAMEWORK's DEFAULT_THROTTLE_RATES["auth_token"]), in the shared cache."""

    scope = "auth_token"

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": client_address(request)}


class TokenOut(serializers.Serializer):
    token = serializers.CharField(help_text="Send it as `Authorization: Token <token>`.")


class TokenApi(ObtainAuthToken):
    throttle_classes = [TokenRequestThrottle]

    @extend_schema(request=AuthTokenSerializer, responses={
        200: TokenOut, 429: OpenApiResponse(ErrorOut, description="Too many requests or failed logins; see "
                                                                    "the Retry-After header.")})
    def post(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        valid = serializer.is_valid()
        # django-axes refused the username and address (it marks the request): not a wrong password but a lockout.
        if getattr(request, "axes_locked_out", False):
            raise Throttled(wait=cooloff_seconds(), detail=lockout_message())
        if not valid:
            serializer.is_valid(raise_exception=True)
        user = serializer.validated_data["user"]
        user_logged_in.send(sender=user.__class__, request=request._request, user=user)
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})
