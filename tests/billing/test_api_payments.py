"""The payment API: recording applies the money, a retry records it once, refusals name fields."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from djmoney.money import Money
from rest_framework.test import APIClient

from billing.models import Invoice, Payment, PaymentApplication

pytestmark = pytest.mark.django_db

PAYMENTS = "/api/v1/payments/"


def usd(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "USD"}


@pytest.fixture
def cashier(token_client) -> APIClient:
    return token_client("cashier", "view_payment", "add_payment")


@pytest.fixture
def post(django_capture_on_commit_callbacks):
    def post(client: APIClient, body: dict):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(PAYMENTS, body, format="json")

    return post


@pytest.fixture
def two_invoices(issued_invoice, customer_factory) -> tuple[Invoice, Invoice]:
    """100.00 issued 1 January and 250.00 issued 1 February, of one customer."""
    customer = customer_factory(invoice_review="review")
    january = issued_invoice("100.00", customer=customer, issued_on=date(2026, 1, 1))
    february = issued_invoice("250.00", customer=customer, issued_on=date(2026, 2, 1))
    return january, february


def body(customer_id: int, amount: str, **more) -> dict:
    return {
        "customer": customer_id,
        "amount": usd(amount),
        "received_on": "2026-03-01",
        "method": "bank_transfer",
        **more,
    }


def test_a_payment_settles_the_oldest_first_and_keeps_the_rest_as_credit(
    cashier, two_invoices, post
):
    january, february = two_invoices

    response = post(cashier, body(january.customer_id, "400.00", reference="BANK-1"))

    assert response.status_code == 201, response.json()
    payment = Payment.objects.get()
    # 400.00 pays 100.00 (January), then 250.00 (February); 50.00 is left as credit.
    assert response.json() == {
        "id": payment.pk,
        "customer": january.customer_id,
        "customer_number": january.customer.number,
        "amount": usd("400.00"),
        "received_on": "2026-03-01",
        "method": "bank_transfer",
        "reference": "BANK-1",
        "note": "",
        "unapplied": usd("50.00"),
        "recorded_by": "cashier",
        "created_at": response.json()["created_at"],
        "applications": [
            {
                "id": application.pk,
                "invoice": invoice.pk,
                "invoice_number": invoice.number,
                "amount": usd(amount),
                "applied_on": "2026-03-01",
            }
            for application, invoice, amount in zip(
                PaymentApplication.objects.order_by("id"),
                [january, february],
                ["100.00", "250.00"],
                strict=True,
            )
        ],
    }
    assert set(Invoice.objects.values_list("payment_status", flat=True)) == {"paid"}


def test_named_invoices_are_settled_in_the_order_given(cashier, two_invoices, post):
    january, february = two_invoices

    response = post(
        cashier, body(january.customer_id, "120.00", invoices=[february.pk, january.pk])
    )

    assert response.status_code == 201, response.json()
    assert [(a["invoice"], a["amount"]) for a in response.json()["applications"]] == [
        (february.pk, usd("120.00"))
    ]


def test_the_same_reference_sent_again_records_one_payment(cashier, two_invoices, post):
    january, _ = two_invoices
    sent = body(january.customer_id, "100.00", reference="BANK-7")

    first = post(cashier, sent)
    again = post(cashier, sent)

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert Payment.objects.count() == 1
    assert PaymentApplication.objects.count() == 1


def test_the_same_reference_for_a_different_payment_is_refused(cashier, two_invoices, post):
    january, _ = two_invoices
    post(cashier, body(january.customer_id, "100.00", reference="BANK-7"))

    refused = post(cashier, body(january.customer_id, "90.00", reference="BANK-7"))

    assert refused.status_code == 400
    assert list(refused.json()["fields"]) == ["reference"]
    assert "already has payment 'BANK-7'" in refused.json()["fields"]["reference"][0]
    assert Payment.objects.count() == 1


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"amount": usd("0.00")}, "amount", "A payment is more than zero"),
        ({"amount": usd("1.001")}, "amount.amount", "USD amounts have 2 decimal places"),
        ({"amount": {"amount": "10.00", "currency": "EUR"}}, "amount", "matches none"),
        ({"method": "barter"}, "method", '"barter" is not a valid choice.'),
        ({"received_on": "2026-13-01"}, "received_on", "Date has wrong format"),
        ({"customer": 999999}, "customer", 'Invalid pk "999999"'),
        ({"invoices": [999999]}, "invoices", 'Invalid pk "999999"'),
    ],
)
def test_refusals_are_400s_naming_the_field(cashier, two_invoices, post, change, field, message):
    january, _ = two_invoices

    refused = post(cashier, {**body(january.customer_id, "10.00"), **change})

    assert refused.status_code == 400, refused.json()
    assert refused.json()["type"] == "validation_error"
    assert message in " ".join(refused.json()["fields"][field])
    assert not Payment.objects.exists()


def test_a_future_date_and_a_paid_invoice_are_refused(cashier, two_invoices, post):
    january, _ = two_invoices
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()

    future = post(cashier, {**body(january.customer_id, "10.00"), "received_on": tomorrow})
    post(cashier, body(january.customer_id, "100.00", invoices=[january.pk]))
    paid = post(cashier, body(january.customer_id, "10.00", invoices=[january.pk]))

    assert future.status_code == 400
    assert "is in the future" in future.json()["fields"]["received_on"][0]
    assert paid.status_code == 400
    assert paid.json()["fields"]["invoices"] == [f"{january} owes nothing (balance due $0.00)."]


def test_filters(token_client, two_invoices, post, cashier):
    january, february = two_invoices
    post(cashier, body(january.customer_id, "100.00", reference="A", invoices=[january.pk]))
    post(cashier, body(january.customer_id, "300.00", reference="B", invoices=[february.pk]))
    reader = token_client("auditor", "view_payment")

    def references(**query) -> list[str]:
        response = reader.get(PAYMENTS, query)
        assert response.status_code == 200, response.json()
        return [row["reference"] for row in response.json()["results"]]

    assert references() == ["B", "A"]
    assert references(invoice=january.pk) == ["A"]
    # 300.00 against a balance of 250.00 leaves 50.00 of credit on B.
    assert references(has_credit="true") == ["B"]
    assert references(has_credit="false") == ["A"]
    assert references(customer=january.customer_id, method="bank_transfer") == ["B", "A"]
    assert references(received_on_after="2026-03-02") == []
    assert references(ordering="id") == ["A", "B"]


class TestPermissions:
    def test_recording_needs_the_add_permission(self, token_client, two_invoices, post):
        january, _ = two_invoices
        reader = token_client("auditor", "view_payment")

        denied = post(reader, body(january.customer_id, "10.00"))

        assert denied.status_code == 403
        assert denied.json()["type"] == "permission_denied"
        assert not Payment.objects.exists()

    def test_reading_needs_the_view_permission(self, token_client, cashier, two_invoices, post):
        january, _ = two_invoices
        payment_id = post(cashier, body(january.customer_id, "10.00")).json()["id"]
        adder = token_client("adder", "add_payment")

        assert adder.get(PAYMENTS).status_code == 403
        assert adder.get(f"{PAYMENTS}{payment_id}/").status_code == 403
        assert cashier.get(f"{PAYMENTS}{payment_id}/").status_code == 200
        assert cashier.get(f"{PAYMENTS}999999/").json()["type"] == "not_found"

    def test_payments_are_not_edited_or_deleted(self, token_client, cashier, two_invoices, post):
        january, _ = two_invoices
        payment_id = post(cashier, body(january.customer_id, "10.00")).json()["id"]
        admin = token_client("all", "view_payment", "change_payment", "delete_payment")

        assert admin.patch(f"{PAYMENTS}{payment_id}/", {"note": "x"}).status_code == 405
        assert admin.delete(f"{PAYMENTS}{payment_id}/").status_code == 405


def test_a_page_costs_the_same_queries_for_1_or_30_payments(
    token_client, customer_factory, django_assert_max_num_queries
):
    reader = token_client("auditor", "view_payment")

    def make(count: int) -> None:
        """Payments of different customers, each applied to two invoices."""
        for _ in range(count):
            customer = customer_factory()
            payment = Payment.objects.create(
                customer=customer,
                amount=Money("20.00", "USD"),
                received_on=date(2026, 1, 2),
                method="card",
                unapplied=Decimal(0),
            )
            for _ in range(2):
                invoice = Invoice.objects.create(
                    customer=customer,
                    currency="USD",
                    invoice_date=date(2026, 1, 1),
                    subtotal=Money("10.00", "USD"),
                    tax_total=Money("0.00", "USD"),
                    total=Money("10.00", "USD"),
                )
                PaymentApplication.objects.create(
                    payment=payment,
                    invoice=invoice,
                    amount=Money("10.00", "USD"),
                    applied_on=date(2026, 1, 2),
                )

    make(1)
    with CaptureQueriesContext(connection) as one:
        assert len(reader.get(PAYMENTS).json()["results"]) == 1
    make(29)

    with django_assert_max_num_queries(len(one)):
        results = reader.get(PAYMENTS).json()["results"]
    assert len(results) == 30
    assert all(len(row["applications"]) == 2 for row in results)
