"""Promoting a model version by hand: a version whose recorded validation figures say it did not
beat the promoted one needs `force`, and a forced promotion is recorded with who and when.

The versions here carry the figures a training run's judgement records (tests/workers/test_training.py
produces them with real training); what is tested is the guard and its record.
"""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile

from webapp.projects.models import Role
from webapp.projects.services import project_create
from webapp.training.models import ModelPromotion, ModelStatus, ModelVersion

pytestmark = pytest.mark.django_db


def judged(project, number: int, status: str, *, cer: float | None, against: str | None = None,
           their_cer: float | None = None, source: str = "trained") -> ModelVersion:
    """A recognizer version as a judged training run leaves it (or, with cer=None, as an upload does)."""
    metrics = {} if cer is None else {"validation": {"cer": cer}, "compared_with": against,
                                      "baseline": {"cer": their_cer}}
    version = ModelVersion(project=project, kind="recognizer", number=number, status=status, metrics=metrics,
                           checkpoint_sha256=f"{number:064d}", source=source)
    version.checkpoint.save("recognizer.pt", ContentFile(b"weights"), save=False)
    version.save()
    return version


def promote_url(version, project=None) -> str:
    return f"/api/projects/{(project or version.project).pk}/models/{version.pk}/promote/"


def statuses(project) -> dict[int, str]:
    return dict(ModelVersion.objects.filter(project=project).values_list("number", "status"))


def test_a_rejected_version_is_promoted_only_with_force_and_the_force_is_recorded(project, manager, manager_client):
    promoted = judged(project, 1, ModelStatus.PROMOTED, cer=0.35, against="empty prediction", their_cer=1.0)
    reads_nothing = judged(project, 2, ModelStatus.REJECTED, cer=1.0, against=promoted.label, their_cer=0.35)

    refused = manager_client.post(promote_url(reads_nothing), {}, format="json")
    assert refused.status_code == 409
    assert refused.json()["detail"] == ("recognizer-v2 did not beat recognizer-v1: val CER 1.000 vs 0.350; "
                                        "pass force to promote it anyway.")
    assert statuses(project) == {1: "promoted", 2: "rejected"}
    assert not ModelPromotion.objects.exists()

    forced = manager_client.post(promote_url(reads_nothing), {"force": True}, format="json")
    assert forced.status_code == 200, forced.json()
    body = forced.json()
    assert body["status"] == "promoted" and body["promoted_at"] is not None
    assert len(body["promotions"]) == 1
    record = body["promotions"][0]
    assert {key: record[key] for key in ("via", "promoted_by", "forced", "replaced")} == {
        "via": "manual", "promoted_by": manager.username, "forced": True, "replaced": "recognizer-v1"}
    assert record["reason"] == "recognizer-v2 did not beat recognizer-v1: val CER 1.000 vs 0.350"
    assert record["created_at"] is not None
    assert statuses(project) == {1: "ready", 2: "promoted"}
    # The record is there for whoever reads the registry later.
    listed = {version["label"]: version for version in manager_client.get(f"/api/projects/{project.pk}/models/").json()}
    assert listed["recognizer-v2"]["promotions"] == [record]


def test_rolling_back_to_a_version_the_promoted_one_beat_needs_force(project, manager_client):
    older = judged(project, 1, ModelStatus.READY, cer=0.40, against="empty prediction", their_cer=1.0)
    judged(project, 2, ModelStatus.PROMOTED, cer=0.30, against=older.label, their_cer=0.40)

    refused = manager_client.post(promote_url(older), format="json")
    assert refused.status_code == 409
    assert refused.json()["detail"].startswith("recognizer-v1 did not beat recognizer-v2: val CER 0.400 vs 0.300")
    assert statuses(project) == {1: "ready", 2: "promoted"}

    assert manager_client.post(promote_url(older), {"force": True}, format="json").status_code == 200
    assert statuses(project) == {1: "promoted", 2: "ready"}
    assert ModelPromotion.objects.get(version=older).forced


def test_a_version_its_figures_do_not_object_to_is_promoted_without_force(project, manager_client):
    base = judged(project, 1, ModelStatus.READY, cer=None, source="base")
    better = judged(project, 2, ModelStatus.READY, cer=0.30, against=base.label, their_cer=0.35)
    uploaded = judged(project, 3, ModelStatus.PROMOTED, cer=None, source="uploaded")

    # Nothing was ever measured against the uploaded version: no figure says `better` is worse.
    response = manager_client.post(promote_url(better), format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["promotions"][0]["forced"] is False
    assert response.json()["promotions"][0]["replaced"] == uploaded.label
    # Promoting the promoted version again changes nothing and records nothing.
    assert manager_client.post(promote_url(better), format="json").status_code == 200
    assert ModelPromotion.objects.filter(version=better).count() == 1
    assert statuses(project) == {1: "ready", 2: "promoted", 3: "ready"}


def test_force_must_be_a_boolean(project, manager_client):
    version = judged(project, 1, ModelStatus.READY, cer=None)
    response = manager_client.post(promote_url(version), {"force": "perhaps"}, format="json")
    assert response.status_code == 400 and response.json()["detail"].startswith("force:")
    assert statuses(project) == {1: "ready"}


@pytest.mark.parametrize("role", [Role.ANNOTATOR, Role.REVIEWER])
def test_only_managers_promote(project, member, client_for, role):
    judged(project, 1, ModelStatus.PROMOTED, cer=0.35, against="empty prediction", their_cer=1.0)
    rejected = judged(project, 2, ModelStatus.REJECTED, cer=1.0, against="recognizer-v1", their_cer=0.35)
    response = client_for(member(role)).post(promote_url(rejected), {"force": True}, format="json")
    assert response.status_code == 403
    assert statuses(project) == {1: "promoted", 2: "rejected"}


def test_another_projects_version_is_404_whichever_url_names_it(project, make_user, manager_client, client_for):
    theirs = project_create(creator=make_user("outsider"), name="Theirs", use_base_models=False)
    judged(theirs, 1, ModelStatus.PROMOTED, cer=0.35, against="empty prediction", their_cer=1.0)
    rejected = judged(theirs, 2, ModelStatus.REJECTED, cer=1.0, against="recognizer-v1", their_cer=0.35)

    assert manager_client.post(promote_url(rejected), {"force": True}, format="json").status_code == 404
    assert manager_client.post(promote_url(rejected, project), {"force": True}, format="json").status_code == 404
    assert statuses(theirs) == {1: "promoted", 2: "rejected"}
