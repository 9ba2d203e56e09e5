"""Training runs through real Redis, real Celery worker processes and the real test database."""

from __future__ import annotations

import io
import os
import signal
import threading

import pytest
import torch
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from tests.workers.cluster import wait_for
from tests.workers.factories import cremma_project, manager_of
from webapp.corpus.models import Line, Page, PageStatus, Split
from webapp.training import data
from webapp.training.models import ModelStatus, ModelVersion, RunStatus, TrainingRun

pytestmark = pytest.mark.django_db(transaction=True)

FINISHED = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED)
# Enough steps for the tiny model to read some characters (val CER ~0.8) whatever the seed (the run's
# id); with fewer, whether it beats the empty prediction depends on the first epoch's luck.
PROMOTABLE_EPOCHS = 80


def client_of(project) -> APIClient:
    client = APIClient()
    client.force_authenticate(manager_of(project))
    return client


def start_run(project, **body) -> dict:
    response = client_of(project).post(f"/api/projects/{project.pk}/training-runs/",
                                       {"kind": "recognizer", **body}, format="json")
    assert response.status_code in (200, 201), response.json()
    return response.json()


def finished(run_id: int, timeout: float = 150) -> TrainingRun:
    return wait_for(lambda: TrainingRun.objects.filter(pk=run_id, status__in=FINISHED).first(),
                    timeout=timeout, what=f"training run {run_id} to finish")


def test_a_request_ends_in_a_promoted_model(workers):
    project = cremma_project(name="promote", pages=6)
    body = start_run(project, epochs=PROMOTABLE_EPOCHS)
    run = finished(body["id"])
    assert run.status == RunStatus.SUCCEEDED, run.error
    version = run.model_version
    assert version is not None and run.promoted
    assert version.status == ModelStatus.PROMOTED and version.number == 1 and version.parent is None
    assert version.metrics["validation"]["cer"] < version.metrics["baseline"]["cer"]  # beat the empty prediction
    assert version.metrics["compared_with"] == "empty prediction"
    assert version.watermark_revision > 0 and version.trained_on_lines > 0
    # The watermark in people's terms: the verified lines it learned from, and their characters.
    train_lines = data.verified_lines(project=project, split=data.TRAIN_SPLIT)
    assert version.metrics["training"]["train_lines"] == version.trained_on_lines == train_lines.count()
    assert version.metrics["training"]["train_characters"] == sum(len(line.text) for line in train_lines) > 0
    assert run.progress["epoch"] >= 1 and run.progress["step"] > 0 and run.heartbeat_at is not None
    assert 0 <= run.progress["val_metric"] <= 1.5  # validation CER reported at the end of an epoch
    # Its confidence is calibrated on the validation lines, and the checkpoint carries the calibrators.
    figures = version.metrics["training"]
    assert figures["confidence_method"] in ("isotonic", "temperature") and 0 <= figures["confidence_ece"] <= 1
    meta = torch.load(version.checkpoint.open("rb"), map_location="cpu", weights_only=True)["meta"]
    assert meta["calibration"]["line_calibrator"]["method"] == figures["confidence_method"]
    assert meta["calibration"]["char_calibrator"] is not None

    detail = client_of(project).get(f"/api/projects/{project.pk}/training-runs/{run.pk}/").json()
    assert detail["status"] == "succeeded" and detail["model_version"]["label"] == "recognizer-v1"
    # The verdict says what the judge compared, in the run's own record.
    cer, baseline = version.metrics["validation"]["cer"], version.metrics["baseline"]["cer"]
    assert detail["outcome"] == "promoted"
    assert detail["verdict"] == f"promoted: val CER {cer:.3f} vs {baseline:.3f} of the empty prediction"
    promotions = client_of(project).get(f"/api/projects/{project.pk}/models/{version.pk}/").json()["promotions"]
    assert [(p["via"], p["promoted_by"], p["forced"], p["reason"]) for p in promotions] == [
        ("training", None, False, detail["verdict"])]


def test_a_run_that_does_not_beat_the_promoted_model_is_recorded_but_not_promoted(workers):
    project = cremma_project(name="reject", pages=6)
    first = finished(start_run(project, epochs=PROMOTABLE_EPOCHS)["id"])
    assert first.promoted, first.error
    project.promotion_margin = 1.0  # nothing can be better by a whole CER
    project.save()
    second = finished(start_run(project, epochs=1)["id"])
    assert second.status == RunStatus.SUCCEEDED and not second.promoted
    assert second.model_version.status == ModelStatus.REJECTED
    assert second.model_version.parent == first.model_version  # fine-tuned from the promoted model
    assert ModelVersion.objects.get(pk=first.model_version.pk).status == ModelStatus.PROMOTED
    rejected = second.model_version
    cer, baseline = rejected.metrics["validation"]["cer"], rejected.metrics["baseline"]["cer"]
    comparison = f"val CER {cer:.3f} vs {baseline:.3f}"
    detail = client_of(project).get(f"/api/projects/{project.pk}/training-runs/{second.pk}/").json()
    assert detail["outcome"] == "rejected"
    assert detail["verdict"] == f"rejected: {comparison} of recognizer-v1 (it must be lower by 1)"

    # Promoting it by hand needs force, and the forced promotion is recorded.
    promote = f"/api/projects/{project.pk}/models/{rejected.pk}/promote/"
    refused = client_of(project).post(promote, {}, format="json")
    assert refused.status_code == 409
    assert refused.json()["detail"] == (f"recognizer-v2 did not beat recognizer-v1: {comparison}; "
                                        "pass force to promote it anyway.")
    assert ModelVersion.objects.get(pk=rejected.pk).status == ModelStatus.REJECTED
    forced = client_of(project).post(promote, {"force": True}, format="json")
    assert forced.status_code == 200 and forced.json()["status"] == "promoted"
    assert forced.json()["promotions"][0]["forced"] is True
    assert forced.json()["promotions"][0]["promoted_by"] == manager_of(project).username


def test_two_concurrent_requests_start_one_run(workers):
    project = cremma_project(name="concurrent", pages=4)
    answers = []

    def request():
        from django.db import connection

        try:
            response = client_of(project).post(f"/api/projects/{project.pk}/training-runs/",
                                               {"kind": "recognizer", "epochs": 2}, format="json")
            answers.append((response.status_code, response.json()["id"]))
        finally:
            connection.close()

    threads = [threading.Thread(target=request) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(code for code, _ in answers) == [200, 201]
    assert len({run_id for _, run_id in answers}) == 1
    run = TrainingRun.objects.get(project=project)
    assert run.retrain_after  # the second request asked for one more run after this one
    finished(run.pk)
    follow_up = wait_for(lambda: TrainingRun.objects.filter(project=project).exclude(pk=run.pk).first(),
                         timeout=30, what="the follow-up run")
    finished(follow_up.pk)


def test_a_follow_up_run_has_the_options_of_the_request_that_asked_for_it(workers):
    project = cremma_project(name="follow-up", pages=4)
    first = start_run(project, epochs=15)
    # Asked while the first run is active: it joins that run and asks for one more, with its own options.
    again = start_run(project, epochs=3, max_minutes=5, from_scratch=True)
    assert again["id"] == first["id"] and again["retrain_after"]
    assert again["retrain_options"]["epochs"] == 3 and again["retrain_options"]["from_scratch"] is True
    finished(first["id"])
    follow_up = wait_for(lambda: TrainingRun.objects.filter(project=project).exclude(pk=first["id"]).first(),
                         timeout=30, what="the follow-up run")
    assert (follow_up.epochs, follow_up.max_minutes, follow_up.from_scratch, follow_up.parent) == (3, 5.0, True, None)
    assert follow_up.trigger == "again" and follow_up.triggered_by == manager_of(project)
    assert finished(follow_up.pk).status == RunStatus.SUCCEEDED


def test_training_is_refused_without_enough_validation_lines(workers):
    project = cremma_project(name="refused", pages=3, val_pages=0)
    response = client_of(project).post(f"/api/projects/{project.pk}/training-runs/", {"kind": "recognizer"},
                                       format="json")
    assert response.status_code == 400
    assert "validation split has 0 human-verified lines" in response.json()["detail"]
    assert not TrainingRun.objects.filter(project=project).exists()


def test_cancel_stops_a_running_run(workers):
    project = cremma_project(name="cancel", pages=6)
    run_id = start_run(project, epochs=200)["id"]
    wait_for(lambda: TrainingRun.objects.filter(pk=run_id, progress__has_key="step").exists(), timeout=60,
             what="progress")
    response = client_of(project).post(f"/api/projects/{project.pk}/training-runs/{run_id}/cancel/")
    assert response.status_code == 200 and response.json()["cancel_requested"]
    run = finished(run_id, timeout=60)
    assert run.status == RunStatus.CANCELLED and not run.promoted


def _running_with_checkpoint(run_id: int) -> bool:
    from django.core.files.storage import default_storage

    run = TrainingRun.objects.get(pk=run_id)
    return (run.status == RunStatus.RUNNING and run.progress.get("epoch", 0) >= 1
            and default_storage.exists(f"{run.storage_prefix}/last.pt"))


def test_killing_the_pool_process_resumes_the_run(workers):
    project = cremma_project(name="kill-pool", pages=8)
    run_id = start_run(project, epochs=40)["id"]
    wait_for(lambda: _running_with_checkpoint(run_id), timeout=120, what="a stored checkpoint")
    killed_at_step = TrainingRun.objects.get(pk=run_id).progress["step"]
    for pid in workers.pool_child_pids("gpu"):
        os.kill(pid, signal.SIGKILL)
    run = finished(run_id, timeout=240)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.progress["step"] > killed_at_step
    assert ModelVersion.objects.filter(project=project, status=ModelStatus.PROMOTED).count() <= 1


def test_killing_the_whole_worker_resumes_the_run_on_a_new_worker(workers):
    project = cremma_project(name="kill-worker", pages=8)
    run_id = start_run(project, epochs=40)["id"]
    wait_for(lambda: _running_with_checkpoint(run_id), timeout=120, what="a stored checkpoint")
    workers.kill("gpu")
    # The heartbeat goes stale; beat's watchdog sees no live lock holder and requeues the run.
    wait_for(lambda: TrainingRun.objects.get(pk=run_id).attempts >= 2, timeout=60, what="the watchdog")
    workers.restart("gpu")
    run = finished(run_id, timeout=240)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.attempts >= 2
    assert ModelVersion.objects.filter(project=project, training_run__pk=run_id).count() == 1


def test_a_checkpoint_carrying_a_pickle_payload_is_refused_on_upload(workers, tmp_path):
    project = cremma_project(name="upload", pages=2)

    class Payload:
        def __reduce__(self):
            return (os.system, ("echo owned > /tmp/inkloop-owned",))

    buffer = io.BytesIO()
    torch.save({"kind": "recognizer", "meta": Payload()}, buffer)
    response = client_of(project).post(f"/api/projects/{project.pk}/models/",
                                       {"checkpoint": SimpleUploadedFile("evil.pt", buffer.getvalue())},
                                       format="multipart")
    assert response.status_code == 400
    assert "load safely" in response.json()["detail"]
    assert not ModelVersion.objects.filter(project=project).exists()
    assert not os.path.exists("/tmp/inkloop-owned")


def test_a_downloaded_model_uploads_again_and_rollback_restores_it(workers):
    project = cremma_project(name="roundtrip", pages=6)
    first = finished(start_run(project, epochs=PROMOTABLE_EPOCHS)["id"])
    assert first.promoted, first.error
    client = client_of(project)
    archive = client.get(f"/api/projects/{project.pk}/models/{first.model_version.pk}/download/")
    assert archive.status_code == 200
    uploaded = client.post(f"/api/projects/{project.pk}/models/",
                           {"checkpoint": SimpleUploadedFile("model.zip", archive.content), "promote": "true"},
                           format="multipart")
    assert uploaded.status_code == 201, uploaded.json()
    assert uploaded.json()["status"] == "promoted" and uploaded.json()["number"] == 2
    assert uploaded.json()["checkpoint_sha256"] == first.model_version.checkpoint_sha256
    rolled_back = client.post(f"/api/projects/{project.pk}/models/{first.model_version.pk}/promote/")
    assert rolled_back.status_code == 200 and rolled_back.json()["status"] == "promoted"
    statuses = dict(ModelVersion.objects.filter(project=project).values_list("number", "status"))
    assert statuses == {1: "promoted", 2: "ready"}


def test_a_detector_run_is_judged_by_f1_on_the_validation_pages(workers):
    project = cremma_project(name="detector", pages=5)
    # One training page only partly checked: it trains where it is known and never validates.
    page = Page.objects.filter(project=project, split=Split.TRAIN).order_by("id").first()
    Line.objects.filter(page=page, order__gte=3).update(verified_at=None, verified_by=None)
    Page.objects.filter(pk=page.pk).update(status=PageStatus.IN_PROGRESS)
    run = finished(start_run(project, kind="detector", epochs=2)["id"])
    assert run.status == RunStatus.SUCCEEDED, run.error
    version = run.model_version
    assert (version.trained_on_pages, version.metrics["training"]["train_partial_pages"]) == (3, 1)
    assert version.kind == "detector" and version.metrics["compared_with"] == "empty prediction"
    f1 = version.metrics["validation"]["f1"]
    assert version.metrics["baseline"]["f1"] == 0.0 and version.metrics["validation"]["pages"] == 2
    expected = ModelStatus.PROMOTED if f1 > project.promotion_margin else ModelStatus.REJECTED
    assert version.status == expected
