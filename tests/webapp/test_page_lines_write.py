"""page_lines_write: one person's changes to many lines of a page at once, as a Label Studio
annotation brings them. Line by line the same history as line_create, line_update and
line_delete, in a number of queries that does not grow with the lines created or deleted."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from tests.webapp.conftest import png_bytes
from webapp.corpus import services
from webapp.corpus.lines import LineData
from webapp.corpus.models import Line, LineRevision, LineSource, PageStatus, RevisionAction
from webapp.projects.models import Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def page(project, manager):
    """A 400x1000 page."""
    return services.pages_upload(project=project, user=manager, files=[("page.png", png_bytes(400, 1000))])[0].page


@dataclass
class Predicted:
    """A line as a model predicted it (what page_model_lines_replace takes)."""

    bbox: tuple[int, int, int, int]
    text: str
    confidence: float = 0.5
    polygon: list | None = None
    char_confidences: list = field(default_factory=list)


def new_lines(count: int, *, text: str = "ligne") -> list[LineData]:
    return [LineData(bbox=(10, 10 + 30 * index, 390, 35 + 30 * index), text=f"{text} {index}",
                     ls_region_id=f"r{index}") for index in range(count)]


def written(page, user, **changes) -> tuple[list[LineRevision], int]:
    """page_lines_write under the locks it asks its caller to hold (the page's and its lines'), and the
    queries it made."""
    with transaction.atomic():
        locked_page = type(page).objects.select_for_update().select_related("project").get(pk=page.pk)
        list(Line.objects.select_for_update().filter(page=page))
        with CaptureQueriesContext(connection) as queries:
            revisions = services.page_lines_write(page=locked_page, user=user, **changes)
    return revisions, len(queries)


def test_lines_are_created_after_the_last_with_their_history(page, manager, member):
    annotator = member(Role.ANNOTATOR)
    first = services.line_create(page=page, user=manager, data=LineData(bbox=(10, 900, 390, 930), text="avant"))

    revisions, _ = written(page, annotator, create=new_lines(2))

    lines = list(Line.objects.filter(page=page).order_by("order"))
    assert [(line.text, line.order, line.ls_region_id) for line in lines] == [
        ("avant", first.order, None), ("ligne 0", first.order + 1, "r0"), ("ligne 1", first.order + 2, "r1")]
    assert all((line.version, line.source, line.verified_by) == (1, LineSource.HUMAN, annotator)
               for line in lines[1:])
    assert [(r.action, r.line_id, r.user, r.new_text, r.version) for r in revisions] == [
        (RevisionAction.CREATE, lines[1].pk, annotator, "ligne 0", 1),
        (RevisionAction.CREATE, lines[2].pk, annotator, "ligne 1", 1)]
    assert LineRevision.objects.filter(line__in=lines[1:]).count() == 2


def test_changed_lines_are_updated_unchanged_ones_verified_and_deleted_ones_keep_history(page, manager, member):
    annotator = member(Role.ANNOTATOR)
    services.page_model_lines_replace(page=page, model_label="recognizer-v1", lines=[
        Predicted(bbox=(10, 10 + 30 * index, 390, 35 + 30 * index), text=f"lu {index}") for index in range(3)])
    changed, accepted, removed = Line.objects.filter(page=page).order_by("order")
    page.refresh_from_db()
    assert page.status == PageStatus.PREDICTED

    revisions, _ = written(page, annotator, update=[
        (changed, LineData(bbox=changed.bbox, text="corrigé", polygon=[[10, 10], [390, 10], [390, 35]])),
        (accepted, LineData(bbox=accepted.bbox, text=accepted.text))], delete=[removed])

    changed.refresh_from_db()
    accepted.refresh_from_db()
    assert (changed.text, changed.version, changed.source, changed.verified_by) == (
        "corrigé", 2, LineSource.HUMAN, annotator)
    assert changed.polygon == [[10, 10], [390, 10], [390, 35]]
    # Accepted as the model read it: verified by the person, still the model's line.
    assert (accepted.text, accepted.version, accepted.source, accepted.verified_by) == (
        "lu 1", 2, LineSource.MODEL, annotator)
    assert not Line.objects.filter(pk=removed.pk).exists()
    assert [(r.action, r.line_ref, r.old_text, r.new_text, r.version) for r in revisions] == [
        (RevisionAction.UPDATE, changed.pk, "lu 0", "corrigé", 2),
        (RevisionAction.VERIFY, accepted.pk, "lu 1", "lu 1", 2),
        (RevisionAction.DELETE, removed.pk, "lu 2", None, 2)]
    # The deleted line's history stays, detached from it.
    assert list(LineRevision.objects.filter(line_ref=removed.pk).values_list("action", "line_id")) == [
        (RevisionAction.CREATE, None), (RevisionAction.DELETE, None)]
    page.refresh_from_db()
    assert page.status == PageStatus.DONE


def test_a_line_that_fails_the_checks_refuses_the_whole_write(page, manager):
    kept = services.line_create(page=page, user=manager, data=LineData(bbox=(10, 10, 390, 35), text="gardé"))
    outside = LineData(bbox=(10, 990, 390, 1200), text="hors de la page")

    with pytest.raises(ValidationError, match="outside"):
        written(page, manager, create=new_lines(2) + [outside], delete=[kept])

    assert list(Line.objects.filter(page=page).values_list("text", flat=True)) == ["gardé"]
    assert LineRevision.objects.filter(page=page).count() == 1


@pytest.mark.parametrize("action", ["create", "delete"])
def test_the_queries_do_not_grow_with_the_lines_created_or_deleted(project, manager, action):
    counts = {}
    for count in (3, 30):
        page = services.pages_upload(project=project, user=manager,
                                     files=[(f"page-{count}.png", png_bytes(400, 1000, shade=100 + count))])[0].page
        if action == "create":
            _, counts[count] = written(page, manager, create=new_lines(count))
        else:
            written(page, manager, create=new_lines(count))
            _, counts[count] = written(page, manager, delete=list(Line.objects.filter(page=page)))
            assert not Line.objects.filter(page=page).exists()
        assert LineRevision.objects.filter(page=page).count() == count * (1 if action == "create" else 2)
    assert counts[3] == counts[30]


def test_updating_one_line_of_many_costs_the_same_as_of_few(project, manager):
    counts = {}
    for count in (3, 30):
        page = services.pages_upload(project=project, user=manager,
                                     files=[(f"page-{count}.png", png_bytes(400, 1000, shade=100 + count))])[0].page
        written(page, manager, create=new_lines(count))
        line = Line.objects.filter(page=page).first()
        _, counts[count] = written(page, manager, update=[(line, LineData(bbox=line.bbox, text="retapée"))])
        assert Line.objects.get(pk=line.pk).text == "retapée"
    assert counts[3] == counts[30]
