"""The review queues: what a person should look at next, least certain first."""

from __future__ import annotations

from django.db.models import Case, F, Func, IntegerField, QuerySet, TextField, Value, When
from django.db.models.functions import Cast

from webapp.corpus.models import Line, Page, PageStatus, Split
from webapp.predictions.models import FalseDetection
from webapp.projects.models import Project, Strategy
from webapp.training.selectors import validation_is_enough


class Md5(Func):
    function = "md5"
    output_field = TextField()


def line_queue(*, project: Project) -> QuerySet[Line]:
    """Unverified model lines. `least_confidence` walks the partial index line_review_queue;
    `random` (the control) is a fixed shuffle, so a reviewer's position stays stable."""
    lines = Line.objects.filter(project=project, verified_at__isnull=True, confidence__isnull=False)
    if project.strategy == Strategy.RANDOM:
        return lines.annotate(shuffle=Md5(Cast(F("id"), TextField()))).order_by("shuffle")
    return lines.order_by("confidence", "id")


def page_queue(*, project: Project) -> QuerySet[Page]:
    """Pages with model lines and no human-verified line, the split the project needs first, then least
    confident first. Validation pages lead until a training run can be judged; after that training pages
    do, since only their labels teach the models (validation labels judge them). Test pages come last."""
    pages = Page.objects.filter(project=project, status=PageStatus.PREDICTED, confidence__isnull=False)
    first = Split.TRAIN if validation_is_enough(project) else Split.VAL
    pages = pages.annotate(need=Case(When(split=first, then=Value(0)), When(split=Split.TEST, then=Value(2)),
                                     default=Value(1), output_field=IntegerField()))
    if project.strategy == Strategy.RANDOM:
        return pages.annotate(shuffle=Md5(Cast(F("id"), TextField()))).order_by("need", "shuffle")
    return pages.order_by("need", "confidence", "id")


def false_detection_list(*, project: Project) -> QuerySet[FalseDetection]:
    """Boxes people marked as not a text line, newest first."""
    return FalseDetection.objects.filter(project=project).select_related("user").order_by("-id")
