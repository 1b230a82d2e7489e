"""Payments: recorded, applied oldest first or as named, overpayment kept as credit, idempotent."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from djmoney.money import Money
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.models import Invoice, Payment, PaymentApplication, PaymentStatus
from billing.payments import payment_apply_credit, payment_record

pytestmark = pytest.mark.django_db


def usd(amount: str) -> Money:
    return Money(amount, "USD")


def record(customer, amount, on=date(2026, 2, 1), **kwargs) -> Payment:
    kwargs.setdefault("method", Payment.Method.BANK_TRANSFER)
    return payment_record(customer=customer, amount=usd(amount), received_on=on, **kwargs)


def fresh(invoice: Invoice) -> Invoice:
    invoice.refresh_from_db()
    return invoice


def test_partial_then_full_payment_moves_the_status(issued_invoice):
    # 600 + 400 at 8.25% tax: 49.50 + 33.00 = 82.50 tax, 1,082.50 in all.
    invoice = issued_invoice("600.00", "400.00", tax_rate="8.25")
    assert invoice.total == usd("1082.50")
    assert fresh(invoice).payment_status == PaymentStatus.UNPAID

    first = record(invoice.customer, "500.00", reference="BANK-1")
    invoice = fresh(invoice)
    # 1,082.50 - 500.00 = 582.50 still owed.
    assert (invoice.payment_status, invoice.balance_due) == ("partially_paid", usd("582.50"))
    assert first.unapplied == 0

    second = record(invoice.customer, "582.50", on=date(2026, 2, 15), reference="BANK-2")
    invoice = fresh(invoice)
    assert (invoice.payment_status, invoice.balance_due) == ("paid", usd("0"))
    applications = PaymentApplication.objects.filter(invoice=invoice).order_by("pk")
    assert [(a.payment_id, a.amount, a.applied_on) for a in applications] == [
        (first.pk, usd("500.00"), date(2026, 2, 1)),
        (second.pk, usd("582.50"), date(2026, 2, 15)),
    ]


def test_overpayment_is_kept_as_credit_and_applied_to_the_next_invoice(issued_invoice):
    january = issued_invoice("100.00")
    customer = january.customer

    payment = record(customer, "150.00", on=date(2026, 1, 20))
    # 150.00 - 100.00 = 50.00 left over: the customer's credit, on no invoice.
    assert fresh(january).payment_status == "paid"
    assert fresh(payment).unapplied == Decimal("50.00")

    february = issued_invoice("80.00", customer=customer, issued_on=date(2026, 2, 1))
    applications = payment_apply_credit(customer=customer, applied_on=date(2026, 2, 3))

    assert [(a.invoice_id, a.amount, a.applied_on) for a in applications] == [
        (february.pk, usd("50.00"), date(2026, 2, 3))
    ]
    # 80.00 - 50.00 = 30.00 still owed; nothing left of the payment.
    assert (fresh(february).payment_status, fresh(february).balance_due) == (
        "partially_paid",
        usd("30.00"),
    )
    assert fresh(payment).unapplied == 0
    assert payment_apply_credit(customer=customer, applied_on=date(2026, 2, 3)) == []


def test_oldest_first_unless_invoices_are_named(issued_invoice):
    january = issued_invoice("100.00")
    customer = january.customer
    february = issued_invoice("200.00", customer=customer, issued_on=date(2026, 2, 1))

    # Named: all 150 goes to February, though January is older.
    record(customer, "150.00", on=date(2026, 2, 5), invoices=[february])
    assert (fresh(january).amount_paid, fresh(february).amount_paid) == (0, 150)

    # Not named: January (due first) takes 100, February the other 50 of its 50 left.
    record(customer, "150.00", on=date(2026, 2, 6))
    assert (fresh(january).payment_status, fresh(february).payment_status) == ("paid", "paid")


def test_the_same_reference_twice_returns_the_first_payment(issued_invoice):
    invoice = issued_invoice("100.00")
    first = record(invoice.customer, "60.00", reference="WIRE-77")

    again = record(invoice.customer, "60.00", reference="WIRE-77")

    assert again.pk == first.pk
    assert Payment.objects.count() == 1
    assert PaymentApplication.objects.count() == 1
    assert fresh(invoice).amount_paid == Decimal("60.00")

    with pytest.raises(ValidationError) as error:
        record(invoice.customer, "61.00", reference="WIRE-77")
    assert "WIRE-77" in error.value.message_dict["reference"][0]
    assert "$60.00" in error.value.message_dict["reference"][0]
    assert Payment.objects.count() == 1


@pytest.mark.parametrize(
    ("amount", "on", "method", "field"),
    [
        (Money("10.00", "EUR"), None, "card", "amount"),
        (usd("0.00"), None, "card", "amount"),
        (usd("-5.00"), None, "card", "amount"),
        (usd("10.005"), None, "card", "amount"),
        (usd("10.00"), "tomorrow", "card", "received_on"),
        (usd("10.00"), None, "barter", "method"),
    ],
)
def test_bad_payments_are_refused_naming_the_field(issued_invoice, amount, on, method, field):
    invoice = issued_invoice("100.00")
    received_on = timezone.localdate() + timedelta(days=1) if on else date(2026, 2, 1)

    with pytest.raises(ValidationError) as error:
        payment_record(
            customer=invoice.customer, amount=amount, received_on=received_on, method=method
        )

    assert list(error.value.message_dict) == [field]
    assert Payment.objects.count() == 0
    assert fresh(invoice).amount_paid == 0


def test_invoices_of_another_customer_or_settled_are_refused(issued_invoice):
    mine = issued_invoice("100.00")
    theirs = issued_invoice("100.00")
    record(mine.customer, "100.00")

    with pytest.raises(ValidationError) as error:
        record(mine.customer, "10.00", invoices=[theirs, mine])

    problems = error.value.message_dict["invoices"]
    assert any("another customer" in problem for problem in problems)
    assert any("owes nothing" in problem for problem in problems)
    assert Payment.objects.count() == 1


# Invoices of 100.00, 250.00 and 75.50 (425.50 in all) take payments of up to 300.00 each.
cents = st.integers(min_value=1, max_value=30_000)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    payments=st.lists(st.tuples(cents, st.booleans()), min_size=1, max_size=5),
)
def test_applications_plus_unapplied_equal_the_payment(issued_invoice, payments):
    with transaction.atomic():
        invoices = [issued_invoice("100.00", "250.00", "75.50")]
        customer = invoices[0].customer
        invoices.append(issued_invoice("60.00", customer=customer, issued_on=date(2026, 1, 2)))
        for minor, named in payments:
            amount = usd(str(Decimal(minor) / 100))
            open_ones = [i for i in map(fresh, invoices) if i.balance_due.amount > 0]
            payment = record(
                customer, str(amount.amount), invoices=open_ones[::-1] if named else None
            )
            applied = sum((a.amount for a in payment.applications.all()), usd("0"))
            assert applied + usd(str(fresh(payment).unapplied)) == amount
        for invoice in map(fresh, invoices):
            assert Decimal(0) <= invoice.amount_paid <= invoice.total.amount
            assert invoice.balance_due.amount >= 0
            paid = sum((a.amount for a in invoice.payments.all()), usd("0"))
            assert paid.amount == invoice.amount_paid
        transaction.set_rollback(True)
