"""One turn of the loop on real pages: retrain the recognizer on the workers, then pre-annotate.

    python -m webapp.devstack exec -- python bench/retrain_round.py [--verified 120] [--max-minutes 5]

Imports `--verified` CREMMA pages with their lines (human-verified) and uploads the rest
as bare images, starts a real gpu worker, requests a recognizer run through the same
service as the REST trigger, and times request → promoted model → every bare page
pre-annotated. A detector checkpoint (`--detector`) is promoted first if given; otherwise
the scripted baseline finds the lines. Deletes the project afterwards.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, only bench/ is on sys.path; the imports below need the repository root.
sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402
from contextlib import ExitStack  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402

from ml.data.layout import pair_layouts_with_images  # noqa: E402
from webapp.corpus.models import Page, Split  # noqa: E402
from webapp.corpus.services import pages_upload  # noqa: E402
from webapp.corpus.transfer import layout_import  # noqa: E402
from webapp.devstack import celery_processes  # noqa: E402
from webapp.predictions.models import Prediction  # noqa: E402
from webapp.projects.services import project_create  # noqa: E402
from webapp.training.models import RunStatus, TrainingRun  # noqa: E402
from webapp.training.registry import model_version_upload  # noqa: E402
from webapp.training.services import training_request  # noqa: E402
from ml.data.shared import NEW_PROJECT  # noqa: E402

CREMMA = NEW_PROJECT


def wait(predicate, *, what: str, timeout: float = 7200):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(1)
    raise TimeoutError(what)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=CREMMA)
    parser.add_argument("--verified", type=int, default=120, help="pages imported with their lines")
    parser.add_argument("--max-minutes", type=float, default=5.0, help="the training budget")
    parser.add_argument("--detector", type=Path)
    args = parser.parse_args()

    pairs = pair_layouts_with_images(args.data)
    user = get_user_model().objects.create_user(username=f"bench-round-{time.time_ns()}")
    project = project_create(creator=user, name="retrain round bench", use_base_models=False)
    layout_import(project=project, user=user,
                  files=[(path.name, path.read_bytes()) for pair in pairs[:args.verified] for path in pair])
    pages_upload(project=project, user=user, files=[(image.name, image.read_bytes())
                                                    for _, image in pairs[args.verified:]])
    bare = Page.objects.filter(project=project, lines__isnull=True).count()
    val_lines = sum(page.lines.count() for page in Page.objects.filter(project=project, split=Split.VAL))
    print(f"{args.verified} verified pages ({val_lines} validation lines), {bare} bare pages")
    if args.detector:
        model_version_upload(project=project, user=user, data=args.detector.read_bytes(), promote=True)

    with ExitStack() as stack:
        stack.enter_context(celery_processes(dict(os.environ), names=("worker-gpu",)))
        started = time.monotonic()
        run, _ = training_request(project=project, kind="recognizer", user=user, max_minutes=args.max_minutes,
                                  epochs=1000)
        run = wait(lambda: TrainingRun.objects.filter(pk=run.pk, status__in=[RunStatus.SUCCEEDED, RunStatus.FAILED])
                   .first(), what="the training run")
        trained = time.monotonic() - started
        print(f"retrain: {run.status} in {trained:.0f} s, {run.verdict}, "
              f"{run.figures.get('epochs')} epochs, {run.figures.get('train_lines_per_second', 0):.1f} lines/s")
        if run.promoted:
            wait(lambda: Prediction.objects.filter(page__project=project).values("page").distinct().count() >= bare,
                 what="pre-annotation")
            total = time.monotonic() - started
            print(f"pre-annotate {bare} pages: {total - trained:.0f} s ({bare / (total - trained):.2f} pages/s)")
            print(f"retrain -> pre-annotate round: {total:.0f} s on {os.cpu_count()} CPU cores")
    project.delete()
    user.delete()


if __name__ == "__main__":
    main()
