"""Lines through the REST API: create, update and delete with optimistic locking, the bulk
replace of a page's lines, validation, and the revision history."""

from __future__ import annotations

import pytest

from tests.webapp.conftest import png_bytes
from webapp.corpus import services
from webapp.corpus.lines import LineData
from webapp.corpus.models import Line, LineRevision
from webapp.projects.models import Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def page(project, manager):
    """A 120x80 page."""
    return services.pages_upload(project=project, user=manager, files=[("page.png", png_bytes(120, 80))])[0].page


@pytest.fixture
def lines_url(project, page):
    return f"/api/projects/{project.pk}/pages/{page.pk}/lines/"


def line_url(project, line_id: int, suffix: str = "") -> str:
    return f"/api/projects/{project.pk}/lines/{line_id}/{suffix}"


def snapshot(page):
    return list(Line.objects.filter(page=page).order_by("order", "id").values_list(
        "id", "order", "text", "x0", "y0", "x1", "y1", "version")), LineRevision.objects.count()


# ---------------------------------------------------------------------- create


def test_create_line(project, page, member, client_for, lines_url):
    annotator = member(Role.ANNOTATOR)

    response = client_for(annotator).post(lines_url, {"bbox": [10, 20, 110, 45], "text": "Je lègue",
                                                      "baseline": [[10, 40], [110, 41]]}, format="json")

    assert response.status_code == 201, response.data
    body = response.data
    assert (body["page_id"], body["bbox"], body["text"], body["version"]) == (
        page.pk, [10, 20, 110, 45], "Je lègue", 1)
    assert (body["source"], body["verified"], body["verified_by"]) == ("human", True, "annotator")
    assert body["verified_at"] is not None
    assert body["baseline"] == [[10, 40], [110, 41]] and body["polygon"] is None
    line = Line.objects.get(pk=body["id"])
    assert (line.text, line.bbox, line.verified_by) == ("Je lègue", (10, 20, 110, 45), annotator)
    revisions = list(LineRevision.objects.filter(line_ref=line.pk))
    assert [(r.action, r.user, r.old_text, r.new_text, r.version, r.line_id) for r in revisions] == [
        ("create", annotator, None, "Je lègue", 1, line.pk)]
    assert revisions[0].new_geometry["bbox"] == [10, 20, 110, 45]
    page.refresh_from_db()
    assert page.status == "done"


def test_created_lines_follow_each_other(project, lines_url, manager_client):
    first = manager_client.post(lines_url, {"bbox": [0, 0, 50, 20], "text": "a"}, format="json").data
    second = manager_client.post(lines_url, {"bbox": [0, 30, 50, 50], "text": "b"}, format="json").data

    assert second["order"] > first["order"]
    listed = manager_client.get(lines_url).data
    assert [line["text"] for line in listed] == ["a", "b"]


def test_text_is_normalised_to_nfc(lines_url, manager_client):
    response = manager_client.post(lines_url, {"bbox": [0, 0, 50, 20], "text": "Approuve\u0301"}, format="json")

    assert response.status_code == 201
    assert response.data["text"] == "Approuvé" and len(response.data["text"]) == 8


@pytest.mark.parametrize(("payload", "fragments"), [
    ({"bbox": [10, 10, 200, 40], "text": "x"}, ["bbox", "[10, 10, 200, 40]", "outside the 120x80 page"]),
    ({"bbox": [-5, 10, 50, 40], "text": "x"}, ["bbox", "outside the 120x80 page"]),
    ({"bbox": [10, 10, 10, 40], "text": "x"}, ["bbox", "is empty"]),
    ({"bbox": [50, 40, 10, 10], "text": "x"}, ["bbox", "is empty"]),
    ({"bbox": [10, 10, 40], "text": "x"}, ["bbox"]),
    ({"bbox": [10, 10, 50, 40], "text": "a\nb"}, ["text", "control characters"]),
    ({"bbox": [10, 10, 50, 40], "text": "a\x07b"}, ["text", "control characters"]),
    ({"bbox": [10, 10, 50, 40], "text": "a\x00b"}, ["text: Null characters are not allowed"]),
    ({"bbox": [10, 10, 50, 40], "text": "x" * 11}, ["text", "11 characters", "the limit is 10"]),
    ({"bbox": [10, 10, 50, 40], "text": "x", "polygon": [[10, 10], [500, 10], [10, 40]]},
     ["point (500, 10) is outside the 120x80 page"]),
])
def test_invalid_line_is_refused_with_a_reason(payload, fragments, lines_url, manager_client, page, settings):
    settings.INKLOOP_MAX_LINE_TEXT = 10

    response = manager_client.post(lines_url, payload, format="json")

    assert response.status_code == 400, response.data
    for fragment in fragments:
        assert fragment in response.data["detail"], response.data["detail"]
    assert not Line.objects.exists() and not LineRevision.objects.exists()


def test_text_at_the_limit_is_accepted(lines_url, manager_client, settings):
    settings.INKLOOP_MAX_LINE_TEXT = 10

    assert manager_client.post(lines_url, {"bbox": [0, 0, 120, 80], "text": "x" * 10}, format="json").status_code == 201


def test_fixed_alphabet_refuses_other_characters(project, lines_url, manager_client):
    project.alphabet_policy, project.alphabet = "fixed", "abc"
    project.save()

    response = manager_client.post(lines_url, {"bbox": [0, 0, 50, 20], "text": "abz"}, format="json")

    assert response.status_code == 400 and "'z'" in response.data["detail"]
    assert not Line.objects.exists()


# ---------------------------------------------------------------------- update


@pytest.fixture
def line(page, manager):
    return services.line_create(page=page, user=manager, data=LineData(bbox=(10, 10, 100, 40), text="Ceci est"))


def test_update_with_the_right_version(project, line, member, client_for):
    reviewer = member(Role.REVIEWER)

    response = client_for(reviewer).patch(line_url(project, line.pk), {"version": 1, "text": "Ceci est mon"},
                                          format="json")

    assert response.status_code == 200, response.data
    assert (response.data["version"], response.data["text"], response.data["verified_by"]) == (2, "Ceci est mon",
                                                                                               "reviewer")
    assert response.data["bbox"] == [10, 10, 100, 40]  # untouched
    line.refresh_from_db()
    assert (line.version, line.text, line.verified_by) == (2, "Ceci est mon", reviewer)
    update = LineRevision.objects.filter(line_ref=line.pk).order_by("id").last()
    assert (update.action, update.user, update.old_text, update.new_text, update.version) == (
        "update", reviewer, "Ceci est", "Ceci est mon", 2)
    assert update.old_geometry == update.new_geometry


def test_update_geometry_records_old_and_new(project, line, manager_client):
    response = manager_client.patch(line_url(project, line.pk), {"version": 1, "bbox": [5, 5, 60, 30]}, format="json")

    assert response.status_code == 200 and response.data["bbox"] == [5, 5, 60, 30]
    update = LineRevision.objects.filter(line_ref=line.pk).order_by("id").last()
    assert update.old_geometry["bbox"] == [10, 10, 100, 40] and update.new_geometry["bbox"] == [5, 5, 60, 30]
    assert update.old_text == update.new_text == "Ceci est"


def test_update_with_a_stale_version_is_409_and_changes_nothing(project, page, line, manager_client):
    assert manager_client.patch(line_url(project, line.pk), {"version": 1, "text": "first edit"},
                                format="json").status_code == 200
    before = snapshot(page)

    response = manager_client.patch(line_url(project, line.pk), {"version": 1, "text": "lost edit"}, format="json")

    assert response.status_code == 409
    assert "version 2" in response.data["detail"]
    current = response.data["current"]
    assert (current["id"], current["version"], current["text"]) == (line.pk, 2, "first edit")
    assert snapshot(page) == before


def test_invalid_update_is_400_and_changes_nothing(project, page, line, manager_client, settings):
    settings.INKLOOP_MAX_LINE_TEXT = 10
    before = snapshot(page)

    too_long = manager_client.patch(line_url(project, line.pk), {"version": 1, "text": "x" * 11}, format="json")
    control = manager_client.patch(line_url(project, line.pk), {"version": 1, "text": "a\rb"}, format="json")
    outside = manager_client.patch(line_url(project, line.pk), {"version": 1, "bbox": [0, 0, 121, 80]}, format="json")
    empty = manager_client.patch(line_url(project, line.pk), {"version": 1, "bbox": [0, 10, 50, 10]}, format="json")
    no_version = manager_client.patch(line_url(project, line.pk), {"text": "x"}, format="json")

    assert too_long.status_code == 400 and "the limit is 10" in too_long.data["detail"]
    assert control.status_code == 400 and "control characters" in control.data["detail"]
    assert outside.status_code == 400 and "outside the 120x80 page" in outside.data["detail"]
    assert empty.status_code == 400 and "is empty" in empty.data["detail"]
    assert no_version.status_code == 400 and no_version.data["detail"].startswith("version:")
    assert snapshot(page) == before


def test_saving_a_model_line_unchanged_verifies_it(project, page, manager_client, manager):
    model_line = Line.objects.create(page=page, project=page.project, x0=1, y0=1, x1=50, y1=20, text="guess",
                                     source="model", confidence=0.4)

    response = manager_client.patch(line_url(project, model_line.pk), {"version": 1}, format="json")

    assert response.status_code == 200
    assert (response.data["verified"], response.data["verified_by"], response.data["version"]) == (True, "manager", 2)
    assert response.data["source"] == "model"  # the text is still the model's
    assert list(LineRevision.objects.filter(line_ref=model_line.pk).values_list("action", flat=True)) == ["verify"]


# ---------------------------------------------------------------------- delete


def test_delete_with_version_keeps_the_history(project, page, line, manager_client, manager):
    manager_client.patch(line_url(project, line.pk), {"version": 1, "text": "edited"}, format="json")

    response = manager_client.delete(line_url(project, line.pk) + "?version=2")

    assert response.status_code == 204
    assert not Line.objects.filter(pk=line.pk).exists()
    revisions = list(LineRevision.objects.filter(line_ref=line.pk).order_by("id"))
    assert [(r.action, r.line_id, r.line_ref) for r in revisions] == [
        ("create", None, line.pk), ("update", None, line.pk), ("delete", None, line.pk)]
    assert (revisions[-1].old_text, revisions[-1].new_text, revisions[-1].user) == ("edited", None, manager)
    assert revisions[-1].old_geometry["bbox"] == [10, 10, 100, 40]
    assert manager_client.get(line_url(project, line.pk)).status_code == 404
    page.refresh_from_db()
    assert page.status == "new"


def test_delete_with_a_stale_or_missing_version_is_refused(project, page, line, manager_client):
    before = snapshot(page)

    stale = manager_client.delete(line_url(project, line.pk) + "?version=7")
    missing = manager_client.delete(line_url(project, line.pk))

    assert stale.status_code == 409 and stale.data["current"]["version"] == 1
    assert missing.status_code == 400 and missing.data["detail"].startswith("version:")
    assert snapshot(page) == before


# ------------------------------------------------------------------ bulk replace


@pytest.fixture
def three_lines(page, manager):
    return [services.line_create(page=page, user=manager, data=LineData(bbox=(10, 10 + 20 * i, 100, 25 + 20 * i),
                                                                         text=f"line {i}"))
            for i in range(3)]


def test_bulk_replace(project, page, three_lines, lines_url, manager_client, member, client_for):
    first, second, third = three_lines
    annotator = member(Role.ANNOTATOR)
    revisions_before = LineRevision.objects.count()

    response = client_for(annotator).put(lines_url, {"lines": [
        {"id": third.pk, "version": 1, "bbox": [10, 50, 100, 65], "text": "line 2 corrected"},
        {"bbox": [5, 66, 115, 79], "text": "added"},
        {"id": first.pk, "version": 1, "bbox": [10, 5, 100, 25], "text": "line 0"},
    ]}, format="json")

    assert response.status_code == 200, response.data
    assert [(line["id"], line["text"], line["order"]) for line in response.data][::2] == [
        (third.pk, "line 2 corrected", 0), (first.pk, "line 0", 2)]
    new_id = response.data[1]["id"]
    assert new_id not in {first.pk, second.pk, third.pk} and response.data[1]["order"] == 1
    stored = list(Line.objects.filter(page=page).order_by("order").values_list("id", "text", "version", "verified_by"))
    assert stored == [(third.pk, "line 2 corrected", 2, annotator.pk), (new_id, "added", 1, annotator.pk),
                      (first.pk, "line 0", 2, annotator.pk)]
    assert not Line.objects.filter(pk=second.pk).exists()
    # One revision per change: third updated, a line created, first moved/resized, second deleted.
    new = list(LineRevision.objects.order_by("id")[revisions_before:].values_list("line_ref", "action", "user"))
    assert sorted(new) == sorted([(third.pk, "update", annotator.pk), (new_id, "create", annotator.pk),
                                  (first.pk, "update", annotator.pk), (second.pk, "delete", annotator.pk)])
    deletion = LineRevision.objects.get(line_ref=second.pk, action="delete")
    assert (deletion.line_id, deletion.old_text) == (None, "line 1")
    # The list endpoint gives the same order.
    assert [line["id"] for line in manager_client.get(lines_url).data] == [third.pk, new_id, first.pk]


def test_bulk_replace_with_an_empty_list_deletes_every_line(page, three_lines, lines_url, manager_client):
    response = manager_client.put(lines_url, {"lines": []}, format="json")

    assert response.status_code == 200 and response.data == []
    assert not Line.objects.filter(page=page).exists()
    assert LineRevision.objects.filter(action="delete").count() == 3
    page.refresh_from_db()
    assert page.status == "new"


def test_bulk_replace_with_a_stale_version_applies_nothing(project, page, three_lines, lines_url, manager_client):
    first, second, third = three_lines
    manager_client.patch(line_url(project, second.pk), {"version": 1, "text": "changed meanwhile"}, format="json")
    before = snapshot(page)

    response = manager_client.put(lines_url, {"lines": [
        {"id": first.pk, "version": 1, "bbox": [10, 10, 100, 25], "text": "would change"},
        {"id": second.pk, "version": 1, "bbox": [10, 30, 100, 45], "text": "stale"},
        {"bbox": [5, 66, 115, 79], "text": "would be added"},
    ]}, format="json")

    assert response.status_code == 409
    assert response.data["stale_ids"] == [second.pk]
    current = {line["id"]: line for line in response.data["current"]}
    assert current[second.pk]["text"] == "changed meanwhile" and current[second.pk]["version"] == 2
    assert snapshot(page) == before  # third not deleted, first not changed, nothing added


def test_bulk_replace_with_a_line_of_another_page_is_refused(project, manager, page, three_lines, lines_url,
                                                             manager_client):
    other_page = services.pages_upload(project=project, user=manager, files=[("other.png", png_bytes(shade=3))])[0].page
    foreign = services.line_create(page=other_page, user=manager, data=LineData(bbox=(1, 1, 20, 20), text="foreign"))
    before = snapshot(page)

    response = manager_client.put(lines_url, {"lines": [
        {"id": foreign.pk, "version": 1, "bbox": [1, 1, 20, 20], "text": "moved"}]}, format="json")

    assert response.status_code == 400
    assert f"[{foreign.pk}]" in response.data["detail"] and "not lines of this page" in response.data["detail"]
    assert snapshot(page) == before
    foreign.refresh_from_db()
    assert (foreign.page_id, foreign.text, foreign.version) == (other_page.pk, "foreign", 1)


def test_bulk_replace_refuses_duplicates_missing_versions_and_invalid_lines(page, three_lines, lines_url,
                                                                            manager_client):
    first = three_lines[0]
    before = snapshot(page)
    line = {"id": first.pk, "version": 1, "bbox": [10, 10, 100, 25], "text": "x"}

    twice = manager_client.put(lines_url, {"lines": [line, line]}, format="json")
    no_version = manager_client.put(lines_url, {"lines": [{**line, "version": None}]}, format="json")
    invalid = manager_client.put(lines_url, {"lines": [line, {"bbox": [0, 0, 500, 10], "text": "y"}]}, format="json")

    assert twice.status_code == 400 and "twice" in twice.data["detail"]
    assert no_version.status_code == 400 and "version" in no_version.data["detail"]
    assert invalid.status_code == 400 and "line 2" in invalid.data["detail"] and "outside" in invalid.data["detail"]
    assert snapshot(page) == before


# ------------------------------------------------------------------- revisions


def test_revisions_list_the_history(project, line, manager_client, member, client_for):
    reviewer = member(Role.REVIEWER)
    client_for(reviewer).patch(line_url(project, line.pk), {"version": 1, "text": "Ceci est mon testament"},
                               format="json")
    manager_client.patch(line_url(project, line.pk), {"version": 2, "bbox": [10, 10, 110, 40]}, format="json")

    response = manager_client.get(line_url(project, line.pk, "revisions/"))

    assert response.status_code == 200
    history = [(r["action"], r["user"], r["old_text"], r["new_text"], r["version"], r["line_ref"])
               for r in response.data]
    assert history == [
        ("create", "manager", None, "Ceci est", 1, line.pk),
        ("update", "reviewer", "Ceci est", "Ceci est mon testament", 2, line.pk),
        ("update", "manager", "Ceci est mon testament", "Ceci est mon testament", 3, line.pk),
    ]
    assert response.data[2]["new_geometry"]["bbox"] == [10, 10, 110, 40]

    manager_client.delete(line_url(project, line.pk) + "?version=3")
    after = manager_client.get(line_url(project, line.pk, "revisions/"))
    assert after.status_code == 200 and [r["action"] for r in after.data] == ["create", "update", "update", "delete"]


def test_revisions_of_an_unknown_line_are_404(project, manager_client):
    assert manager_client.get(line_url(project, 987654, "revisions/")).status_code == 404
