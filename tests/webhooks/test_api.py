"""Webhook API: subscribe, rotate, test, read the delivery log and redeliver, each permission-
checked, refusals in the API's error shape, a page of deliveries in constant queries."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from webhooks.events import events_record
from webhooks.models import EventType, WebhookDelivery, WebhookEndpoint

pytestmark = pytest.mark.django_db

ENDPOINTS = "/api/v1/webhook-endpoints/"
DELIVERIES = "/api/v1/webhook-deliveries/"
MANAGER = (
    "view_webhookendpoint",
    "add_webhookendpoint",
    "change_webhookendpoint",
    "delete_webhookendpoint",
)


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run a request, letting the deliveries it queues on commit run."""

    def committed(call, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return call(*args, **kwargs)

    return committed


def test_an_integration_subscribes_its_endpoint_and_gets_the_secret(token_client, receiver):
    client = token_client("erp", *MANAGER)

    response = client.post(
        ENDPOINTS,
        {"url": receiver.url, "events": ["invoice.issued", "invoice.paid"], "description": "ERP"},
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    endpoint = WebhookEndpoint.objects.get()
    assert body["secret"] == endpoint.secret
    assert (body["events"], body["active"], body["previous_secret_expires_at"]) == (
        ["invoice.issued", "invoice.paid"],
        True,
        None,
    )
    assert endpoint.created_by.username == "erp"
    assert client.get(ENDPOINTS).json()["results"][0]["id"] == endpoint.pk

    response = client.patch(f"{ENDPOINTS}{endpoint.pk}/", {"active": False}, format="json")
    assert (response.status_code, response.json()["active"]) == (200, False)
    assert client.delete(f"{ENDPOINTS}{endpoint.pk}/").status_code == 204


@pytest.mark.parametrize(
    "body, field",
    [
        ({"url": "https://erp.example/hooks", "events": ["invoice.voided"]}, "events"),
        ({"url": "https://erp.example/hooks", "events": []}, "events"),
        ({"url": "https://erp.example/hooks", "events": ["invoice.paid"] * 2}, "events"),
        ({"url": "ftp://erp.example/hooks", "events": ["invoice.paid"]}, "url"),
        ({"events": ["invoice.paid"]}, "url"),
    ],
)
def test_a_bad_subscription_is_refused_naming_the_field(token_client, body, field):
    response = token_client("erp", *MANAGER).post(ENDPOINTS, body, format="json")
    assert response.status_code == 400
    fields = response.json()["fields"]
    assert any(key == field or key.startswith(f"{field}[") for key in fields), fields
    assert not WebhookEndpoint.objects.exists()


def test_production_endpoints_must_use_https(token_client, settings):
    settings.PRODUCTION = True
    client = token_client("erp", *MANAGER)
    body = {"url": "http://erp.example/hooks", "events": ["invoice.paid"]}
    response = client.post(ENDPOINTS, body, format="json")
    assert response.status_code == 400
    assert "https" in response.json()["fields"]["url"][0]


def test_rotate_and_test_sign_with_the_new_secret_and_the_old(
    token_client, receiver, make_endpoint, committed
):
    endpoint = make_endpoint(EventType.INVOICE_PAID)
    old = endpoint.secret
    client = token_client("erp", "change_webhookendpoint")

    rotated = client.post(f"{ENDPOINTS}{endpoint.pk}/rotate-secret/").json()
    response = committed(client.post, f"{ENDPOINTS}{endpoint.pk}/test/")

    assert rotated["secret"] != old and rotated["previous_secret_expires_at"]
    assert rotated["secret"] == WebhookEndpoint.objects.get().secret
    assert response.status_code == 202
    [received] = receiver.requests
    assert received.json()["id"] == response.json()["event"]
    received.verify(rotated["secret"])
    received.verify(old)


def test_the_delivery_log_filters_and_redelivers(token_client, receiver, make_endpoint, committed):
    endpoint = make_endpoint(EventType.INVOICE_PAID)
    receiver.statuses = [500]
    committed(token_client("erp", "change_webhookendpoint").post, f"{ENDPOINTS}{endpoint.pk}/test/")
    delivery = WebhookDelivery.objects.get()
    client = token_client("ops", "view_webhookdelivery", "change_webhookdelivery")

    [row] = client.get(DELIVERIES, {"status": "pending", "event_type": "webhook.test"}).json()[
        "results"
    ]
    assert client.get(DELIVERIES, {"status": "succeeded"}).json()["results"] == []
    assert (row["id"], row["event"], row["event_type"]) == (
        delivery.pk,
        delivery.event_id,
        "webhook.test",
    )
    assert (row["attempts"], row["response_code"], row["response_body"]) == (1, 500, "no: 500")

    response = committed(client.post, f"{DELIVERIES}{delivery.pk}/redeliver/")

    assert (response.status_code, response.json()) == (202, {"queued": 1})
    assert client.get(f"{DELIVERIES}{delivery.pk}/").json()["status"] == "succeeded"


@pytest.mark.parametrize(
    "codenames, method, path, expected",
    [
        ((), "get", ENDPOINTS, 403),
        (("view_webhookendpoint",), "get", ENDPOINTS, 200),
        (("view_webhookendpoint",), "post", ENDPOINTS, 403),
        (("view_webhookendpoint",), "post", "{endpoint}rotate-secret/", 403),
        (("view_webhookendpoint",), "post", "{endpoint}test/", 403),
        (("add_webhookendpoint",), "post", "{endpoint}rotate-secret/", 403),
        (("view_webhookendpoint",), "get", DELIVERIES, 403),
        (("view_webhookdelivery",), "get", DELIVERIES, 200),
        (("view_webhookdelivery",), "post", "{delivery}redeliver/", 403),
    ],
)
def test_each_operation_needs_its_permission(
    token_client, make_endpoint, codenames, method, path, expected
):
    endpoint = make_endpoint(EventType.INVOICE_PAID)
    with transaction.atomic():
        [event] = events_record(
            event_type=EventType.INVOICE_PAID, data=[{}], endpoint_ids=[endpoint.pk]
        )
    path = path.format(
        endpoint=f"{ENDPOINTS}{endpoint.pk}/",
        delivery=f"{DELIVERIES}{event.deliveries.get().pk}/",
    )
    response = getattr(token_client("someone", *codenames), method)(path, {}, format="json")
    assert response.status_code == expected
    assert WebhookEndpoint.objects.get().secret == endpoint.secret


def test_a_page_of_deliveries_costs_the_same_queries_as_one(token_client, make_endpoint):
    endpoints = [make_endpoint(EventType.INVOICE_PAID) for _ in range(3)]
    client = token_client("ops", "view_webhookdelivery")

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(DELIVERIES).status_code == 200
        return len(captured)

    with transaction.atomic():
        events_record(event_type=EventType.INVOICE_PAID, data=[{}], endpoint_ids=[endpoints[0].pk])
    queries()  # the first request of a client does a little more (its token's first use)
    one = queries()
    with transaction.atomic():
        events_record(
            event_type=EventType.INVOICE_PAID,
            data=[{}] * 10,
            endpoint_ids=[endpoint.pk for endpoint in endpoints],
        )
    assert WebhookDelivery.objects.count() == 31
    assert queries() == one
