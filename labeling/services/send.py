"""Pages sent to Label Studio on request (POST /api/projects/{id}/send-to-label-studio/, from the page grid).

Every page should have its task already (imported at upload, repaired by reconciliation); this is the
lead's way to have selected pages put right now: their tasks created or created again, their image
links, lines and latest pre-annotation brought up to date there. Each step is idempotent, so the task
retries the whole of it while Label Studio is down.
"""

from __future__ import annotations

import logging
from typing import Sequence

from labeling.services.predictions import page_prediction_push
from labeling.services.provisioning import project_provision
from labeling.services.tasks import page_task_repair
from labeling.services.writeback import page_write_back
from webapp.corpus.models import Page
from webapp.projects.models import Project

logger = logging.getLogger(__name__)


def pages_send(*, project_id: int, page_ids: Sequence[int]) -> dict[int, str]:
    """What became of each page that still exists, by id. The project's Label Studio side is created or
    repaired first (a task needs its project, and annotations need the webhook back); provisioning also
    imports any other page that has no task, as reconciliation would."""
    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        return {}  # deleted since it was asked for
    link = project_provision(project=project)
    report = {}
    for page in Page.objects.filter(project=project, pk__in=page_ids).order_by("id"):
        task = page_task_repair(page=page, link=link)
        lines = page_write_back(page_id=page.pk)
        prediction = page_prediction_push(page_id=page.pk)
        report[page.pk] = f"task {task}; lines: {lines}; prediction: {prediction}"
        logger.info("page %s sent to Label Studio: %s", page.pk, report[page.pk])
    return report
