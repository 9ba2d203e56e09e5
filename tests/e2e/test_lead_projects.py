"""A project lead in the browser: create a project, change its settings, manage its members; what an annotator
may not do; the dashboard's next step."""

from __future__ import annotations

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.test import Client
from playwright.sync_api import expect

from tests.e2e.factories import add_member, user_with_password
from tests.workers.factories import manager_of
from webapp.projects.models import Membership, Project, Role, Strategy
from webapp.review.selectors_projects import project_next_step

pytestmark = pytest.mark.django_db(transaction=True)

AXE = Axe()
# Generous waits: on a machine busy training, a first page may take a while; nothing here checks timing.
WAIT_MS = 120_000


@pytest.fixture(autouse=True)
def _patient_waits(page):
    page.set_default_timeout(WAIT_MS)
    expect.set_options(timeout=WAIT_MS)
    yield
    expect.set_options(timeout=5_000)  # Playwright's default, for the other modules


def assert_accessible(page) -> None:
    results = AXE.run(page)
    bad = [violation for violation in results.response["violations"] if violation["impact"] in ("serious", "critical")]
    assert not bad, results.generate_report()


def test_a_manager_creates_a_project_changes_settings_and_members(page, log_in, screenshot):
    lead = user_with_password("lead")
    log_in(page, lead)

    # Someone with no project is told how to get one, and can create it right there.
    page.goto("/")
    expect(page.locator(".empty-state")).to_contain_text("You are not in any project yet")
    expect(page.locator(".empty-state")).to_contain_text("ask one of its managers to invite your username or email")
    assert_accessible(page)
    screenshot(page, "project-list")
    page.get_by_role("link", name="New project").first.click()

    # A blank name is refused with the API's own message, beside the field and in a summary that gets the focus.
    expect(page).to_have_title(re.compile("^New project"))
    page.get_by_label("Name").fill("   ")
    page.get_by_role("button", name="Create project").click()
    summary = page.locator("#error-summary")
    expect(summary).to_contain_text("name: This field may not be blank.")
    expect(summary).to_be_focused()
    expect(page.get_by_label("Name")).to_have_attribute("aria-invalid", "true")
    assert not Project.objects.exists()
    assert_accessible(page)
    screenshot(page, "project-new")

    page.get_by_label("Name").fill("Wills of Paris")
    page.get_by_label("Description (optional)").fill("Testaments, 15th century")
    page.get_by_label("Refuse text with characters outside the project alphabet").check()
    page.get_by_label("Alphabet (the allowed").fill("abcdefghijklmnopqrstuvwxyz ")
    page.get_by_label("Start from the shipped base models").uncheck()
    page.get_by_role("button", name="Create project").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Wills of Paris")
    project = Project.objects.get()
    assert (project.description, project.alphabet_policy, project.use_base_models, project.strategy) == (
        "Testaments, 15th century", "fixed", False, Strategy.RANDOM)
    assert Membership.objects.get(project=project).user == lead
    assert not project.model_versions.exists()  # the base-model opt-out was honoured
    expect(page.locator("#next-step")).to_have_text("Next: Upload pages: the project has none yet.")
    expect(page.locator("#training-live")).to_contain_text("No model yet: the first training run makes one")
    expect(page.locator("#training-live")).not_to_contain_text("verify lines, then retrain")
    # Without a model nothing is transcribed, so the queue is empty, and says why and what comes first.
    page.goto(f"/projects/{project.pk}/review/")
    expect(page.locator("#queue-end")).to_be_visible()
    expect(page.locator("#queue-end")).to_contain_text("this queue holds the lines a model has transcribed and "
                                                       "nobody has verified yet, and there are none. Next: Upload "
                                                       "pages: the project has none yet.")
    page.go_back()

    # Settings: a bad combination gets the model's own message and nothing is stored; then a good one is saved.
    page.get_by_role("link", name="Settings").click()
    expect(page).to_have_title(re.compile("^Settings · Wills of Paris"))
    page.get_by_label("Validation pages (%)").fill("60")
    page.get_by_label("Test pages (%)").fill("50")
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator("#error-summary")).to_contain_text(
        "val_percent: val_percent + test_percent is 110; at most 100.")
    expect(page.get_by_label("Validation pages (%)")).to_have_attribute("aria-invalid", "true")
    project.refresh_from_db()
    assert (project.val_percent, project.test_percent) == (10, 10)
    assert_accessible(page)
    screenshot(page, "settings")

    page.get_by_label("Test pages (%)").fill("20")
    page.get_by_label("Retrain automatically").check()
    page.get_by_label("New verified lines that start a run").fill("50")
    page.get_by_label("Least confident first (fixes the worst readings first)").check()
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator(".messages")).to_contain_text("Settings saved.")
    project.refresh_from_db()
    assert (project.val_percent, project.test_percent, project.retrain_auto, project.retrain_new_lines,
            project.strategy) == (60, 20, True, 50, Strategy.LEAST_CONFIDENCE)

    # Members: an invitation gets the same answer whether or not the account exists.
    bob = user_with_password("bob")
    page.get_by_role("link", name="Members").click()
    page.get_by_role("button", name="Invite").click()
    expect(page.locator(".messages")).to_have_text("Not invited: username: This field may not be blank.")
    page.get_by_label("Username or email").fill("bob")
    page.get_by_label("Role", exact=True).select_option("reviewer")
    page.get_by_role("button", name="Invite").click()
    expect(page.locator(".messages")).to_contain_text(
        "Invitation recorded for username “bob” as reviewer: whoever has that username joins the project when "
        "they next log in.")
    page.get_by_label("Username or email").fill("nobody-has-this-name")
    page.get_by_role("button", name="Invite").click()
    expect(page.locator(".messages")).to_contain_text("Invitation recorded for username “nobody-has-this-name”")
    expect(page.locator(".invitations li")).to_have_count(2)
    assert not Membership.objects.filter(project=project, user=bob).exists()

    Client().force_login(bob)  # bob logs in: the invitation is fulfilled
    page.reload()
    bob_row = page.locator('tr[data-member="bob"]')
    expect(bob_row.get_by_label("Role of bob")).to_have_value("reviewer")
    bob_row.get_by_label("Role of bob").select_option("annotator")
    bob_row.get_by_role("button", name="Change role of bob").click()
    expect(page.locator(".messages")).to_contain_text("bob is now annotator.")
    assert Membership.objects.get(project=project, user=bob).role == Role.ANNOTATOR
    assert_accessible(page)
    screenshot(page, "members")

    # The last manager cannot demote themselves: the service's rule, shown as is.
    lead_row = page.locator('tr[data-member="lead"]')
    lead_row.get_by_label("Role of lead").select_option("reviewer")
    lead_row.get_by_role("button", name="Change role of lead").click()
    expect(page.locator(".messages")).to_contain_text("lead’s role was not changed: role: A project keeps at least "
                                                      "one manager.")
    assert Membership.objects.get(project=project, user=lead).role == Role.MANAGER

    page.locator('tr[data-member="bob"]').get_by_role("button", name="Remove bob").click()
    expect(page.locator(".messages")).to_contain_text("bob was removed from the project.")
    expect(page.locator('tr[data-member="bob"]')).to_have_count(0)
    assert not Membership.objects.filter(project=project, user=bob).exists()


def test_an_annotator_cannot_change_settings_or_members(page, log_in, review_project, screenshot):
    project, _ = review_project(pages=2)
    manager = manager_of(project)

    # The manager's dashboard says what comes next, the same sentence as the selector.
    log_in(page, manager)
    page.goto(f"/projects/{project.pk}/")
    expected = project_next_step(project).text
    expect(page.locator("#next-step")).to_have_text(f"Next: {expected}")
    assert_accessible(page)
    screenshot(page, "dashboard-next-step", full_page=False)

    annotator = add_member(project, "annotator", "annotator")
    log_in(page, annotator)
    page.goto(f"/projects/{project.pk}/")
    expect(page.locator("#next-step")).to_have_text(f"Next: {expected}")
    expect(page.get_by_role("link", name="Settings")).to_have_count(0)
    assert page.goto(f"/projects/{project.pk}/settings/").status == 403

    # Members are visible read-only, with everyone's progress; no control to change them.
    page.goto(f"/projects/{project.pk}/members/")
    expect(page.locator('tr[data-member="annotator"]')).to_contain_text("Annotator")
    expect(page.locator(f'tr[data-progress-user="{manager.username}"] td.total')).not_to_have_text("0")
    expect(page.locator("select, input:not([type=hidden]), button:not(.link)")).to_have_count(0)
    assert_accessible(page)

    # Posting anyway is refused as the API refuses it, and nothing changes.
    client = Client()
    client.force_login(annotator)
    for path, body in ((f"/projects/{project.pk}/members/invite/", {"kind": "username", "invitee": "x",
                                                                     "role": "manager"}),
                       (f"/projects/{project.pk}/members/{manager.pk}/role/", {"role": "annotator"}),
                       (f"/projects/{project.pk}/members/{manager.pk}/remove/", {}),
                       (f"/projects/{project.pk}/settings/", {"name": "taken over"})):
        assert client.post(path, body).status_code == 403, path
    assert Membership.objects.get(project=project, user=manager).role == Role.MANAGER
    assert not project.invitations.exists() and Project.objects.get(pk=project.pk).name == project.name
