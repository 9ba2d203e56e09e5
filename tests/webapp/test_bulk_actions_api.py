"""The page grid's bulk actions through the API: pre-annotation of a selection, and sending a selection to
Label Studio. Limited by role and to the caller's project; what cannot be done is refused with the reason,
and what is queued is recorded in the outbox (the workers' side: tests/workers/test_predictions.py,
tests/labeling/test_send_to_label_studio.py)."""

from __future__ import annotations

import pytest

from tests.webapp.conftest import png_bytes, upload
from webapp import task_names
from webapp.corpus.lines import LineData
from webapp.corpus.models import Page
from webapp.corpus.services import line_create
from webapp.outbox.models import OutboxMessage
from webapp.projects.models import Role
from webapp.projects.services import project_create
from webapp.training.models import ModelStatus, ModelVersion

pytestmark = pytest.mark.django_db


def queued(task_name: str) -> list[list]:
    return list(OutboxMessage.objects.filter(task_name=task_name).order_by("id").values_list("args", flat=True))


def three_pages(client, project) -> list[Page]:
    stored = upload(client, project.pk, *[(f"{name}.png", png_bytes(shade=shade))
                                          for name, shade in (("a", 90), ("b", 130), ("c", 170))])
    assert stored.status_code == 201, stored.data
    return list(Page.objects.filter(pk__in=[item["id"] for item in stored.data]).order_by("original_name"))


def promote_a_recognizer(project) -> None:
    """A promoted recognizer in the registry: all the request looks for (no worker runs here)."""
    ModelVersion.objects.create(project=project, kind="recognizer", number=1, checkpoint="v1.pt",
                                checkpoint_sha256="1" * 64, status=ModelStatus.PROMOTED)


def test_preannotating_a_selection_queues_its_open_pages_and_names_those_people_verified(
        project, manager, manager_client, member, client_for):
    a, b, c = three_pages(manager_client, project)
    line_create(page=c, user=manager, data=LineData(bbox=(10, 10, 60, 30), text="écrit à la main"))
    reviewer = client_for(member(Role.REVIEWER))
    url = f"/api/projects/{project.pk}/preannotate/"

    # The project opted out of the base models and promoted none: nothing to pre-annotate with.
    refused = reviewer.post(url, {"page_ids": [a.pk]}, format="json")
    assert refused.status_code == 409 and "no promoted recognizer" in refused.data["detail"], refused.data
    assert reviewer.post(url).status_code == 409
    assert queued(task_names.PREDICTION_PREANNOTATE) == []

    promote_a_recognizer(project)
    answer = reviewer.post(url, {"page_ids": [c.pk, a.pk]}, format="json")
    assert answer.status_code == 202, answer.data
    assert answer.data["page_ids"] == [a.pk] and answer.data["pages_queued"] == 1
    assert [dict(item) for item in answer.data["skipped"]] == [
        {"id": c.pk, "name": "c.png", "reason": "a person verified lines on it, and pre-annotation never replaces "
                                                "people's lines"}]
    assert "c.png" in answer.data["detail"]
    assert queued(task_names.PREDICTION_PREANNOTATE) == [[project.pk, [a.pk]]]

    # Only pages people verified: nothing is queued, and the answer says which and why.
    nothing = reviewer.post(url, {"page_ids": [c.pk]}, format="json")
    assert nothing.status_code == 409 and "c.png" in nothing.data["detail"] and nothing.data["page_ids"] == []
    assert [item["id"] for item in nothing.data["skipped"]] == [c.pk]

    # Without a selection: every page nobody verified, as before.
    everything = reviewer.post(url)
    assert everything.status_code == 202 and everything.data["pages_queued"] == 2
    assert everything.data["page_ids"] is None and everything.data["skipped"] == []
    assert queued(task_names.PREDICTION_PREANNOTATE)[-1] == [project.pk]

    # Ids that are no page of this project, unknown or another project's, are refused by name, never dropped.
    other = project_create(creator=manager, name="Other", use_base_models=False)
    [foreign] = three_pages(manager_client, other)[:1]
    for ids in ([a.pk, 99_999_999], [foreign.pk]):
        bad = reviewer.post(url, {"page_ids": ids}, format="json")
        assert bad.status_code == 400 and str(ids[-1]) in bad.data["detail"], bad.data
    for body in ({"page_ids": []}, {"page_ids": str(a.pk)}, {"page_ids": [str(a.pk)]}):
        assert reviewer.post(url, body, format="json").status_code == 400, body
    assert client_for(member(Role.ANNOTATOR)).post(url, {"page_ids": [a.pk]}, format="json").status_code == 403
    assert len(queued(task_names.PREDICTION_PREANNOTATE)) == 2


def test_sending_a_selection_to_label_studio_queues_it_by_role(project, manager, manager_client, member, client_for,
                                                               make_user, settings):
    a, b, _ = three_pages(manager_client, project)
    Page.objects.filter(pk=a.pk).update(ls_task_id=4242)
    reviewer = client_for(member(Role.REVIEWER))
    url = f"/api/projects/{project.pk}/send-to-label-studio/"

    settings.LABEL_STUDIO_URL = ""
    off = reviewer.post(url, {"page_ids": [a.pk]}, format="json")
    assert off.status_code == 409 and "no Label Studio" in off.data["detail"], off.data

    settings.LABEL_STUDIO_URL = "http://label-studio.invalid:8080"
    answer = reviewer.post(url, {"page_ids": [b.pk, a.pk]}, format="json")
    assert answer.status_code == 202, answer.data
    assert [dict(item) for item in answer.data["pages"]] == [
        {"id": a.pk, "name": "a.png", "ls_task_id": 4242, "action": "check"},
        {"id": b.pk, "name": "b.png", "ls_task_id": None, "action": "create"}]
    assert answer.data["detail"].startswith("Sent 2 pages to Label Studio")
    assert queued(task_names.LABELING_SEND_PAGES) == [[project.pk, [a.pk, b.pk]]]

    other = project_create(creator=manager, name="Other", use_base_models=False)
    [foreign] = three_pages(manager_client, other)[:1]
    for ids in ([a.pk, 99_999_999], [foreign.pk]):
        bad = reviewer.post(url, {"page_ids": ids}, format="json")
        assert bad.status_code == 400 and str(ids[-1]) in bad.data["detail"], bad.data
    assert reviewer.post(url, {"page_ids": []}, format="json").status_code == 400
    assert reviewer.post(url, {}, format="json").status_code == 400
    assert client_for(member(Role.ANNOTATOR)).post(url, {"page_ids": [a.pk]}, format="json").status_code == 403
    assert client_for(make_user("outsider")).post(url, {"page_ids": [a.pk]}, format="json").status_code == 404
    assert len(queued(task_names.LABELING_SEND_PAGES)) == 1


def test_the_grid_offers_the_selection_actions_to_reviewers(project, manager_client, member, client, settings):
    three_pages(manager_client, project)
    settings.LABEL_STUDIO_URL = "http://label-studio.invalid:8080"
    client.force_login(member(Role.REVIEWER))
    grid = client.get(f"/projects/{project.pk}/pages/").content.decode()
    assert "Pre-annotate selected" in grid and "Send selected to Label Studio" in grid
    settings.LABEL_STUDIO_URL = ""
    assert "Send selected to Label Studio" not in client.get(f"/projects/{project.pk}/pages/").content.decode()
    client.force_login(member(Role.ANNOTATOR))
    assert "Pre-annotate selected" not in client.get(f"/projects/{project.pk}/pages/").content.decode()
