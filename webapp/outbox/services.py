"""Writes of the outbox: record a message in the caller's transaction, send it after commit, sweep.

Invariants:
- a message commits with the write that asked for it, or not at all (it is a row in the same
  transaction), so a committed write never loses its follow-up work and a rolled-back one sends nothing;
- sending never raises into the caller: a broker that is down leaves the row unsent, logged, and
  the sweeper (a beat task, and once at every worker start) sends it when the broker is back;
- a row is sent by one process at a time (a row lock, taken with SKIP LOCKED). A message can still
  be delivered twice, rarely: the broker took it and the process died before it marked the row
  sent. Every task is idempotent (docs/architecture.md, "Reliability"), so a duplicate is harmless.
"""

from __future__ import annotations

import enum
import functools
import logging
from datetime import timedelta

import kombu.exceptions

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from webapp.outbox.models import OutboxMessage

logger = logging.getLogger(__name__)


def outbox_message_create(*, task_name: str, args: list, queue: str, task_id: str | None = None) -> OutboxMessage:
    """Record the message in the current transaction; it is sent once the transaction commits."""
    message = OutboxMessage.objects.create(task_name=task_name, args=list(args), queue=queue, task_id=task_id or "")
    # robust: even an unexpected error in the send is logged, never raised out of the commit.
    transaction.on_commit(functools.partial(outbox_message_send, message_id=message.pk), robust=True)
    return message


def outbox_message_send(*, message_id: int) -> bool:
    """Hand one message to the broker, unless it was sent already or the sweeper is sending it now.
    True when the broker took it."""
    with transaction.atomic():
        message = (OutboxMessage.objects.select_for_update(skip_locked=True)
                   .filter(pk=message_id, sent_at__isnull=True).first())
        if message is None:
            return False
        return _send(message) is SendOutcome.SENT


def outbox_sweep(*, limit: int = 500) -> int:
    """Send the unsent messages older than INKLOOP_OUTBOX_SWEEP_AFTER_SECONDS (younger ones are
    probably being sent after their commit right now), oldest first; stop at the first the broker
    cannot reach, since it is still down (a message it refuses for another reason is skipped, so it
    holds up no other). Then forget sent messages past their keeping time.
    Returns how many were sent."""
    now = timezone.now()
    cutoff = now - timedelta(seconds=settings.INKLOOP_OUTBOX_SWEEP_AFTER_SECONDS)
    sent = 0
    with transaction.atomic():
        due = (OutboxMessage.objects.select_for_update(skip_locked=True)
               .filter(sent_at__isnull=True, created_at__lte=cutoff).order_by("id")[:limit])
        for message in due:
            outcome = _send(message)
            if outcome is SendOutcome.BROKER_DOWN:
                break
            sent += outcome is SendOutcome.SENT
    OutboxMessage.objects.filter(
        sent_at__lt=now - timedelta(seconds=settings.INKLOOP_OUTBOX_KEEP_SENT_SECONDS)).delete()
    if sent:
        logger.info("outbox: sent %s message(s) the broker had not taken at commit", sent)
    return sent


class SendOutcome(enum.Enum):
    SENT = "sent"
    BROKER_DOWN = "broker down"      # it could not be reached: the messages after this one would fail too
    REFUSED = "refused"              # any other error: this message only


def _send(message: OutboxMessage) -> SendOutcome:
    """Send a row the caller holds locked; record the outcome on it. An unsent row stays for the sweeper."""
    from webapp.queueing import send_now  # queueing imports this module

    try:
        send_now(message.task_name, message.args, queue=message.queue, task_id=message.task_id or None)
    except Exception as error:  # never raised into the write that asked for the message
        message.attempts += 1
        message.last_error = f"{type(error).__name__}: {error}"[:2000]
        message.save(update_fields=["attempts", "last_error"])
        logger.warning("outbox: the broker did not take %s (attempt %s): %s; the sweeper will send it again",
                       message, message.attempts, message.last_error)
        unreachable = isinstance(error, (kombu.exceptions.OperationalError, OSError))
        return SendOutcome.BROKER_DOWN if unreachable else SendOutcome.REFUSED
    message.sent_at = timezone.now()
    message.attempts += 1
    message.save(update_fields=["sent_at", "attempts"])
    return SendOutcome.SENT
