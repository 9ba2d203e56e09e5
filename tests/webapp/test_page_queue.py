"""The page queue leads to the split the project needs: validation pages until a run can be judged,
then training pages (their labels teach the models), test pages last; least confident first within."""

from __future__ import annotations

import pytest

from tests.webapp.test_project_next_step import add_lines, add_page
from webapp.corpus.models import PageStatus, Split
from webapp.projects.models import Strategy

pytestmark = pytest.mark.django_db


def predicted(project, split: str, name: str, confidence: float):
    page = add_page(project, split, name)
    add_lines(page, 2, verified=False, confidence=confidence)
    page.status, page.confidence = PageStatus.PREDICTED, confidence
    page.save(update_fields=["status", "confidence"])
    return page


def queued(client, project) -> list[str]:
    response = client.get(f"/api/projects/{project.pk}/queue/", {"level": "page"})
    assert response.status_code == 200, response.content
    return [page["original_name"].removesuffix(".png") for page in response.json()["results"]]


def test_validation_pages_lead_until_a_run_can_be_judged_then_training_pages(project, manager_client, settings):
    settings.INKLOOP_MIN_VAL_LINES, settings.INKLOOP_MIN_VAL_PAGES = 3, 1
    predicted(project, Split.TRAIN, "train-unsure", 0.1)
    predicted(project, Split.TEST, "test-unsure", 0.05)
    predicted(project, Split.VAL, "val-sure", 0.9)
    predicted(project, Split.TRAIN, "train-sure", 0.8)
    assert queued(manager_client, project) == ["val-sure", "train-unsure", "train-sure", "test-unsure"]

    # Three verified validation lines, but no fully verified validation page: the detector cannot be judged yet.
    checked = add_page(project, Split.VAL, "val-checked")
    add_lines(checked, 3, verified=True)
    checked.status = PageStatus.IN_PROGRESS
    checked.save(update_fields=["status"])
    assert queued(manager_client, project)[0] == "val-sure"

    checked.status = PageStatus.DONE
    checked.save(update_fields=["status"])
    assert queued(manager_client, project) == ["train-unsure", "train-sure", "val-sure", "test-unsure"]

    project.strategy = Strategy.RANDOM  # the control shuffles within the split, never across it
    project.save(update_fields=["strategy"])
    order = queued(manager_client, project)
    assert set(order[:2]) == {"train-unsure", "train-sure"} and order[2:] == ["val-sure", "test-unsure"]
