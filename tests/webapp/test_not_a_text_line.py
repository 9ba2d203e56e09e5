"""A box that holds no text leaves the review queue only through "not a text line": the model's line
goes with its history and the box is kept as a false detection; verifying empty text is refused."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from tests.webapp.conftest import png_bytes
from webapp.corpus import services
from webapp.corpus.lines import LineData
from webapp.corpus.models import Line, LineRevision, PageStatus
from webapp.predictions.models import FalseDetection
from webapp.projects.models import Role
from webapp.projects.services import project_create
from webapp.review.services import line_revert_last_accept

pytestmark = pytest.mark.django_db

MODELS = "detector-v2+recognizer-v3"


@dataclass
class Predicted:
    """A line as ml.predict returns it."""

    bbox: tuple[int, int, int, int]
    text: str
    confidence: float
    polygon: list | None = None
    char_confidences: list = field(default_factory=list)


@pytest.fixture
def page(project, manager):
    """A 400x300 page the models pre-annotated: a stamp read as nothing, and a real line."""
    page = services.pages_upload(project=project, user=manager, files=[("p.png", png_bytes(400, 300))])[0].page
    services.page_model_lines_replace(page=page, model_label=MODELS, lines=[
        Predicted(bbox=(300, 10, 390, 80), text="", confidence=0.02,
                  polygon=[[300, 10], [390, 10], [390, 80], [300, 80]]),
        Predicted(bbox=(10, 120, 380, 150), text="je lègue", confidence=0.7, char_confidences=[0.7] * 8)])
    return page


@pytest.fixture
def stamp(page):
    return page.lines.get(order=0)


def not_a_line_url(project, line_id: int) -> str:
    return f"/api/projects/{project.pk}/lines/{line_id}/not-a-line/"


def state(page):
    return (sorted(Line.objects.filter(page=page).values_list("id", "text", "version", "verified_at")),
            LineRevision.objects.count(), FalseDetection.objects.count())


def test_not_a_line_deletes_the_line_and_its_history_and_records_the_box(project, page, stamp, member, client_for):
    annotator = member(Role.ANNOTATOR)
    client = client_for(annotator)
    other = page.lines.get(order=1)
    other_history = list(LineRevision.objects.filter(line_ref=other.pk).values_list("id", flat=True))
    assert LineRevision.objects.filter(line_ref=stamp.pk).exists()

    response = client.post(not_a_line_url(project, stamp.pk), {"version": stamp.version}, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert {key: body[key] for key in ("page_id", "bbox", "polygon", "text", "model_version", "line_ref", "user")} == {
        "page_id": page.pk, "bbox": [300, 10, 390, 80], "polygon": [[300, 10], [390, 10], [390, 80], [300, 80]],
        "text": "", "model_version": MODELS, "line_ref": stamp.pk, "user": annotator.username}
    assert body["confidence"] == pytest.approx(0.02) and body["created_at"]
    assert not Line.objects.filter(pk=stamp.pk).exists()
    assert not LineRevision.objects.filter(line_ref=stamp.pk).exists()
    # The page's other line and its history are untouched.
    assert list(LineRevision.objects.filter(line_ref=other.pk).values_list("id", flat=True)) == other_history
    assert Line.objects.get(pk=other.pk).version == other.version
    assert client.get(f"/api/projects/{project.pk}/lines/{stamp.pk}/revisions/").status_code == 404
    listed = client.get(f"/api/projects/{project.pk}/false-detections/").json()
    assert [item["id"] for item in listed["results"]] == [body["id"]]

    # The last line goes too: the page has no lines left and says so.
    client.post(not_a_line_url(project, other.pk), {"version": other.version}, format="json")
    page.refresh_from_db()
    assert page.status == PageStatus.NEW


def test_a_stale_version_is_409_and_changes_nothing(project, page, stamp, manager_client):
    before = state(page)
    response = manager_client.post(not_a_line_url(project, stamp.pk), {"version": stamp.version + 1}, format="json")
    assert response.status_code == 409 and response.json()["current"]["id"] == stamp.pk
    missing = manager_client.post(not_a_line_url(project, stamp.pk), {}, format="json")
    assert missing.status_code == 400 and missing.json()["detail"].startswith("version:")
    assert state(page) == before


def test_a_line_a_person_made_or_verified_is_refused(project, page, stamp, manager, manager_client):
    other = page.lines.get(order=1)
    verified = services.line_update(line_id=other.pk, page=page, user=manager, expected_version=other.version)
    drawn = services.line_create(page=page, user=manager, data=LineData(bbox=(10, 200, 200, 230), text="x"))
    before = state(page)

    for line in (verified, drawn):
        response = manager_client.post(not_a_line_url(project, line.pk), {"version": line.version}, format="json")
        assert response.status_code == 400
        assert response.json()["detail"].startswith("Only a model's unverified line can be marked as not a text line")
        assert "Delete it instead, which keeps its history" in response.json()["detail"]
    assert state(page) == before


def test_a_line_someone_else_worked_on_keeps_its_history(project, page, stamp, member, client_for):
    colleague = member(Role.ANNOTATOR, "colleague")
    accepted = services.line_update(line_id=stamp.pk, page=page, user=colleague, expected_version=stamp.version,
                                    text="a word")
    undone = line_revert_last_accept(line_id=stamp.pk, page=page, user=colleague, expected_version=accepted.version)
    before = state(page)

    response = client_for(member(Role.REVIEWER)).post(not_a_line_url(project, stamp.pk), {"version": undone.version},
                                                      format="json")

    assert response.status_code == 400
    assert response.json()["detail"].startswith("colleague worked on this line")
    assert state(page) == before
    # Whoever typed and undid it may still say it is no text line.
    response = client_for(colleague).post(not_a_line_url(project, stamp.pk), {"version": undone.version},
                                          format="json")
    assert response.status_code == 201
    assert not LineRevision.objects.filter(line_ref=stamp.pk).exists()


def test_another_projects_lines_and_false_detections_are_404(project, page, stamp, make_user, client_for):
    outsider = make_user("outsider")
    theirs = project_create(creator=outsider, name="Theirs", use_base_models=False)
    before = state(page)

    intruder = client_for(outsider)
    assert intruder.post(not_a_line_url(project, stamp.pk), {"version": stamp.version},
                         format="json").status_code == 404
    assert intruder.post(not_a_line_url(theirs, stamp.pk), {"version": stamp.version},
                         format="json").status_code == 404
    assert intruder.get(f"/api/projects/{project.pk}/false-detections/").status_code == 404
    assert state(page) == before


@pytest.mark.parametrize("text", ["", "   "])
def test_verifying_a_line_with_empty_text_is_refused_and_points_to_not_a_line(project, page, stamp, manager_client,
                                                                              text):
    before = state(page)
    url = f"/api/projects/{project.pk}/lines/{stamp.pk}/"

    for body in ({"version": stamp.version, "text": text}, {"version": stamp.version}):
        response = manager_client.patch(url, body, format="json")
        assert response.status_code == 400, response.json()
        detail = response.json()["detail"]
        assert detail.startswith("A line cannot be verified with empty text.")
        assert f"POST /api/projects/{project.pk}/lines/{stamp.pk}/not-a-line/" in detail
    assert state(page) == before
    # With its text typed, the same box is verified as usual.
    assert manager_client.patch(url, {"version": stamp.version, "text": "Paris"}, format="json").status_code == 200


def test_a_page_replace_may_not_verify_a_model_line_with_empty_text(project, page, stamp, manager_client):
    before = state(page)
    other = page.lines.get(order=1)
    lines = [{"id": stamp.pk, "version": stamp.version, "bbox": list(stamp.bbox), "text": ""},
             {"id": other.pk, "version": other.version, "bbox": list(other.bbox), "text": other.text}]

    response = manager_client.put(f"/api/projects/{project.pk}/pages/{page.pk}/lines/", {"lines": lines},
                                  format="json")

    assert response.status_code == 400
    assert response.json()["detail"].startswith("A line cannot be verified with empty text.")
    assert state(page) == before


def test_a_box_a_person_drew_and_left_empty_can_still_be_moved(project, page, manager, manager_client):
    drawn = services.line_create(page=page, user=manager, data=LineData(bbox=(10, 200, 200, 230), text=""))
    url = f"/api/projects/{project.pk}/lines/{drawn.pk}/"

    moved = manager_client.patch(url, {"version": drawn.version, "bbox": [10, 205, 200, 235]}, format="json")

    assert moved.status_code == 200, moved.json()
    assert moved.json()["bbox"] == [10, 205, 200, 235] and moved.json()["text"] == ""
    # Emptying a verified line that had text is vouching for empty text too.
    typed = services.line_create(page=page, user=manager, data=LineData(bbox=(10, 240, 200, 270), text="Paris"))
    emptied = manager_client.patch(f"/api/projects/{project.pk}/lines/{typed.pk}/",
                                   {"version": typed.version, "text": ""}, format="json")
    assert emptied.status_code == 400
    assert Line.objects.get(pk=typed.pk).text == "Paris"
