"""Label Studio's entry points into inkloop: webhooks, the ML-backend protocol, task images.

Thin: authenticate, hand the body to a service, map its errors to 4xx.
"""

from __future__ import annotations

import logging

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from labeling.authentication import HasMlBackendCredentials, HasWebhookSecret
from labeling.client import LabelStudioUnavailable
from labeling.selectors import page_for_image
from labeling.services import ml_backend
from labeling.services.webhooks import MalformedPayload, UnknownTask, webhook_receive
from webapp.api import pages
from webapp.corpus.models import Page

logger = logging.getLogger(__name__)


class LabelStudioApi(APIView):
    """No session or token: Label Studio proves itself with the shared secret (see authentication.py),
    and a wrong one is a 403 (DRF answers 403, not 401, when a view has no authenticators)."""

    authentication_classes: list = []
    schema = None  # Label Studio's protocol, not part of inkloop's public API schema


class WebhookApi(LabelStudioApi):
    permission_classes = [HasWebhookSecret]

    def post(self, request):
        try:
            event = webhook_receive(payload=request.data)
        except MalformedPayload as error:
            return Response({"detail": str(error)}, status=status.HTTP_400_BAD_REQUEST)
        except UnknownTask as error:
            return Response({"detail": str(error)}, status=status.HTTP_404_NOT_FOUND)
        except LabelStudioUnavailable as error:  # looking up the annotator failed; reconciliation applies it later
            return Response({"detail": str(error)}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        return Response({"event": event.pk, "outcome": event.outcome or "duplicate delivery"})


class MlHealthApi(LabelStudioApi):
    permission_classes = [HasMlBackendCredentials]

    def get(self, request):
        return Response({"status": "UP", "model_class": "inkloop"})


class MlSetupApi(LabelStudioApi):
    permission_classes = [HasMlBackendCredentials]

    def post(self, request):
        try:
            project = ml_backend.project_of(project_uid=request.data.get("project"))
        except ml_backend.UnknownProject as error:
            return Response({"detail": str(error)}, status=status.HTTP_404_NOT_FOUND)
        return Response({"model_version": ml_backend.model_version(project=project)})


class MlPredictApi(LabelStudioApi):
    permission_classes = [HasMlBackendCredentials]

    def post(self, request):
        tasks = request.data.get("tasks")
        if not isinstance(tasks, list):
            return Response({"detail": "tasks must be a list."}, status=status.HTTP_400_BAD_REQUEST)
        try:
            project = ml_backend.project_of(project_uid=request.data.get("project"))
        except ml_backend.UnknownProject as error:
            return Response({"detail": str(error)}, status=status.HTTP_404_NOT_FOUND)
        return Response({"results": ml_backend.predict_tasks(project=project, tasks=tasks)})


class MlWebhookApi(LabelStudioApi):
    permission_classes = [HasMlBackendCredentials]

    def post(self, request):
        if request.data.get("action") != "START_TRAINING":
            return Response({"status": "ignored"})
        project_id = (request.data.get("project") or {}).get("id") if isinstance(request.data.get("project"), dict) \
            else request.data.get("project")
        try:
            project = ml_backend.project_of(project_uid=project_id)
        except ml_backend.UnknownProject as error:
            return Response({"detail": str(error)}, status=status.HTTP_404_NOT_FOUND)
        return Response(ml_backend.training_start(project=project))


class PageImageApi(pages.PageImageApi):
    """A task's image. The project's image token in the URL is the credential (revocable, not expiring)."""

    schema = None
    refusal = "This image link is invalid or was revoked."

    def page_from_url(self, *, token: str, page_id: int) -> Page | None:
        return page_for_image(page_id=page_id, token=token)
