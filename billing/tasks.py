"""Celery tasks of the billing app: thin wrappers that take ids and call one service."""

import logging
from datetime import date

from celery import shared_task
from django.db import OperationalError
from django.utils import timezone

from billing import runs

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
