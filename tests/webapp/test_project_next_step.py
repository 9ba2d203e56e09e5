"""The dashboard's next-step sentence, per project state, and the per-member progress table."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from webapp.corpus.models import Line, LineRevision, LineSource, Page, RevisionAction, Split
from webapp.corpus.services import line_update
from webapp.projects.models import Strategy
from webapp.review.selectors_projects import project_next_step, verified_lines_per_member
from webapp.training.models import ModelStatus, ModelVersion, RunStatus, TrainingRun

pytestmark = pytest.mark.django_db


def add_page(project, split: str, name: str) -> Page:
    return Page.objects.create(project=project, image=f"{name}.png", original_name=f"{name}.png", extension="png",
                               sha256=name.ljust(64, "0"), width=100, height=100, group=name, split=split)


def add_lines(page: Page, count: int, *, verified: bool, confidence: float | None = None) -> list[Line]:
    now = timezone.now() if verified else None
    return Line.objects.bulk_create([
        Line(page=page, project_id=page.project_id, x0=0, y0=i, x1=10, y1=i + 1, order=i, text=f"line {i}",
             source=LineSource.HUMAN if verified else LineSource.MODEL, confidence=confidence, verified_at=now)
        for i in range(count)])


def add_version(project, number: int, *, trained_on: int, source: str = "trained") -> ModelVersion:
    return ModelVersion.objects.create(project=project, kind="recognizer", number=number, source=source,
                                       checkpoint=f"v{number}.pt", checkpoint_sha256=f"{number:064d}",
                                       trained_on_lines=trained_on,
                                       status=ModelStatus.PROMOTED if number == 1 else ModelStatus.READY)


@pytest.fixture
def min_val(settings):
    settings.INKLOOP_MIN_VAL_LINES = 3
    return 3


def test_no_pages_says_upload(project):
    step = project_next_step(project)
    assert (step.kind, step.text) == ("upload", "Upload pages: the project has none yet.")


def test_no_verified_validation_lines_and_no_model_names_the_real_minimum(project, min_val):
    add_lines(add_page(project, Split.VAL, "val"), 2, verified=True)
    add_lines(add_page(project, Split.TRAIN, "train"), 5, verified=True)
    step = project_next_step(project)
    assert step.kind == "verify-val"
    assert step.text == ("Verify at least 3 lines on validation pages before the first training run "
                         "(2 verified so far).")


def test_no_validation_page_says_so(project, min_val):
    add_lines(add_page(project, Split.TRAIN, "train"), 5, verified=True)
    step = project_next_step(project)
    assert step.kind == "verify-val" and "no page is in the validation split yet" in step.text


def test_a_base_model_is_not_a_first_training_run(project, min_val):
    # The shipped base model pre-annotates, but no run has trained on this project yet.
    add_version(project, 1, trained_on=0, source="base")
    add_lines(add_page(project, Split.VAL, "val"), 1, verified=True)
    assert "before the first training run" in project_next_step(project).text


def test_enough_validation_but_no_training_lines(project, min_val):
    add_lines(add_page(project, Split.VAL, "val"), 3, verified=True)
    add_lines(add_page(project, Split.TRAIN, "train"), 4, verified=False)
    step = project_next_step(project)
    assert (step.kind, step.text) == ("verify-train", "Verify lines on training pages: a training run needs at "
                                                      "least one.")
    # Lines a model transcribed wait in the queue: that is where to verify them.
    add_lines(add_page(project, Split.TRAIN, "more"), 2, verified=False, confidence=0.5)
    assert project_next_step(project).text == ("Verify lines on training pages: a training run needs at least one; "
                                               "2 lines wait for review — least certain first.")


def test_ready_for_the_first_run(project, min_val):
    add_lines(add_page(project, Split.VAL, "val"), 3, verified=True)
    add_lines(add_page(project, Split.TRAIN, "train"), 7, verified=True)
    step = project_next_step(project)
    assert step.kind == "first-run"
    assert step.text.startswith("Ready for the first training run: 7 verified training lines and 3 validation lines.")


def test_an_active_run_shows_its_version_and_percent(project, min_val):
    add_page(project, Split.TRAIN, "train")
    add_version(project, 1, trained_on=0)
    add_version(project, 2, trained_on=10)
    run = TrainingRun.objects.create(project=project, kind="recognizer", status=RunStatus.RUNNING,
                                     progress={"epoch": 2, "step": 40, "total_steps": 100, "loss": 1.2})
    assert project_next_step(project).text == "Training recognizer v3: 40 %."
    TrainingRun.objects.filter(pk=run.pk).update(status=RunStatus.QUEUED, progress={})
    step = project_next_step(project)
    assert (step.kind, step.text) == ("training", "Training recognizer v3: queued, waiting for a worker.")


def test_lines_waiting_for_review(project, min_val):
    add_lines(add_page(project, Split.VAL, "val"), 3, verified=True)
    train = add_page(project, Split.TRAIN, "train")
    add_lines(train, 2, verified=True)
    add_version(project, 1, trained_on=2)
    add_lines(add_page(project, Split.TRAIN, "more"), 412, verified=False, confidence=0.5)
    step = project_next_step(project)
    assert (step.kind, step.text) == ("review", "412 lines wait for review — least certain first.")
    project.strategy = Strategy.RANDOM
    assert project_next_step(project).text == "412 lines wait for review — in random order."


def test_all_verified_and_the_model_is_current(project, min_val):
    add_lines(add_page(project, Split.VAL, "val"), 3, verified=True)
    add_lines(add_page(project, Split.TRAIN, "train"), 5, verified=True)
    add_version(project, 1, trained_on=5)
    step = project_next_step(project)
    assert step.kind == "done"
    assert step.text.startswith("All lines are verified and recognizer-v1 has learned from every verified "
                                "training line.")


def test_all_verified_and_the_latest_model_not_in_use_names_the_one_that_is(project, min_val):
    add_lines(add_page(project, Split.VAL, "val"), 3, verified=True)
    add_lines(add_page(project, Split.TRAIN, "train"), 5, verified=True)
    add_version(project, 1, trained_on=0, source="base")
    add_version(project, 2, trained_on=5)                 # rejected, or rolled back from: v1 is promoted
    step = project_next_step(project)
    assert step.kind == "done"
    assert step.text.startswith("All lines are verified and recognizer-v2, the latest version, has learned from "
                                "every verified training line; recognizer-v1 is the one in use.")


def test_all_verified_with_lines_newer_than_the_model_says_retrain(project, min_val):
    add_lines(add_page(project, Split.VAL, "val"), 3, verified=True)
    add_lines(add_page(project, Split.TRAIN, "train"), 9, verified=True)
    add_version(project, 1, trained_on=5)
    step = project_next_step(project)
    assert (step.kind, step.text) == ("retrain", "All lines are verified; 4 are newer than recognizer-v1: "
                                                 "retrain to learn from them.")
    project.retrain_auto, project.retrain_new_lines = True, 200
    assert "Automatic retraining starts at 200" in project_next_step(project).text


def test_unverified_lines_no_model_transcribed(project, min_val):
    add_lines(add_page(project, Split.VAL, "val"), 3, verified=True)
    train = add_page(project, Split.TRAIN, "train")
    add_lines(train, 2, verified=True)
    add_version(project, 1, trained_on=2)
    Line.objects.create(page=train, project=project, x0=0, y0=50, x1=10, y1=60, order=9, text="drawn",
                        source=LineSource.HUMAN)
    step = project_next_step(project)
    assert step.kind == "predict" and step.text.startswith("1 line without a model's transcription")


def test_progress_counts_each_line_once_per_person_and_day(project, manager, member, django_assert_num_queries):
    annotator = member("annotator")
    page = add_page(project, Split.TRAIN, "train")
    lines = add_lines(page, 3, verified=False, confidence=0.4)
    for line in lines[:2]:
        line_update(line_id=line.pk, page=page, user=annotator, expected_version=line.version)
    # Saving the same line again the same day is still one line verified.
    again = Line.objects.get(pk=lines[0].pk)
    line_update(line_id=again.pk, page=page, user=annotator, expected_version=again.version, text="fixed")
    line_update(line_id=lines[2].pk, page=page, user=manager, expected_version=lines[2].version)
    # Twenty days ago is outside the table; a model's revision (no user) is nobody's work.
    old = LineRevision.objects.filter(user=manager).first()
    LineRevision.objects.create(page=page, line=lines[1], line_ref=lines[1].pk, action=RevisionAction.VERIFY,
                                user=manager, version=9)
    LineRevision.objects.filter(pk__gt=old.pk, user=manager).update(created_at=timezone.now() - timedelta(days=20))
    LineRevision.objects.create(page=page, line=lines[1], line_ref=lines[1].pk, action=RevisionAction.UPDATE,
                                user=None, model_version="recognizer-v1", version=10)

    with django_assert_num_queries(1):
        table = verified_lines_per_member(project=project)

    assert len(table.days) == 14 and table.days[-1] == timezone.localdate()
    rows = {row.username: row for row in table.rows}
    assert set(rows) == {"annotator", "manager"}
    assert rows["annotator"].per_day[-1] == 2 and rows["annotator"].total == 2
    assert rows["manager"].per_day[-1] == 1 and rows["manager"].total == 1
