"""Housekeeping of the API's stored state."""

from celery import shared_task

from integrations.idempotency import idempotency_keys_purge


@shared_task
def idempotency_keys_purge_task() -> int:
    """Forget idempotency keys past their keeping period (scheduled daily by a migration)."""
    return idempotency_keys_purge()
