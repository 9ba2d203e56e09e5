"""The retrain policy starts a run of each kind once enough new data of its own kind arrived, and a
detector learns from partly checked pages only where people checked them."""

from __future__ import annotations

import pytest

from ml.detection.data import PartialPage
from tests.workers.factories import cremma_project, manager_of
from webapp.corpus.models import Line, Page, PageStatus, Split
from webapp.predictions.models import FalseDetection
from webapp.training import data
from webapp.training.models import ModelKind, ModelStatus, ModelVersion, TrainingRun
from webapp.training.services import check_enough_validation_data, retrain_policy_check

pytestmark = pytest.mark.django_db


@pytest.fixture
def project():
    """5 fully verified CREMMA pages: 2 validation, 3 training; automatic retraining on."""
    project = cremma_project(name="policy", pages=5)
    project.retrain_auto = True
    project.save()
    return project


def configure(project, *, lines: int, pages: int) -> None:
    project.retrain_new_lines, project.retrain_new_pages = lines, pages
    project.save()


def kinds(runs) -> list[str]:
    return sorted(run.kind for run in runs)


def test_enough_checked_pages_start_a_detector_run_and_enough_lines_a_recognizer_run(project):
    train_lines = data.verified_line_count(project=project, split=Split.TRAIN)
    configure(project, lines=train_lines + 1, pages=4)
    assert retrain_policy_check(project=project) == []            # 3 pages and train_lines lines: not enough
    configure(project, lines=train_lines + 1, pages=3)
    started = retrain_policy_check(project=project)
    assert kinds(started) == [ModelKind.DETECTOR] and started[0].trigger == "policy"
    configure(project, lines=train_lines, pages=3)
    assert kinds(retrain_policy_check(project=project)) == [ModelKind.RECOGNIZER]   # the detector's is active
    assert TrainingRun.objects.filter(project=project).count() == 2


def test_pages_a_detector_version_learned_from_do_not_count_again(project):
    configure(project, lines=10**6, pages=2)
    ModelVersion.objects.create(project=project, kind=ModelKind.DETECTOR, number=1, checkpoint="x.pt",
                                checkpoint_sha256="0" * 64, status=ModelStatus.PROMOTED, trained_on_pages=2)
    assert retrain_policy_check(project=project) == []             # one new page since v1
    page = Page.objects.filter(project=project, split=Split.VAL).first()
    page.split = Split.TRAIN
    page.save()
    assert kinds(retrain_policy_check(project=project)) == [ModelKind.DETECTOR]


def test_nothing_starts_by_itself_when_automatic_retraining_is_off(project):
    configure(project, lines=1, pages=1)
    project.retrain_auto = False
    project.save()
    assert retrain_policy_check(project=project) == []


def test_a_partly_checked_page_trains_on_its_verified_lines_and_marked_boxes_only(project):
    page = Page.objects.filter(project=project, split=Split.TRAIN).order_by("id").first()
    lines = list(page.lines.order_by("order"))
    unchecked = lines[len(lines) // 2:]
    Line.objects.filter(pk__in=[line.pk for line in unchecked]).update(verified_at=None, verified_by=None)
    Page.objects.filter(pk=page.pk).update(status=PageStatus.IN_PROGRESS)
    FalseDetection.objects.create(project=project, page=page, x0=5, y0=5, x1=60, y1=40, line_ref=0,
                                  user=manager_of(project))

    samples = data.detector_training_pages(project=project, split=Split.TRAIN)
    partial = [sample for sample in samples if isinstance(sample, PartialPage)]
    assert len(samples) == 3 and len(partial) == 1
    assert [line["bbox"] for line in partial[0].lines] == [line.bbox for line in lines[:len(lines) // 2]]
    assert partial[0].unchecked == [line.bbox for line in unchecked]
    assert partial[0].not_lines == [(5, 5, 60, 40)]
    # Judged on whole pages only: the partly checked page never validates.
    assert data.fully_verified_pages(project=project, split=Split.TRAIN).count() == 2
    assert data.detector_training_page_count(project=project) == 3


def test_a_page_with_only_a_box_marked_as_not_a_line_is_detector_training_data(project):
    page = Page.objects.filter(project=project, split=Split.TRAIN).order_by("id").first()
    Line.objects.filter(page=page).update(verified_at=None, verified_by=None)
    Page.objects.filter(pk=page.pk).update(status=PageStatus.PREDICTED)
    assert data.detector_training_page_count(project=project) == 2
    FalseDetection.objects.create(project=project, page=page, x0=5, y0=5, x1=60, y1=40, line_ref=0,
                                  user=manager_of(project))
    assert data.detector_training_page_count(project=project) == 3


def test_a_detector_run_needs_a_checked_training_page(project):
    Line.objects.filter(page__project=project, page__split=Split.TRAIN).update(verified_at=None, verified_by=None)
    Page.objects.filter(project=project, split=Split.TRAIN).update(status=PageStatus.PREDICTED)
    with pytest.raises(Exception, match="no page with a verified line"):
        check_enough_validation_data(project=project, kind=ModelKind.DETECTOR)
