"""inkloop and a real Label Studio: provisioning, tasks, annotations both ways, predictions, ML backend.

What inkloop sends to Label Studio is sent by the session's real workers, after the write
that made it necessary commits: those effects are waited for. What Label Studio sends
(webhooks, ML-backend calls) has arrived when its API call returns.
"""

from __future__ import annotations

import copy
from datetime import timedelta

import pytest
import requests
from django.core.management import call_command
from django.utils.dateparse import parse_datetime

from labeling.config import POLYGON
from labeling.models import LabelStudioProject, LabelStudioTask, SyncClash, WebhookEvent
from labeling.services.provisioning import SECRET_HEADER, VIEW_ORDERING, marker, project_provision
from labeling.services.writeback import page_write_back
from tests.labeling.helpers import (ASYNC_TIMEOUT, PAGE_SIZE, project_with_annotator, region, texts,
                                    written_back)
from tests.workers.cluster import wait_for
from webapp.corpus.models import Line, LineRevision, LineSource, RevisionAction
from webapp.corpus.services import line_update, pages_delete
from webapp.predictions.models import Prediction
from webapp.queueing import DEFAULT_QUEUE, sender
from webapp.training.models import TrainingRun

pytestmark = pytest.mark.django_db(transaction=True)

W, H = PAGE_SIZE


def task_of(page) -> LabelStudioTask:
    return LabelStudioTask.objects.get(page=page)


def annotate(annotator, page, result) -> dict:
    created = annotator.client.annotations.create(id=task_of(page).ls_task_id, result=result)
    return {"id": created.id}


def webhook(live_server, payload, *, secret) -> requests.Response:
    return requests.post(f"{live_server.url}/labeling/webhook/", json=payload, timeout=15,
                         headers={SECRET_HEADER: secret} if secret is not None else {})


def test_provisioning_twice_makes_one_of_everything(labeling, admin_ls, annotator, settings):
    project, person, _ = project_with_annotator(annotator_email=annotator.email)
    first = LabelStudioProject.objects.get(project=project)
    again = project_provision(project=project)

    assert again.ls_project_id == first.ls_project_id
    assert [p.id for p in admin_ls.projects.list()
            if (p.description or "").endswith(marker(project))] == [again.ls_project_id]
    hooks = [hook for hook in admin_ls.webhooks.list(project=again.ls_project_id) if hook.is_active]
    assert len(hooks) == 1 and hooks[0].headers == {SECRET_HEADER: settings.LABEL_STUDIO_WEBHOOK_SECRET}
    assert sorted(hooks[0].actions) == ["ANNOTATIONS_DELETED", "ANNOTATION_CREATED", "ANNOTATION_UPDATED"]
    backends = admin_ls.ml.list(project=again.ls_project_id)
    assert len(backends) == 1 and backends[0].url.startswith(settings.INKLOOP_PUBLIC_URL)
    views = admin_ls.views.list(project=again.ls_project_id)
    assert len(views) == 1 and views[0].data["ordering"] == VIEW_ORDERING
    assert person.label_studio.ls_user_id == annotator.ls_user_id  # matched by email


def test_pages_become_tasks_with_loadable_images_and_deleted_pages_lose_them(labeling, admin_ls, annotator):
    project, _, pages = project_with_annotator(annotator_email=annotator.email, pages=2)
    tasks = {task.id: task for task in admin_ls.tasks.list(project=project.label_studio.ls_project_id)}
    assert set(tasks) == {task_of(page).ls_task_id for page in pages}

    image = requests.get(tasks[task_of(pages[0]).ls_task_id].data["image"], timeout=15)
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")

    gone = task_of(pages[1]).ls_task_id
    pages_delete(pages=[pages[1]])
    wait_for(lambda: {task.id for task in admin_ls.tasks.list(project=project.label_studio.ls_project_id)}
             == set(tasks) - {gone}, timeout=ASYNC_TIMEOUT, what="the deleted page's task gone from Label Studio")


def test_an_annotation_becomes_lines_by_its_annotator_and_updates_keep_line_ids(labeling, annotator):
    project, person, [page] = project_with_annotator(annotator_email=annotator.email)
    result = region("r1", x=10, y=10, width=50, height=5, text="Je soussigné") + \
        region("r2", x=10, y=20, width=40, height=5, text="lègue tous mes biens")
    created = annotate(annotator, page, result)

    lines = {line.ls_region_id: line for line in Line.objects.filter(page=page)}
    assert {key: line.text for key, line in lines.items()} == {"r1": "Je soussigné", "r2": "lègue tous mes biens"}
    assert lines["r1"].bbox == (80, 60, 480, 90) and lines["r1"].verified_by == person
    assert lines["r1"].source == LineSource.HUMAN

    updated = region("r1", x=11, y=10, width=50, height=5, text="Je soussignée") + \
        region("r2", x=10, y=20, width=40, height=5, text="lègue tous mes biens")
    annotator.client.annotations.update(id=created["id"], result=updated)
    r1 = Line.objects.get(pk=lines["r1"].pk)
    assert (r1.text, r1.bbox, r1.version) == ("Je soussignée", (88, 60, 488, 90), 2)
    revision = LineRevision.objects.filter(line_ref=r1.pk).last()
    assert (revision.action, revision.user, revision.old_text) == (RevisionAction.UPDATE, person, "Je soussigné")
    assert Line.objects.get(pk=lines["r2"].pk).version == 1  # unchanged region, untouched line

    annotator.client.annotations.update(id=created["id"], result=updated[:2])  # region r2 removed
    assert list(Line.objects.filter(page=page).values_list("pk", flat=True)) == [r1.pk]
    assert LineRevision.objects.filter(line_ref=lines["r2"].pk, action=RevisionAction.DELETE).exists()


def test_a_repeated_or_older_delivery_changes_nothing(labeling, annotator, live_server, settings):
    project, _, [page] = project_with_annotator(annotator_email=annotator.email)
    created = annotate(annotator, page, region("r1", x=10, y=10, width=50, height=5, text="premier"))
    annotator.client.annotations.update(id=created["id"], result=region("r1", x=10, y=10, width=50, height=5,
                                                                        text="second"))
    newest = WebhookEvent.objects.filter(action="ANNOTATION_UPDATED").last()
    line = Line.objects.get(page=page)
    assert (line.text, line.version) == ("second", 2)

    assert webhook(live_server, newest.payload, secret=settings.LABEL_STUDIO_WEBHOOK_SECRET).status_code == 200
    newest.refresh_from_db()
    assert newest.deliveries == 2

    older = copy.deepcopy(newest.payload)
    stamp = parse_datetime(older["annotation"]["updated_at"]) - timedelta(seconds=30)
    older["annotation"]["updated_at"] = stamp.isoformat()
    older["annotation"]["result"] = region("r1", x=10, y=10, width=50, height=5, text="stale")
    answer = webhook(live_server, older, secret=settings.LABEL_STUDIO_WEBHOOK_SECRET)
    assert answer.status_code == 200 and "older" in answer.json()["outcome"]
    line.refresh_from_db()
    assert (line.text, line.version) == ("second", 2)


def test_a_line_edited_in_inkloop_is_written_into_the_annotation(labeling, annotator, admin_ls):
    project, person, [page] = project_with_annotator(annotator_email=annotator.email)
    created = annotate(annotator, page, region("r1", x=10, y=10, width=50, height=5, text="testamant"))
    line = Line.objects.get(page=page)

    line_update(line_id=line.pk, page=page, user=person, expected_version=line.version, text="testament")

    wait_for(lambda: written_back(page), timeout=ASYNC_TIMEOUT, what="the edit written back")
    assert texts(admin_ls.annotations.get(id=created["id"]).result) == [["testament"]]
    line.refresh_from_db()
    assert (line.text, line.version) == ("testament", 2)  # the echo of our own write changed nothing


def test_an_annotation_older_than_an_inkloop_edit_does_not_overwrite_it(labeling, annotator, admin_ls,
                                                                          live_server, settings, monkeypatch):
    project, person, [page] = project_with_annotator(annotator_email=annotator.email)
    created = annotate(annotator, page, region("r1", x=10, y=10, width=50, height=5, text="avant"))
    event = WebhookEvent.objects.filter(action="ANNOTATION_CREATED").last()
    line = Line.objects.get(page=page)
    with monkeypatch.context() as queued:  # the write-back of this edit has not run yet
        queued.setattr("labeling.receivers.enqueue_on_commit", lambda *args, **kwargs: None)
        line_update(line_id=line.pk, page=page, user=person, expected_version=line.version, text="inkloop")

    late = copy.deepcopy(event.payload)  # an annotator's save from before the inkloop edit, delivered after it
    late["annotation"]["updated_at"] = (parse_datetime(event.payload["annotation"]["updated_at"])
                                        + timedelta(milliseconds=1)).isoformat()
    late["annotation"]["result"] = region("r1", x=10, y=10, width=50, height=5, text="annotateur")
    assert webhook(live_server, late, secret=settings.LABEL_STUDIO_WEBHOOK_SECRET).status_code == 200

    line.refresh_from_db()
    assert line.text == "inkloop"
    clash = SyncClash.objects.get(page=page)
    assert (clash.label_studio_text, clash.kept_text, clash.annotator) == ("annotateur", "inkloop", person)
    assert LineRevision.objects.filter(line=line, action=RevisionAction.REVERT, old_text="annotateur").exists()
    # and Label Studio is brought up to inkloop's text
    wait_for(lambda: texts(admin_ls.annotations.get(id=created["id"]).result) == [["inkloop"]],
             timeout=ASYNC_TIMEOUT, what="inkloop's text written back over the clash")


def test_reconciliation_repairs_a_lost_webhook(labeling, annotator, admin_ls):
    project, _, [page] = project_with_annotator(annotator_email=annotator.email)
    created = annotate(annotator, page, region("r1", x=10, y=10, width=50, height=5, text="vu"))
    link = project.label_studio
    admin_ls.webhooks.update(id=link.webhook_id, url=admin_ls.webhooks.get(id=link.webhook_id).url, is_active=False)
    annotator.client.annotations.update(id=created["id"], result=region("r1", x=10, y=10, width=50, height=5,
                                                                        text="perdu puis retrouvé"))
    assert Line.objects.get(page=page).text == "vu"  # the delivery was lost

    call_command("sync_label_studio", project=project.pk)

    assert Line.objects.get(page=page).text == "perdu puis retrouvé"
    assert admin_ls.webhooks.get(id=link.webhook_id).is_active  # and the webhook is repaired

    # The same repair as beat has it made: its task, sent by name, run by a worker.
    admin_ls.webhooks.update(id=link.webhook_id, url=admin_ls.webhooks.get(id=link.webhook_id).url, is_active=False)
    annotator.client.annotations.update(id=created["id"], result=region("r1", x=10, y=10, width=50, height=5,
                                                                        text="perdu deux fois"))
    assert Line.objects.get(page=page).text == "perdu puis retrouvé"
    sender().send_task("inkloop.labeling.sync", queue=DEFAULT_QUEUE)
    wait_for(lambda: Line.objects.get(page=page).text == "perdu deux fois", timeout=ASYNC_TIMEOUT,
             what="the worker's reconciliation")
    assert admin_ls.webhooks.get(id=link.webhook_id).is_active


def _model_lines(page, *, label: str, confidences: list[float], polygons: dict[int, list] | None = None) -> Prediction:
    polygons = polygons or {}
    Line.objects.bulk_create([Line(page=page, project_id=page.project_id, x0=40, y0=40 + 60 * i, x1=400,
                                   y1=80 + 60 * i, order=i, text=f"ligne {i}", source=LineSource.MODEL,
                                   confidence=confidence, model_version=label, polygon=polygons.get(i))
                              for i, confidence in enumerate(confidences)])
    return Prediction.objects.create(page=page, model_label=label, lines_predicted=len(confidences),
                                     page_score=sum(confidences) / len(confidences))


def test_predictions_reach_label_studio_with_versions_and_scores(labeling, annotator, admin_ls):
    project, _, [page] = project_with_annotator(annotator_email=annotator.email)
    _model_lines(page, label="detector-v1+recognizer-v1", confidences=[0.9, 0.5])
    Line.objects.filter(page=page).delete()
    outline = [[40, 110], [400, 100], [400, 140], [40, 150]]  # a slanted line the detector outlined
    _model_lines(page, label="detector-v1+recognizer-v2", confidences=[0.8, 0.4], polygons={1: outline})

    def pushed():
        found = admin_ls.predictions.list(task=task_of(page).ls_task_id)
        settled = Prediction.objects.filter(page=page, pushed_to_label_studio=True).count() == 2
        return found if settled and [item.model_version for item in found] == ["detector-v1+recognizer-v2"] else None

    [prediction] = wait_for(pushed, timeout=ASYNC_TIMEOUT, what="the second version's prediction, alone")
    assert prediction.score == pytest.approx(0.6)
    shapes = {item["id"]: item for item in prediction.result if item["type"] != "textarea"}
    by_text = {item["value"]["text"][0]: shapes[item["id"]] for item in prediction.result if item["type"] == "textarea"}
    assert sorted(by_text) == ["ligne 0", "ligne 1"]
    assert [by_text[text]["score"] for text in ("ligne 0", "ligne 1")] == pytest.approx([0.8, 0.4])
    assert by_text["ligne 0"]["type"] == "rectanglelabels"
    assert (by_text["ligne 1"]["type"], by_text["ligne 1"]["from_name"]) == ("polygonlabels", POLYGON)
    assert [[x * W / 100, y * H / 100] for x, y in by_text["ligne 1"]["value"]["points"]] == \
        [pytest.approx(point) for point in outline]


def test_label_studio_asks_the_ml_backend_for_lines(labeling, annotator, admin_ls, monkeypatch):
    from labeling.services import ml_backend

    project, _, [page] = project_with_annotator(annotator_email=annotator.email)
    _model_lines(page, label="detector-v1+recognizer-v1", confidences=[0.7])
    wait_for(lambda: admin_ls.predictions.list(task=task_of(page).ls_task_id), timeout=ASYNC_TIMEOUT,
             what="the pre-annotation pushed")
    asked = []
    real = ml_backend.predict_tasks
    monkeypatch.setattr(ml_backend, "predict_tasks", lambda **kw: asked.append(kw["tasks"]) or real(**kw))
    admin_ls.predictions.delete(id=admin_ls.predictions.list(task=task_of(page).ls_task_id)[0].id)

    admin_ls.actions.create(id="retrieve_tasks_predictions", project=project.label_studio.ls_project_id,
                            selected_items={"all": False, "included": [task_of(page).ls_task_id]})

    assert [task["id"] for task in asked[0]] == [task_of(page).ls_task_id]
    [prediction] = admin_ls.predictions.list(task=task_of(page).ls_task_id)
    assert [item["value"]["text"] for item in prediction.result if item["type"] == "textarea"] == [["ligne 0"]]


def test_start_training_from_label_studio_creates_a_training_run(labeling, annotator, admin_ls, settings,
                                                                  monkeypatch):
    monkeypatch.setattr("webapp.training.services.enqueue_on_commit", lambda *args, **kwargs: None)
    settings.INKLOOP_MIN_VAL_LINES = 1
    project, person, pages = project_with_annotator(annotator_email=annotator.email, pages=2)
    for split, page in zip(["val", "train"], pages):
        type(page).objects.filter(pk=page.pk).update(split=split)
        annotate(annotator, page, region("r1", x=10, y=10, width=50, height=5, text=f"ligne {split}"))

    admin_ls.ml.train(id=project.label_studio.ml_backend_id)

    run = TrainingRun.objects.get(project=project)
    assert (run.kind, run.trigger, run.triggered_by) == ("recognizer", "label-studio", None)


def test_inkloops_own_write_coming_back_verifies_nothing(labeling, annotator, admin_ls):
    project, person, [page] = project_with_annotator(annotator_email=annotator.email)
    _model_lines(page, label="detector-v1+recognizer-v1", confidences=[0.9, 0.3])
    first, second = Line.objects.filter(page=page).order_by("order")

    line_update(line_id=first.pk, page=page, user=person, expected_version=first.version, text="corrigée")

    wait_for(lambda: written_back(page), timeout=ASYNC_TIMEOUT, what="the edit written back")
    [written] = admin_ls.annotations.list(id=task_of(page).ls_task_id)
    assert sorted(text for [text] in texts(written.result)) == ["corrigée", "ligne 1"]
    second.refresh_from_db()
    assert second.verified_at is None and second.version == 1  # a model suggestion stays a suggestion


def test_deleting_the_annotation_in_label_studio_deletes_its_lines_but_not_newer_inkloop_edits(
        labeling, annotator, admin_ls, live_server, settings, monkeypatch):
    project, person, [page] = project_with_annotator(annotator_email=annotator.email)
    created = annotate(annotator, page, region("r1", x=10, y=10, width=50, height=5, text="effacée")
                       + region("r2", x=10, y=20, width=50, height=5, text="gardée"))
    lines = {line.ls_region_id: line for line in Line.objects.filter(page=page)}
    with monkeypatch.context() as queued:  # the write-back of this edit has not run yet
        queued.setattr("labeling.receivers.enqueue_on_commit", lambda *args, **kwargs: None)
        line_update(line_id=lines["r2"].pk, page=page, user=person, expected_version=1, text="gardée ici")

    annotator.client.annotations.delete(id=created["id"])  # as the annotator would, in Label Studio

    wait_for(lambda: not Line.objects.filter(pk=lines["r1"].pk).exists(), timeout=ASYNC_TIMEOUT,
             what="the deleted annotation's line deleted")
    revision = LineRevision.objects.get(line_ref=lines["r1"].pk, action=RevisionAction.DELETE)
    assert (revision.old_text, revision.user) == ("effacée", None)  # Label Studio does not say who deleted it
    assert Line.objects.get(pk=lines["r2"].pk).text == "gardée ici"  # edited in inkloop since: kept
    # ... and written back, into a new annotation, so Label Studio shows it again
    wait_for(lambda: [texts(item.result) for item in admin_ls.annotations.list(id=task_of(page).ls_task_id)]
             == [[["gardée ici"]]], timeout=ASYNC_TIMEOUT, what="the kept line written back")
    wait_for(lambda: written_back(page), timeout=ASYNC_TIMEOUT, what="the write-back recorded")

    deletion = WebhookEvent.objects.get(action="ANNOTATIONS_DELETED")
    revisions = LineRevision.objects.filter(page=page).count()
    assert webhook(live_server, deletion.payload, secret=settings.LABEL_STUDIO_WEBHOOK_SECRET).status_code == 200
    deletion.refresh_from_db()
    assert deletion.deliveries == 2  # a duplicate delivery: a no-op
    assert list(Line.objects.filter(page=page).values_list("pk", flat=True)) == [lines["r2"].pk]
    assert LineRevision.objects.filter(page=page).count() == revisions


def test_deleting_the_newest_annotation_brings_back_the_one_left(labeling, annotator, admin_ls):
    project, person, [page] = project_with_annotator(annotator_email=annotator.email)
    first = annotate(annotator, page, region("r1", x=10, y=10, width=50, height=5, text="première"))
    second = annotate(annotator, page, region("r1", x=10, y=10, width=50, height=5, text="seconde")
                      + region("r3", x=10, y=30, width=50, height=5, text="ajoutée"))
    r1 = Line.objects.get(page=page, ls_region_id="r1")
    assert (r1.text, task_of(page).annotation_id) == ("seconde", second["id"])

    annotator.client.annotations.delete(id=second["id"])

    wait_for(lambda: task_of(page).annotation_id == first["id"], timeout=ASYNC_TIMEOUT,
             what="the remaining annotation applied")
    assert list(Line.objects.filter(page=page).values_list("pk", "text")) == [(r1.pk, "première")]  # same line id
    update = LineRevision.objects.filter(line_ref=r1.pk).last()
    assert (update.action, update.user, update.old_text) == (RevisionAction.UPDATE, person, "seconde")
    assert LineRevision.objects.filter(page=page, action=RevisionAction.DELETE, old_text="ajoutée").exists()
    assert [texts(item.result) for item in admin_ls.annotations.list(id=task_of(page).ls_task_id)] == [[["première"]]]


def test_reconciliation_follows_a_deletion_whose_webhook_was_lost(labeling, annotator, admin_ls):
    project, person, [page] = project_with_annotator(annotator_email=annotator.email)
    created = annotate(annotator, page, region("r1", x=10, y=10, width=50, height=5, text="disparue"))
    line = Line.objects.get(page=page)
    link = project.label_studio
    admin_ls.webhooks.update(id=link.webhook_id, url=admin_ls.webhooks.get(id=link.webhook_id).url, is_active=False)
    annotator.client.annotations.delete(id=created["id"])
    assert Line.objects.filter(pk=line.pk).exists()  # the delivery was lost

    call_command("sync_label_studio", project=project.pk)

    assert not Line.objects.filter(page=page).exists()
    assert LineRevision.objects.filter(line_ref=line.pk, action=RevisionAction.DELETE, old_text="disparue").exists()
    assert task_of(page).annotation_id is None
    assert admin_ls.annotations.list(id=task_of(page).ls_task_id) == []  # nothing was written back


def test_a_rotated_line_edited_in_inkloop_goes_back_as_a_polygon(labeling, annotator, admin_ls):
    project, person, [page] = project_with_annotator(annotator_email=annotator.email)
    created = annotate(annotator, page, region("r1", x=20, y=20, width=40, height=6, text="penchée", rotation=8))
    line = Line.objects.get(page=page)
    assert line.polygon is not None and len(line.polygon) == 4

    line_update(line_id=line.pk, page=page, user=person, expected_version=line.version, text="penchée, relue")

    wait_for(lambda: written_back(page), timeout=ASYNC_TIMEOUT, what="the edit written back")
    stored = admin_ls.annotations.get(id=created["id"])
    [shape] = [item for item in stored.result if item["type"] != "textarea"]
    assert (shape["id"], shape["type"], shape["from_name"]) == ("r1", "polygonlabels", POLYGON)
    corners = [[x * W / 100, y * H / 100] for x, y in shape["value"]["points"]]
    assert corners == [pytest.approx(point) for point in line.polygon]
    assert texts(stored.result) == [["penchée, relue"]]
    assert page_write_back(page_id=page.pk) == "already in agreement"  # the polygon compares equal

    # The annotator saves it again unchanged: the polygon reads back as the same line, so nothing changes.
    annotator.client.annotations.update(id=created["id"], result=stored.result)
    line.refresh_from_db()
    assert (line.text, line.version) == ("penchée, relue", 2)
    assert corners == [pytest.approx(point) for point in line.polygon]
