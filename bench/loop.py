"""The whole loop, end to end: a simulated annotator works through the real running system.

    .venv/bin/python bench/loop.py --budget small        # about 40 minutes on a 2-core CPU
    .venv/bin/python bench/loop.py --budget tiny         # a few minutes; what CI runs

It starts the stack exactly as `make run` does (webapp/devstack.py: PostgreSQL, Redis, the
Celery workers and beat, Label Studio, the web app), in a fresh state directory and on
free ports, creates a project with the retrain policy on, starting from the base models as
every new project does (`--no-base` for the from-scratch path), and uploads the dataset's
page images without their lines. Then the annotator (bench/annotator.py):

- while no model is promoted (only without base models), opens unlabelled tasks in Label
  Studio and draws and types every line from the ground truth (every character typed is effort);
- once one is, takes the least certain page from inkloop's page queue and fixes the model's
  suggestion in Label Studio (redrawing boxes that are off, deleting boxes around nothing,
  drawing and typing the lines nobody suggested), then the least certain lines from the line
  queue and fixes them through inkloop's REST API (the characters changed, by edit distance,
  are effort).

The workers retrain the recognizer whenever enough new lines are verified and the detector
whenever enough new pages are checked, and re-rank everything after each promotion. Outputs
in --out: reviews.csv, timeline.csv, models.csv, summary.json and loop.png (validation CER
and correction effort against verified lines). The summary says what a person saved: mean
effort per suggested line over time, the share of suggested boxes redrawn, the share of true
lines nobody suggested, keystrokes saved against typing everything, and the effort on pages
pre-annotated by each model version.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, only bench/ is on sys.path; the imports below need the repository root.
sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse  # noqa: E402
import csv  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import secrets  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from datetime import datetime  # noqa: E402
from statistics import fmean  # noqa: E402
from typing import Iterable, Iterator  # noqa: E402

import requests  # noqa: E402

from bench.annotator import Annotator, ground_truth  # noqa: E402
from ml.data.layout import pair_layouts_with_images  # noqa: E402
from webapp.devstack import free_port  # noqa: E402
from ml.data.shared import NEW_PROJECT  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CREMMA = NEW_PROJECT
ADMIN = "admin"  # seed_demo's account; Label Studio's person login has the same email (admin@localhost)
SERVICE_URLS = ("DATABASE_URL", "REDIS_URL", "LABEL_STUDIO_URL", "LABEL_STUDIO_API_KEY", "INKLOOP_PUBLIC_URL",
                "INKLOOP_BROWSER_URL", "LABEL_STUDIO_BROWSER_URL", "MEDIA_ROOT", "INKLOOP_TEST_DATABASE",
                "INKLOOP_TRAINING")


@dataclass(frozen=True)
class Budget:
    pages: int | None          # dataset pages uploaded (None: all)
    reviewed_lines: int        # suggested lines to review after the first promotion; then the run ends
    scratch_pages: int         # at most this many pages typed from scratch while waiting for a model
    retrain_new_lines: int     # the project's retrain policy: the recognizer's threshold
    retrain_new_pages: int     # and the detector's
    val_percent: int
    test_percent: int          # the loop never uses a test split; 0 keeps every page in play
    min_val_lines: int
    lines_per_round: int       # line-queue lines reviewed after each page
    seconds_per_line: float    # the annotator's pace: the workers train meanwhile
    training: dict             # INKLOOP_TRAINING for the workers
    timeout_minutes: float


TINY_MODEL = {"height": 32, "channels": [8, 16, 16, 24], "projection": 48, "lstm_hidden": 32, "lstm_layers": 1}
BUDGETS = {
    "tiny": Budget(pages=10, reviewed_lines=24, scratch_pages=5, retrain_new_lines=15, retrain_new_pages=2,
                   val_percent=30, test_percent=0,
                   min_val_lines=5, lines_per_round=6, seconds_per_line=0.0, timeout_minutes=12,
                   # Fine-tuning the base models briefly: a verdict either way, in seconds. (Without base models
                   # the tiny model needs about 40 epochs to beat the empty prediction.)
                   training={"epochs": {"recognizer": 4, "detector": 1},
                             "recognizer": {"batch_size": 8, "warmup_steps": 5, "augment": None, "lr": 5e-4,
                                            "patience": 1000, "model": TINY_MODEL},
                             "detector": {"train": {"crops_per_page": 1}}}),
    # Runs of a few minutes without early stopping: the workers fine-tune the promoted models (the base
    # at first) while the annotator works, a recognizer every 120 new lines, a detector every 8 new pages.
    "small": Budget(pages=None, reviewed_lines=600, scratch_pages=40, retrain_new_lines=120, retrain_new_pages=8,
                    val_percent=10, test_percent=0, min_val_lines=20, lines_per_round=10, seconds_per_line=2.5,
                    timeout_minutes=38,
                    training={"epochs": {"recognizer": 1000, "detector": 1000},
                              "max_minutes": {"recognizer": 5, "detector": 3},
                              "recognizer": {"patience": 1000}}),
    "full": Budget(pages=None, reviewed_lines=2000, scratch_pages=60, retrain_new_lines=200, retrain_new_pages=10,
                   val_percent=10, test_percent=0, min_val_lines=20, lines_per_round=10, seconds_per_line=3.0,
                   timeout_minutes=240,
                   training={"epochs": {"recognizer": 1000, "detector": 1000},
                             "max_minutes": {"recognizer": 10, "detector": 6},
                             "recognizer": {"patience": 1000}}),
}


# --- the stack, as `make run` starts it ---------------------------------------------------------


@dataclass(frozen=True)
class Stack:
    web_url: str
    ls_url: str
    admin_password: str
    ls_person_password: str


@contextmanager
def running_stack(state: Path, budget: Budget) -> Iterator[Stack]:
    """`python -m webapp.devstack run -- manage.py runserver`, with this run's own state and ports."""
    web_port, ls_port = free_port(), free_port()
    password = secrets.token_urlsafe(12)
    env = {name: value for name, value in os.environ.items() if name not in SERVICE_URLS}
    env.update(INKLOOP_STATE_DIR=str(state), INKLOOP_WEB_PORT=str(web_port), LABEL_STUDIO_PORT=str(ls_port),
               INKLOOP_ADMIN_PASSWORD=password, DEBUG="1", INKLOOP_TRAINING=json.dumps(budget.training),
               INKLOOP_MIN_VAL_LINES=str(budget.min_val_lines), INKLOOP_WATCHDOG_INTERVAL="5",
               LABEL_STUDIO_SYNC_SECONDS="60", PYTHONUNBUFFERED="1")
    log = open(state / "stack.log", "ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "webapp.devstack", "run", "--", sys.executable, "manage.py", "runserver",
         f"127.0.0.1:{web_port}", "--noreload"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True)
    web_url = f"http://127.0.0.1:{web_port}"
    try:
        _wait(lambda: _answers(f"{web_url}/api/health/") and (state / "label-studio.env").exists(),
              what="the stack to start (see stack.log)", timeout=600, process=process)
        # devserver made the person's Label Studio login (their inkloop email) before it wrote label-studio.env.
        person = (state / "label-studio" / "inkloop-person-password").read_text().strip()
        yield Stack(web_url=web_url, ls_url=f"http://127.0.0.1:{ls_port}", admin_password=password,
                    ls_person_password=person)
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=5).ok
    except requests.RequestException:
        return False


def _wait(predicate, *, what: str, timeout: float, process: subprocess.Popen | None = None, interval: float = 1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the stack exited with code {process.returncode} while waiting for {what}")
        time.sleep(interval)
    raise TimeoutError(f"gave up after {timeout:.0f} s waiting for {what}")


def inkloop_token(url: str, password: str) -> str:
    response = requests.post(f"{url}/api/auth/token/", data={"username": ADMIN, "password": password}, timeout=30)
    response.raise_for_status()
    return response.json()["token"]


def label_studio_token(url: str, email: str, password: str) -> str:
    """What a person does: log in to Label Studio and copy their API token from the account page."""
    browser = requests.Session()
    browser.get(f"{url}/user/login/", timeout=30)
    browser.post(f"{url}/user/login/", data={"email": email, "password": password,
                                             "csrfmiddlewaretoken": browser.cookies.get("csrftoken")},
                 headers={"Referer": f"{url}/user/login/"}, timeout=30, allow_redirects=False)
    response = browser.get(f"{url}/api/current-user/token", timeout=30)
    response.raise_for_status()
    return response.json()["token"]


# --- the project --------------------------------------------------------------------------------


def project_with_pages(stack: Stack, token: str, budget: Budget, images: list[Path], *, base: bool,
                       strategy: str) -> int:
    headers = {"Authorization": f"Token {token}"}
    created = requests.post(f"{stack.web_url}/api/projects/", headers=headers, timeout=30, json={
        # Without base models the annotator types pages from scratch until a first promotion.
        "name": "loop benchmark", "use_base_models": base,
        # By default the ranked queue, whose order the run checks, as earlier runs were measured
        # (new projects default to random: bench/active_learning.py; --strategy random measures that).
        "strategy": strategy,
        "retrain_auto": True, "retrain_new_lines": budget.retrain_new_lines,
        "retrain_new_pages": budget.retrain_new_pages,
        "val_percent": budget.val_percent, "test_percent": budget.test_percent})
    created.raise_for_status()
    project_id = created.json()["id"]
    for start in range(0, len(images), 20):
        files = [("files", (path.name, path.read_bytes())) for path in images[start:start + 20]]
        requests.post(f"{stack.web_url}/api/projects/{project_id}/pages/", headers=headers, files=files,
                      timeout=300).raise_for_status()
    return project_id


# --- the run ------------------------------------------------------------------------------------


class Loop:
    def __init__(self, annotator: Annotator, budget: Budget, *, ranked: bool):
        self.annotator = annotator
        self.budget = budget
        self.ranked = ranked                          # the queues serve the least certain first
        self.timeline: list[dict] = []
        self.promoted_at: float | None = None
        self.queue_checks: list[bool] = []
        self.pages_without_prediction = 0
        self.stopped_by = "line budget"
        self.predictions_seen = 0
        self.prediction_models: set[str] = set()      # the model labels of the predictions the annotator opened
        self.detector_requested_by_hand = False
        self.detector_refused = ""

    def models(self) -> list[dict]:
        return self.annotator.api("GET", "models/").json()

    def promoted_recognizer(self) -> dict | None:
        return next((model for model in self.models() if model["kind"] == "recognizer"
                     and model["status"] == "promoted"), None)

    def snapshot(self, phase: str) -> None:
        pages = self.annotator.pages()
        models = self.models()
        promoted = next((model for model in models if model["kind"] == "recognizer"
                         and model["status"] == "promoted"), None)
        reviews = self.annotator.reviews
        suggested = [review for review in reviews if review.route != "scratch"][-20:]
        self.timeline.append({
            "at": self.annotator.now(), "phase": phase,
            "verified_lines": sum(page["verified_line_count"] for page in pages),
            "reviewed_lines": len(reviews), "false_detections": self.annotator.false_detections,
            "recognizer": promoted["label"] if promoted else "",
            "val_cer": _val_cer(promoted, models) if promoted else "",
            "recent_effort": round(fmean(review.effort for review in suggested), 4) if suggested else ""})

    def pace(self, lines: int) -> None:
        time.sleep(self.budget.seconds_per_line * lines)

    def until_first_model(self, deadline: float) -> None:
        """Type pages from scratch in Label Studio until the workers promote a first recognizer."""
        typed = 0
        while self.promoted_recognizer() is None:
            if time.monotonic() > deadline:
                raise TimeoutError("no recognizer was promoted within the time limit")
            page = self.annotator.next_unlabelled_task() if typed < self.budget.scratch_pages else None
            if page is None:
                time.sleep(2)  # waiting for the workers, as a person would wait for suggestions
                continue
            reviews = self.annotator.annotate_page(page)
            typed += 1
            self.snapshot("scratch")
            self.pace(len(reviews))
        self.promoted_at = self.annotator.now()
        self.snapshot("first model")

    def verify_validation_pages(self, deadline: float) -> None:
        """What the dashboard asks first of a project that starts from the base models: verified lines on
        validation pages (at least INKLOOP_MIN_VAL_LINES, and a whole page for the detector), so that a
        training run can be judged. The annotator fixes the base models' suggestions on them in Label Studio."""
        while True:
            pages = self.annotator.pages()
            val = [page for page in pages if page["split"] == "val" and page["ls_task_id"]
                   and page["original_name"] in self.annotator.truth]
            verified = sum(page["verified_line_count"] for page in val)
            if verified >= self.budget.min_val_lines and any(page["status"] == "done" for page in val):
                return
            todo = [page for page in val if not page["verified_line_count"]]
            if not todo or time.monotonic() > deadline:
                return
            if self.annotator.latest_prediction(todo[0], wait=60) is not None:
                self.predictions_seen += 1
            reviews = self.annotator.annotate_page(todo[0])
            self.snapshot("validation")
            self.pace(len(reviews))

    def reviewing(self, deadline: float) -> None:
        """Least certain page in Label Studio, then least certain lines through inkloop, until the budget."""
        while self.suggested_reviews() < self.budget.reviewed_lines:
            if time.monotonic() > deadline:
                self.stopped_by = "time limit"
                return
            done = self.review_top_page() + self.review_top_lines()
            if not done:
                time.sleep(2)  # the queue is empty until pre-annotation has run
                continue
            self.snapshot("review")
            self.pace(done)

    def suggested_reviews(self) -> int:
        return sum(review.route != "scratch" and review.at >= (self.promoted_at or 0)
                   for review in self.annotator.reviews)

    def runs(self) -> list[dict]:
        runs = self.annotator.api("GET", "training-runs/", params={"page_size": 200}).json()
        return runs["results"] if isinstance(runs, dict) else runs

    def settle(self, deadline: float) -> None:
        """After the review budget: a detector run if the policy started none (a lead's "Retrain now": the
        pages checked so far may hold no fully verified validation page, which the policy waits for), then
        every active run to its verdict, so the summary reads what each one came to."""
        # The policy looks every few seconds (INKLOOP_WATCHDOG_INTERVAL): give it two looks at the last labels.
        policy_tick = time.monotonic() + 12
        while time.monotonic() < policy_tick and {"recognizer", "detector"} - {run["kind"] for run in self.runs()}:
            time.sleep(1)
        if not any(run["kind"] == "detector" for run in self.runs()):
            try:
                self.annotator.api("POST", "training-runs/", json={"kind": "detector"})
                self.detector_requested_by_hand = True
            except RuntimeError as refused:        # e.g. no fully verified validation page yet
                self.detector_refused = str(refused)[:300]
        while any(run["status"] in ("queued", "running") for run in self.runs()):
            if time.monotonic() > deadline:
                return
            time.sleep(2)

    def review_top_page(self) -> int:
        top = self.annotator.queue("page", 1)
        if not top or not top[0]["ls_task_id"]:
            return 0
        prediction = self.annotator.latest_prediction(top[0], wait=60)
        if prediction is None:
            self.pages_without_prediction += 1
        else:
            self.predictions_seen += 1
            self.prediction_models.add(prediction.get("model_version") or "")
        return len(self.annotator.annotate_page(top[0]))

    def review_top_lines(self) -> int:
        lines = self.annotator.queue("line", self.budget.lines_per_round)
        confidences = [line["confidence"] for line in lines]
        if self.ranked:
            self.queue_checks.append(confidences == sorted(confidences))
        pages = {page["id"]: page for page in self.annotator.pages()}
        return sum(self.annotator.review_line(line, pages) is not None for line in lines)


def verified_by_split(pages: list[dict]) -> dict:
    """What the retrain policy saw: verified lines (and pages holding some) per split."""
    figures: dict = {}
    for page in pages:
        split = figures.setdefault(page["split"], {"lines": 0, "pages": 0})
        split["lines"] += page["verified_line_count"]
        split["pages"] += bool(page["verified_line_count"])
    return figures


def _confidence_figures(models: list[dict]) -> dict:
    """The calibration the latest trained recognizer stored: what the dashboard shows of its confidence."""
    trained = [m for m in models if m["kind"] == "recognizer" and m["source"] == "trained"]
    if not trained:
        return {}
    figures = (max(trained, key=lambda m: m["number"]).get("metrics") or {}).get("training") or {}
    return {key: figures.get(key) for key in ("confidence_method", "confidence_ece", "confidence_auroc",
                                              "ranking_measure")}


def _val_cer(model: dict, models: list[dict]) -> float | str:
    """The model's validation CER; a version never judged itself (the base) has the CER it scored as the
    baseline of a later version's judgement, as the dashboard's learning curve reads it."""
    validation = (model.get("metrics") or {}).get("validation") or {}
    if "cer" not in validation:
        validation = next(((other.get("metrics") or {}).get("baseline") or {} for other in models
                           if (other.get("metrics") or {}).get("compared_with") == model["label"]), {})
    return round(validation["cer"], 4) if "cer" in validation else ""


# --- checks and report --------------------------------------------------------------------------


def lost_annotations(annotator: Annotator) -> list[str]:
    """Every line the annotator submitted must be in PostgreSQL, verified, with its text and a revision."""
    lost = []
    for submitted in annotator.submitted_annotations:
        page_lines = annotator.api("GET", f"pages/{submitted['page_id']}/lines/").json()
        lines = {line["ls_region_id"]: line for line in page_lines}
        for region_id, text in submitted["regions"].items():
            line = lines.get(region_id)
            if line is None or line["text"] != text or not line["verified"]:
                lost.append(f"annotation {submitted['annotation']} region {region_id}")
            elif not annotator.api("GET", f"lines/{line['id']}/revisions/").json():
                lost.append(f"line {line['id']} has no revision")
    for review in annotator.reviews:
        if review.route == "line":
            line = annotator.api("GET", f"lines/{review.line_id}/").json()
            if line["text"] != review.text or not line["verified"] or not \
                    annotator.api("GET", f"lines/{review.line_id}/revisions/").json():
                lost.append(f"line {review.line_id} (reviewed through the line queue)")
    return lost


def stuck_runs(annotator: Annotator, *, heartbeat_timeout: float = 300) -> list[int]:
    """Runs still active whose heartbeat is older than the watchdog's timeout."""
    runs = annotator.api("GET", "training-runs/").json()
    runs = runs["results"] if isinstance(runs, dict) else runs
    now = time.time()
    stuck = []
    for run in runs:
        if run["status"] in ("queued", "running") and run.get("heartbeat_at"):
            age = now - _epoch(run["heartbeat_at"])
            if age > heartbeat_timeout:
                stuck.append(run["id"])
    return stuck


def _epoch(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def log_errors(logs: Iterable[Path]) -> list[str]:
    errors = []
    for log in sorted(logs):
        for line in log.read_text(errors="replace").splitlines():
            if " ERROR" in line or "Traceback" in line or "CRITICAL" in line:
                errors.append(f"{log.name}: {line.strip()[:200]}")
    return errors


def effort_ratio(reviews: list, promoted_at: float) -> dict:
    """Mean effort of the last 100 suggested lines against the first 100 (fewer: halves of what there is)."""
    after = [review for review in reviews if review.route != "scratch" and review.at >= promoted_at]
    window = min(100, len(after) // 2)
    if window == 0:
        return {"window": 0}
    first, last = fmean(r.effort for r in after[:window]), fmean(r.effort for r in after[-window:])
    return {"window": window, "first": round(first, 4), "last": round(last, 4),
            "ratio": round(last / first, 4) if first else None}


def savings(reviews: list, promoted_at: float, *, window: int = 100) -> dict:
    """What the suggestions saved a person once a model was in use: the issue's figures, from the reviews.

    effort: characters changed / characters of the true line (1.0 is typing it); a true line on a page
    with a prediction that no suggestion matched is typed from scratch ("no suggestion").
    """
    after = [review for review in reviews if review.at >= promoted_at]
    suggested = [review for review in after if review.route != "scratch"]
    missed = [review for review in after if review.route == "scratch" and review.on_predicted_page]
    true_lines = suggested + missed
    typed = sum(review.true_chars for review in after)
    changed = sum(review.changed_chars for review in after)
    over_time = [{"lines": f"{start + 1}-{start + len(chunk)}", "mean_effort": round(fmean(r.effort for r in chunk), 4)}
                 for start in range(0, len(suggested), window) for chunk in [suggested[start:start + window]]]
    by_model: dict[str, list] = {}
    for review in suggested:
        by_model.setdefault(review.recognizer or "?", []).append(review)
    return {
        "suggested_lines": len(suggested),
        "mean_effort_suggested": round(fmean(r.effort for r in suggested), 4) if suggested else None,
        "mean_effort_last_100": round(fmean(r.effort for r in suggested[-100:]), 4) if suggested else None,
        "mean_effort_first_100": round(fmean(r.effort for r in suggested[:100]), 4) if suggested else None,
        "effort_over_time": over_time,
        "boxes_redrawn": sum(r.box_fixed for r in suggested), "boxes_redrawn_share":
            round(sum(r.box_fixed for r in suggested) / len(suggested), 4) if suggested else None,
        "true_lines_without_suggestion": len(missed), "true_lines_on_predicted_pages": len(true_lines),
        "true_lines_without_suggestion_share": round(len(missed) / len(true_lines), 4) if true_lines else None,
        "keystrokes_typed_from_scratch": typed, "keystrokes_changed": changed,
        "keystrokes_saved": typed - changed, "keystrokes_saved_share": round(1 - changed / typed, 4) if typed else None,
        "effort_by_model": {label: {"lines": len(items), "mean_effort": round(fmean(r.effort for r in items), 4),
                                    "boxes_redrawn_share": round(sum(r.box_fixed for r in items) / len(items), 4)}
                            for label, items in sorted(by_model.items())},
    }


def write_outputs(out: Path, loop: Loop, summary: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    _csv(out / "reviews.csv", [review.row() for review in loop.annotator.reviews])
    _csv(out / "timeline.csv", loop.timeline)
    models = loop.models()
    _csv(out / "models.csv", [{"label": model["label"], "kind": model["kind"], "status": model["status"],
                               "trained_on_lines": model["trained_on_lines"], "val_cer": _val_cer(model, models),
                               "created_at": model["created_at"]} for model in models])
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    plot(out / "loop.png", loop)


def _csv(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="") as handle:
        if rows:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)


def plot(path: Path, loop: Loop) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 4.5))
    cer = [(row["verified_lines"], row["val_cer"]) for row in loop.timeline if row["val_cer"] != ""]
    effort = [(row["verified_lines"], row["recent_effort"]) for row in loop.timeline if row["recent_effort"] != ""]
    if cer:
        axes.step(*zip(*cer), where="post", label="validation CER of the promoted recognizer")
    if effort:
        axes.plot(*zip(*effort), marker=".", label="correction effort (last 20 suggested lines)")
    axes.set_xlabel("human-verified lines")
    axes.set_ylabel("characters changed / characters")
    axes.set_ylim(0, 1.1)
    axes.grid(alpha=0.3)
    axes.legend()
    axes.set_title("The loop: model quality and the cost of a correction")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def print_table(loop: Loop, summary: dict) -> None:
    print(f"{'minute':>7} {'verified':>9} {'reviewed':>9} {'recognizer':>14} {'val CER':>8} {'effort':>7}")
    for row in loop.timeline[:: max(1, len(loop.timeline) // 25)] + loop.timeline[-1:]:
        print(f"{row['at'] / 60:7.1f} {row['verified_lines']:9d} {row['reviewed_lines']:9d} {row['recognizer']:>14} "
              f"{row['val_cer']!s:>8} {row['recent_effort']!s:>7}")
    print(json.dumps({key: summary[key] for key in ("effort", "savings", "models_promoted", "lost_annotations",
                                                     "stuck_runs", "log_errors", "label_studio_log_errors", "minutes")},
                     indent=2))


# --- main ---------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", choices=sorted(BUDGETS), default="small")
    parser.add_argument("--data", type=Path, default=CREMMA, help="a folder of ALTO/PAGE XML files and their images")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "loop")
    parser.add_argument("--keep-state", action="store_true", help="keep the stack's state directory (logs, database)")
    parser.add_argument("--no-base", action="store_true", help="start without base models (the from-scratch path)")
    parser.add_argument("--strategy", choices=["least_confidence", "random"], default="least_confidence",
                        help="the project's review order (least_confidence: the queue's order is checked)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind, so the stack is stopped, not orphaned
    budget = BUDGETS[args.budget]
    pairs = pair_layouts_with_images(args.data)[:budget.pages]
    truth = ground_truth(pairs)
    state = Path(tempfile.mkdtemp(prefix="inkloop-loop-"))
    started = time.monotonic()
    deadline = started + budget.timeout_minutes * 60
    try:
        with running_stack(state, budget) as stack:
            print(f"stack up in {time.monotonic() - started:.0f} s: {stack.web_url}, Label Studio {stack.ls_url}",
                  flush=True)
            token = inkloop_token(stack.web_url, stack.admin_password)
            project_id = project_with_pages(stack, token, budget, [image for _, image in pairs], base=not args.no_base,
                                            strategy=args.strategy)
            ls_token = label_studio_token(stack.ls_url, f"{ADMIN}@localhost", stack.ls_person_password)
            annotator = Annotator(inkloop_url=stack.web_url, inkloop_token=token, ls_url=stack.ls_url,
                                  ls_token=ls_token, project_id=project_id, truth=truth)
            _wait(lambda: all(page["ls_task_id"] for page in annotator.pages()), timeout=300,
                  what="every page to become a Label Studio task")
            loop = Loop(annotator, budget, ranked=args.strategy == "least_confidence")
            loop.snapshot("start")
            loop.until_first_model(deadline)
            loop.verify_validation_pages(deadline)
            loop.reviewing(deadline)
            loop.settle(deadline + 300)
            loop.snapshot("settled")  # the verdicts of the last runs
            summary = {
                "budget": args.budget, "pages": len(pairs), "minutes": round((time.monotonic() - started) / 60, 1),
                "cpu_cores": os.cpu_count(), "first_promotion_at_minutes": round(loop.promoted_at / 60, 2),
                "base_models": not args.no_base, "strategy": args.strategy,
                "stopped_by": loop.stopped_by, "effort": effort_ratio(annotator.reviews, loop.promoted_at),
                "savings": savings(annotator.reviews, loop.promoted_at),
                "reviews_by_route": {route: sum(r.route == route for r in annotator.reviews)
                                     for route in ("scratch", "page", "line")},
                "models_promoted": [model["label"] for model in loop.models() if model["promoted_at"]],
                "runs": [{"kind": run["kind"], "status": run["status"], "trigger": run["trigger"],
                          "model": (run["model_version"] or {}).get("label"), "outcome": run["outcome"],
                          "verdict": run["verdict"]} for run in reversed(loop.runs())],
                "verified_lines_by_split": verified_by_split(annotator.pages()),
                "detector_requested_by_hand": loop.detector_requested_by_hand,
                "detector_refused": loop.detector_refused,
                "trained_recognizer_confidence": _confidence_figures(loop.models()),
                # What partly checked pages added to each detector run's training pages.
                "detector_training_pages": [
                    {"model": m["label"], "pages": m["trained_on_pages"],
                     "partly_checked": ((m.get("metrics") or {}).get("training") or {}).get("train_partial_pages")}
                    for m in loop.models() if m["kind"] == "detector" and m["source"] == "trained"],
                "prediction_models": sorted(loop.prediction_models),
                "queue_reads": len(loop.queue_checks),
                "queue_ordered": (all(loop.queue_checks) and bool(loop.queue_checks)) if loop.ranked else None,
                "predictions_seen_in_label_studio": loop.predictions_seen,
                "pages_reviewed_without_prediction": loop.pages_without_prediction,
                "lost_annotations": lost_annotations(annotator), "stuck_runs": stuck_runs(annotator),
                "log_errors": log_errors(state.glob("*.log")),
                "label_studio_log_errors": log_errors(state.glob("label-studio/*.log"))}
            write_outputs(args.out, loop, summary)
            print_table(loop, summary)
    finally:
        if args.keep_state:
            print(f"state kept in {state}")
        else:
            shutil.rmtree(state, ignore_errors=True)
    return 0 if not summary["lost_annotations"] and not summary["stuck_runs"] else 1


if __name__ == "__main__":
    sys.exit(main())
