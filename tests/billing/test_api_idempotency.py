"""Idempotency-Key on API writes: a retried payment is recorded once, whatever the retry."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from billing.models import Payment
from integrations.idempotency import idempotency_keys_purge
from integrations.models import IdempotencyKey

pytestmark = pytest.mark.django_db

PAYMENTS = "/api/v1/payments/"


@pytest.fixture
def cashier(token_client) -> APIClient:
    return token_client("cashier", "view_payment", "add_payment")


@pytest.fixture
def customer(issued_invoice):
    return issued_invoice("100.00").customer


def payment(customer, amount: str = "60.00", received_on: str = "2026-03-01") -> dict:
    """A payment with no bank reference: nothing but the key tells a retry from a new one."""
    return {
        "customer": customer.pk,
        "amount": {"amount": amount, "currency": "USD"},
        "received_on": received_on,
        "method": "bank_transfer",
    }


def post(client: APIClient, body: dict, key: str):
    return client.post(PAYMENTS, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_a_retry_with_the_same_key_gets_the_first_response_and_records_once(cashier, customer):
    first = post(cashier, payment(customer), "pay-1")
    again = post(cashier, payment(customer), "pay-1")

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert Payment.objects.count() == 1


def test_without_a_key_the_same_body_twice_is_two_payments(cashier, customer):
    cashier.post(PAYMENTS, payment(customer), format="json")
    cashier.post(PAYMENTS, payment(customer), format="json")

    assert Payment.objects.count() == 2


def test_the_same_key_for_another_request_is_refused(cashier, customer):
    post(cashier, payment(customer), "pay-1")

    response = post(cashier, payment(customer, amount="75.00"), "pay-1")

    assert response.status_code == 422
    assert response.json()["type"] == "idempotency_error"
    assert "with another body" in response.json()["fields"]["Idempotency-Key"][0]
    assert Payment.objects.count() == 1


def test_keys_belong_to_their_caller(cashier, token_client, customer):
    other = token_client("other-cashier", "view_payment", "add_payment")

    post(cashier, payment(customer), "pay-1")
    response = post(other, payment(customer), "pay-1")

    assert response.status_code == 201 and "Idempotent-Replayed" not in response.headers
    assert Payment.objects.count() == 2


def test_a_retry_while_the_first_still_runs_is_told_to_wait(cashier, customer):
    post(cashier, payment(customer), "pay-1")
    # As the key's row looks while its first request has not finished.
    IdempotencyKey.objects.filter(key="pay-1").update(status_code=None)

    response = post(cashier, payment(customer), "pay-1")

    assert response.status_code == 409
    assert "still being processed" in response.json()["detail"]
    assert Payment.objects.count() == 1


def test_a_request_abandoned_by_a_crash_says_to_check_before_resending(cashier, customer):
    post(cashier, payment(customer), "pay-1")
    # As the key's row looks when the server stopped before the first request answered.
    IdempotencyKey.objects.filter(key="pay-1").update(
        status_code=None, created_at=timezone.now() - timedelta(minutes=30)
    )

    response = post(cashier, payment(customer), "pay-1")

    assert response.status_code == 409
    assert "never answered: check whether it took effect" in response.json()["detail"]
    assert Payment.objects.count() == 1


def test_a_refused_request_keeps_nothing_so_it_can_be_fixed_and_retried(cashier, customer):
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    refused = post(cashier, payment(customer, received_on=tomorrow), "pay-1")

    fixed = post(cashier, payment(customer), "pay-1")

    assert refused.status_code == 400 and "received_on" in refused.json()["fields"]
    assert fixed.status_code == 201
    assert Payment.objects.count() == 1


def test_a_key_longer_than_255_characters_is_refused(cashier, customer):
    response = post(cashier, payment(customer), "k" * 256)

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["Idempotency-Key"]
    assert not Payment.objects.exists()


def test_keys_are_forgotten_after_the_keeping_period(cashier, customer, settings):
    settings.RMS_IDEMPOTENCY_DAYS = 7
    post(cashier, payment(customer), "old")
    post(cashier, payment(customer, amount="10.00"), "new")
    IdempotencyKey.objects.filter(key="old").update(created_at=timezone.now() - timedelta(days=8))

    assert idempotency_keys_purge() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]
