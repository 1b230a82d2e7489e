"""A client that retries a payment while the first request is still running, on PostgreSQL.

Each thread has its own connection; whichever request reaches the key first records the payment,
the others are told to wait or get its response. One payment, however the requests interleave.
"""

from datetime import date

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from djmoney.money import Money
from rest_framework.test import APIClient

from billing.models import Payment
from integrations.models import ApiToken
from tests.contracts.factories import CustomerFactory
from tests.integration.support import run_together

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def key() -> str:
    user = get_user_model().objects.create_user("bank-feed")
    user.user_permissions.set(
        Permission.objects.filter(codename__in=["view_payment", "add_payment"])
    )
    token = ApiToken(name="bank feed", user=user)
    key = token.key_issue()
    token.save()
    return key


def test_four_simultaneous_retries_record_one_payment(key):
    customer = CustomerFactory()
    body = {
        "customer": customer.pk,
        "amount": {"amount": "60.00", "currency": customer.currency},
        "received_on": date(2026, 3, 1).isoformat(),
        "method": "bank_transfer",
    }

    def send() -> int:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        response = client.post("/api/v1/payments/", body, format="json", HTTP_IDEMPOTENCY_KEY="p-1")
        return response.status_code

    statuses = run_together(*[send] * 4)

    assert sorted(statuses)[0] == 201 and set(statuses) <= {201, 409}
    [payment] = Payment.objects.all()
    assert payment.amount == Money("60.00", customer.currency)
