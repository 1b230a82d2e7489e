"""What people do to webhook endpoints and deliveries: rotate a secret, test, redeliver."""

from collections.abc import Iterable
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from webhooks.delivery import deliveries_queue
from webhooks.events import events_record
from webhooks.models import TEST_EVENT, WebhookEndpoint, WebhookEvent, new_secret

# How long the secret a rotation replaces still signs deliveries (beside the new one): a day to
# deploy the new secret to the receiver without rejecting anything meanwhile.
SECRET_GRACE = timedelta(hours=24)


@transaction.atomic
def endpoint_rotate_secret(
    *, endpoint: WebhookEndpoint, grace: timedelta = SECRET_GRACE
) -> WebhookEndpoint:
    """Give the endpoint a new secret; the old one keeps signing for ``grace`` (zero: not at
    all, for a secret that leaked)."""
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    endpoint.previous_secret = endpoint.secret if grace > timedelta(0) else ""
    endpoint.previous_secret_expires_at = timezone.now() + grace if grace > timedelta(0) else None
    endpoint.secret = new_secret()
    endpoint.save(
        update_fields=["secret", "previous_secret", "previous_secret_expires_at", "updated_at"]
    )
    return endpoint


@transaction.atomic
def endpoint_send_test(*, endpoint: WebhookEndpoint) -> WebhookEvent:
    """Send ``webhook.test`` to this one endpoint, whatever it subscribes to and even while it
    is inactive, so that its owner can check that the receiver answers and verifies signatures."""
    data = {
        "object": "test",
        "endpoint": endpoint.pk,
        "message": "A test event from RMS: if its signature verifies, the endpoint is ready.",
    }
    [event] = events_record(event_type=TEST_EVENT, data=[data], endpoint_ids=[endpoint.pk])
    return event


def deliveries_redeliver(*, delivery_ids: Iterable[int]) -> int:
    """Send these deliveries once more, whatever their state (succeeded ones too): one manual
    attempt each, logged; a pending delivery keeps its schedule if the attempt fails."""
    delivery_ids = sorted(set(delivery_ids))
    deliveries_queue([(pk, None) for pk in delivery_ids])
    return len(delivery_ids)
