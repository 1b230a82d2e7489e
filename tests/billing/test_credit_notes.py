"""Credit notes: per-line and whole credits with their tax, gapless CN numbers, settlement."""

from datetime import date

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from djmoney.money import Money

from billing.credit_notes import credit_note_create, credit_note_issue
from billing.invoicing import invoice_void
from billing.models import CreditNote, Invoice, InvoiceSequence
from billing.payments import payment_record
from billing.receivables import aging, customer_credit, open_items
from billing.signals import credit_note_issued
from tests.admin_urls import admin_url

pytestmark = pytest.mark.django_db


def usd(amount: str) -> Money:
    return Money(amount, "USD")


@pytest.fixture
def invoice(issued_invoice):
    """1,082.50: lines of 600.00 and 400.00 at 8.25% tax (49.50 + 33.00 = 82.50)."""
    return issued_invoice("600.00", "400.00", tax_rate="8.25")


def line_of(invoice: Invoice, amount: str):
    return invoice.lines.get(amount=usd(amount))


def credit(invoice: Invoice, *pairs, reason="Returned goods"):
    lines = [(line_of(invoice, line), usd(amount)) for line, amount in pairs]
    return credit_note_create(invoice=invoice, reason=reason, lines=lines or None)


def test_a_line_credited_in_full_returns_exactly_its_tax(invoice):
    note = credit(invoice, ("400.00", "400.00"))

    # 400.00 x 8.25% = 33.00: the line's tax, all of it.
    assert (note.subtotal, note.tax_total, note.total) == (usd("400"), usd("33"), usd("433"))
    assert note.status == CreditNote.Status.DRAFT
    line = note.lines.get()
    assert (line.quantity, line.description) == (1, line_of(invoice, "400.00").description)
    invoice.refresh_from_db()
    assert invoice.amount_credited == 0  # a draft changes nothing yet

    credit_note_issue(credit_note=note, issue_date=date(2026, 1, 10))

    invoice.refresh_from_db()
    # 1,082.50 - 433.00 = 649.50 still owed: part of the invoice is settled by the credit.
    assert invoice.balance_due == usd("649.50")
    assert invoice.payment_status == "partially_paid"


def test_partial_credits_of_a_line_add_up_to_its_tax_exactly(invoice):
    first = credit(invoice, ("400.00", "150.00"))
    # 33.00 x 150/400 = 12.375, half-up 12.38.
    assert first.tax_total == usd("12.38")

    second = credit(invoice, ("400.00", "250.00"))
    # Cumulatively 33.00 x 400/400 = 33.00, less the 12.38 taken: 20.62. Rounding 250.00 x 8.25%
    # = 20.625 on its own would give 20.63 and take back 33.01 in all.
    assert second.tax_total == usd("20.62")
    assert first.tax_total + second.tax_total == usd("33.00")


def test_a_whole_credit_takes_what_is_left_on_every_line(invoice):
    partial = credit(invoice, ("400.00", "150.00"))
    credit_note_issue(credit_note=partial, issue_date=date(2026, 1, 5))

    whole = credit(invoice)

    # Line 600.00 in full (tax 49.50) and the 250.00 left of line 400.00 (tax 33.00 - 12.38).
    assert [(line.amount, line.tax_amount) for line in whole.lines.all()] == [
        (usd("600.00"), usd("49.50")),
        (usd("250.00"), usd("20.62")),
    ]
    # 850.00 + 70.12 = 920.12; with the 162.38 of the first, 1,082.50: the whole invoice.
    assert whole.total == usd("920.12")
    credit_note_issue(credit_note=whole, issue_date=date(2026, 1, 6))
    invoice.refresh_from_db()
    assert (invoice.balance_due, invoice.payment_status) == (usd("0"), "paid")
    with pytest.raises(ValidationError) as error:
        credit(invoice)
    assert "Nothing on invoice" in error.value.message_dict["invoice"][0]


def test_more_than_is_creditable_is_refused_with_issued_and_draft_figures(invoice):
    credit_note_issue(
        credit_note=credit(invoice, ("400.00", "100.00")), issue_date=date(2026, 1, 5)
    )
    credit(invoice, ("400.00", "50.00"))  # a draft

    with pytest.raises(ValidationError) as error:
        credit(invoice, ("400.00", "300.00"))

    (message,) = error.value.message_dict["lines"]
    # 400.00 - 100.00 issued - 50.00 draft = 250.00 left.
    assert "has 250.00 still creditable: 400.00 billed" in message
    assert "less 100.00 on issued credit notes and 50.00 on draft credit notes" in message
    assert "300.00 asked" in message
    assert CreditNote.objects.count() == 2


@pytest.mark.parametrize(
    ("reason", "amount", "field", "text"),
    [
        ("  ", "10.00", "reason", "Say why"),
        ("Discount", "0.00", "lines", "more than zero"),
        ("Discount", "-1.00", "lines", "more than zero"),
        ("Discount", "1.001", "lines", "more decimals"),
    ],
)
def test_bad_requests_are_refused_naming_the_field(invoice, reason, amount, field, text):
    with pytest.raises(ValidationError) as error:
        credit(invoice, ("400.00", amount), reason=reason)
    assert text in error.value.message_dict[field][0]
    assert CreditNote.objects.count() == 0


def test_only_lines_of_an_issued_invoice_are_credited(issued_invoice, invoice):
    other = issued_invoice("70.00")
    with pytest.raises(ValidationError) as error:
        credit_note_create(
            invoice=invoice, reason="Wrong", lines=[(other.lines.get(), usd("10.00"))]
        )
    assert f"not on {invoice}" in error.value.message_dict["lines"][0]

    invoice_void(invoice=other, reason="Duplicate")
    with pytest.raises(ValidationError) as error:
        credit_note_create(invoice=other, reason="Too late")
    assert "only issued invoices" in error.value.message_dict["invoice"][0]
    assert CreditNote.objects.count() == 0


def test_credit_note_numbers_are_gapless_per_year(issued_invoice, invoice):
    first = credit_note_issue(
        credit_note=credit(invoice, ("600.00", "10.00")), issue_date=date(2026, 3, 1)
    )
    refused = credit(invoice, ("600.00", "20.00"))
    with pytest.raises(ValidationError):
        credit_note_issue(credit_note=refused, issue_date=date(2025, 12, 31))  # before the invoice
    second = credit_note_issue(credit_note=refused, issue_date=date(2026, 3, 2))
    later = issued_invoice("50.00", issued_on=date(2027, 1, 4))
    third = credit_note_issue(
        credit_note=credit_note_create(invoice=later, reason="Goodwill"),
        issue_date=date(2027, 1, 5),
    )

    assert [first.number, second.number, third.number] == [
        "CN-2026-000001",
        "CN-2026-000002",
        "CN-2027-000001",
    ]
    assert dict(InvoiceSequence.objects.filter(series="CN").values_list("year", "last_number")) == {
        2026: 2,
        2027: 1,
    }
    # The invoice series is its own: two invoices in 2026 (the fixture's), one in 2027.
    assert later.number == "INV-2027-000001"
    with pytest.raises(ValidationError) as error:
        credit_note_issue(credit_note=first, issue_date=date(2026, 3, 3))
    assert "already issued" in error.value.message_dict["status"][0]


def test_issuing_announces_the_credit_note_and_queues_its_delivery(
    invoice, django_capture_on_commit_callbacks
):
    heard = []

    def receiver(sender, *, credit_note, **kwargs):
        heard.append((credit_note.number, credit_note.status))

    credit_note_issued.connect(receiver)
    try:
        note = credit(invoice, ("600.00", "600.00"))
        with django_capture_on_commit_callbacks() as callbacks:
            credit_note_issue(credit_note=note, issue_date=date(2026, 1, 10))
    finally:
        credit_note_issued.disconnect(receiver)

    assert heard == [("CN-2026-000001", "issued")]
    assert len(callbacks) == 1  # the delivery task, queued only once the issue commits


def test_crediting_a_paid_invoice_leaves_the_excess_as_customer_credit(invoice):
    customer = invoice.customer
    payment_record(
        customer=customer, amount=usd("1082.50"), received_on=date(2026, 1, 20), method="card"
    )
    note = credit(invoice, ("400.00", "400.00"))
    credit_note_issue(credit_note=note, issue_date=date(2026, 2, 1))

    invoice.refresh_from_db()
    # Paid 1,082.50 and credited 433.00: the balance is 1,082.50 - 1,082.50 - 433.00 = -433.00.
    assert (invoice.balance_due, invoice.payment_status) == (usd("-433.00"), "paid")
    assert customer_credit(customer) == {"USD": usd("433.00")}
    assert open_items(customer=customer, as_of=date(2026, 2, 1)) == []
    (row,) = aging(as_of=date(2026, 2, 1)).rows
    assert (row.total, row.credit, row.net) == (usd("0"), usd("433.00"), usd("-433.00"))
    # The day before the credit note, the invoice was simply paid: no credit.
    assert aging(as_of=date(2026, 1, 31)).rows == []


def test_the_admin_creates_and_issues_a_credit_note(invoice, staff_client):
    url = reverse("admin:billing_creditnote_new", args=[invoice.pk])
    page = staff_client.get(url).content.decode()
    assert invoice.number in page and "$1,082.50" in page
    line = line_of(invoice, "400.00")
    field = f"line_{line.pk}"

    refused = staff_client.post(url, {"reason": "Returned", "scope": "lines", field: "500"})
    assert "has 400.00 still creditable" in refused.content.decode()
    assert CreditNote.objects.count() == 0

    staff_client.post(url, {"reason": "Returned", "scope": "lines", field: "400"})
    note = CreditNote.objects.get()
    assert (note.total, note.created_by) == (usd("433.00"), "finance")

    staff_client.post(
        admin_url(CreditNote, "changelist"),
        {"action": "issue", "_selected_action": [note.pk], "issue_date": "2026-01-12"},
    )
    note.refresh_from_db()
    assert (note.number, note.issue_date) == ("CN-2026-000001", date(2026, 1, 12))
    listing = staff_client.get(admin_url(CreditNote, "changelist")).content.decode()
    assert "CN-2026-000001" in listing and "$433.00" in listing
    detail = staff_client.get(admin_url(CreditNote, "change", note.pk)).content.decode()
    assert line.description in detail and "$33.00" in detail


def test_an_invoice_with_a_credit_note_or_a_payment_cannot_be_voided(issued_invoice):
    credited = issued_invoice("100.00")
    credit_note_create(invoice=credited, reason="Typo in the PO number")
    paid = issued_invoice("50.00")
    payment_record(
        customer=paid.customer,
        amount=usd("20.00"),
        received_on=date(2026, 1, 5),
        method="bank_transfer",
        invoices=[paid],
    )
    for invoice in (credited, paid):
        with pytest.raises(ValidationError, match="credit note instead of voiding"):
            invoice_void(invoice=invoice, reason="wrong")
        invoice.refresh_from_db()
        assert invoice.status == Invoice.Status.ISSUED
