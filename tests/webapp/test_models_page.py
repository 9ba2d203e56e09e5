"""The models page and run pages: verdicts in words from the recorded figures, the learning curve's
geometry (nice ticks, units, one point per version, an empty state that says what will appear)."""

from __future__ import annotations

import re

import pytest
from django.template.loader import render_to_string

from tests.webapp.model_history_factories import finished_run, model_history, model_version
from webapp.review import charts, model_history as history
from webapp.review.selectors import CurvePoint, learning_curve
from webapp.training.models import ModelStatus, ModelVersion, RunStatus, TrainingRun

pytestmark = pytest.mark.django_db


def point(label: str, lines: int, cer: float, characters: int | None = None, status: str = "ready") -> CurvePoint:
    return CurvePoint(label=label, number=int(label.rsplit("v", 1)[1]), verified_lines=lines,
                      verified_characters=characters, cer=cer, status=status)


@pytest.mark.parametrize("highest, integer, expected", [
    (37, True, [0, 10, 20, 30, 40]),
    (120, True, [0, 25, 50, 75, 100, 125]),
    (3, True, [0, 1, 2, 3]),
    (0, True, [0, 1]),
    (0.123, False, [0, 0.025, 0.05, 0.075, 0.1, 0.125]),
    (1.0, False, [0, 0.2, 0.4, 0.6, 0.8, 1.0]),
])
def test_ticks_are_nice_numbers_from_zero_covering_the_data(highest, integer, expected):
    ticks = charts.nice_ticks(highest, integer=integer)
    assert ticks == pytest.approx(expected)


def test_the_curve_has_units_on_both_axes_and_a_point_per_version():
    chart = charts.learning_curve_chart([point("recognizer-v1", 0, 0.15), point("recognizer-v2", 120, 0.123),
                                         point("recognizer-v3", 150, 1.0, status="rejected")])
    assert [tick.label for tick in chart.y_ticks] == ["0 %", "20 %", "40 %", "60 %", "80 %", "100 %"]
    assert [tick.label for tick in chart.x_ticks] == ["0", "50", "100", "150"]
    assert chart.x_title == "Human-verified lines trained on" and chart.y_title.startswith("Validation CER")
    assert [p.point.label for p in chart.points] == ["recognizer-v1", "recognizer-v2", "recognizer-v3"]
    # 0 lines is the left edge, 150 the right; 100 % is the top, 0 % the bottom.
    assert chart.points[0].x == chart.plot_left and chart.points[2].x == chart.plot_right
    assert chart.points[2].y == chart.plot_top
    assert chart.points[1].description == "recognizer-v2 (ready): validation CER 12.3 % after 120 verified lines"
    svg = render_to_string("review/_learning_curve.svg", {"chart": chart})
    assert svg.count("<circle") == 3 and 'data-points="3"' in svg
    assert ">100 %</text>" in svg and ">Human-verified lines trained on</text>" in svg
    # The line joins the versions good enough to use; the rejected one is a point off it.
    assert chart.path == f"M{chart.points[0].x},{chart.points[0].y} L{chart.points[1].x},{chart.points[1].y}"


def test_the_characters_axis_counts_in_thousands_and_leaves_out_versions_without_a_count():
    chart = charts.learning_curve_chart([point("recognizer-v1", 0, 0.5, characters=0),
                                         point("recognizer-v2", 300, 0.2, characters=24_000),
                                         point("recognizer-v3", 10, 0.9)], axis="characters")
    assert [p.point.label for p in chart.points] == ["recognizer-v1", "recognizer-v2"]
    assert chart.left_out == 1
    assert [tick.label for tick in chart.x_ticks] == ["0", "5,000", "10k", "15k", "20k", "25k"]
    assert chart.x_title == "Characters of human-verified lines trained on"


def test_an_empty_curve_says_what_it_will_show():
    chart = charts.learning_curve_chart([])
    assert chart.is_empty and chart.points == []
    svg = render_to_string("review/_learning_curve.svg", {"chart": chart})
    text = re.sub(r"<[^>]+>", "", svg.split("</desc>", 1)[1])
    assert ("The curve appears after the first training run: validation CER against verified lines."
            in " ".join(text.split()))
    assert 'data-points="0"' in svg and "<circle" not in svg
    assert ">0 %</text>" in svg  # still real axes with ticks, not an empty frame


def test_verdicts_say_what_beat_what_in_percent(project, manager):
    rows = model_history(project, manager)
    assert history.version_verdict(rows["promoted"], run=rows["promoted"].training_run) == \
        "beat recognizer-v1: val CER 12.3 % vs 15.0 %"
    assert history.version_verdict(rows["rejected"], run=rows["rejected"].training_run) == \
        "rejected: val CER 100.0 % vs 12.3 % of recognizer-v2"
    assert history.version_verdict(rows["base"]) == "base model: val CER 47.7 % on other hands"
    assert history.version_verdict(rows["detector"]) == "base model: val F1 81.0 % on other hands"
    assert history.run_outcome(rows["promoted"].training_run) == "promoted: val CER 12.3 % vs 15.0 % of recognizer-v1"
    assert history.run_outcome(rows["rejected"].training_run) == \
        "rejected: val CER 100.0 % vs 12.3 % of recognizer-v2 (it must be lower by 0.5 points)"


def test_a_model_that_reads_nothing_is_rejected_against_the_empty_prediction(project):
    version = model_version(project, 1, status=ModelStatus.REJECTED, metrics={
        "validation": {"cer": 1.0}, "baseline": {"cer": 1.0}, "compared_with": "empty prediction"})
    run = finished_run(version, promoted=False, verdict="rejected: val CER 1.000 vs 1.000 of the empty prediction")
    assert history.version_verdict(version, run=run) == "rejected: val CER 100.0 % vs 100.0 % of the empty prediction"
    # A version rolled back to later is still the one its judgement rejected.
    version.status = ModelStatus.READY
    assert history.version_verdict(version, run=run).startswith("rejected: ")
    failed = TrainingRun.objects.create(project=project, kind="recognizer", status=RunStatus.FAILED,
                                        error="RuntimeError: out of memory\nTraceback ...")
    assert history.run_outcome(failed) == "failed: RuntimeError: out of memory"


def test_the_curve_starts_at_the_base_models_score_on_this_projects_validation_lines(project, manager):
    model_history(project, manager)
    points = learning_curve(project=project)
    assert [(p.label, p.verified_lines, p.verified_characters, p.cer) for p in points] == [
        ("recognizer-v1", 0, 0, 0.150), ("recognizer-v2", 120, 5400, 0.123), ("recognizer-v3", 150, 6800, 1.0)]


def test_a_rejected_version_rolled_back_to_and_away_from_stays_off_the_line(project, manager):
    """Forcing a rejected version and rolling back from it leaves it `ready`; the curve, like its verdict, still
    shows what its judgement said: a hollow point off the line. One promoted by its run and replaced later is
    on the line."""
    versions = model_history(project, manager)
    ModelVersion.objects.filter(pk=versions["rejected"].pk).update(status=ModelStatus.READY)
    ModelVersion.objects.filter(pk=versions["promoted"].pk).update(status=ModelStatus.READY)
    points = {p.label: p for p in learning_curve(project=project)}
    assert (points["recognizer-v2"].status, points["recognizer-v3"].status) == ("ready", "rejected")
    chart = charts.learning_curve_chart(list(points.values()))
    on_line = {f"{p.x},{p.y}" for p in chart.points if p.point.label != "recognizer-v3"}
    assert chart.path.count("L") == 1 and all(xy in chart.path for xy in on_line)
    html = render_to_string("review/_learning_curve.svg", {"chart": chart})
    assert re.search(r'class="point rejected" data-label="recognizer-v3"', html)


def test_the_models_page_lists_every_version_with_its_verdict_trigger_time_and_data(client, project, manager):
    model_history(project, manager)
    client.force_login(manager)
    html = client.get(f"/projects/{project.pk}/models/").content.decode()

    def row(label: str) -> str:
        return " ".join(re.search(rf'<tr id="version-\d+" data-version="{label}".*?</tr>', html, re.S).group(0).split())

    promoted = row("recognizer-v2")
    assert "beat recognizer-v1: val CER 12.3 % vs 15.0 %" in promoted
    assert "retrained by manager" in promoted and "5 min 12 s" in promoted
    assert "120 verified lines, 5400 characters" in promoted and "edits up to #345" in promoted
    assert "Download recognizer-v2" in promoted and "Promote recognizer-v2" not in promoted
    rejected = row("recognizer-v3")
    assert "rejected: val CER 100.0 % vs 12.3 % of recognizer-v2" in rejected
    assert "the retrain policy" in rejected and "Promote recognizer-v3" in rejected
    base = row("recognizer-v1")
    assert "installed with the project" in base and "none of this project's lines" in base
    assert "promoted when the project was created" in base and "Promote recognizer-v1" in base
    assert html.count('class="learning-curve"') == 2 and 'data-points="3"' in html


def test_annotators_see_the_history_without_roll_back_or_download(client, project, manager, member):
    model_history(project, manager)
    client.force_login(member("annotator"))
    html = client.get(f"/projects/{project.pk}/models/").content.decode()
    assert "rejected: val CER 100.0 % vs 12.3 % of recognizer-v2" in html
    assert "data-promote" not in html and "Download" not in html and "force-dialog" not in html


def test_a_run_page_says_what_came_of_the_run(client, project, manager, make_user):
    rows = model_history(project, manager)
    run = rows["rejected"].training_run
    client.force_login(manager)
    html = " ".join(client.get(f"/projects/{project.pk}/runs/{run.pk}/").content.decode().split())
    assert "Rejected: val CER 100.0 % vs 12.3 % of recognizer-v2 (it must be lower by 0.5 points)" in html
    assert "the retrain policy" in html and "1 min 35 s" in html
    live = client.get(f"/projects/{project.pk}/runs/{run.pk}/live/")
    assert 'data-state="done"' in live.content.decode() and "no-store" in live["Cache-Control"]

    dashboard = client.get(f"/projects/{project.pk}/training/").content.decode()
    run_row = re.search(rf'<tr data-run="{run.pk}".*?</tr>', dashboard, re.S).group(0)
    assert f'href="/projects/{project.pk}/runs/{run.pk}/"' in run_row
    assert "Succeeded" not in run_row and "rejected: val CER 100.0 % vs 12.3 % of recognizer-v2" in run_row

    client.force_login(make_user("stranger"))
    for path in (f"/projects/{project.pk}/models/", f"/projects/{project.pk}/runs/{run.pk}/",
                 f"/projects/{project.pk}/runs/{run.pk}/live/"):
        assert client.get(path).status_code == 404, path
