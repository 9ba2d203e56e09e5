"""The review UI's own reads and writes, without a browser: the queue cursor and undo of an accept."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from tests.webapp.conftest import png_bytes
from webapp.corpus.models import Line, LineRevision, LineSource, RevisionAction
from webapp.corpus.services import LineConflict, line_update, pages_upload
from webapp.projects.models import Role, Strategy
from webapp.review.selectors import queue_batch
from webapp.review.services import line_revert_last_accept

pytestmark = pytest.mark.django_db


@pytest.fixture
def suggestions(project, manager):
    """Twelve unverified model lines on one page; confidences repeat so the cursor must break ties by id."""
    page = pages_upload(project=project, user=manager, files=[("p.png", png_bytes(400, 400))])[0].page
    return [Line.objects.create(page=page, project=project, x0=0, y0=index * 30, x1=300, y1=index * 30 + 20,
                                order=index, text=f"model {index}", source=LineSource.MODEL,
                                confidence=(index % 4) / 4)
            for index in range(12)]


@pytest.mark.parametrize("strategy", [Strategy.LEAST_CONFIDENCE, Strategy.RANDOM])
def test_the_queue_cursor_walks_every_line_once_even_while_lines_are_accepted(project, manager, suggestions, strategy):
    project.strategy = strategy
    project.save()
    seen, after = [], None
    while batch := queue_batch(project=project, after_line_id=after, limit=5):
        seen += [line.pk for line in batch]
        after = batch[-1].pk
        line_update(line_id=batch[0].pk, page=batch[0].page, user=manager, expected_version=batch[0].version)
    assert sorted(seen) == sorted(line.pk for line in suggestions)


def test_undo_restores_the_model_text_and_puts_the_line_back_in_the_queue(project, manager, suggestions):
    line = suggestions[0]
    accepted = line_update(line_id=line.pk, page=line.page, user=manager, expected_version=1, text="fixed")
    reverted = line_revert_last_accept(line_id=line.pk, page=line.page, user=manager,
                                       expected_version=accepted.version)
    assert (reverted.text, reverted.source, reverted.is_verified, reverted.version) == (
        "model 0", LineSource.MODEL, False, 3)
    revision = LineRevision.objects.filter(line=line).last()
    assert (revision.action, revision.old_text, revision.new_text) == (RevisionAction.REVERT, "fixed", "model 0")
    assert line.pk in [queued.pk for queued in queue_batch(project=project, after_line_id=None, limit=20)]


def test_undo_never_reaches_past_someone_elses_edit(project, manager, member, suggestions):
    line = suggestions[0]
    mine = line_update(line_id=line.pk, page=line.page, user=manager, expected_version=1)
    theirs = line_update(line_id=line.pk, page=line.page, user=member(Role.ANNOTATOR), expected_version=mine.version,
                         text="their text")
    with pytest.raises(LineConflict):
        line_revert_last_accept(line_id=line.pk, page=line.page, user=manager, expected_version=mine.version)
    with pytest.raises(ValidationError):
        line_revert_last_accept(line_id=line.pk, page=line.page, user=manager, expected_version=theirs.version)
    assert Line.objects.get(pk=line.pk).text == "their text"


def test_label_studio_link_only_when_the_page_has_a_task_and_a_resolver_is_registered(settings, suggestions,
                                                                                      monkeypatch):
    from webapp.review import links

    page = suggestions[0].page
    settings.LABEL_STUDIO_URL = "https://ls.example.org"
    monkeypatch.setattr(links, "_resolver", None)
    page.ls_task_id = 77
    assert links.label_studio_task_url(page) is None  # labeling has not registered its resolver
    links.register_ls_project_resolver(lambda project_id: 5 if project_id == page.project_id else None)
    assert links.label_studio_task_url(page) == "https://ls.example.org/projects/5/data?task=77"
    page.ls_task_id = None
    assert links.label_studio_task_url(page) is None
    settings.LABEL_STUDIO_URL = ""
    page.ls_task_id = 77
    assert links.label_studio_task_url(page) is None


def test_password_reset_mails_a_link(client, manager, mailoutbox):
    manager.email = "lead@example.org"
    manager.save()
    response = client.post("/accounts/password_reset/", {"email": "lead@example.org"})
    assert response.status_code == 302 and len(mailoutbox) == 1
    assert "/accounts/reset/" in mailoutbox[0].body
