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


def test_a_model_is_promoted_and_its_suggestions_reach_label_studio(tiny_loop):
    summary = json.loads((tiny_loop / "summary.json").read_text())
    assert summary["models_promoted"] and summary["models_promoted"][0].startswith("recognizer-v")
    assert summary["predictions_seen_in_label_studio"] > 0  # the annotator fixed the model's lines there
    assert summary["pages_reviewed_without_prediction"] == 0
    assert summary["reviews_by_route"]["page"] > 0 and summary["reviews_by_route"]["line"] > 0


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
    assert {review["route"] for review in reviews} == set(ROUTES)
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
    assert any(model["status"] == "promoted" and 0 <= float(model["val_cer"]) <= 1 for model in models)

    effort = summary["effort"]
    assert effort["window"] > 0 and effort["ratio"] == pytest.approx(effort["last"] / effort["first"], abs=1e-3)
    with Image.open(tiny_loop / "loop.png") as plot:
        assert plot.format == "PNG" and plot.width >= 600 and plot.height >= 300
