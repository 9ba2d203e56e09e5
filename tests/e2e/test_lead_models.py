"""Models and runs in a real browser: the version history in words, rolling back to a rejected model
through the API's confirmation, a run's page updating live until it says what came of the run."""

from __future__ import annotations

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.conf import settings
from django.contrib.auth import get_user_model
from django.urls import get_resolver
from playwright.sync_api import expect

from tests.browser import SCREENSHOTS
from tests.e2e.factories import add_member
from tests.webapp.model_history_factories import model_history, model_version
from webapp.projects.services import project_create
from webapp.training.models import ModelPromotion, ModelStatus, ModelVersion, PromotionVia, RunStatus, TrainingRun

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def history(media_root):
    """A project without pages: its model rows are all these pages read."""
    # Load the URLconf (every view module, torch among their imports) here rather than inside the browser's
    # first request, whose 15 s timeout a busy machine can spend on imports alone.
    get_resolver().url_patterns  # noqa: B018
    lead = get_user_model().objects.create_user(username="lead", password="x" * 12)
    project = project_create(creator=lead, name="wills", use_base_models=False)
    return project, lead, model_history(project, lead)


def assert_accessible(page) -> None:
    violations = Axe().run(page).response["violations"]
    serious = [(v["id"], v["impact"], [node["target"] for node in v["nodes"]][:3]) for v in violations
               if v["impact"] in ("serious", "critical")]
    assert serious == []


def row(page, label: str):
    return page.locator(f'tr[data-version="{label}"]')


def test_a_manager_reads_the_history_and_rolls_back_to_a_rejected_model(page, history, log_in, screenshot):
    project, lead, versions = history
    log_in(page, lead)
    page.goto(f"/projects/{project.pk}/models/")
    expect(page.get_by_role("heading", name="Models and runs")).to_be_visible()
    expect(row(page, "recognizer-v2").locator(".verdict")).to_have_text("beat recognizer-v1: val CER 12.3 % vs 15.0 %")
    expect(row(page, "recognizer-v3").locator(".verdict")).to_have_text(
        "rejected: val CER 100.0 % vs 12.3 % of recognizer-v2")
    expect(row(page, "recognizer-v3").locator(".trigger")).to_have_text(
        "the retrain policy (enough new verified lines)")
    expect(row(page, "recognizer-v1").locator(".verdict")).to_have_text("base model: val CER 47.7 % on other hands")
    curve = page.locator('svg.learning-curve[data-axis="lines"]')
    expect(curve).to_have_attribute("data-points", "3")
    expect(curve.locator("text.y-tick")).to_have_text(["0 %", "20 %", "40 %", "60 %", "80 %", "100 %"])
    page.locator(".curve-section").screenshot(path=str(SCREENSHOTS / "learning-curve.png"))
    page.get_by_role("button", name="Against characters").click()
    expect(page.locator('svg.learning-curve[data-axis="characters"]')).to_be_visible()
    expect(page.locator('svg.learning-curve[data-axis="characters"] text.x-title')).to_have_text(
        "Characters of human-verified lines trained on")
    expect(curve).to_be_hidden()
    screenshot(page, "models")
    assert_accessible(page)
    download = page.request.get(row(page, "recognizer-v2").get_by_role("link", name="Download recognizer-v2")
                                .get_attribute("href"))
    assert download.status == 200 and download.headers["content-type"] == "application/zip"

    # The API objects (it did not beat recognizer-v2); the page shows its reason and asks first.
    promote = page.get_by_role("button", name="Promote recognizer-v3")
    promote.click()
    dialog = page.get_by_role("dialog", name="Promote a model that did not win?")
    expect(dialog).to_contain_text("recognizer-v3 did not beat recognizer-v2: val CER 1.000 vs 0.123")
    assert_accessible(page)
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#models-announcer")).to_have_text("recognizer-v3 was not promoted.")
    assert ModelVersion.objects.get(pk=versions["rejected"].pk).status == ModelStatus.REJECTED

    promote.click()
    dialog.get_by_role("button", name="Promote anyway").click()
    expect(page.locator("#models-announcer")).to_have_text(
        "recognizer-v3 is now the promoted model (recorded as forced).")
    expect(row(page, "recognizer-v3").locator(".version-status")).to_contain_text("Promoted")
    promotions = row(page, "recognizer-v3").locator(".promotions")
    expect(promotions).to_contain_text("promoted by hand by lead on")
    expect(promotions).to_contain_text("forced although recognizer-v3 did not beat recognizer-v2")
    expect(row(page, "recognizer-v2").get_by_role("button", name="Promote recognizer-v2")).to_be_visible()
    promotion = ModelPromotion.objects.filter(version=versions["rejected"]).get()
    assert (promotion.via, promotion.promoted_by, promotion.forced, promotion.replaced_id) == (
        PromotionVia.MANUAL, lead, True, versions["promoted"].pk)
    detail = page.request.get(f"/api/projects/{project.pk}/models/{versions['rejected'].pk}/").json()
    assert detail["status"] == "promoted" and detail["promotions"][0]["forced"] is True

    # A run's page follows the run until it ends, then says what came of it in words.
    running = TrainingRun.objects.create(project=project, kind="recognizer", status=RunStatus.RUNNING,
                                         triggered_by=lead, progress={"epoch": 1, "step": 3, "total_steps": 12,
                                                                      "loss": 3.2, "eta_seconds": 40})
    page.goto(f"/projects/{project.pk}/")
    page.locator(f'tr[data-run="{running.pk}"]').get_by_role("link").click()
    expect(page).to_have_url(f"{page.url.split('/projects/')[0]}/projects/{project.pk}/runs/{running.pk}/")
    expect(page.locator(".run-outcome")).to_have_text("Training…")
    expect(page.locator("[data-progress='step']")).to_have_text("3 of 12")
    TrainingRun.objects.filter(pk=running.pk).update(progress={"epoch": 2, "step": 9, "total_steps": 12, "loss": 1.1})
    expect(page.locator("[data-progress='epoch']")).to_have_text("2")
    reads_nothing = model_version(project, 4, lines=150, status=ModelStatus.REJECTED, metrics={
        "validation": {"cer": 1.0}, "baseline": {"cer": 1.0}, "compared_with": "empty prediction"})
    TrainingRun.objects.filter(pk=running.pk).update(status=RunStatus.SUCCEEDED, model_version=reads_nothing,
                                                     verdict="rejected: val CER 1.000 vs 1.000 of the empty "
                                                             "prediction (it must be lower by 0.005)")
    outcome = "Rejected: val CER 100.0 % vs 100.0 % of the empty prediction (it must be lower by 0.5 points)"
    expect(page.locator(".run-outcome")).to_have_text(outcome)
    expect(page.locator("#run-announcer")).to_have_text(outcome)
    screenshot(page, "run-page")
    assert_accessible(page)

    # The dashboard's run list says the same, never "Succeeded".
    page.goto(f"/projects/{project.pk}/")
    run_row = page.locator(f'tr[data-run="{running.pk}"]')
    expect(run_row.locator(".run-status")).to_have_text("Rejected")
    expect(run_row.locator(".run-result")).to_contain_text("rejected: val CER 100.0 % vs 100.0 % of the empty")


def test_an_annotator_sees_no_roll_back_and_the_api_refuses_one(page, history, log_in):
    project, _, versions = history
    log_in(page, add_member(project, "annotator", "annotator"))
    page.goto(f"/projects/{project.pk}/models/")
    expect(row(page, "recognizer-v3").locator(".verdict")).to_have_text(
        "rejected: val CER 100.0 % vs 12.3 % of recognizer-v2")
    expect(page.get_by_role("button", name=re.compile("Promote"))).to_have_count(0)
    expect(page.get_by_role("link", name=re.compile("Download"))).to_have_count(0)
    token = next(cookie["value"] for cookie in page.context.cookies() if cookie["name"] == settings.CSRF_COOKIE_NAME)
    response = page.request.post(f"/api/projects/{project.pk}/models/{versions['rejected'].pk}/promote/",
                                 data={"force": True}, headers={"X-CSRFToken": token,
                                                                "Referer": page.url})
    assert response.status == 403
    assert "needs the manager role" in response.json()["detail"]
    assert ModelVersion.objects.get(pk=versions["rejected"].pk).status == ModelStatus.REJECTED
    assert page.goto(f"/projects/{project.pk}/runs/{versions['rejected'].training_run.pk}/").status == 200
    expect(page.locator(".run-outcome")).to_contain_text("Rejected: val CER 100.0 % vs 12.3 % of recognizer-v2")
