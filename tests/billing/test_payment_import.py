"""CSV import of payments: through payment_record, all rows or none, errors by row and column."""

from datetime import date
from decimal import Decimal

import pytest
import tablib
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from djmoney.money import Money

from billing.imports import PaymentResource, import_problems
from billing.models import Invoice, Payment, PaymentApplication
from tests.admin_urls import admin_url

pytestmark = pytest.mark.django_db

HEADER = "customer_number,amount,currency,received_on,method,reference,invoice_numbers\n"


@pytest.fixture
def ledger(issued_invoice, customer_factory):
    """Customer C-1 with invoices of 100.00 (January) and 250.00 (February)."""
    customer = customer_factory(number="C-1", invoice_review="review")
    january = issued_invoice("100.00", customer=customer)
    february = issued_invoice("250.00", customer=customer, issued_on=date(2026, 2, 1))
    return january, february


def good_file(january: Invoice, february: Invoice) -> str:
    return (
        HEADER
        + "C-1,120.00,USD,2026-02-10,bank_transfer,BANK-1,\n"
        + f"C-1,50.00,USD,2026-02-11,check,CHK-9,{february.number}\n"
    )


def run(text: str, *, dry_run: bool):
    dataset = tablib.Dataset().load(text, format="csv")
    return PaymentResource().import_data(dataset, dry_run=dry_run)


def balances(*invoices: Invoice) -> list[Decimal]:
    return [Invoice.objects.get(pk=invoice.pk).amount_paid for invoice in invoices]


def test_a_good_file_records_and_applies_each_payment(ledger):
    january, february = ledger

    result = run(good_file(january, february), dry_run=False)

    assert import_problems(result) == []
    assert result.totals["new"] == 2
    # Row 1: 120.00 oldest first: January 100.00, February 20.00.
    # Row 2: 50.00 to February, named: 20.00 + 50.00 = 70.00 of its 250.00.
    assert balances(january, february) == [Decimal("100.00"), Decimal("70.00")]
    assert PaymentApplication.objects.count() == 3
    assert Payment.objects.get(reference="CHK-9").recorded_by == "import"


def test_importing_the_same_file_again_records_nothing_twice(ledger):
    january, february = ledger
    run(good_file(january, february), dry_run=False)

    again = run(good_file(january, february), dry_run=False)

    assert (again.totals["skip"], again.totals["new"]) == (2, 0)
    assert Payment.objects.count() == 2
    assert balances(january, february) == [Decimal("100.00"), Decimal("70.00")]


def bad_file(february: Invoice) -> str:
    return (
        HEADER
        + "C-1,120.00,USD,2026-02-10,bank_transfer,BANK-1,\n"  # row 1: fine
        + "C-404,10.00,USD,2026-02-10,card,X-1,\n"  # row 2: no such customer
        + "C-1,ten,USD,2026-02-31,card,X-2,\n"  # row 3: amount and date
        + "C-1,10.00,EUR,2026-02-10,card,X-3,\n"  # row 4: a currency C-1 is not billed in
        + "C-1,10.00,USD,2026-02-10,card,X-4,INV-2026-999999\n"  # row 5: unknown invoice
        + "C-1,10.00,USD,2026-02-10,barter,X-5,\n"  # row 6: unknown method
    )


def test_a_dry_run_names_each_bad_row_and_column_and_changes_nothing(ledger):
    january, february = ledger

    problems = import_problems(run(bad_file(february), dry_run=True))

    assert [problem.split(":")[0] for problem in problems] == [
        "Row 2, customer_number",
        "Row 3, amount",
        "Row 3, received_on",
        "Row 4, amount",
        "Row 5, invoice_numbers",
        "Row 6, method",
    ]
    assert "No customer has account number 'C-404'" in problems[0]
    assert "billed in USD; a payment in EUR" in problems[3]
    assert "INV-2026-999999" in problems[4]
    assert Payment.objects.count() == 0
    assert balances(january, february) == [0, 0]


def test_a_file_with_a_bad_row_imports_nothing(ledger):
    january, february = ledger

    result = run(bad_file(february), dry_run=False)

    assert result.has_validation_errors()
    assert Payment.objects.count() == 0  # row 1 was fine, and is rolled back with the rest
    assert balances(january, february) == [0, 0]


def test_the_command_imports_or_reports_rows(ledger, tmp_path, capsys):
    january, february = ledger
    bad = tmp_path / "bad.csv"
    bad.write_text(bad_file(february))
    good = tmp_path / "good.csv"
    good.write_text(good_file(january, february))

    with pytest.raises(CommandError, match="6 problem"):
        call_command("import_payments", str(bad))
    assert "Row 3, received_on: '2026-02-31' is not a date" in capsys.readouterr().err

    call_command("import_payments", str(good), "--dry-run")
    assert "2 payment(s) would be recorded" in capsys.readouterr().out
    assert Payment.objects.count() == 0

    call_command("import_payments", str(good))
    assert "2 payment(s) recorded, 0 already recorded" in capsys.readouterr().out
    assert balances(january, february) == [Decimal("100.00"), Decimal("70.00")]


def upload(staff_client, text: str):
    return staff_client.post(
        admin_url(Payment, "import"),
        {
            "format": "0",
            "resource": "0",
            "import_file": SimpleUploadedFile("payments.csv", text.encode(), "text/csv"),
        },
    )


def test_the_admin_import_previews_errors_and_imports_after_confirming(ledger, staff_client):
    january, february = ledger

    preview = upload(staff_client, bad_file(february)).content.decode()
    assert "No customer has account number" in preview
    assert "is not a date as YYYY-MM-DD" in preview
    assert "confirm_form" not in preview and Payment.objects.count() == 0

    response = upload(staff_client, good_file(january, february))
    confirm = response.context["confirm_form"]
    assert Payment.objects.count() == 0  # the preview is a dry run
    staff_client.post(
        admin_url(Payment, "process_import"),
        {name: confirm[name].value() for name in confirm.fields},
    )
    assert sorted(Payment.objects.values_list("reference", "recorded_by")) == [
        ("BANK-1", "finance"),
        ("CHK-9", "finance"),
    ]
    assert balances(january, february) == [Decimal("100.00"), Decimal("70.00")]


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
