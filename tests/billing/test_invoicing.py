"""Invoices: gapless numbers, issue and void, due dates, frozen bill-to, database guarantees."""

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from djmoney.money import Money

from billing.invoicing import invoice_issue, invoice_void
from billing.models import BillingEvent, BillRun, Invoice, InvoiceLine, InvoiceSequence
from contracts.services import contract_terms_announce
from tests.billing.conftest import (
    assert_invoiced_events_billed_once,
    assert_numbers_gapless,
    usd,
)

pytestmark = pytest.mark.django_db


def sequence_last(year: int = 2026) -> int:
    return InvoiceSequence.objects.get(series="INV", year=year).last_number


# --- Numbers ---------------------------------------------------------------------------------


def test_numbers_are_consecutive_across_runs_and_drafts_issued_by_hand(
    customer_factory, contract_line_factory, activate, bill
):
    issued = contract_line_factory(contract__customer=customer_factory(invoice_review="issue"))
    reviewed = contract_line_factory(contract__customer=customer_factory(invoice_review="review"))
    activate(issued.contract, reviewed.contract)

    def invoice_of(line, run):
        return Invoice.objects.get(bill_run=run, customer=line.contract.customer)

    january = bill(date(2026, 1, 1))
    assert invoice_of(issued, january).number == "INV-2026-000001"
    draft = invoice_of(reviewed, january)
    assert (draft.status, draft.number) == (Invoice.Status.DRAFT, "")
    assert invoice_issue(invoice=draft, issue_date=date(2026, 1, 5)).number == "INV-2026-000002"

    february = bill(date(2026, 2, 1))
    assert invoice_of(issued, february).number == "INV-2026-000003"
    later = invoice_issue(invoice=invoice_of(reviewed, february), issue_date=date(2026, 2, 3))
    assert (later.number, later.sequence_number, later.year) == ("INV-2026-000004", 4, 2026)

    assert assert_numbers_gapless(2026) == [f"INV-2026-{n:06d}" for n in range(1, 5)]


def test_a_new_year_starts_its_numbers_at_one(
    contract_factory, contract_line_factory, activate, bill
):
    contract = contract_factory(start_date=date(2026, 12, 1), end_date=date(2027, 2, 28))
    contract_line_factory(contract=contract)
    activate(contract)

    assert bill(date(2026, 12, 1)).invoices.get().number == "INV-2026-000001"
    assert bill(date(2027, 1, 1)).invoices.get().number == "INV-2027-000001"
    assert bill(date(2027, 2, 1)).invoices.get().number == "INV-2027-000002"
    assert assert_numbers_gapless(2026) == ["INV-2026-000001"]
    assert assert_numbers_gapless(2027) == ["INV-2027-000001", "INV-2027-000002"]


def test_a_draft_issued_later_is_dated_and_numbered_on_its_issue_day(
    customer_factory, contract_line_factory, activate, bill
):
    line = contract_line_factory(contract__customer=customer_factory(invoice_review="review"))
    activate(line.contract)
    draft = bill(date(2026, 12, 31)).invoices.get()  # Jan-Dec 2026, reviewed into the new year

    issued = invoice_issue(invoice=draft, issue_date=date(2027, 1, 4))

    issued.refresh_from_db()
    assert (issued.number, issued.issue_date) == ("INV-2027-000001", date(2027, 1, 4))
    # The invoice date is the run's date only while a draft; once issued it is the issue date.
    assert issued.invoice_date == date(2027, 1, 4)


# --- Void ------------------------------------------------------------------------------------


def test_voiding_keeps_the_number_and_the_next_run_rebills_on_a_new_number(
    contract_line_factory, activate, bill
):
    line = contract_line_factory(unit_price=usd("100.00"))
    activate(line.contract)
    original = bill(date(2026, 2, 1)).invoices.get()  # Jan + Feb = 200.00
    assert (original.number, original.total) == ("INV-2026-000001", usd("200.00"))
    billed_events = set(original.lines.values_list("event_id", flat=True))

    invoice_void(invoice=original, reason="Wrong purchase order")

    original.refresh_from_db()
    assert (original.status, original.number, original.void_reason) == (
        Invoice.Status.VOID,
        "INV-2026-000001",
        "Wrong purchase order",
    )
    assert original.voided_at is not None
    assert set(original.lines.values_list("voided", flat=True)) == {True}
    assert original.lines.count() == 2  # history is kept, marked void
    assert set(
        BillingEvent.objects.filter(pk__in=billed_events).values_list("status", flat=True)
    ) == {BillingEvent.Status.PENDING}
    assert sequence_last() == 1  # the voided number stays used

    rebill = bill(date(2026, 2, 1)).invoices.get()

    assert rebill.pk != original.pk
    assert (rebill.number, rebill.total) == ("INV-2026-000002", usd("200.00"))
    assert set(rebill.lines.values_list("event_id", flat=True)) == billed_events
    assert_invoiced_events_billed_once()
    assert assert_numbers_gapless() == ["INV-2026-000001", "INV-2026-000002"]


def test_events_of_a_voided_invoice_are_rebilled_at_the_lines_current_terms(
    contract_line_factory, activate, bill, django_capture_on_commit_callbacks
):
    line = contract_line_factory(unit_price=usd("100.00"))
    activate(line.contract)
    wrong = bill(date(2026, 1, 1)).invoices.get()
    # The price should have been 90.00: fix the contract, then void the invoice.
    line.unit_price = usd("90.00")
    line.save()
    with django_capture_on_commit_callbacks(execute=True):
        contract_terms_announce(contract=line.contract)
    invoice_void(invoice=wrong, reason="Price should have been 90.00")

    corrected = bill(date(2026, 1, 1)).invoices.get()

    # invoice_void: "the next run bills them afresh with the line's current terms".
    assert corrected.total == usd("90.00")


def test_a_term_cut_short_after_a_void_bills_only_what_is_still_in_the_term(
    contract_line_factory, activate, bill, django_capture_on_commit_callbacks
):
    line = contract_line_factory(unit_price=usd("100.00"))
    contract = line.contract
    activate(contract)
    invoice = bill(date(2026, 3, 1)).invoices.get()  # Jan, Feb, Mar: 300.00
    # The customer had cancelled at the end of January: void, then end the term on 31 Jan.
    invoice_void(invoice=invoice, reason="Cancelled at the end of January")
    line.service_end = contract.end_date = date(2026, 1, 31)
    line.save()
    contract.save()
    with django_capture_on_commit_callbacks(execute=True):
        contract_terms_announce(contract=contract)

    rebill = bill(date(2026, 3, 1)).invoices.get()

    # Only January is still in the term: 100.00.
    assert rebill.total == usd("100.00")
    assert_invoiced_events_billed_once()


def test_voiding_needs_a_reason(contract_line_factory, activate, bill):
    line = contract_line_factory()
    activate(line.contract)
    invoice = bill(date(2026, 1, 1)).invoices.get()

    for reason in ("", "   "):
        with pytest.raises(ValidationError) as refused:
            invoice_void(invoice=invoice, reason=reason)
        assert refused.value.message_dict == {"void_reason": ["Say why the invoice is voided."]}
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.ISSUED
    assert not invoice.lines.filter(voided=True).exists()


def test_voiding_twice_is_refused(contract_line_factory, activate, bill):
    line = contract_line_factory()
    activate(line.contract)
    invoice = bill(date(2026, 1, 1)).invoices.get()
    invoice_void(invoice=invoice, reason="Duplicate")

    with pytest.raises(ValidationError, match="INV-2026-000001 is already void"):
        invoice_void(invoice=invoice, reason="Again")
    invoice.refresh_from_db()
    assert invoice.void_reason == "Duplicate"


def test_only_a_draft_can_be_issued(contract_line_factory, activate, bill):
    line = contract_line_factory()
    activate(line.contract)
    invoice = bill(date(2026, 1, 1)).invoices.get()

    with pytest.raises(ValidationError, match="INV-2026-000001 is issued; only drafts are issued"):
        invoice_issue(invoice=invoice, issue_date=date(2026, 1, 2))
    invoice_void(invoice=invoice, reason="Cancelled order")
    with pytest.raises(ValidationError, match="is void; only drafts are issued"):
        invoice_issue(invoice=invoice, issue_date=date(2026, 1, 2))
    assert sequence_last() == 1  # a refused issue takes no number
    invoice.refresh_from_db()
    assert (invoice.number, invoice.issue_date) == ("INV-2026-000001", date(2026, 1, 1))


# --- Due dates and the frozen bill-to --------------------------------------------------------


def test_the_due_date_follows_the_payment_terms_and_the_bill_to_is_frozen_at_issue(
    customer_factory, payment_terms_factory, contract_line_factory, activate, bill
):
    net30 = customer_factory(legal_name="Acme Ltd")
    eom15 = customer_factory(
        legal_name="Globex GmbH",
        payment_terms=payment_terms_factory(name="EOM + 15", basis="end_of_month", days=15),
        address_line1="Hauptstrasse 5",
        postal_code="10115",
        city="Berlin",
        country="DE",
    )
    for customer in (net30, eom15):
        activate(contract_line_factory(contract__customer=customer).contract)

    bill(date(2026, 1, 31))

    acme, globex = Invoice.objects.get(customer=net30), Invoice.objects.get(customer=eom15)
    # Net 30 from 31 Jan 2026: 28 days to 28 Feb, 2 more: 2 Mar 2026.
    assert (acme.due_date, acme.payment_terms_text) == (date(2026, 3, 2), "Net 30")
    # End of month + 15 from 31 Jan 2026: 31 Jan + 15 days = 15 Feb 2026.
    assert (globex.due_date, globex.payment_terms_text) == (
        date(2026, 2, 15),
        "End of month + 15 days",
    )
    assert (globex.bill_to_name, globex.bill_to_address) == (
        "Globex GmbH",
        "Hauptstrasse 5\n10115 Berlin\nDE",
    )

    eom15.legal_name = "Globex AG"
    eom15.address_line1 = "Neue Strasse 1"
    eom15.payment_terms = net30.payment_terms
    eom15.save()

    globex.refresh_from_db()
    assert (globex.bill_to_name, globex.bill_to_address, globex.due_date) == (
        "Globex GmbH",
        "Hauptstrasse 5\n10115 Berlin\nDE",
        date(2026, 2, 15),
    )
    assert globex.payment_terms_text == "End of month + 15 days"


def test_a_draft_takes_the_bill_to_and_due_date_of_its_issue_day(
    customer_factory, contract_line_factory, activate, bill
):
    customer = customer_factory(legal_name="Initech LLC", invoice_review="review")
    activate(contract_line_factory(contract__customer=customer).contract)
    draft = bill(date(2026, 1, 31)).invoices.get()
    assert (draft.bill_to_name, draft.due_date) == ("", None)

    customer.legal_name = "Initech Inc."
    customer.save()
    issued = invoice_issue(invoice=draft, issue_date=date(2026, 2, 10))

    issued.refresh_from_db()
    # Net 30 from 10 Feb 2026: 18 days to 28 Feb, 12 more: 12 Mar 2026.
    assert (issued.bill_to_name, issued.due_date) == ("Initech Inc.", date(2026, 3, 12))


# --- What the database refuses ---------------------------------------------------------------


def test_the_database_refuses_a_second_live_line_for_an_event(
    contract_line_factory, activate, bill
):
    line = contract_line_factory()
    activate(line.contract)
    invoice = bill(date(2026, 1, 1)).invoices.get()
    billed = invoice.lines.get()

    with pytest.raises(IntegrityError), transaction.atomic():
        InvoiceLine.objects.create(
            invoice=invoice,
            event=billed.event,
            contract_line=line,
            position=2,
            description="the same month again",
            period_start=billed.period_start,
            period_end=billed.period_end,
            quantity=billed.quantity,
            unit_price=billed.unit_price,
            amount=billed.amount,
            tax_amount=usd("0.00"),
        )
    assert InvoiceLine.objects.filter(event=billed.event).count() == 1


def test_the_database_refuses_a_total_that_is_not_subtotal_plus_tax(customer):
    with pytest.raises(IntegrityError), transaction.atomic():
        Invoice.objects.create(
            customer=customer,
            currency="USD",
            invoice_date=date(2026, 1, 1),
            subtotal=usd("100.00"),
            tax_total=usd("19.00"),
            total=usd("119.01"),
        )
    assert not Invoice.objects.exists()


@pytest.mark.parametrize(
    ("subtotal", "tax"),
    [
        ("29.99", "3.00"),  # 29.99 at 10%: 2.999 -> 3.00; total 32.99
        ("59.00", "11.21"),  # 59.00 at 19%: 11.21; total 70.21
        ("0.10", "0.02"),  # 0.10 at 19%: 0.019 -> 0.02; total 0.12
    ],
)
def test_the_database_accepts_every_total_that_is_subtotal_plus_tax(customer, subtotal, tax):
    total = Decimal(subtotal) + Decimal(tax)
    with transaction.atomic():
        Invoice.objects.create(
            customer=customer,
            currency="USD",
            invoice_date=date(2026, 1, 1),
            subtotal=usd(subtotal),
            tax_total=usd(tax),
            total=usd(total),
        )
    assert Invoice.objects.get().total == usd(total)


def test_a_run_bills_an_invoice_of_29_99_plus_10_percent_tax(
    customer_factory, contract_line_factory, activate, bill
):
    line = contract_line_factory(
        contract__customer=customer_factory(tax_rate=Decimal(10)), unit_price=usd("29.99")
    )
    activate(line.contract)

    run = bill(date(2026, 1, 1))

    assert (run.status, run.errors) == (BillRun.Status.COMPLETED, [])
    # 29.99 + 10% tax (2.999 -> 3.00) = 32.99.
    assert run.invoices.get().total == Money("32.99", "USD")
