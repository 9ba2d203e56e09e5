"""The outbox: Celery messages recorded in PostgreSQL, in the transaction that made them necessary.

A committed write and the work it asks for are one: the row commits with the write or not at
all, and is handed to the broker after commit (webapp/outbox/services.py), again and again if
the broker is down, until it takes it.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class OutboxMessage(models.Model):
    task_name = models.CharField(max_length=200)
    args = models.JSONField(default=list)
    queue = models.CharField(max_length=50)
    task_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # Set when the broker took the message. Sent rows are kept a while (INKLOOP_OUTBOX_KEEP_SENT_SECONDS):
    # they say when a piece of work was last handed over, which the watchdogs read before handing it over again.
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["created_at"], condition=models.Q(sent_at__isnull=True), name="outbox_unsent"),
            models.Index(fields=["task_name", "created_at"], name="outbox_task_created"),
            models.Index(fields=["sent_at"], condition=models.Q(sent_at__isnull=False), name="outbox_sent"),
        ]

    def __str__(self) -> str:
        return f"{self.task_name}{tuple(self.args)} ({'sent' if self.sent_at else 'unsent'})"
