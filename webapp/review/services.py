"""Writes that only the review UI makes. Everything else goes through the REST API's services."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from webapp.corpus.models import Line, LineRevision, Page, RevisionAction
from webapp.corpus.services import LineConflict, line_revert

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
        return line_revert(line=line, page=page, user=user,
                           text=last.old_text if last.old_text is not None else line.text)
