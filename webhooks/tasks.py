"""Celery tasks of the webhooks app: thin wrappers that take ids and call one service."""

from celery import shared_task

from webhooks import delivery


# Late acknowledgement: a worker that dies mid-request gives the task back; the attempt it
# counted first makes the redelivered copy a no-op, and the sweep makes the next attempt.
@shared_task(acks_late=True)
def webhook_deliver_task(delivery_id: int, number: int | None) -> bool:
    """Make attempt ``number`` of a webhook delivery (None: a manual redelivery).

    Return whether an attempt was made and succeeded; failures are retried by the sweep, not
    by Celery (see ``webhooks.delivery``).
    """
    attempt = delivery.delivery_attempt(delivery_id=delivery_id, number=number)
    return attempt is not None and attempt.succeeded


@shared_task
def webhooks_retry_due_task() -> int:
    """Queue the webhook deliveries whose next attempt is due. Scheduled every minute by beat."""
    return delivery.deliveries_retry_due()
