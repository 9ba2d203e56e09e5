"""Signal receivers on inkloop's models. They only enqueue (after commit); the tasks do the work.

webapp never imports labeling, so this adapter listens instead of being called. Writes made
while applying a Label Studio annotation are not echoed back (services.lines.from_label_studio).
"""

from __future__ import annotations

from django.conf import settings
from django.db.models.signals import post_delete, post_save

from labeling.services.lines import applying_label_studio
from webapp import task_names
from webapp.corpus.models import Line, Page
from webapp.predictions.models import Prediction
from webapp.projects.models import Membership, Project
from webapp.queueing import enqueue_on_commit


def _enabled() -> bool:
    return bool(settings.LABEL_STUDIO_URL)


def project_saved(sender, instance: Project, created: bool, **kwargs) -> None:
    if created and _enabled():
        enqueue_on_commit(task_names.LABELING_PROVISION, instance.pk)


def membership_saved(sender, instance: Membership, created: bool, **kwargs) -> None:
    if created and _enabled():
        # Gives the new member a Label Studio account.
        enqueue_on_commit(task_names.LABELING_ACCOUNTS, instance.project_id)


def page_saved(sender, instance: Page, created: bool, **kwargs) -> None:
    if created and _enabled():
        enqueue_on_commit(task_names.LABELING_IMPORT_PAGE, instance.pk)


def page_deleted(sender, instance: Page, **kwargs) -> None:
    if instance.ls_task_id and _enabled():
        enqueue_on_commit(task_names.LABELING_DELETE_TASK, instance.ls_task_id)


def line_changed(sender, instance: Line, **kwargs) -> None:
    if _enabled() and not applying_label_studio() and instance.verified_at is not None:
        enqueue_on_commit(task_names.LABELING_WRITE_BACK, instance.page_id)


def line_deleted(sender, instance: Line, **kwargs) -> None:
    if _enabled() and not applying_label_studio() and instance.ls_region_id:
        enqueue_on_commit(task_names.LABELING_WRITE_BACK, instance.page_id)


def prediction_saved(sender, instance: Prediction, created: bool, **kwargs) -> None:
    if created and _enabled():
        enqueue_on_commit(task_names.LABELING_PUSH_PREDICTION, instance.page_id)


def connect() -> None:
    post_save.connect(project_saved, sender=Project, dispatch_uid="labeling.project_saved")
    post_save.connect(membership_saved, sender=Membership, dispatch_uid="labeling.membership_saved")
    post_save.connect(page_saved, sender=Page, dispatch_uid="labeling.page_saved")
    post_delete.connect(page_deleted, sender=Page, dispatch_uid="labeling.page_deleted")
    post_save.connect(line_changed, sender=Line, dispatch_uid="labeling.line_changed")
    post_delete.connect(line_deleted, sender=Line, dispatch_uid="labeling.line_deleted")
    post_save.connect(prediction_saved, sender=Prediction, dispatch_uid="labeling.prediction_saved")
