"""Webhook ingestion: Label Studio annotation events applied per second, duplicates included.

    python -m webapp.devstack exec -- python bench/label_studio_webhooks.py [--pages 20] [--updates 10] [--regions 12]

Every delivery goes through inkloop's whole HTTP stack in-process (Django test client:
middleware, secret check, JSON parsing) into PostgreSQL: record the event, apply the
annotation to the page's lines (one LineRevision per changed line), in one transaction.
Each page gets one ANNOTATION_CREATED then `--updates` ANNOTATION_UPDATED events that
change one region's text, and every delivery is sent twice (the second is a no-op, as
when Label Studio repeats one). Label Studio itself is not involved: the payloads have
its shape. Works on a throw-away project, deleted after. Prints figures, asserts nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, only bench/ is on sys.path; the imports below need the repository root.
sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse  # noqa: E402
import io  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from datetime import datetime, timedelta, timezone  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.test import Client  # noqa: E402
from PIL import Image  # noqa: E402

from labeling.config import BOX, IMAGE, LABEL, TRANSCRIPTION  # noqa: E402
from labeling.models import LabelStudioAccount, LabelStudioProject, LabelStudioTask, WebhookEvent  # noqa: E402
from labeling.services import annotations  # noqa: E402
from labeling.services.provisioning import SECRET_HEADER  # noqa: E402
from webapp.corpus.models import Line  # noqa: E402
from webapp.corpus.services import pages_upload  # noqa: E402
from webapp.projects.services import project_create, project_delete  # noqa: E402

WIDTH, HEIGHT = 1000, 1400


def page_png(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (WIDTH, HEIGHT), color=200 + seed % 50).save(buffer, format="PNG")
    return buffer.getvalue()


def result(regions: int, *, version: int) -> list[dict]:
    items = []
    for index in range(regions):
        geometry = {"x": 5, "y": 2 + index * 7, "width": 80, "height": 5, "rotation": 0}
        common = {"id": f"r{index}", "to_name": IMAGE, "original_width": WIDTH, "original_height": HEIGHT}
        text = f"ligne {index} v{version if index == version % regions else 0}"
        items.append({**common, "from_name": BOX, "type": "rectanglelabels",
                      "value": {**geometry, "rectanglelabels": [LABEL]}})
        items.append({**common, "from_name": TRANSCRIPTION, "type": "textarea", "value": {**geometry, "text": [text]}})
    return items


def payload(*, action: str, task_id: int, annotation_id: int, ls_user_id: int, version: int, regions: int,
            at: datetime) -> dict:
    return {"action": action, "project": {"id": 1},
            "annotation": {"id": annotation_id, "task": task_id, "completed_by": ls_user_id,
                           "updated_by": ls_user_id, "was_cancelled": False, "updated_at": at.isoformat(),
                           "result": result(regions, version=version)}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--updates", type=int, default=10)
    parser.add_argument("--regions", type=int, default=12)
    args = parser.parse_args()

    # inkloop's own account check would ask Label Studio; nothing here was written by inkloop.
    annotations.is_service_account = lambda annotation: False
    tag = uuid.uuid4().hex[:8]
    user = get_user_model().objects.create_user(username=f"bench-{tag}", email=f"bench-{tag}@example.org")
    project = project_create(creator=user, name=f"webhook bench {tag}", use_base_models=False)
    try:
        ls_user_id = 10_000_000 + int(tag, 16) % 1_000_000
        LabelStudioAccount.objects.create(user=user, ls_user_id=ls_user_id)
        link = LabelStudioProject.objects.create(project=project, ls_project_id=ls_user_id)
        pages = [stored.page for stored in pages_upload(project=project, user=user,
                                                        files=[(f"p{i}.png", page_png(i)) for i in range(args.pages)])]
        tasks = [LabelStudioTask.objects.create(page=page, ls_project_id=link.ls_project_id,
                                                ls_task_id=ls_user_id * 1000 + i) for i, page in enumerate(pages)]
        start = datetime.now(timezone.utc)
        deliveries = []
        for version in range(args.updates + 1):
            for index, task in enumerate(tasks):
                body = payload(action="ANNOTATION_CREATED" if version == 0 else "ANNOTATION_UPDATED",
                               task_id=task.ls_task_id, annotation_id=task.ls_task_id, ls_user_id=ls_user_id,
                               version=version, regions=args.regions, at=start + timedelta(seconds=version))
                deliveries += [body, body]
        client = Client()
        headers = {SECRET_HEADER: settings.LABEL_STUDIO_WEBHOOK_SECRET}
        client.get("/api/health/")  # the first request imports every view (torch included): not ingestion
        began = time.perf_counter()
        for body in deliveries:
            answer = client.post("/labeling/webhook/", body, content_type="application/json", headers=headers)
            assert answer.status_code == 200, answer.content
        elapsed = time.perf_counter() - began
        lines = Line.objects.filter(project=project).count()
        print(f"{len(deliveries)} deliveries ({len(deliveries) // 2} distinct, {args.pages} pages x "
              f"{args.regions} regions) in {elapsed:.2f} s: {len(deliveries) / elapsed:.1f} events/s, "
              f"{len(deliveries) / 2 / elapsed:.1f} distinct events/s; {lines} lines stored")
    finally:
        WebhookEvent.objects.filter(payload__annotation__completed_by=ls_user_id).delete()
        project_delete(project=project)
        user.delete()


if __name__ == "__main__":
    main()
