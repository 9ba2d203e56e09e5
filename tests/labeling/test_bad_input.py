"""What Label Studio (or anyone posing as it) may send that must not corrupt a page."""

from __future__ import annotations

import copy

import pytest
import requests

from labeling.client import LabelStudioUnavailable
from labeling.models import WebhookEvent
from labeling.services.provisioning import SECRET_HEADER, project_provision
from labeling.services.sync import project_reconcile
from tests.labeling.helpers import project_with_annotator, region
from webapp.corpus.models import Line

pytestmark = pytest.mark.django_db(transaction=True)


def deliver(live_server, payload, *, headers) -> requests.Response:
    return requests.post(f"{live_server.url}/labeling/webhook/", json=payload, headers=headers, timeout=15)


@pytest.fixture
def annotated(labeling, annotator):
    """A page with one line from a real annotation, and the delivery that made it."""
    project, person, [page] = project_with_annotator(annotator_email=annotator.email)
    task_id = page.label_studio_task.ls_task_id
    annotator.client.annotations.create(id=task_id, result=region("r1", x=10, y=10, width=50, height=5, text="un"))
    return page, WebhookEvent.objects.filter(action="ANNOTATION_CREATED").last().payload


def newer(payload: dict, result: list, *, seconds: int = 5) -> dict:
    from datetime import timedelta

    from django.utils.dateparse import parse_datetime

    changed = copy.deepcopy(payload)
    stamp = parse_datetime(changed["annotation"]["updated_at"]) + timedelta(seconds=seconds)
    changed["annotation"].update(updated_at=stamp.isoformat(), result=result)
    return changed


@pytest.mark.parametrize("headers", [{}, {SECRET_HEADER: "wrong"}], ids=["unsigned", "wrong secret"])
def test_a_webhook_without_the_secret_is_refused_and_nothing_stored(annotated, live_server, headers):
    page, payload = annotated
    before = WebhookEvent.objects.count()
    answer = deliver(live_server, newer(payload, region("r1", x=1, y=1, width=5, height=5, text="pirate")),
                     headers=headers)
    assert answer.status_code == 403
    assert WebhookEvent.objects.count() == before and Line.objects.get(page=page).text == "un"


def test_malformed_payloads_and_unknown_tasks_are_4xx(annotated, live_server, settings):
    page, payload = annotated
    secret = {SECRET_HEADER: settings.LABEL_STUDIO_WEBHOOK_SECRET}
    unknown = copy.deepcopy(payload)
    unknown["annotation"]["task"] = 987654321
    broken_result = newer(payload, {"not": "a list"})
    no_date = copy.deepcopy(payload)
    no_date["annotation"]["updated_at"] = "yesterday"
    before = WebhookEvent.objects.count()
    assert deliver(live_server, ["not an object"], headers=secret).status_code == 400
    assert deliver(live_server, {"action": "ANNOTATION_CREATED"}, headers=secret).status_code == 400
    assert deliver(live_server, no_date, headers=secret).status_code == 400
    assert deliver(live_server, broken_result, headers=secret).status_code == 400
    assert deliver(live_server, unknown, headers=secret).status_code == 404
    assert WebhookEvent.objects.count() == before and Line.objects.get(page=page).text == "un"


def test_bad_regions_are_skipped_and_the_rest_of_the_page_applies(annotated, live_server, settings):
    page, payload = annotated
    result = (region("r1", x=10, y=10, width=50, height=5, text="un, corrigé")
              + region("no-text", x=10, y=30, width=30, height=5, text=None)
              + region("outside", x=90, y=30, width=30, height=5, text="hors page")
              + region("new", x=10, y=50, width=30, height=5, text="deux"))
    answer = deliver(live_server, newer(payload, result), headers={SECRET_HEADER: settings.LABEL_STUDIO_WEBHOOK_SECRET})
    assert answer.status_code == 200 and "skipped 2" in answer.json()["outcome"]
    assert dict(Line.objects.filter(page=page).values_list("ls_region_id", "text")) == {"r1": "un, corrigé",
                                                                                       "new": "deux"}


def test_label_studio_down_is_a_clear_error_and_inkloop_keeps_serving(annotated, settings, client):
    page, _ = annotated
    settings.LABEL_STUDIO_URL = "http://127.0.0.1:9"  # nothing listens there
    with pytest.raises(LabelStudioUnavailable, match="did not answer"):
        project_provision(project=page.project)
    with pytest.raises(LabelStudioUnavailable):
        project_reconcile(project=page.project)
    link = page.project.label_studio
    assert "did not answer" in link.__class__.objects.get(pk=link.pk).last_error
    assert client.get("/api/health/").status_code == 200


@pytest.mark.parametrize("authorization", [None, "Basic aW5rbG9vcDp3cm9uZw==", "Bearer x"],
                         ids=["none", "wrong password", "not basic"])
def test_the_ml_backend_answers_only_label_studio(client, authorization):
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
    answer = client.post("/ml/predict", {"tasks": [], "project": "1.0"}, content_type="application/json", **headers)
    assert answer.status_code == 403
