"""Review-queue data: CREMMA projects whose lines look like a model's pre-annotation."""

from __future__ import annotations

from django.contrib.auth import get_user_model

from webapp.corpus.models import Line, LineSource, Page, Split
from webapp.corpus.services import page_status_refresh
from webapp.projects.models import Membership, Project

PASSWORD = "a-long-test-password"


def user_with_password(username: str):
    return get_user_model().objects.create_user(username=username, password=PASSWORD)


def add_member(project: Project, username: str, role: str):
    user = user_with_password(username)
    Membership.objects.create(project=project, user=user, role=role)
    return user


def suggest_lines(project: Project) -> list[Line]:
    """Turn the train pages' verified lines into unverified model suggestions with confidences,
    as pre-annotation would leave them; returns them in review-queue order."""
    lines = list(Line.objects.filter(project=project, page__split=Split.TRAIN).order_by("page_id", "order"))
    for index, line in enumerate(lines):
        line.source = LineSource.MODEL
        line.verified_at = None
        line.verified_by = None
        line.confidence = round(0.30 + 0.6 * ((index * 37) % 101) / 100, 4)
        # Every fifth character uncertain, so the highlighting has something to show.
        line.char_confidences = [0.4 if position % 5 == 0 else 0.97 for position in range(len(line.text))]
        line.model_version = "detector-baseline+recognizer-v0"
    Line.objects.bulk_update(lines, ["source", "verified_at", "verified_by", "confidence", "char_confidences",
                                     "model_version"])
    for page in Page.objects.filter(project=project):
        page_status_refresh(page=page)
    return sorted(lines, key=lambda line: (line.confidence, line.pk))
