"""Celery tasks of the billing app: thin wrappers that take ids and call one service."""

import logging
import smtplib
from datetime import date

from celery import shared_task
from django.db import OperationalError
from django.utils import timezone

from billing import delivery, notifications, runs

logger = logging.getLogger(__name__)


@shared_task(
    bind=True,
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def bill_run_chunk_task(self, chunk_id: int) -> None:
    """Invoice one chunk; retry on database hiccups, record anything else as the chunk's error.

    The chunk's transaction rolls back on any error, so a retry or a later run starts clean.
    """
    try:
        runs.bill_run_chunk(chunk_id=chunk_id)
    except OperationalError as error:
        if self.request.retries >= self.max_retries:
            runs.bill_run_chunk_failed(chunk_id=chunk_id, error=repr(error))
            return
        raise
    except Exception as error:
        logger.exception("Bill run chunk %s failed", chunk_id)
        runs.bill_run_chunk_failed(chunk_id=chunk_id, error=f"{type(error).__name__}: {error}")


@shared_task
def run_billing_task(as_of: str | None = None) -> int:
    """Start a bill run for ``as_of`` (ISO date; today by default). Scheduled daily by beat."""
    run = runs.bill_run_start(
        as_of=date.fromisoformat(as_of) if as_of else timezone.localdate(),
        triggered_by="schedule",
    )
    return run.pk


@shared_task
def schedules_top_up_task(as_of: str | None = None) -> int:
    """Keep evergreen billing schedules a year ahead. Scheduled daily by beat."""
    return runs.schedules_top_up(as_of=date.fromisoformat(as_of) if as_of else timezone.localdate())


# Retried for SMTP and network errors (server down, connection refused or dropped) with
# exponential backoff from a minute (up to 1, 2, 4, 8, 16 minutes, jittered), so an outage of
# half an hour is ridden out; each try is logged as an attempt. Late acknowledgement: a worker
# that dies mid-task gives the task back, and the service's ``sending`` attempt keeps the
# redelivered copy from sending a second time.
DELIVERY_RETRY = {
    "acks_late": True,
    "autoretry_for": (smtplib.SMTPException, OSError),
    "retry_backoff": 60,
    "retry_backoff_max": 16 * 60,
    "max_retries": 5,
}


@shared_task(**DELIVERY_RETRY)
def invoice_deliver_task(invoice_id: int, trigger: str = delivery.Trigger.ISSUE) -> None:
    """Email an issued invoice to its customer's billing contacts (see ``invoice_deliver``)."""
    delivery.invoice_deliver(invoice_id=invoice_id, trigger=trigger)


@shared_task(**DELIVERY_RETRY)
def credit_note_deliver_task(credit_note_id: int, trigger: str = delivery.Trigger.ISSUE) -> None:
    """Email an issued credit note to its customer's billing contacts."""
    delivery.credit_note_deliver(credit_note_id=credit_note_id, trigger=trigger)


@shared_task(**DELIVERY_RETRY)
def milestone_notify_task(milestone_id: int, what: str) -> int:
    """Email a milestone's contract followers that it was achieved or approved."""
    return notifications.milestone_notify(milestone_id=milestone_id, what=what)
