"""The page editor's structural edits through the REST API: reading order, merge and split, each
versioned (a stale version is 409 and changes nothing), refused with a reason on bad input, and
closed to people outside the project."""

from __future__ import annotations

import pytest

from tests.webapp.conftest import png_bytes
from webapp.corpus import services
from webapp.corpus.lines import LineData
from webapp.corpus.models import Line, LineRevision, LineSource
from webapp.projects.models import Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def page(project, manager):
    """A 200x80 page with three lines a person made: a, b, c."""
    return services.pages_store(project=project, user=manager, pages=[services.PageToStore(
        image=services.ingest_upload(png_bytes(200, 80), "page.png", limits=services.ingest_limits())[0],
        lines=[LineData(bbox=(10, 5, 190, 25), text="Je lègue à", baseline=[[10, 22], [100, 23], [190, 22]]),
               LineData(bbox=(10, 30, 190, 50), text="mon neveu"),
               LineData(bbox=(10, 55, 190, 75), text="tous mes biens")])])[0].page


def lines_of(page):
    return list(Line.objects.filter(page=page).order_by("order", "id"))


def snapshot(page):
    return (list(Line.objects.filter(page=page).order_by("order", "id").values_list(
        "id", "order", "text", "x0", "y0", "x1", "y1", "baseline", "version", "verified_at")),
        LineRevision.objects.count())


def url(project, what: str) -> str:
    return f"/api/projects/{project.pk}/{what}"


# ---------------------------------------------------------------------- reading order


def test_reorder_moves_lines_and_only_versions_those_that_moved(project, page, member, client_for):
    annotator = member(Role.ANNOTATOR)
    a, b, c = lines_of(page)
    Line.objects.filter(pk=c.pk).update(source=LineSource.MODEL, verified_at=None, verified_by=None)

    response = client_for(annotator).post(url(project, f"pages/{page.pk}/lines/order/"), {"lines": [
        {"id": a.pk, "version": a.version}, {"id": c.pk, "version": c.version},
        {"id": b.pk, "version": b.version}]}, format="json")

    assert response.status_code == 200, response.data
    assert [(line["id"], line["order"]) for line in response.data] == [(a.pk, 0), (c.pk, 1), (b.pk, 2)]
    assert [line.pk for line in lines_of(page)] == [a.pk, c.pk, b.pk]
    stored = {line.pk: line for line in lines_of(page)}
    assert (stored[a.pk].version, stored[b.pk].version, stored[c.pk].version) == (1, 2, 2)
    # Moving a model's line does not vouch for its text.
    assert stored[c.pk].source == LineSource.MODEL and not stored[c.pk].is_verified
    revision = LineRevision.objects.filter(line_ref=b.pk).last()
    assert (revision.user, revision.old_geometry["order"], revision.new_geometry["order"], revision.version) == (
        annotator, 1, 2, 2)
    assert not LineRevision.objects.filter(line_ref=a.pk, version=2).exists()


def test_reorder_with_a_stale_version_is_409_and_moves_nothing(project, page, manager_client):
    a, b, c = lines_of(page)
    services.line_update(line_id=b.pk, page=page, user=a.verified_by, expected_version=1, text="changed")
    before = snapshot(page)

    response = manager_client.post(url(project, f"pages/{page.pk}/lines/order/"), {"lines": [
        {"id": b.pk, "version": 1}, {"id": a.pk, "version": 1}, {"id": c.pk, "version": 1}]}, format="json")

    assert response.status_code == 409
    assert response.data["stale_ids"] == [b.pk]
    assert [(line["id"], line["text"]) for line in response.data["current"]][1] == (b.pk, "changed")
    assert snapshot(page) == before


@pytest.mark.parametrize(("make_body", "fragment"), [
    (lambda a, b, c: {"lines": [{"id": a.pk, "version": 1}, {"id": b.pk, "version": 1}]}, "missing"),
    (lambda a, b, c: {"lines": [{"id": a.pk, "version": 1}, {"id": a.pk, "version": 1},
                                {"id": c.pk, "version": 1}]}, "appears twice"),
    (lambda a, b, c: {"lines": [{"id": a.pk, "version": 1}, {"id": b.pk, "version": 1}, {"id": c.pk, "version": 1},
                                {"id": 999999, "version": 1}]}, "not lines of this page"),
    (lambda a, b, c: {"lines": [{"id": a.pk}]}, "version"),
])
def test_reorder_refuses_an_order_that_is_not_the_pages_lines(project, page, manager_client, make_body, fragment):
    before = snapshot(page)

    response = manager_client.post(url(project, f"pages/{page.pk}/lines/order/"), make_body(*lines_of(page)),
                                   format="json")

    assert response.status_code == 400
    assert fragment in response.data["detail"] or fragment in str(response.data["errors"])
    assert snapshot(page) == before


# ---------------------------------------------------------------------- merge


def test_merge_joins_boxes_texts_and_baselines_into_the_first_line(project, page, member, client_for):
    annotator = member(Role.ANNOTATOR)
    a, b, c = lines_of(page)
    Line.objects.filter(pk=b.pk).update(baseline=[[10, 47], [190, 48]])

    # Asked from the second line: the merged line is still the first in reading order.
    response = client_for(annotator).post(url(project, f"lines/{b.pk}/merge/"),
                                          {"version": 1, "other": {"id": a.pk, "version": 1}}, format="json")

    assert response.status_code == 200, response.data
    assert (response.data["id"], response.data["text"], response.data["bbox"], response.data["version"]) == (
        a.pk, "Je lègue à mon neveu", [10, 5, 190, 50], 2)
    assert response.data["baseline"] == [[10, 22], [10, 47], [100, 23], [190, 22], [190, 48]]
    assert [line.pk for line in lines_of(page)] == [a.pk, c.pk]
    deletion = LineRevision.objects.filter(line_ref=b.pk).last()
    assert (deletion.action, deletion.old_text, deletion.user) == ("delete", "mon neveu", annotator)
    update = LineRevision.objects.filter(line_ref=a.pk).last()
    assert (update.old_text, update.new_text, update.user) == ("Je lègue à", "Je lègue à mon neveu", annotator)


def test_merge_with_a_stale_other_line_is_409_and_changes_nothing(project, page, manager_client, manager):
    a, b, _ = lines_of(page)
    services.line_update(line_id=b.pk, page=page, user=manager, expected_version=1, text="mon cousin")
    before = snapshot(page)

    response = manager_client.post(url(project, f"lines/{a.pk}/merge/"),
                                   {"version": 1, "other": {"id": b.pk, "version": 1}}, format="json")

    assert response.status_code == 409
    assert (response.data["current"]["id"], response.data["current"]["text"]) == (b.pk, "mon cousin")
    assert snapshot(page) == before


def test_merge_refuses_itself_and_lines_of_other_pages(project, page, manager_client, manager):
    a, _, _ = lines_of(page)
    other_page = services.pages_upload(project=project, user=manager, files=[("p2.png", png_bytes(90, 60))])[0].page
    elsewhere = services.line_create(page=other_page, user=manager, data=LineData(bbox=(1, 1, 50, 20), text="x"))
    before = snapshot(page)

    itself = manager_client.post(url(project, f"lines/{a.pk}/merge/"),
                                 {"version": 1, "other": {"id": a.pk, "version": 1}}, format="json")
    across = manager_client.post(url(project, f"lines/{a.pk}/merge/"),
                                 {"version": 1, "other": {"id": elsewhere.pk, "version": 1}}, format="json")

    assert itself.status_code == 400 and "itself" in itself.data["detail"]
    assert across.status_code == 400 and "not a line of this page" in across.data["detail"]
    assert snapshot(page) == before and Line.objects.filter(pk=elsewhere.pk, version=1).exists()


# ---------------------------------------------------------------------- split


def test_split_cuts_box_and_baseline_and_puts_the_new_line_next(project, page, member, client_for):
    annotator = member(Role.ANNOTATOR)
    a, b, c = lines_of(page)

    response = client_for(annotator).post(url(project, f"lines/{a.pk}/split/"), {
        "version": 1, "x": 120, "text_before": "Je lègue", "text_after": "à"}, format="json")

    assert response.status_code == 200, response.data
    assert [line["text"] for line in response.data] == ["Je lègue", "à", "mon neveu", "tous mes biens"]
    left, right = response.data[0], response.data[1]
    assert (left["id"], left["bbox"], left["baseline"], left["version"]) == (
        a.pk, [10, 5, 120, 25], [[10, 22], [100, 23]], 2)
    assert (right["bbox"], right["baseline"], right["verified_by"]) == ([120, 5, 190, 25], [[190, 22]], "annotator")
    assert [line.pk for line in lines_of(page)] == [a.pk, right["id"], b.pk, c.pk]
    assert [line.order for line in lines_of(page)] == [0, 1, 2, 3]
    assert LineRevision.objects.filter(line_ref=a.pk).last().old_text == "Je lègue à"
    assert LineRevision.objects.get(line_ref=right["id"]).action == "create"


@pytest.mark.parametrize(("body", "fragment"), [
    ({"version": 1, "x": 10, "text_before": "Je", "text_after": "lègue"}, "not inside the line's box"),
    ({"version": 1, "x": 300, "text_before": "Je", "text_after": "lègue"}, "not inside the line's box"),
    ({"version": 1, "x": 100, "text_before": "Je lègue à", "text_after": "  "}, "Both parts"),
    ({"version": 1, "text_before": "Je", "text_after": "lègue"}, "x"),
])
def test_split_refuses_bad_input_and_writes_nothing(project, page, manager_client, body, fragment):
    a = lines_of(page)[0]
    before = snapshot(page)

    response = manager_client.post(url(project, f"lines/{a.pk}/split/"), body, format="json")

    assert response.status_code == 400
    assert fragment in response.data["detail"]
    assert snapshot(page) == before


def test_split_with_a_stale_version_is_409_and_changes_nothing(project, page, manager_client, manager):
    a = lines_of(page)[0]
    services.line_update(line_id=a.pk, page=page, user=manager, expected_version=1, text="Je donne à")
    before = snapshot(page)

    response = manager_client.post(url(project, f"lines/{a.pk}/split/"), {
        "version": 1, "x": 120, "text_before": "Je lègue", "text_after": "à"}, format="json")

    assert response.status_code == 409 and response.data["current"]["text"] == "Je donne à"
    assert snapshot(page) == before


# ---------------------------------------------------------------------- access


def test_people_outside_the_project_cannot_reorder_merge_or_split(project, page, make_user, client_for,
                                                                  manager_client):
    a, b, c = lines_of(page)
    stranger = client_for(make_user("stranger"))
    before = snapshot(page)

    answers = [
        stranger.post(url(project, f"pages/{page.pk}/lines/order/"), {"lines": [
            {"id": c.pk, "version": 1}, {"id": b.pk, "version": 1}, {"id": a.pk, "version": 1}]}, format="json"),
        stranger.post(url(project, f"lines/{a.pk}/merge/"), {"version": 1, "other": {"id": b.pk, "version": 1}},
                      format="json"),
        stranger.post(url(project, f"lines/{a.pk}/split/"), {"version": 1, "x": 100, "text_before": "Je",
                                                             "text_after": "lègue à"}, format="json"),
    ]

    assert [answer.status_code for answer in answers] == [404, 404, 404]
    assert snapshot(page) == before
    # The same request from a member is carried out: the 404s above were the access check.
    assert manager_client.post(url(project, f"pages/{page.pk}/lines/order/"), {"lines": [
        {"id": c.pk, "version": 1}, {"id": b.pk, "version": 1}, {"id": a.pk, "version": 1}]},
        format="json").status_code == 200
