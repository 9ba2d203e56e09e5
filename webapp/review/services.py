"""Writes that only the review UI makes. Everything else goes through the REST API's services."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from webapp.corpus.models import Line, LineRevision, LineSource, Page, RevisionAction
from webapp.corpus.services import LineConflict, page_status_refresh

ACCEPT_ACTIONS = (RevisionAction.UPDATE, RevisionAction.VERIFY)


def line_revert_last_accept(*, line_id: int, page: Page, user: AbstractBaseUser, expected_version: int) -> Line:
    """Undo `user`'s accept of a queue line: a REVERT revision restores the model's text and puts the
    line back into the review queue (unverified, model-made).

    Preconditions: the line is still at `expected_version` (LineConflict otherwise) and its newest
    revision is that person's accept. Undo never reaches past someone else's later edit.
    """
    with transaction.atomic():
        line = Line.objects.select_for_update().get(pk=line_id, page=page)
        if line.version != expected_version:
            raise LineConflict(line)
        last = LineRevision.objects.filter(line=line).order_by("-id").first()
        if last is None or last.action not in ACCEPT_ACTIONS or last.user_id != user.pk \
                or last.version != line.version:
            raise ValidationError("The last change to this line is not your accept, so there is nothing to undo.")
        if line.confidence is None:
            raise ValidationError("This line was never a model suggestion; undo applies to review-queue accepts.")
        accepted_text = line.text
        line.text = last.old_text if last.old_text is not None else line.text
        line.version += 1
        line.source = LineSource.MODEL
        line.verified_by = None
        line.verified_at = None
        line.save()
        LineRevision.objects.create(
            page=page, line=line, line_ref=line.pk, action=RevisionAction.REVERT, user=user,
            old_text=accepted_text, new_text=line.text, old_geometry=line.geometry(),
            new_geometry=line.geometry(), version=line.version)
        page_status_refresh(page=page)
    return line
