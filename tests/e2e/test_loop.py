"""The end-to-end loop (bench/loop.py) in its tiny version: the real stack, a simulated annotator.

bench/loop.py starts its own stack exactly as `make run` does (embedded PostgreSQL and Redis,
Celery workers and beat, Label Studio, the web app) in a throw-away state directory, so this
test shares nothing with the session's services except the installed Label Studio.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from labeling import devserver
from tests.services import skip_without_service

REPO = Path(__file__).resolve().parents[2]
ROUTES = ("scratch", "page", "line")


@pytest.fixture(scope="module")
def tiny_loop(tmp_path_factory) -> Path:
    if not devserver.label_studio_executable().exists():
        skip_without_service("label-studio", "run `make label-studio-venv`")
    out = tmp_path_factory.mktemp("loop")
    result = subprocess.run([sys.executable, "bench/loop.py", "--budget", "tiny", "--out", str(out)], cwd=REPO,
                            capture_output=True, text=True, timeout=900, env=dict(os.environ))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return out


def rows(path: Path) -> list[dict]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_the_project_starts_from_the_base_models_and_their_suggestions_reach_label_studio(tiny_loop):
    summary = json.loads((tiny_loop / "summary.json").read_text())
    assert summary["base_models"] is True
    assert {"recognizer-v1", "detector-v1"} <= set(summary["models_promoted"])      # the base, promoted at creation
    assert summary["predictions_seen_in_label_studio"] > 0  # the annotator fixed the model's lines there
    assert summary["pages_reviewed_without_prediction"] == 0
    assert summary["reviews_by_route"]["page"] > 0 and summary["reviews_by_route"]["line"] > 0
    # Pre-annotation used the promoted detector, never the scripted baseline.
    models = summary["prediction_models"]
    assert models and all(label.startswith("detector-v") for label in models)


def test_a_trained_version_of_each_kind_reaches_a_recorded_verdict(tiny_loop):
    summary = json.loads((tiny_loop / "summary.json").read_text())
    for kind in ("recognizer", "detector"):
        runs = [run for run in summary["runs"] if run["kind"] == kind and run["status"] == "succeeded"]
        assert runs, (kind, summary["runs"], summary["detector_refused"])
        assert runs[0]["outcome"] in ("promoted", "rejected") and runs[0]["model"].startswith(f"{kind}-v")
        assert runs[0]["verdict"].startswith(runs[0]["outcome"] + ": val ")
    assert any(run["trigger"] == "policy" for run in summary["runs"] if run["kind"] == "recognizer")
    # The trained recognizer's confidence is calibrated on the validation lines, and says how well.
    confidence = summary["trained_recognizer_confidence"]
    assert confidence["confidence_method"] in ("isotonic", "temperature")
    assert 0 <= confidence["confidence_ece"] <= 1 and confidence["ranking_measure"]


def test_the_summary_says_what_the_suggestions_saved(tiny_loop):
    savings = json.loads((tiny_loop / "summary.json").read_text())["savings"]
    reviews = [review for review in rows(tiny_loop / "reviews.csv") if review["route"] != "scratch"]
    assert savings["suggested_lines"] == len(reviews) > 0
    redrawn = sum(review["box_fixed"] == "True" for review in reviews)
    assert savings["boxes_redrawn"] == redrawn
    assert savings["boxes_redrawn_share"] == pytest.approx(redrawn / len(reviews), abs=1e-4)
    assert savings["keystrokes_saved"] == savings["keystrokes_typed_from_scratch"] - savings["keystrokes_changed"]
    assert sum(model["lines"] for model in savings["effort_by_model"].values()) == len(reviews)
    assert 0 <= savings["true_lines_without_suggestion_share"] <= 1


def test_lines_were_ranked_least_certain_first(tiny_loop):
    summary = json.loads((tiny_loop / "summary.json").read_text())
    assert summary["queue_ordered"] is True
    assert summary["queue_reads"] > 0


def test_every_correction_is_in_postgres_and_nothing_is_stuck_or_logged_as_an_error(tiny_loop):
    summary = json.loads((tiny_loop / "summary.json").read_text())
    assert summary["lost_annotations"] == []
    assert summary["stuck_runs"] == []
    assert summary["log_errors"] == []


def test_the_outputs_are_well_formed(tiny_loop):
    summary = json.loads((tiny_loop / "summary.json").read_text())
    reviews = rows(tiny_loop / "reviews.csv")
    assert len(reviews) == sum(summary["reviews_by_route"].values())
    # Starting from the base models, every page is suggested; "scratch" lines are the ones no box matched.
    assert {"page", "line"} <= {review["route"] for review in reviews} <= set(ROUTES)
    for review in reviews:
        changed, true = int(review["changed_chars"]), int(review["true_chars"])
        assert true > 0 and changed >= 0 and float(review["effort"]) == pytest.approx(changed / true, abs=1e-3)
        if review["route"] == "scratch":
            assert changed == true  # typed whole
    times = [float(review["at"]) for review in reviews]
    assert times == sorted(times)

    timeline = rows(tiny_loop / "timeline.csv")
    verified = [int(row["verified_lines"]) for row in timeline]
    assert verified == sorted(verified) and verified[-1] >= len(reviews) - summary["reviews_by_route"]["line"]
    assert any(row["val_cer"] for row in timeline)

    models = rows(tiny_loop / "models.csv")
    # The recognizer in use has a validation CER (the base's is the one it scored as a later run's baseline).
    assert any(model["kind"] == "recognizer" and model["status"] == "promoted" and 0 <= float(model["val_cer"]) <= 1
               for model in models)

    effort = summary["effort"]
    assert effort["window"] > 0 and effort["ratio"] == pytest.approx(effort["last"] / effort["first"], abs=1e-3)
    with Image.open(tiny_loop / "loop.png") as plot:
        assert plot.format == "PNG" and plot.width >= 600 and plot.height >= 300
