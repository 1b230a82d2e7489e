"""AR aging and open items on hand-worked dates, replayable as of any day, in few queries."""

import csv
import io
from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from djmoney.money import Money

from billing.domain.receivables import AgingBucket
from billing.payments import payment_record
from billing.receivables import aging, customer_credit, open_items

pytestmark = pytest.mark.django_db

AS_OF = date(2026, 3, 5)
B = AgingBucket


def usd(amount: str) -> Money:
    return Money(amount, "USD")


@pytest.fixture
def book(issued_invoice, customer_factory):
    """Invoices (Net 30) of one USD customer in every bucket on 2026-03-05, and a EUR customer.

    Days past due on 2026-03-05:
    - issued 2025-11-01, due 2025-12-01: 31 (Dec) + 31 (Jan) + 28 (Feb) + 4 = 94 -> over 90;
    - issued 2025-12-01, due 2025-12-31: 31 + 28 + 5 = 64 -> 61-90;
    - issued 2026-01-01, due 2026-01-31: 28 + 5 = 33 -> 31-60;
    - issued 2026-01-20, due 2026-02-19: 9 + 5 = 14 -> 1-30;
    - issued 2026-02-10, due 2026-03-12: not yet due -> current.
    """
    customer = customer_factory(invoice_review="review", number="A-001")
    invoices = {
        bucket: issued_invoice(amount, customer=customer, issued_on=issued_on)
        for bucket, amount, issued_on in [
            (B.OVER_90, "300.00", date(2025, 11, 1)),
            (B.D61_90, "400.00", date(2025, 12, 1)),
            (B.D31_60, "100.00", date(2026, 1, 1)),
            (B.D1_30, "50.00", date(2026, 1, 20)),
            (B.CURRENT, "200.00", date(2026, 2, 10)),
        ]
    }
    assert invoices[B.D31_60].due_date == date(2026, 1, 31)
    # 120.00 of the oldest paid on 2026-02-01: 300.00 - 120.00 = 180.00 left over 90 days.
    payment_record(
        customer=customer,
        amount=usd("120.00"),
        received_on=date(2026, 2, 1),
        method="bank_transfer",
        invoices=[invoices[B.OVER_90]],
    )
    euro = customer_factory(invoice_review="review", number="B-001", currency="EUR")
    issued_invoice("1000.00", customer=euro, issued_on=date(2026, 3, 1))
    return customer, invoices


def test_buckets_on_hand_worked_dates(book):
    report = aging(as_of=AS_OF)

    usd_row, eur_row = report.rows
    assert (usd_row.customer_number, usd_row.currency) == ("A-001", "USD")
    assert usd_row.buckets == {
        B.CURRENT: usd("200.00"),
        B.D1_30: usd("50.00"),
        B.D31_60: usd("100.00"),
        B.D61_90: usd("400.00"),
        B.OVER_90: usd("180.00"),
    }
    # 200 + 50 + 100 + 400 + 180 = 930.00
    assert (usd_row.total, usd_row.credit) == (usd("930.00"), usd("0"))
    assert (eur_row.customer_number, eur_row.total) == ("B-001", Money("1000.00", "EUR"))
    assert eur_row.buckets[B.CURRENT] == Money("1000.00", "EUR")
    # One total per currency, never USD and EUR added together.
    assert [(total.currency, total.total) for total in report.totals] == [
        ("EUR", Money("1000.00", "EUR")),
        ("USD", usd("930.00")),
    ]


def test_a_past_day_is_replayed_from_dated_facts(book):
    customer, invoices = book

    # On 2026-01-31 the payment (2026-02-01) had not come, nor the invoices issued after.
    items = open_items(customer=customer, as_of=date(2026, 1, 31))

    assert [(item.key, item.open_amount) for item in items] == [
        (invoices[B.OVER_90].pk, usd("300.00")),
        (invoices[B.D61_90].pk, usd("400.00")),
        (invoices[B.D31_60].pk, usd("100.00")),
        (invoices[B.D1_30].pk, usd("50.00")),
    ]
    (row,) = aging(as_of=date(2026, 1, 31)).rows
    # Due 2025-12-01 seen 2026-01-31: 61 days; due 2025-12-31: 31; due 2026-01-31: due today.
    assert row.buckets[B.D61_90] == usd("300.00")
    assert row.buckets[B.D31_60] == usd("400.00")
    assert row.buckets[B.CURRENT] == usd("150.00")


def test_unapplied_cash_is_credit_even_with_nothing_open(issued_invoice):
    invoice = issued_invoice("100.00")
    payment_record(
        customer=invoice.customer,
        amount=usd("175.25"),
        received_on=date(2026, 2, 1),
        method="card",
    )

    (row,) = aging(as_of=AS_OF).rows
    # 175.25 - 100.00 = 75.25 left as credit; nothing owed.
    assert (row.total, row.credit, row.net) == (usd("0"), usd("75.25"), usd("-75.25"))
    assert customer_credit(invoice.customer) == {"USD": usd("75.25")}
    assert aging(as_of=date(2026, 1, 31)).rows[0].credit == usd("0")  # before the payment


def queries(function) -> int:
    with CaptureQueriesContext(connection) as captured:
        function()
    return len(captured)


def test_queries_do_not_grow_with_customers_or_invoices(book, issued_invoice):
    def customer_with_credit(amount: str) -> None:
        invoice = issued_invoice(amount, issued_on=date(2026, 3, 1))
        payment_record(
            customer=invoice.customer,
            amount=usd("40.00"),
            received_on=date(2026, 3, 2),
            method="card",
        )

    customer_with_credit("10.00")
    few_aging = queries(lambda: aging(as_of=AS_OF))
    few_items = queries(lambda: open_items(as_of=AS_OF))
    for amount in ("20.00", "30.00", "35.00"):
        customer_with_credit(amount)

    # Open invoices, payments received, payments applied, over-credited invoices, and the
    # names of customers with credit but nothing open.
    assert queries(lambda: aging(as_of=AS_OF)) == few_aging == 5
    assert queries(lambda: open_items(as_of=AS_OF)) == few_items == 1
    assert [row.credit for row in aging(as_of=AS_OF).rows[2:]] == [
        usd("30.00"),  # 40.00 - 10.00
        usd("20.00"),  # 40.00 - 20.00
        usd("10.00"),  # 40.00 - 30.00
        usd("5.00"),  # 40.00 - 35.00
    ]


def test_the_aging_page_shows_buckets_and_totals(book, staff_client):
    url = reverse("admin:billing_aging")

    page = staff_client.get(url, {"as_of": "2026-03-05"}).content.decode()

    assert "A-001" in page and "B-001" in page
    for figure in ("$200.00", "$50.00", "$100.00", "$400.00", "$180.00", "$930.00", "€1,000.00"):
        assert figure in page, figure
    assert 'value="2026-03-05"' in page
    bad = staff_client.get(url, {"as_of": "March"}).content.decode()
    assert "is not a date" in bad


def test_the_aging_exports_as_csv(book, staff_client):
    response = staff_client.get(
        reverse("admin:billing_aging"), {"as_of": "2026-03-05", "format": "csv"}
    )

    assert response["Content-Type"] == "text/csv"
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:3] == ["customer_number", "customer", "currency"]
    assert rows[1][0] == "A-001"
    assert rows[1][2:] == ["USD", "200.00", "50.00", "100.00", "400.00", "180.00", "930.00", "0.00"]
    assert rows[-1][1:] == [
        "Total",
        "USD",
        "200.00",
        "50.00",
        "100.00",
        "400.00",
        "180.00",
        "930.00",
        "0.00",
    ]
