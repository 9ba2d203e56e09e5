"""Projects, pages and annotations for the Label Studio tests."""

from __future__ import annotations

import io
import uuid

from django.contrib.auth import get_user_model
from PIL import Image

from labeling.config import BOX, IMAGE, LABEL, TRANSCRIPTION
from webapp.corpus.services import pages_upload
from webapp.projects.models import Role
from webapp.projects.services import membership_set, project_create

PAGE_SIZE = (800, 600)


def png(seed: int) -> bytes:
    image = Image.new("L", PAGE_SIZE, color=255 - seed % 50)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def project_with_annotator(*, annotator_email: str, pages: int = 1):
    """A project (provisioned on commit), the annotator as a member, `pages` pages (imported on commit)."""
    users = get_user_model().objects
    lead = users.create_user(username=f"lead-{uuid.uuid4().hex[:8]}", email=f"lead-{uuid.uuid4().hex[:8]}@example.org",
                             password="x" * 12)
    person = users.create_user(username=f"ann-{uuid.uuid4().hex[:8]}", email=annotator_email, password="x" * 12)
    project = project_create(creator=lead, name=f"wills {uuid.uuid4().hex[:6]}")
    membership_set(project=project, username=person.username, role=Role.ANNOTATOR)
    seed = uuid.uuid4().int % 1000
    stored = pages_upload(project=project, user=lead, files=[(f"page-{seed + i}.png", png(seed + i))
                                                            for i in range(pages)])
    return project, person, [item.page for item in stored]


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
