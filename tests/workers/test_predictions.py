"""Pre-annotation, the review queue and REST predictions, with real workers and real checkpoints."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from rest_framework.test import APIClient

from ml.data.synthetic import render_page
from ml.detection.geometry import box_iou_matrix
from ml.recognition.tiny import TINY_TEXTS
from tests.workers.cluster import wait_for
from tests.workers.confident_model import KNOWN_LINES, build_confident_recognizer, garbled, known_page
from webapp.corpus.lines import LineData
from webapp.corpus.models import Line, Page, PageStatus
from webapp.corpus.services import line_create
from webapp.predictions.models import Prediction
from webapp.projects.models import Strategy
from webapp.projects.services import project_create
from webapp.training.models import ModelStatus, ModelVersion

pytestmark = pytest.mark.django_db(transaction=True)

GARBLED = "xqzj wvkp yyq"
QUEUE_PAGE_SEED = 3   # any seed away from the ones the confident recognizer was trained and calibrated on


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    from ml.tiny import build_tiny_checkpoints

    return build_tiny_checkpoints(tmp_path_factory.mktemp("tiny-models"))


@pytest.fixture(scope="session")
def confident_recognizer(tmp_path_factory):
    """A recognizer trained on the crops pre-annotation cuts, so its confidence ranks lines (about 25 s)."""
    return build_confident_recognizer(tmp_path_factory.mktemp("confident-recognizer"))


@pytest.fixture
def lead(django_user_model):
    return django_user_model.objects.create_user(username="lead", password="x" * 12)


@pytest.fixture
def client(lead) -> APIClient:
    api = APIClient()
    api.force_authenticate(lead)
    return api


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def drawn_under(bbox, layout) -> str:
    """The text of the drawn line a model line's box overlaps most."""
    overlaps = box_iou_matrix([tuple(bbox)], [tuple(line.bbox) for line in layout.lines])[0]
    return layout.lines[int(overlaps.argmax())].text


def synthetic_page(texts: list[str], seed: int):
    image, layout = render_page(texts, seed=seed)
    return png(image), layout


def upload_model(client, project, path, *, promote: bool = True) -> dict:
    response = client.post(f"/api/projects/{project.pk}/models/",
                           {"checkpoint": SimpleUploadedFile("model.pt", path.read_bytes()),
                            "promote": "true" if promote else "false"}, format="multipart")
    assert response.status_code == 201, response.json()
    return response.json()


def predict(client, project, data: bytes, name: str = "page.png"):
    return client.post(f"/api/projects/{project.pk}/predict/", {"image": SimpleUploadedFile(name, data)},
                       format="multipart")


def test_preannotation_stores_model_lines_and_the_queue_puts_a_garbled_line_first(workers, client, lead,
                                                                                  confident_recognizer):
    project = project_create(creator=lead, name="queue", use_base_models=False, strategy=Strategy.LEAST_CONFIDENCE)
    nonsense = garbled(KNOWN_LINES[2], seed=QUEUE_PAGE_SEED)
    image, layout = known_page(QUEUE_PAGE_SEED, extra=[nonsense])
    response = client.post(f"/api/projects/{project.pk}/pages/",
                           {"files": [SimpleUploadedFile("p-1.png", png(image))]}, format="multipart")
    assert response.status_code == 201
    upload_model(client, project, confident_recognizer)  # promotion queues the pre-annotation

    wait_for(lambda: Prediction.objects.filter(page__project=project).exists(), timeout=90, what="pre-annotation")
    lines = list(Line.objects.filter(project=project).order_by("order"))
    assert len(lines) == len(layout.lines)
    assert all(line.source == "model" and line.confidence is not None and not line.is_verified for line in lines)
    assert all(len(line.char_confidences) == len(line.text) for line in lines)
    assert all(line.model_version == "detector-baseline+recognizer-v1" for line in lines)
    assert lines[0].page.status == PageStatus.PREDICTED and lines[0].page.confidence is not None

    # The stored confidence is the recognizer's own (its checkpoint's chosen measure) for that crop.
    from ml.predict import Predictor
    from webapp.corpus.selectors import page_image

    recognized = Predictor.from_checkpoints(None, confident_recognizer).recognize_regions(
        page_image(lines[0].page), [line.bbox for line in lines],
        [[tuple(point) for point in line.polygon] if line.polygon else None for line in lines])
    assert [r.text for r in recognized] == [line.text for line in lines]
    assert [r.confidence for r in recognized] == pytest.approx([line.confidence for line in lines], abs=1e-3)

    queue = client.get(f"/api/projects/{project.pk}/queue/?level=line").json()
    assert queue["count"] == len(lines)
    confidences = [item["confidence"] for item in queue["results"]]
    assert confidences == sorted(confidences)
    # Least certain first: the garbled line, then every clean line, each read as it was written.
    drawn = [drawn_under(item["bbox"], layout) for item in queue["results"]]
    assert drawn[0] == nonsense, list(zip(drawn, confidences))
    assert sorted(drawn[1:]) == sorted(KNOWN_LINES)
    assert [item["text"] for item in queue["results"][1:]] == drawn[1:]
    first = queue["results"][0]
    assert first["confidence"] == min(line.confidence for line in lines)

    pages = client.get(f"/api/projects/{project.pk}/queue/?level=page").json()
    assert [page["id"] for page in pages["results"]] == [lines[0].page_id]

    # A person verifies a line: it leaves the queue, and the page leaves the page queue.
    line = Line.objects.get(pk=first["id"])
    edit = client.patch(f"/api/projects/{project.pk}/lines/{line.pk}/", {"version": line.version, "text": "fixed"},
                        format="json")
    assert edit.status_code == 200
    assert first["id"] not in [item["id"] for item in
                               client.get(f"/api/projects/{project.pk}/queue/?level=line").json()["results"]]
    assert client.get(f"/api/projects/{project.pk}/queue/?level=page").json()["count"] == 0


def test_preannotating_a_selection_writes_its_open_pages_only_and_never_over_a_persons_lines(workers, client, lead,
                                                                                          tiny_models):
    project = project_create(creator=lead, name="selection", use_base_models=False)
    uploads = [SimpleUploadedFile(f"p{i}.png", synthetic_page(TINY_TEXTS, seed=20 + i)[0]) for i in range(3)]
    assert client.post(f"/api/projects/{project.pk}/pages/", {"files": uploads}, format="multipart").status_code == 201
    left_alone, verified, selected = Page.objects.filter(project=project).order_by("id")
    theirs = line_create(page=verified, user=lead, data=LineData(bbox=(5, 5, 120, 40), text="écrit par une personne"))
    url = f"/api/projects/{project.pk}/preannotate/"
    refused = client.post(url, {"page_ids": [selected.pk]}, format="json")
    assert refused.status_code == 409 and "no promoted recognizer" in refused.json()["detail"]

    # Promoted in the registry directly: a promotion through the API would itself ask for every open page.
    version = upload_model(client, project, tiny_models["recognizer"], promote=False)
    ModelVersion.objects.filter(pk=version["id"]).update(status=ModelStatus.PROMOTED)
    answer = client.post(url, {"page_ids": [verified.pk, selected.pk]}, format="json")
    assert answer.status_code == 202, answer.json()
    assert answer.json()["page_ids"] == [selected.pk]
    assert [item["id"] for item in answer.json()["skipped"]] == [verified.pk]

    # The worker goes through pages in id order: had it taken every open page, `left_alone` would come first.
    wait_for(lambda: Prediction.objects.filter(page=selected).exists(), timeout=90, what="pre-annotation")
    assert Line.objects.filter(page=selected, source="model").exists()
    assert not Prediction.objects.filter(page__in=[left_alone, verified]).exists()
    assert not Line.objects.filter(page=left_alone).exists()
    assert list(Line.objects.filter(page=verified).values_list("id", "text", "version")) == [
        (theirs.pk, theirs.text, theirs.version)]


def test_the_random_strategy_is_a_fixed_shuffle_of_the_same_lines(workers, client, lead, tiny_models):
    project = project_create(creator=lead, name="random-control", use_base_models=False,
                             strategy=Strategy.LEAST_CONFIDENCE)
    page_bytes, _ = synthetic_page(TINY_TEXTS + [GARBLED], seed=4)
    client.post(f"/api/projects/{project.pk}/pages/", {"files": [SimpleUploadedFile("p.png", page_bytes)]},
                format="multipart")
    upload_model(client, project, tiny_models["recognizer"])
    wait_for(lambda: Prediction.objects.filter(page__project=project).exists(), timeout=90, what="pre-annotation")
    ranked = [item["id"] for item in client.get(f"/api/projects/{project.pk}/queue/").json()["results"]]
    assert client.patch(f"/api/projects/{project.pk}/", {"strategy": "random"}, format="json").status_code == 200
    shuffled = [item["id"] for item in client.get(f"/api/projects/{project.pk}/queue/").json()["results"]]
    again = [item["id"] for item in client.get(f"/api/projects/{project.pk}/queue/").json()["results"]]
    assert sorted(shuffled) == sorted(ranked) and shuffled == again


def test_predict_returns_lines_and_refuses_bad_images(workers, client, lead, tiny_models):
    project = project_create(creator=lead, name="predict", use_base_models=False)
    page_bytes, layout = synthetic_page(TINY_TEXTS, seed=5)
    assert predict(client, project, page_bytes).status_code == 409  # no model yet, and it says so
    upload_model(client, project, tiny_models["recognizer"])

    response = predict(client, project, page_bytes)
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["model_versions"]["recognizer"] == "recognizer-v1"
    assert len(body["lines"]) >= 3
    for line in body["lines"]:
        assert set(line) >= {"bbox", "polygon", "text", "confidence", "char_confidences"}
        assert len(line["char_confidences"]) == len(line["text"])

    for name, data, reason in [("bad.png", page_bytes[:200], "damaged"), ("x.png", b"<svg></svg>", "not a JPEG"),
                               ("empty.png", b"", "empty")]:
        refused = predict(client, project, data, name)
        assert refused.status_code == 400 and reason in refused.json()["detail"], refused.json()


def test_a_promoted_model_is_swapped_in_without_restart_and_rollback_restores_it(workers, client, lead,
                                                                                    tiny_models, tmp_path):
    from ml.recognition.tiny import build_tiny_recognizer

    project = project_create(creator=lead, name="swap", use_base_models=False)
    page_bytes, _ = synthetic_page(TINY_TEXTS, seed=7)
    first = upload_model(client, project, tiny_models["recognizer"])
    before = predict(client, project, page_bytes).json()
    assert before["model_versions"]["recognizer"] == "recognizer-v1"

    other = build_tiny_recognizer(tmp_path / "other", seed=1, epochs=2)  # a different, weaker model
    upload_model(client, project, other)
    after = predict(client, project, page_bytes).json()
    assert after["model_versions"]["recognizer"] == "recognizer-v2"
    assert [line["text"] for line in after["lines"]] != [line["text"] for line in before["lines"]]

    assert client.post(f"/api/projects/{project.pk}/models/{first['id']}/promote/").status_code == 200
    restored = predict(client, project, page_bytes).json()
    assert restored == before


def test_many_pages_are_predicted_as_a_job(workers, client, lead, tiny_models):
    project = project_create(creator=lead, name="jobs", use_base_models=False)
    upload_model(client, project, tiny_models["recognizer"], promote=True)
    pages = [SimpleUploadedFile(f"p{i}.png", synthetic_page(TINY_TEXTS, seed=10 + i)[0]) for i in range(2)]
    response = client.post(f"/api/projects/{project.pk}/predictions/", {"files": pages}, format="multipart")
    assert response.status_code == 202, response.json()
    job_id = response.json()["id"]

    def done():
        body = client.get(f"/api/projects/{project.pk}/predictions/{job_id}/").json()
        return body if body["status"] in ("done", "failed") else None

    body = wait_for(done, timeout=90, what="the prediction job")
    assert body["status"] == "done", body["error"]
    assert [page["name"] for page in body["results"]] == ["p0.png", "p1.png"]
    assert all(page["lines"] for page in body["results"])


def test_a_newer_recognizer_reads_again_the_unverified_lines_of_a_page_a_person_started(workers, client, lead,
                                                                                      tiny_models,
                                                                                      confident_recognizer):
    """The review queue serves the model lines of pages people started: after a promotion they must be
    the promoted recognizer's reading, not the one the page got first; a person's line stays theirs."""
    project = project_create(creator=lead, name="reread", use_base_models=False)
    image, _ = known_page(QUEUE_PAGE_SEED + 1)
    assert client.post(f"/api/projects/{project.pk}/pages/", {"files": [SimpleUploadedFile("p.png", png(image))]},
                       format="multipart").status_code == 201
    upload_model(client, project, tiny_models["recognizer"])
    wait_for(lambda: Prediction.objects.filter(page__project=project).exists(), timeout=90, what="pre-annotation")
    first, *rest = Line.objects.filter(project=project).order_by("order")
    assert rest and all(line.model_version == "detector-baseline+recognizer-v1" for line in rest)
    fixed = client.patch(f"/api/projects/{project.pk}/lines/{first.pk}/", {"version": first.version,
                                                                           "text": "lu par une personne"},
                         format="json")
    assert fixed.status_code == 200
    assert Page.objects.get(project=project).status == PageStatus.IN_PROGRESS

    upload_model(client, project, confident_recognizer)  # recognizer-v2, promoted: pre-annotation follows
    wait_for(lambda: not Line.objects.filter(project=project, verified_at__isnull=True,
                                             model_version__endswith="recognizer-v1").exists(),
             timeout=90, what="the started page's model lines read again")

    mine = Line.objects.get(pk=first.pk)
    assert (mine.text, mine.version, mine.source) == ("lu par une personne", fixed.json()["version"], "human")
    again = list(Line.objects.filter(project=project, verified_at__isnull=True).order_by("order"))
    assert [line.pk for line in again] == [line.pk for line in rest]  # the same lines in the same boxes
    assert [line.bbox for line in again] == [line.bbox for line in rest]
    from ml.predict import Predictor
    from webapp.corpus.selectors import page_image

    read = Predictor.from_checkpoints(None, confident_recognizer).recognize_regions(
        page_image(again[0].page), [line.bbox for line in again],
        [[tuple(point) for point in line.polygon] if line.polygon else None for line in again])
    assert [line.text for line in again] == [reading.text for reading in read]
    assert [line.confidence for line in again] == pytest.approx([reading.confidence for reading in read], abs=1e-3)
    for old, new in zip(rest, again):
        assert new.version == old.version + 1 and new.model_version == "detector-baseline+recognizer-v2"
        revision = new.revisions.order_by("-id").first()
        assert (revision.action, revision.model_version, revision.old_text, revision.new_text) == (
            "update", "detector-baseline+recognizer-v2", old.text, new.text)
    assert Page.objects.get(project=project).status == PageStatus.IN_PROGRESS
