"""Projects, pages and annotations for the Label Studio tests, and waits for what the workers do."""

from __future__ import annotations

import io
import uuid

from django.contrib.auth import get_user_model
from PIL import Image

from labeling.config import BOX, IMAGE, LABEL, POLYGON, TRANSCRIPTION
from labeling.models import LabelStudioAccount, LabelStudioProject, LabelStudioTask
from labeling.selectors import latest_revision_id
from tests.workers.cluster import wait_for
from webapp.corpus.services import pages_upload
from webapp.projects.models import Role
from webapp.projects.services import membership_set, project_create

PAGE_SIZE = (800, 600)
# What the workers do after a commit (provisioning, a write-back) takes this long at most, on a slow CI machine.
ASYNC_TIMEOUT = 60
ANNOTATOR_PASSWORD = "annotator-pass-123"  # every annotator's Label Studio login in these tests


def png(seed: int) -> bytes:
    image = Image.new("L", PAGE_SIZE, color=255 - seed % 50)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def project_with_annotator(*, annotator_email: str, pages: int = 1):
    """A project, the annotator as a member, `pages` pages: returned once the workers have provisioned
    the project (its annotator's account included) and imported every page as a task."""
    users = get_user_model().objects
    lead = users.create_user(username=f"lead-{uuid.uuid4().hex[:8]}", email=f"lead-{uuid.uuid4().hex[:8]}@example.org",
                             password="x" * 12)
    person = users.create_user(username=f"ann-{uuid.uuid4().hex[:8]}", email=annotator_email, password="x" * 12)
    project = project_create(creator=lead, name=f"wills {uuid.uuid4().hex[:6]}", use_base_models=False)
    membership_set(project=project, user=person, role=Role.ANNOTATOR)
    seed = uuid.uuid4().int % 1000
    stored = pages_upload(project=project, user=lead, files=[(f"page-{seed + i}.png", png(seed + i))
                                                            for i in range(pages)])
    pages = [item.page for item in stored]
    wait_for(lambda: provisioned(project=project, person=person, pages=pages), timeout=ASYNC_TIMEOUT,
             what="the project provisioned in Label Studio and its pages imported")
    return project, person, pages


def provisioned(*, project, person, pages) -> bool:
    # The view is the last thing provisioning stores on the link; the account comes with the membership.
    return (LabelStudioProject.objects.filter(project=project, view_id__isnull=False).exists()
            and LabelStudioAccount.objects.filter(user=person).exists()
            and LabelStudioTask.objects.filter(page__in=pages).count() == len(pages))


def texts(result: list[dict]) -> list[list[str]]:
    return [item["value"]["text"] for item in result if item["type"] == "textarea"]


def written_back(page) -> bool:
    """Whether the page's latest revision is recorded as in Label Studio: by the echo of the worker's
    write (Label Studio delivers it before it answers the worker) or by the worker itself after."""
    task = LabelStudioTask.objects.get(page=page)
    return task.annotation_id is not None and task.synced_revision_id >= latest_revision_id(page=page)


def region(region_id: str, *, x: float, y: float, width: float, height: float, text: str | None,
           rotation: float = 0) -> list[dict]:
    """What Label Studio's editor saves for one line: a box and its per-region transcription."""
    geometry = {"x": x, "y": y, "width": width, "height": height, "rotation": rotation}
    common = {"id": region_id, "to_name": IMAGE, "original_width": PAGE_SIZE[0], "original_height": PAGE_SIZE[1],
              "image_rotation": 0, "origin": "manual"}
    items = [{**common, "from_name": BOX, "type": "rectanglelabels", "value": {**geometry, "rectanglelabels": [LABEL]}}]
    if text is not None:
        items.append({**common, "from_name": TRANSCRIPTION, "type": "textarea", "value": {**geometry, "text": [text]}})
    return items


def polygon_region(region_id: str, *, points: list[list[float]], text: str) -> list[dict]:
    """A polygon line as Label Studio's editor saves it, its transcription tied to it by region id."""
    common = {"id": region_id, "to_name": IMAGE, "original_width": PAGE_SIZE[0], "original_height": PAGE_SIZE[1],
              "image_rotation": 0, "origin": "manual"}
    geometry = {"points": points, "closed": True}
    return [{**common, "from_name": POLYGON, "type": "polygonlabels", "value": {**geometry, "polygonlabels": [LABEL]}},
            {**common, "from_name": TRANSCRIPTION, "type": "textarea", "value": {**geometry, "text": [text]}}]
