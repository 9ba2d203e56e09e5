"""Retraining from the dashboard with the real Celery workers: progress appears live, the curve grows."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from tests.workers.factories import cremma_project, manager_of

pytestmark = pytest.mark.django_db(transaction=True)


def test_retrain_now_shows_progress_until_the_run_ends(workers, page, log_in, screenshot, record_figure):
    project = cremma_project(name="retrain", pages=3, val_pages=1)
    log_in(page, manager_of(project))
    page.goto(f"/projects/{project.pk}/")
    expect(page.locator("svg.learning-curve")).to_have_attribute("data-points", "0")

    retrain = page.get_by_role("button", name="Retrain now: recognizer")
    retrain.focus()
    clicked = time.perf_counter()
    page.keyboard.press("Enter")
    run_row = page.locator("tr[data-kind='recognizer']").first
    expect(run_row).to_be_visible()
    shown = time.perf_counter()
    expect(page.get_by_role("button", name="Cancel recognizer training")).to_be_visible()
    # An epoch number and a loss, written by the worker's progress callback, shown without a reload.
    expect(run_row.locator("[data-progress='epoch']")).to_have_text(re.compile(r"^\d+$"), timeout=60_000)
    expect(run_row.locator("[data-progress='loss']")).to_have_text(re.compile(r"^\d+\.\d+$"))
    first_progress = time.perf_counter()
    expect(run_row).to_have_attribute("data-status", "succeeded", timeout=120_000)
    finished = time.perf_counter()
    record_figure("retrain_click_to_run_shown", shown - clicked, "s (the queued run appears on the dashboard)")
    record_figure("retrain_click_to_first_progress", first_progress - clicked, "s (epoch and loss from the worker)")
    record_figure("retrain_click_to_finished", finished - clicked, "s (tiny test training config)")

    expect(page.locator("svg.learning-curve")).to_have_attribute("data-points", "1")
    expect(page.locator("tr[data-version='recognizer-v1']")).to_be_visible()
    expect(page.get_by_role("button", name="Cancel recognizer training")).to_be_hidden()
    # A finished run says what came of it: its model promoted, or rejected and why.
    expect(page.locator("#training-announcer")).to_contain_text(re.compile(r"Promoted|Rejected"))
    screenshot(page, "dashboard")
