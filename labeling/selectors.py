"""Reads for the Label Studio adapter."""

from __future__ import annotations

import hmac

from django.contrib.auth import get_user_model
from django.db.models import Max, QuerySet

from labeling.models import LabelStudioAccount, LabelStudioProject
from webapp.corpus.models import LineRevision, Page


def link_of(*, project_id: int) -> LabelStudioProject | None:
    return LabelStudioProject.objects.filter(project_id=project_id).select_related("project").first()


def ls_project_id_of(project_id: int) -> int | None:
    """The Label Studio project mirroring inkloop project `project_id`, for links from inkloop's pages."""
    return LabelStudioProject.objects.filter(project_id=project_id).values_list("ls_project_id", flat=True).first()


def link_by_ls_project(*, ls_project_id: int) -> LabelStudioProject | None:
    return LabelStudioProject.objects.filter(ls_project_id=ls_project_id).select_related("project").first()


def page_for_image(*, page_id: int, token: str) -> Page | None:
    """The page, if `token` is its project's current image token (compared in constant time)."""
    page = Page.objects.filter(pk=page_id).select_related("project__label_studio").first()
    link = getattr(page.project, "label_studio", None) if page is not None else None
    if link is None or not hmac.compare_digest(link.image_token.encode(), token.encode()):
        return None
    return page


def pages_without_task(*, project_id: int) -> QuerySet[Page]:
    return Page.objects.filter(project_id=project_id, label_studio_task__isnull=True).order_by("id")


def user_by_ls_id(*, ls_user_id: int | None):
    if ls_user_id is None:
        return None
    account = LabelStudioAccount.objects.filter(ls_user_id=ls_user_id).select_related("user").first()
    return account.user if account else None


def user_by_email(*, email: str):
    if not email:
        return None
    return get_user_model().objects.filter(email__iexact=email, is_active=True).order_by("id").first()


def latest_revision_id(*, page: Page) -> int:
    return LineRevision.objects.filter(page=page).aggregate(latest=Max("id"))["latest"] or 0


def revisions_since_sync(*, page: Page, revision_id: int, after) -> tuple[int, set[int]]:
    """From the page's revisions after the last sync (revision `revision_id`), in one query: the newest
    one's id (`revision_id` when there is none), and the lines changed in inkloop, not by applying Label
    Studio (which the sync covers), after `after`."""
    since = LineRevision.objects.filter(page=page, id__gt=revision_id).values_list("id", "line_id", "created_at")
    latest, edited = revision_id, set()
    for pk, line_id, created_at in since:
        latest = max(latest, pk)
        if line_id is not None and created_at > after:
            edited.add(line_id)
    return latest, edited
