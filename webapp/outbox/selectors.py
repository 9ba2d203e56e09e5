"""Reads of the outbox."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q

from webapp.outbox.models import OutboxMessage


def outbox_handed_over_since(*, task_name: str, args: list, since: datetime) -> bool:
    """Whether this message is waiting to be sent, or was recorded at or after `since`: either way
    the work it names is on its way and needs no new message."""
    return OutboxMessage.objects.filter(Q(sent_at__isnull=True) | Q(created_at__gte=since),
                                        task_name=task_name, args=list(args)).exists()
