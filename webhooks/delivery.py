"""Sending webhook deliveries: one signed POST per attempt, retried with backoff until a 2xx.

At least once, as Stripe does: an attempt is counted (and the next one scheduled) in its own
transaction before the request goes out, so a worker that dies mid-request leaves a delivery
the retry sweep takes up again; receivers de-duplicate by the ``RMS-Event-Id`` header. Each
task names the attempt it is to make, so a second copy of it (a duplicate, a redelivered
message) finds that attempt made and sends nothing; a delivery that succeeded is never sent
again but by an explicit redelivery.

Retries are scheduled in the database, not with Celery's ``retry(countdown=...)``: in eager
mode (the embedded default) a countdown is ignored and the retry would run at once, inline,
and with Redis a countdown longer than the visibility timeout (15 minutes) is handed to
another worker again and again. ``next_attempt_at`` survives worker restarts and a flushed
broker; the sweep (``webhooks_retry_due_task``, run every minute by beat) queues what is due.
"""

import logging
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from datetime import timedelta
from http.client import HTTPException

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from webhooks.models import TEST_EVENT, WebhookAttempt, WebhookDelivery
from webhooks.signing import EVENT_ID_HEADER, EVENT_TYPE_HEADER, SIGNATURE_HEADER, sign

logger = logging.getLogger(__name__)

# After the n-th failed attempt the next one waits RETRY_DELAYS[n - 1], then LAST_DELAY each
# time: with the default 10 attempts a receiver that is down for two days misses nothing.
RETRY_DELAYS = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
)
LAST_DELAY = timedelta(hours=12)
# A queued attempt not made within this long (its message lost, or stuck behind thousands of
# others) is queued again by the sweep; the copy that comes second sends nothing.
REQUEUE_AFTER = timedelta(minutes=5)
# Deliveries the sweep queues per run (a minute): enough for a bill run's worth in a few runs.
SWEEP_BATCH = 1000
# Characters kept of the receiver's answer: enough to read its error message.
RESPONSE_EXCERPT = 1000
USER_AGENT = "RMS-Webhooks/1"

# A manual attempt (redeliver, or the test event's) is queued with no attempt number.
Queued = tuple[int, int | None]


def retry_delay(attempts: int) -> timedelta:
    """Return how long to wait after ``attempts`` failed attempts before the next one."""
    return RETRY_DELAYS[attempts - 1] if attempts <= len(RETRY_DELAYS) else LAST_DELAY


def deliveries_queue(items: Sequence[Queued]) -> None:
    """Queue a task per ``(delivery id, attempt number)`` once the transaction commits.

    One on-commit callback for the lot, sending through one broker connection.
    """
    items = list(items)
    if items:
        transaction.on_commit(lambda: _enqueue(items))


def _enqueue(items: list[Queued]) -> None:
    """Send the tasks; a failure is logged, not raised into the code that committed.

    A delivery whose task could not be queued is still pending, so the sweep queues it later.
    """
    from webhooks.tasks import webhook_deliver_task  # the tasks import this module

    try:
        with webhook_deliver_task.app.producer_or_acquire() as producer:
            for delivery_id, number in items:
                try:
                    webhook_deliver_task.apply_async((delivery_id, number), producer=producer)
                except Exception:
                    logger.exception("Could not queue webhook delivery %s", delivery_id)
    except Exception:
        logger.exception("Could not queue %d webhook deliveries", len(items))


def deliveries_retry_due() -> int:
    """Queue the next attempt of every pending delivery that is due; return how many.

    Claimed by pushing ``next_attempt_at`` on by ``REQUEUE_AFTER``, so that the next sweep
    does not queue them again while they wait in the queue; rows another sweep has locked are
    skipped (PostgreSQL).
    """
    now = timezone.now()
    with transaction.atomic():
        due = list(
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .filter(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now)
            .order_by("next_attempt_at", "pk")
            .values_list("pk", "attempts")[:SWEEP_BATCH]
        )
        WebhookDelivery.objects.filter(pk__in=[pk for pk, _ in due]).update(
            next_attempt_at=now + REQUEUE_AFTER
        )
        deliveries_queue([(pk, attempts + 1) for pk, attempts in due])
    return len(due)


def delivery_attempt(*, delivery_id: int, number: int | None) -> WebhookAttempt | None:
    """Make attempt ``number`` of a delivery (None: a manual one, whatever its state); log it.

    Returns the attempt, or None when there was nothing to send: the delivery succeeded or
    gave up already, this attempt was made by another copy of the task, or it cannot be sent
    (its endpoint is inactive, its attempts are spent), which fails it.
    """
    manual = number is None
    now = timezone.now()
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(of=("self",))
            .select_related("endpoint", "event")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None:  # its endpoint was deleted meanwhile
            return None
        if not manual:
            if delivery.status != WebhookDelivery.Status.PENDING or delivery.attempts != number - 1:
                return None
            reason = _reason_not_to_send(delivery)
            if reason:
                delivery.status = WebhookDelivery.Status.FAILED
                delivery.error = reason
                delivery.next_attempt_at = None
                delivery.save(update_fields=["status", "error", "next_attempt_at"])
                return None
            # Scheduled before the request: if this worker dies, the sweep retries then.
            delivery.next_attempt_at = now + retry_delay(number)
        delivery.attempts += 1
        delivery.last_attempt_at = now
        delivery.save(update_fields=["attempts", "last_attempt_at", "next_attempt_at"])
    code, excerpt, error, duration_ms = _post(delivery, now)
    return _record(
        delivery,
        manual=manual,
        started_at=now,
        code=code,
        excerpt=excerpt,
        error=error,
        duration_ms=duration_ms,
    )


def _reason_not_to_send(delivery: WebhookDelivery) -> str:
    if not delivery.endpoint.active and delivery.event.type != TEST_EVENT:
        return "The endpoint is inactive."
    if delivery.attempts >= settings.RMS_WEBHOOK_MAX_ATTEMPTS:
        return f"Gave up after {delivery.attempts} attempts (the last one was interrupted)."
    return ""


def _post(delivery: WebhookDelivery, now) -> tuple[int | None, str, str, int]:
    """POST the event to the endpoint; return (status, answer excerpt, error, milliseconds)."""
    endpoint, event = delivery.endpoint, delivery.event
    body = event.body()
    request = urllib.request.Request(
        endpoint.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            SIGNATURE_HEADER: sign(body, endpoint.signing_secrets(now)),
            EVENT_ID_HEADER: event.pk,
            EVENT_TYPE_HEADER: event.type,
        },
    )
    started = time.monotonic()
    code, excerpt, error = None, "", ""
    try:
        with _OPENER.open(request, timeout=settings.RMS_WEBHOOK_TIMEOUT) as response:
            code, excerpt = response.status, _excerpt(response)
    except urllib.error.HTTPError as answer:  # any status but 2xx, redirects included
        with answer:
            code, excerpt = answer.code, _excerpt(answer)
        error = f"The endpoint answered HTTP {answer.code}."
    except (OSError, HTTPException, ValueError) as failure:  # refused, timed out, TLS, bad URL
        reason = getattr(failure, "reason", failure)
        error = f"{type(reason).__name__}: {reason}"
    return code, excerpt, error, round((time.monotonic() - started) * 1000)


def _excerpt(response) -> str:
    """Return the start of the answer; one that breaks off while being read is not an error."""
    try:
        raw = response.read(RESPONSE_EXCERPT * 4)
    except (OSError, HTTPException):
        return ""
    return raw.decode("utf-8", "replace")[:RESPONSE_EXCERPT]


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Treat a redirect as a failed attempt, as Stripe does: urllib would follow a 302 as a
    GET without the body, and the endpoint's URL is the one to fix."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


@transaction.atomic
def _record(
    delivery: WebhookDelivery,
    *,
    manual: bool,
    started_at,
    code: int | None,
    excerpt: str,
    error: str,
    duration_ms: int,
) -> WebhookAttempt:
    """Log the attempt and move the delivery on: succeeded, still pending, or given up."""
    attempt = WebhookAttempt.objects.create(
        delivery=delivery,
        number=delivery.attempts,
        manual=manual,
        started_at=started_at,
        duration_ms=duration_ms,
        response_code=code,
        response_body=excerpt,
        error=error,
    )
    # Re-read under the lock: a manual attempt may have succeeded meanwhile.
    row = WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
    row.response_code, row.response_body, row.error = code, excerpt, error
    if attempt.succeeded:
        row.status = WebhookDelivery.Status.SUCCEEDED
        row.succeeded_at = timezone.now()
        row.next_attempt_at = None
    elif (
        not manual
        and row.status == WebhookDelivery.Status.PENDING
        and row.attempts >= settings.RMS_WEBHOOK_MAX_ATTEMPTS
    ):
        row.status = WebhookDelivery.Status.FAILED
        row.next_attempt_at = None
    row.save()
    log = logger.info if attempt.succeeded else logger.warning
    log(
        "Webhook %s attempt %s to %s: %s",
        delivery.event_id,
        attempt.number,
        delivery.endpoint.url,
        code or error,
    )
    return attempt
