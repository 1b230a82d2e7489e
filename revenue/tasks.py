"""Celery tasks of the revenue app: thin wrappers that take plain values and call one service."""

from datetime import date

from celery import shared_task
from django.utils import timezone

from revenue import runs


@shared_task
def revenue_recognize_task(as_of: str | None = None) -> int:
    """Recognize revenue through ``as_of`` (ISO date; today by default). Scheduled daily."""
    run = runs.revenue_recognize(
        as_of=date.fromisoformat(as_of) if as_of else timezone.localdate(),
        triggered_by="schedule",
    )
    return run.pk


@shared_task
def period_close_task(through: str, closed_by: str = "") -> list[str]:
    """Recognize through ``through``'s month end and close every month up to it."""
    periods = runs.period_close(through=date.fromisoformat(through), closed_by=closed_by)
    return [f"{period.start:%Y-%m}" for period in periods]
