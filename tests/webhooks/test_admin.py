"""Webhooks in the back office: endpoints with events as checkboxes, the secret, a test event,
rotation, and the read-only delivery log with "redeliver"."""

import re
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError

from tests.admin_urls import admin_url
from webhooks.models import (
    EventType,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from webhooks.services import endpoint_send_test
from webhooks.signing import InvalidSignature

pytestmark = pytest.mark.django_db


@pytest.fixture
def act(django_capture_on_commit_callbacks):
    """Run an admin action on ``objects``, letting the deliveries it queues on commit run."""

    def act(client, model, action: str, objects) -> None:
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                admin_url(model, "changelist"),
                {"action": action, "_selected_action": [obj.pk for obj in objects]},
                follow=True,
            )
        assert response.status_code == 200

    return act


def test_an_endpoint_is_created_with_events_as_checkboxes_and_shows_its_secret(
    staff_client, receiver
):
    page = staff_client.get(admin_url(WebhookEndpoint, "add")).content.decode()
    assert 'type="checkbox" name="events" value="invoice.issued"' in page
    assert "whsec_" not in page  # made when saved

    response = staff_client.post(
        admin_url(WebhookEndpoint, "add"),
        {
            "url": receiver.url,
            "description": "ERP",
            "events": ["invoice.issued", "invoice.paid"],
            "active": "on",
        },
    )

    assert response.status_code == 302
    endpoint = WebhookEndpoint.objects.get()
    assert (endpoint.events, endpoint.created_by.username) == (
        ["invoice.issued", "invoice.paid"],
        "finance",
    )
    assert endpoint.secret.startswith("whsec_") and len(endpoint.secret) > 40
    page = staff_client.get(admin_url(WebhookEndpoint, "change", endpoint.pk)).content.decode()
    assert endpoint.secret in page
    checked = re.findall(
        r'<input type="checkbox" name="events" value="([\w.]+)"[^>]* checked', page
    )
    assert checked == ["invoice.issued", "invoice.paid"]


def test_an_endpoint_needs_a_known_event_and_a_web_url(staff_client, settings):
    response = staff_client.post(
        admin_url(WebhookEndpoint, "add"), {"url": "ftp://example.com/x", "active": "on"}
    )
    errors = response.context["adminform"].form.errors
    assert set(errors) == {"url", "events"}

    with pytest.raises(ValidationError) as refused:
        WebhookEndpoint(url="https://example.com/", events=["invoice.issued", "nope"]).full_clean()
    assert "Unknown event type(s) nope" in str(refused.value)
    with pytest.raises(ValidationError, match="twice"):
        WebhookEndpoint(url="https://example.com/", events=["invoice.paid"] * 2).full_clean()

    settings.PRODUCTION = True
    with pytest.raises(ValidationError, match="https"):
        WebhookEndpoint(url="http://example.com/", events=["invoice.paid"]).full_clean()
    WebhookEndpoint(url="https://example.com/", events=["invoice.paid"]).full_clean()


def test_send_test_event_posts_a_signed_webhook_test(staff_client, receiver, make_endpoint, act):
    # Whatever it subscribes to, and even while inactive: its owner is setting it up.
    endpoint = make_endpoint(EventType.INVOICE_PAID, active=False)

    act(staff_client, WebhookEndpoint, "send_test_event", [endpoint])

    [received] = receiver.requests
    received.verify(endpoint.secret)
    payload = received.json()
    assert (payload["type"], payload["data"]["object"]) == ("webhook.test", "test")
    assert WebhookDelivery.objects.get().status == "succeeded"


def test_rotating_the_secret_signs_with_both_secrets_for_a_day(
    staff_client, receiver, make_endpoint, act
):
    endpoint = make_endpoint(EventType.INVOICE_PAID)
    old = endpoint.secret

    act(staff_client, WebhookEndpoint, "rotate_secret", [endpoint])

    endpoint.refresh_from_db()
    assert endpoint.secret != old and endpoint.previous_secret == old
    act(staff_client, WebhookEndpoint, "send_test_event", [endpoint])
    with time_machine.travel(timedelta(hours=24, minutes=1)):
        act(staff_client, WebhookEndpoint, "send_test_event", [endpoint])

    during, after = receiver.requests
    assert during.headers["RMS-Signature"].count("v1=") == 2
    during.verify(endpoint.secret)
    during.verify(old)  # a receiver not yet updated keeps accepting deliveries
    after.verify(endpoint.secret, tolerance=None)
    with pytest.raises(InvalidSignature):
        after.verify(old, tolerance=None)


def test_the_delivery_log_filters_shows_attempts_and_redelivers(
    staff_client, receiver, make_endpoint, act
):
    endpoint = make_endpoint(EventType.INVOICE_PAID)
    receiver.statuses = [500]
    act(staff_client, WebhookEndpoint, "send_test_event", [endpoint])
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.response_code) == ("pending", 500)

    changelist = admin_url(WebhookDelivery, "changelist")
    for query, count in [
        ("status__exact=pending", 1),
        ("status__exact=succeeded", 0),
        ("event__type__exact=webhook.test", 1),
        ("event__type__exact=invoice.issued", 0),
        (f"endpoint__id__exact={endpoint.pk}", 1),
    ]:
        response = staff_client.get(f"{changelist}?{query}")
        assert response.context["cl"].result_count == count, query
    page = staff_client.get(admin_url(WebhookDelivery, "change", delivery.pk)).content.decode()
    assert "no: 500" in page and "webhook.test" in page and delivery.event_id in page
    assert 'name="status"' not in page  # read-only

    act(staff_client, WebhookDelivery, "redeliver", [delivery])

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("succeeded", 2, 200)
    assert list(delivery.attempt_log.values_list("number", "manual", "response_code")) == [
        (1, False, 500),
        (2, True, 200),
    ]
    # A succeeded delivery is sent again only when asked, as here.
    act(staff_client, WebhookDelivery, "redeliver", [delivery])
    assert len(receiver.requests) == 3
    assert WebhookAttempt.objects.count() == 3


def test_events_and_deliveries_cannot_be_edited_or_deleted(staff_client, make_endpoint, act):
    endpoint = make_endpoint(EventType.INVOICE_PAID)
    act(staff_client, WebhookEndpoint, "send_test_event", [endpoint])
    event = WebhookEvent.objects.get()
    delivery = WebhookDelivery.objects.get()

    assert staff_client.get(admin_url(WebhookEvent, "delete", event.pk)).status_code == 403
    assert staff_client.get(admin_url(WebhookDelivery, "delete", delivery.pk)).status_code == 403
    assert staff_client.get(admin_url(WebhookDelivery, "add")).status_code == 403
    page = staff_client.get(admin_url(WebhookEvent, "change", event.pk)).content.decode()
    assert "webhook.test" in page and endpoint.url in page


def test_an_event_whose_id_reads_as_an_admin_escape_opens_its_own_page(staff_client):
    # The admin unquotes object ids ("_22" is its escape for a quote mark); links built with
    # quote() must still reach an event whose random hex happens to start with 22.
    event = WebhookEvent.objects.create(
        id="evt_22" + "0" * 22, type=EventType.INVOICE_PAID, data={"id": 1}
    )
    response = staff_client.get(admin_url(WebhookEvent, "change", event.pk))
    assert response.status_code == 200
    assert event.pk in response.content.decode()


def test_a_clerk_who_may_only_view_deliveries_cannot_redeliver(
    client, django_user_model, make_endpoint
):
    clerk = django_user_model.objects.create_user("clerk", password="pw", is_staff=True)
    clerk.user_permissions.set(Permission.objects.filter(codename="view_webhookdelivery"))
    client.force_login(clerk)
    endpoint_send_test(endpoint=make_endpoint(EventType.INVOICE_PAID))

    page = client.get(admin_url(WebhookDelivery, "changelist"))
    assert page.status_code == 200
    assert "redeliver" not in page.content.decode()
