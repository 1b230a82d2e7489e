"""The payments CSV layout: each row recorded and applied by payment_record, at most once."""

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from djmoney.money import Money

from billing.imports.payments import PaymentsLayout
from billing.models import Invoice, Payment, PaymentApplication
from imports.engine import ImportReport, Mode, Status, import_csv
from imports.export import export_csv
from rms.audit import acting_as
from tests.admin_urls import admin_url

pytestmark = pytest.mark.django_db

HEADER = "customer_number,amount,currency,received_on,method,reference,invoice_numbers"
SAMPLE = Path(__file__).parents[2] / "docs" / "samples" / "payments.csv"
NEW, UNCHANGED, ERROR = Status.NEW, Status.UNCHANGED, Status.ERROR


@pytest.fixture
def ledger(issued_invoice, customer_factory):
    """Customer C-1 with invoices of 100.00 (January) and 250.00 (February)."""
    customer = customer_factory(number="C-1", invoice_review="review")
    january = issued_invoice("100.00", customer=customer)
    february = issued_invoice("250.00", customer=customer, issued_on=date(2026, 2, 1))
    return january, february


def run(*rows: str, **options) -> ImportReport:
    data = "\n".join([HEADER, *rows]) + "\n"
    return import_csv(PaymentsLayout(), data.encode(), **options)


def counts(report: ImportReport) -> tuple[int, int, int]:
    return report.counts[NEW], report.counts[UNCHANGED], report.counts[ERROR]


def problems(report: ImportReport) -> list[str]:
    return [str(problem) for problem in report.problems]


def good_rows(february: Invoice) -> list[str]:
    return [
        "C-1,120.00,USD,2026-02-10,bank_transfer,BANK-1,",
        f"C-1,50.00,USD,2026-02-11,check,CHK-9,{february.number}",
    ]


def balances(*invoices: Invoice) -> list[Decimal]:
    return [Invoice.objects.get(pk=invoice.pk).amount_paid for invoice in invoices]


def test_a_good_file_records_and_applies_each_payment_as_the_uploader(ledger, django_user_model):
    january, february = ledger
    clerk = django_user_model.objects.create_user("clerk")

    with acting_as(user=clerk, via="import payments.csv"):
        report = run(*good_rows(february))

    assert (problems(report), counts(report)) == ([], (2, 0, 0))
    # Row 2: 120.00 oldest first: January 100.00, February 20.00.
    # Row 3: 50.00 to February, named: 20.00 + 50.00 = 70.00 of its 250.00.
    assert balances(january, february) == [Decimal("100.00"), Decimal("70.00")]
    assert PaymentApplication.objects.count() == 3
    assert sorted(Payment.objects.values_list("reference", "recorded_by")) == [
        ("BANK-1", "clerk"),
        ("CHK-9", "clerk"),
    ]


def test_importing_the_same_file_again_records_nothing_twice(ledger):
    january, february = ledger
    run(*good_rows(february))

    again = run(*good_rows(february))

    assert (problems(again), counts(again)) == ([], (0, 2, 0))
    assert Payment.objects.count() == 2
    assert balances(january, february) == [Decimal("100.00"), Decimal("70.00")]


def test_a_recorded_payment_sent_with_other_values_is_refused_naming_each_column(ledger):
    january, february = ledger
    run(*good_rows(february))

    report = run("C-1,125.00,USD,2026-02-12,bank_transfer,BANK-1,")

    tail = (
        "of payment BANK-1 recorded already for C-1; a recorded payment is not changed by an "
        "import (give another payment another reference)."
    )
    assert problems(report) == [
        f"Row 2, column amount: 125.00 differs from 120.00 {tail}",
        f"Row 2, column received_on: 2026-02-12 differs from 2026-02-10 {tail}",
    ]
    assert Payment.objects.get(reference="BANK-1").amount == Money("120.00", "USD")
    assert balances(january, february) == [Decimal("100.00"), Decimal("70.00")]


BAD_ROWS = [
    "C-1,120.00,USD,2026-02-10,bank_transfer,BANK-1,",  # row 2: fine
    "C-404,10.00,USD,2026-02-10,card,X-1,",
    "C-1,ten,USD,2026-02-31,card,X-2,",
    "C-1,10.00,EUR,2026-02-10,card,X-3,",
    "C-1,10.00,USD,2026-02-10,card,X-4,INV-2026-999999",
    "C-1,10.00,USD,2026-02-10,barter,X-5,",
    "C-1,10.00,USD,2099-01-01,card,X-6,",
    "C-1,-5.00,USD,2026-02-10,card,X-7,",
    "C-1,10.00,USD,2026-02-10,card,,",
    "C-1,10.00,USD,2026-02-10,card,X-3,",  # row 11: repeats row 5's payment
]
BAD_ROW_PROBLEMS = [
    "Row 3, column customer_number: no customer has account number C-404.",
    "Row 4, column amount: ten is not a number (e.g. 1250.00).",
    "Row 4, column received_on: 2026-02-31 is not a date (use YYYY-MM-DD, e.g. 2026-01-31).",
    "Row 5, column amount: C-1 is billed in USD; a payment in EUR matches none of its invoices.",
    "Row 6, column invoice_numbers: C-1 has no invoice INV-2026-999999.",
    "Row 7, column method: barter is not one of: bank_transfer, card, check, direct_debit, "
    "cash, other.",
    "Row 8, column received_on: 2099-01-01 is in the future; record payments received.",
    "Row 9, column amount: A payment is more than zero; -5.00 was given.",
    "Row 10, column reference: is empty; it is required.",
    "Row 11, column customer_number: repeats the customer_number and reference of row 5.",
]


def test_a_file_with_a_bad_row_records_nothing_and_names_every_bad_row(ledger):
    january, february = ledger

    report = run(*BAD_ROWS)

    assert problems(report) == BAD_ROW_PROBLEMS
    assert report.summary() == "Nothing imported: 9 of 10 rows have errors."
    assert Payment.objects.count() == 0  # row 2 was fine, and is rolled back with the rest
    assert balances(january, february) == [0, 0]


def test_keeping_good_rows_records_them_and_returns_the_bad_ones(ledger):
    january, february = ledger

    report = run(*BAD_ROWS, mode=Mode.KEEP_GOOD_ROWS)

    assert problems(report) == BAD_ROW_PROBLEMS
    assert counts(report) == (1, 0, 9)
    # Nobody acting: the payment says it came from an import.
    assert list(Payment.objects.values_list("reference", "recorded_by")) == [("BANK-1", "import")]
    assert balances(january, february) == [Decimal("100.00"), Decimal("20.00")]
    bad_rows = report.errors_csv().splitlines()
    assert bad_rows[0] == f"{HEADER},errors"
    assert bad_rows[1] == (
        'C-404,10.00,USD,2026-02-10,card,X-1,,"'
        'Row 3, column customer_number: no customer has account number C-404."'
    )
    assert len(bad_rows) == 10


def test_a_dry_run_reports_and_records_nothing(ledger):
    january, february = ledger

    report = run(*good_rows(february), dry_run=True)

    assert counts(report) == (2, 0, 0)
    assert Payment.objects.count() == 0
    assert balances(january, february) == [0, 0]


def test_an_export_names_the_invoices_paid_and_imports_back_as_no_change(ledger):
    january, february = ledger
    run(*good_rows(february))

    exported = export_csv(PaymentsLayout(), Payment.objects.all())

    assert exported.splitlines() == [
        HEADER,
        f"C-1,120.00,USD,2026-02-10,bank_transfer,BANK-1,{january.number} {february.number}",
        f"C-1,50.00,USD,2026-02-11,check,CHK-9,{february.number}",
    ]
    again = import_csv(PaymentsLayout(), exported.encode())
    assert (problems(again), counts(again)) == ([], (0, 2, 0))
    assert Payment.objects.count() == 2
    assert balances(january, february) == [Decimal("100.00"), Decimal("70.00")]


def test_the_sample_file_imports(customer_factory):
    customer_factory(number="ACME", currency="USD")

    report = import_csv(PaymentsLayout(), SAMPLE.read_bytes())

    assert (problems(report), counts(report)) == ([], (3, 0, 0))
    # A new book has no invoices yet: every payment stays as the customer's credit.
    assert sorted(Payment.objects.values_list("reference", "unapplied")) == [
        ("CARD-7Q4K2", Decimal("1000.00")),
        ("CHK-100482", Decimal("5000.00")),
        ("WIRE-20260205-0193", Decimal("25000.00")),
    ]


def test_the_admin_records_a_payment_through_the_service(ledger, staff_client):
    january, february = ledger
    customer = january.customer
    form = {
        "customer": customer.pk,
        "amount_0": "400.00",
        "amount_1": "USD",
        "received_on": "2026-02-20",
        "method": "card",
        "reference": "CARD-1",
        "note": "",
    }

    refused = staff_client.post(admin_url(Payment, "add"), {**form, "received_on": "2099-01-01"})
    assert "is in the future" in refused.content.decode()

    staff_client.post(admin_url(Payment, "add"), form)

    payment = Payment.objects.get()
    # 400.00: January 100.00, February 250.00, 50.00 left as credit.
    assert (payment.unapplied, payment.recorded_by) == (Decimal("50.00"), "finance")
    assert balances(january, february) == [Decimal("100.00"), Decimal("250.00")]
    page = staff_client.get(admin_url(Payment, "change", payment.pk)).content.decode()
    assert february.number in page and "$250.00" in page
    assert 'name="_save"' not in page  # recorded payments are read-only
    assert Money("400.00", "USD") == payment.amount
