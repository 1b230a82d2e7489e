"""Webhook endpoints, the events recorded for them, and each endpoint's delivery of each event.

An event is recorded once, in the transaction that made the change it announces; a delivery
row per subscribed endpoint carries the state of sending it there (attempts, when the next one
is due, what the receiver last answered), and every attempt is kept in the delivery's log.
"""

import json
import secrets
from datetime import UTC, date, datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import models
from django.utils import timezone


class EventType(models.TextChoices):
    """What an endpoint can subscribe to, named ``<object>.<what happened>`` as Stripe does."""

    INVOICE_ISSUED = "invoice.issued", "Invoice issued"
    INVOICE_PAID = "invoice.paid", "Invoice paid in full"
    MILESTONE_ACHIEVED = "milestone.achieved", "Milestone achieved"
    BILL_RUN_FINISHED = "bill_run.finished", "Bill run finished"
    CONTRACT_RENEWED = "contract.renewed", "Contract renewed"


# Sent to one endpoint on request (the admin's "send test event"); nobody subscribes to it.
TEST_EVENT = "webhook.test"
EVENT_CHOICES = [*EventType.choices, (TEST_EVENT, "Test event")]


def new_secret() -> str:
    """Return a fresh signing secret: 256 random bits, prefixed so that it is recognizable."""
    return f"whsec_{secrets.token_urlsafe(32)}"


def new_event_id() -> str:
    """Return a new event id, made in Python so that thousands of events insert in one query."""
    return f"evt_{secrets.token_hex(12)}"


def iso(value: date | datetime | None) -> str | None:
    """Return a date or a moment (in UTC, with a Z) as ISO 8601 text, as events carry them."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return None if value is None else value.isoformat()


def validate_event_types(value) -> None:
    """Accept a non-empty list of the known event types, each once."""
    if not isinstance(value, list) or not value:
        raise ValidationError("Subscribe to at least one event type.")
    unknown = [name for name in value if name not in EventType.values]
    if unknown:
        raise ValidationError(
            f"Unknown event type(s) {', '.join(map(str, unknown))}; "
            f"use {', '.join(EventType.values)}."
        )
    if len(set(value)) != len(value):
        raise ValidationError("An event type is listed twice.")


class WebhookEndpoint(models.Model):
    """A subscriber's URL, the event types it wants, and the secret its deliveries are signed with.

    After a rotation the previous secret keeps signing (beside the new one) for a grace period,
    so that the receiver can switch to the new secret without rejecting deliveries meanwhile.
    """

    url = models.URLField(
        "URL",
        max_length=2000,
        validators=[URLValidator(schemes=["http", "https"])],
        help_text="Where events are POSTed; https:// in production.",
    )
    description = models.CharField(max_length=255, blank=True)
    events = models.JSONField(
        default=list,
        validators=[validate_event_types],
        help_text="The event types this endpoint receives.",
    )
    secret = models.CharField(
        max_length=64,
        default=new_secret,
        editable=False,
        help_text="Signs every delivery (RMS-Signature header); the receiver checks it with it.",
    )
    previous_secret = models.CharField(max_length=64, blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    active = models.BooleanField(default=True, help_text="Inactive endpoints receive nothing.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["url", "id"]
        verbose_name = "webhook endpoint"

    def __str__(self) -> str:
        return self.url

    def clean(self) -> None:
        # Deliveries carry invoice data and a signature; plain HTTP would show both to anyone
        # on the way. Allowed outside production, for receivers on the developer's machine.
        if settings.PRODUCTION and not self.url.lower().startswith("https://"):
            raise ValidationError({"url": "Use an https:// URL in production."})

    def signing_secrets(self, now: datetime) -> list[str]:
        """Return the secrets deliveries are signed with now: the current one, then the previous
        one while its grace period lasts."""
        keep_previous = (
            self.previous_secret
            and self.previous_secret_expires_at is not None
            and self.previous_secret_expires_at > now
        )
        return [self.secret, self.previous_secret] if keep_previous else [self.secret]


class WebhookEvent(models.Model):
    """Something that happened, as sent to subscribers: its body is built from these fields.

    Kept unchanged once recorded, so that every attempt and every redelivery sends the same
    event (same id, same data) and a receiver can de-duplicate by its id.
    """

    id = models.CharField(primary_key=True, max_length=32, default=new_event_id, editable=False)
    type = models.CharField(max_length=64, choices=EVENT_CHOICES)
    data = models.JSONField(help_text="The object the event is about, as it was then.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["type", "created_at"])]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"

    def body(self) -> bytes:
        """Return the bytes POSTed for this event: the same for every attempt and redelivery."""
        envelope = {
            "id": self.pk,
            "type": self.type,
            "created": iso(self.created_at),
            "data": self.data,
        }
        return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode()


class WebhookDelivery(models.Model):
    """The sending of one event to one endpoint: at least once, retried with backoff.

    ``next_attempt_at`` is when the retry sweep queues it again if it is still pending: after a
    failure, when the backoff says; before an attempt, a while after it was queued, in case the
    queued task is lost.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    response_code = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="The HTTP status of the last answer; empty if none came."
    )
    response_body = models.TextField(blank=True, help_text="The start of the last answer.")
    error = models.TextField(blank=True, help_text="Why the last attempt failed.")
    created_at = models.DateTimeField(default=timezone.now)
    succeeded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "event"], name="webhook_delivery_once_per_endpoint"
            )
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.event_id} to {self.endpoint}: {self.status}"


class WebhookAttempt(models.Model):
    """One POST of a delivery and what came of it: the delivery's log."""

    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log"
    )
    number = models.PositiveIntegerField()
    manual = models.BooleanField(default=False, help_text="Asked for (redeliver), not scheduled.")
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["delivery", "number"], name="webhook_attempt_unique_number"
            )
        ]

    def __str__(self) -> str:
        outcome = self.response_code or self.error or "no answer"
        return f"Attempt {self.number} of {self.delivery_id}: {outcome}"

    @property
    def succeeded(self) -> bool:
        return self.response_code is not None and 200 <= self.response_code < 300
