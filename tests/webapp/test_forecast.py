"""The dashboard and the API forecast the labelling budget from the project's own learning curve."""

from __future__ import annotations

import re

import pytest

from tests.webapp.model_history_factories import model_version
from webapp.review import selectors

pytestmark = pytest.mark.django_db


def curve_version(project, number: int, *, lines: int, cer: float, characters: int | None = None):
    return model_version(project, number, lines=lines, metrics={
        "training": {"train_lines": lines, "train_characters": characters if characters is not None else lines * 40},
        "validation": {"cer": cer, "lines": 250}, "baseline": {"cer": 0.45, "lines": 250},
        "compared_with": "recognizer-v1"})


@pytest.fixture
def two_versions(project):
    model_version(project, 1, source="base")              # its point: the baseline CER of v2's judgement
    curve_version(project, 2, lines=200, cer=0.30)
    return project


def test_no_forecast_before_three_versions_and_the_answer_says_so(two_versions, manager_client):
    body = manager_client.get(f"/api/projects/{two_versions.pk}/forecast/").json()
    assert body["available"] is False and body["versions"] == 2 and body["more_lines"] is None
    assert "once 3 recognizer versions" in body["message"]


def test_three_versions_give_lines_and_characters_to_the_next_milestone(two_versions, manager_client, client,
                                                                           manager):
    curve_version(two_versions, 3, lines=500, cer=0.24, characters=500 * 38)
    body = manager_client.get(f"/api/projects/{two_versions.pk}/forecast/").json()
    assert body["available"] and body["versions"] == 3 and body["lines_now"] == 500
    assert body["target"] == 0.2                          # the milestone below the best CER so far (24 %)
    assert body["reachable"] and body["more_lines"] > 0
    assert body["more_lines_low"] <= body["more_lines"]
    assert abs(body["more_characters"] - body["more_lines"] * 38) <= 38     # at 38 characters a line
    assert body["message"].startswith("About ") and "to reach 20 % CER" in body["message"]

    client.force_login(manager)
    html = client.get(f"/projects/{two_versions.pk}/").content.decode()
    shown = re.search(r"<p class=\"forecast\" data-forecast>(.*?)</p>", html).group(1)
    assert shown == body["message"].replace("’", "&#x27;")


def test_a_target_below_where_the_curve_levels_off_is_out_of_reach(two_versions, manager_client):
    curve_version(two_versions, 3, lines=500, cer=0.29)
    curve_version(two_versions, 4, lines=900, cer=0.289)
    body = manager_client.get(f"/api/projects/{two_versions.pk}/forecast/?target=0.05").json()
    assert body["target"] == 0.05 and body["reachable"] is False and body["more_lines"] is None
    assert "out of reach" in body["message"] and body["floor"] > 0.2


@pytest.mark.parametrize("target", ["0", "1", "ten", ""])
def test_a_target_that_is_not_a_cer_is_refused(two_versions, manager_client, target):
    response = manager_client.get(f"/api/projects/{two_versions.pk}/forecast/?target={target}")
    assert response.status_code == 400 and "target" in response.json()["errors"]


def test_another_projects_forecast_is_404(two_versions, make_user, client_for):
    assert client_for(make_user("stranger")).get(f"/api/projects/{two_versions.pk}/forecast/").status_code == 404


def test_the_forecast_is_computed_once_for_the_same_curve(two_versions):
    curve_version(two_versions, 3, lines=500, cer=0.24)
    selectors._forecast.cache_clear()
    first = selectors.labelling_forecast(project=two_versions)
    again = selectors.labelling_forecast(project=two_versions)
    assert first == again and selectors._forecast.cache_info().hits == 1


def test_a_rejected_version_is_not_a_point_of_the_forecast(two_versions, manager_client):
    from webapp.training.models import ModelStatus

    curve_version(two_versions, 3, lines=500, cer=0.6).__class__.objects.filter(
        project=two_versions, number=3).update(status=ModelStatus.REJECTED)
    body = manager_client.get(f"/api/projects/{two_versions.pk}/forecast/").json()
    assert body["available"] is False and body["versions"] == 2
