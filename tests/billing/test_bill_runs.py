"""Bill runs: what a run invoices, how it groups it, and that nothing is ever billed twice.

Every figure is worked by hand in a comment: tax is per line, rounded half-up to the currency's
minor unit, and an invoice's tax is the sum of its lines' taxes.
"""

import re
from datetime import date, timedelta
from decimal import Decimal
from io import StringIO
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.db import transaction
from djmoney.money import Money
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from billing import runs
from billing.domain.subscriptions import SubscriptionTerms, subscription_charges
from billing.models import BillingEvent, BillRun, BillRunChunk, Invoice, InvoiceLine
from billing.runs import bill_run_chunk, bill_run_preview, bill_run_start
from billing.shipments import shipment_record
from contracts.models import Contract
from rms.money import round_money
from tests.billing.conftest import (
    assert_invoiced_events_billed_once,
    assert_numbers_gapless,
    billing_row_counts,
    live_lines_per_event,
    usd,
)

pytestmark = pytest.mark.django_db


def invoice_rows(invoice: Invoice) -> list[tuple]:
    return [
        (
            line.position,
            line.description,
            line.quantity,
            line.amount,
            line.tax_rate,
            line.tax_amount,
        )
        for line in invoice.lines.order_by("position")
    ]


# --- What one invoice carries --------------------------------------------------------------


def test_one_invoice_combines_a_subscription_an_activation_fee_and_a_shipment(
    customer_factory, contract_factory, contract_line_factory, activate, bill
):
    customer = customer_factory(tax_rate=Decimal("8.25"))
    contract = contract_factory(customer=customer)
    contract_line_factory(
        contract=contract,
        sequence=1,
        description="Pro seats",
        quantity=Decimal(2),
        unit_price=usd("49.99"),
    )
    contract_line_factory(
        contract=contract,
        sequence=2,
        one_time=True,
        description="Activation fee",
        unit_price=usd("150.00"),
    )
    router = contract_line_factory(
        contract=contract,
        sequence=3,
        one_time=True,
        one_time_trigger="on_shipment",
        description="Router",
        quantity=Decimal(10),
        unit_price=usd("12.50"),
    )
    activate(contract)
    shipment_record(line=router, shipped_on=date(2026, 1, 10), quantity=Decimal(4))

    run = bill(date(2026, 1, 31))

    [invoice] = Invoice.objects.all()
    assert (invoice.customer_id, invoice.currency, invoice.bill_run_id) == (
        customer.pk,
        "USD",
        run.pk,
    )
    assert (invoice.status, invoice.number, invoice.invoice_date) == (
        Invoice.Status.ISSUED,
        "INV-2026-000001",
        date(2026, 1, 31),
    )
    rate = Decimal("8.2500")
    assert invoice_rows(invoice) == [
        # 2 x 49.99 = 99.98; tax 99.98 x 8.25% = 8.24835 -> 8.25
        (
            1,
            "Pro seats: 1 Jan 2026 \u2013 31 Jan 2026",
            Decimal(2),
            usd("99.98"),
            rate,
            usd("8.25"),
        ),
        # 1 x 150.00 = 150.00; tax 150.00 x 8.25% = 12.375 -> 12.38 (half-up)
        (2, "Activation fee", Decimal(1), usd("150.00"), rate, usd("12.38")),
        # 4 x 12.50 = 50.00; tax 50.00 x 8.25% = 4.125 -> 4.13 (half-up; half-even gives 4.12)
        (3, "Router: shipped 4 (4 of 10)", Decimal(4), usd("50.00"), rate, usd("4.13")),
    ]
    # Subtotal 99.98 + 150.00 + 50.00 = 299.98; tax 8.25 + 12.38 + 4.13 = 24.76;
    # total 299.98 + 24.76 = 324.74.
    assert (invoice.subtotal, invoice.tax_total, invoice.total) == (
        usd("299.98"),
        usd("24.76"),
        usd("324.74"),
    )
    assert (run.invoices_created, run.invoices_issued, run.events_invoiced) == (1, 1, 3)


def test_tax_is_per_line_half_up_with_a_zero_rated_product_on_the_same_invoice(
    customer_factory, contract_factory, contract_line_factory, activate, bill
):
    customer = customer_factory(tax_rate=Decimal(19))
    contract = contract_factory(customer=customer)
    contract_line_factory(contract=contract, sequence=1, unit_price=usd("123.50"))
    contract_line_factory(
        contract=contract, sequence=2, one_time=True, description="Cable", unit_price=usd("1.50")
    )
    contract_line_factory(
        contract=contract,
        sequence=3,
        one_time=True,
        description="Training (exempt)",
        unit_price=usd("200.00"),
        product__tax_rate=Decimal(0),
    )
    activate(contract)

    bill(date(2026, 1, 1))

    [invoice] = Invoice.objects.all()
    assert [(row[3], row[4], row[5]) for row in invoice_rows(invoice)] == [
        # 123.50 x 19% = 23.465 -> 23.47 (half-up; banker's rounding would give 23.46)
        (usd("123.50"), Decimal(19), usd("23.47")),
        # 1.50 x 19% = 0.285 -> 0.29
        (usd("1.50"), Decimal(19), usd("0.29")),
        # the product's own 0% overrides the customer's 19%
        (usd("200.00"), Decimal(0), usd("0.00")),
    ]
    # Subtotal 123.50 + 1.50 + 200.00 = 325.00. Tax is the sum of the rounded line taxes,
    # 23.47 + 0.29 + 0.00 = 23.76 (19% of the taxable 125.00 would be 23.75); total 348.76.
    assert (invoice.subtotal, invoice.tax_total, invoice.total) == (
        usd("325.00"),
        usd("23.76"),
        usd("348.76"),
    )


def test_two_currencies_for_one_customer_make_two_invoices(
    customer_factory, contract_factory, contract_line_factory, activate, bill
):
    customer = customer_factory(currency="USD")
    dollars = contract_factory(customer=customer, currency="USD")
    euros = contract_factory(customer=customer, currency="EUR")
    contract_line_factory(contract=dollars, unit_price=usd("100.00"))
    contract_line_factory(contract=euros, unit_price=Money("80.00", "EUR"))
    activate(dollars, euros)

    run = bill(date(2026, 1, 1))

    invoices = Invoice.objects.order_by("sequence_number")
    assert [(i.customer_id, i.currency, i.total, i.number) for i in invoices] == [
        # One invoice per currency, numbered in currency order: EUR before USD.
        (customer.pk, "EUR", Money("80.00", "EUR"), "INV-2026-000001"),
        (customer.pk, "USD", usd("100.00"), "INV-2026-000002"),
    ]
    assert {line.amount.currency.code for line in invoices[0].lines.all()} == {"EUR"}
    assert run.invoices_created == 2


def test_a_run_makes_one_invoice_per_customer_whatever_the_number_of_contracts(
    customer_factory, contract_factory, contract_line_factory, activate, bill
):
    alpha, beta = customer_factory(), customer_factory()
    a1 = contract_factory(customer=alpha, number="K-A1")
    a2 = contract_factory(customer=alpha, number="K-A2")
    b1 = contract_factory(customer=beta, number="K-B1")
    contract_line_factory(contract=a2, sequence=1, unit_price=usd("50.00"), quantity=Decimal(2))
    contract_line_factory(contract=a1, sequence=1, unit_price=usd("100.00"))
    contract_line_factory(contract=b1, sequence=1, unit_price=usd("10.00"))
    activate(a1, a2, b1)

    run = bill(date(2026, 2, 1))

    assert run.invoices_created == 2
    invoice = Invoice.objects.get(customer=alpha)
    # Ordered by contract, line, period: K-A1 Jan, K-A1 Feb, K-A2 Jan, K-A2 Feb.
    assert [
        (il.contract_line.contract.number, il.period_start, il.amount)
        for il in invoice.lines.order_by("position")
    ] == [
        ("K-A1", date(2026, 1, 1), usd("100.00")),
        ("K-A1", date(2026, 2, 1), usd("100.00")),
        ("K-A2", date(2026, 1, 1), usd("100.00")),  # 2 x 50.00
        ("K-A2", date(2026, 2, 1), usd("100.00")),
    ]
    assert invoice.total == usd("400.00")
    assert Invoice.objects.get(customer=beta).total == usd("20.00")  # 2 months x 10.00


# --- Exactly once ----------------------------------------------------------------------------


def test_running_the_same_day_twice_bills_nothing_more(contract_line_factory, activate, bill):
    lines = [contract_line_factory() for _ in range(3)]
    activate(*(line.contract for line in lines))

    first = bill(date(2026, 3, 1))
    second = bill(date(2026, 3, 1))

    # Three customers x Jan, Feb, Mar.
    assert (first.invoices_created, first.events_invoiced) == (3, 9)
    assert (second.status, second.invoices_created, second.events_invoiced) == (
        BillRun.Status.COMPLETED,
        0,
        0,
    )
    assert second.chunks_total == 0
    assert Invoice.objects.count() == 3
    due = BillingEvent.objects.filter(bill_date__lte=date(2026, 3, 1))
    assert due.count() == 9
    live = live_lines_per_event()
    assert all(live[event.pk] == 1 for event in due)
    assert_invoiced_events_billed_once()


def test_a_redelivered_chunk_and_an_overlapping_run_bill_nothing_twice(
    contract_line_factory, activate, bill, django_capture_on_commit_callbacks
):
    line = contract_line_factory()
    activate(line.contract)
    # Run A is started, but its chunk task is delivered only after run B has billed everything.
    with django_capture_on_commit_callbacks(execute=False) as queued:
        run_a = bill_run_start(as_of=date(2026, 2, 1))
    run_b = bill(date(2026, 2, 1))
    for deliver in queued:
        deliver()
    run_a.refresh_from_db()

    assert (run_b.invoices_created, run_b.events_invoiced) == (1, 2)
    assert (run_a.status, run_a.invoices_created, run_a.events_invoiced) == (
        BillRun.Status.COMPLETED,
        0,
        0,
    )
    # The same chunk delivered again is left as it is.
    chunk = run_b.chunks.get()
    assert bill_run_chunk(chunk_id=chunk.pk).status == BillRunChunk.Status.DONE
    assert Invoice.objects.count() == 1
    assert InvoiceLine.objects.count() == 2
    assert_invoiced_events_billed_once()


# --- When things come due --------------------------------------------------------------------


def test_advance_bills_at_period_start_and_arrears_the_day_after_period_end(
    contract_factory, contract_line_factory, activate, bill
):
    contract = contract_factory()
    advance = contract_line_factory(contract=contract, sequence=1, unit_price=usd("100.00"))
    arrears = contract_line_factory(
        contract=contract, sequence=2, bill_timing="arrears", unit_price=usd("30.00")
    )
    activate(contract)

    def billed(run):
        return [
            (il.contract_line_id, il.period_start, il.period_end)
            for il in InvoiceLine.objects.filter(invoice__bill_run=run).order_by("position")
        ]

    # 1 Jan: January in advance; the arrears January is not finished.
    assert billed(bill(date(2026, 1, 1))) == [(advance.pk, date(2026, 1, 1), date(2026, 1, 31))]
    # 31 Jan: the last day of January is still being served: nothing is due.
    assert billed(bill(date(2026, 1, 31))) == []
    # 1 Feb: February in advance, and January in arrears.
    assert billed(bill(date(2026, 2, 1))) == [
        (advance.pk, date(2026, 2, 1), date(2026, 2, 28)),
        (arrears.pk, date(2026, 1, 1), date(2026, 1, 31)),
    ]


def test_a_calendar_bill_day_prorates_the_first_period(
    contract_factory, contract_line_factory, activate, bill
):
    contract = contract_factory(start_date=date(2026, 1, 15))
    line = contract_line_factory(
        contract=contract, unit_price=usd("100.00"), bill_day_mode="calendar_day", bill_day=1
    )
    activate(contract)

    bill(date(2026, 1, 15))
    [first] = InvoiceLine.objects.filter(contract_line=line)
    # 15-31 Jan is 17 of January's 31 days: 100.00 x 17 / 31 = 54.8387... -> 54.84.
    assert (first.period_start, first.period_end, first.amount) == (
        date(2026, 1, 15),
        date(2026, 1, 31),
        usd("54.84"),
    )
    assert first.description == (
        f"{line.product.name}: 15 Jan 2026 \u2013 31 Jan 2026 (prorated 17/31 days)"
    )

    bill(date(2026, 2, 1))
    second = InvoiceLine.objects.get(contract_line=line, period_start=date(2026, 2, 1))
    assert (second.period_end, second.amount) == (date(2026, 2, 28), usd("100.00"))


def test_yen_are_billed_in_whole_yen(
    customer_factory, contract_factory, contract_line_factory, activate, bill
):
    customer = customer_factory(currency="JPY", tax_rate=Decimal(10))
    contract = contract_factory(customer=customer, start_date=date(2026, 1, 15))
    contract_line_factory(
        contract=contract,
        sequence=1,
        quantity=Decimal(3),
        unit_price=Money("3333", "JPY"),
        bill_day_mode="calendar_day",
        bill_day=1,
    )
    contract_line_factory(
        contract=contract,
        sequence=2,
        one_time=True,
        description="Onboarding",
        unit_price=Money("12345", "JPY"),
    )
    activate(contract)

    bill(date(2026, 1, 15))

    [invoice] = Invoice.objects.all()
    yen = [(row[3], row[5]) for row in invoice_rows(invoice)]
    assert yen == [
        # 3 x 3,333 = 9,999 a month; 17/31 of it = 169,983 / 31 = 5,483.32 -> 5,483;
        # tax 10% = 548.3 -> 548.
        (Money(5483, "JPY"), Money(548, "JPY")),
        # 12,345; tax 10% = 1,234.5 -> 1,235 (half-up).
        (Money(12345, "JPY"), Money(1235, "JPY")),
    ]
    # Subtotal 5,483 + 12,345 = 17,828; tax 548 + 1,235 = 1,783; total 19,611.
    assert (invoice.subtotal, invoice.tax_total, invoice.total) == (
        Money(17828, "JPY"),
        Money(1783, "JPY"),
        Money(19611, "JPY"),
    )
    for money in [
        invoice.subtotal,
        invoice.tax_total,
        invoice.total,
        *(m for row in yen for m in row),
    ]:
        assert money.amount == money.amount.to_integral_value()


# --- Review or issue -------------------------------------------------------------------------


def test_review_mode_leaves_drafts_and_a_customer_can_opt_out(
    customer_factory, contract_line_factory, activate, bill, settings
):
    settings.RMS_INVOICE_REVIEW = True
    reviewed = contract_line_factory(contract__customer=customer_factory())
    straight = contract_line_factory(contract__customer=customer_factory(invoice_review="issue"))
    activate(reviewed.contract, straight.contract)

    run = bill(date(2026, 1, 1))

    draft = Invoice.objects.get(customer=reviewed.contract.customer)
    assert (draft.status, draft.number, draft.sequence_number, draft.issue_date) == (
        Invoice.Status.DRAFT,
        "",
        None,
        None,
    )
    assert draft.total == usd("100.00")
    issued = Invoice.objects.get(customer=straight.contract.customer)
    assert (issued.status, issued.number) == (Invoice.Status.ISSUED, "INV-2026-000001")
    assert (run.invoices_created, run.invoices_issued) == (2, 1)
    # The draft's event is taken: a second run does not bill it again.
    assert bill(date(2026, 1, 1)).invoices_created == 0


def test_a_customer_set_to_review_gets_drafts_when_the_installation_issues(
    customer_factory, contract_line_factory, activate, bill, settings
):
    settings.RMS_INVOICE_REVIEW = False
    reviewed = contract_line_factory(contract__customer=customer_factory(invoice_review="review"))
    default = contract_line_factory(contract__customer=customer_factory())
    activate(reviewed.contract, default.contract)

    bill(date(2026, 1, 1))

    assert Invoice.objects.get(customer=reviewed.contract.customer).status == "draft"
    assert Invoice.objects.get(customer=default.contract.customer).number == "INV-2026-000001"


# --- Preview (dry run) and the command -------------------------------------------------------


def proposal_key(proposal) -> tuple:
    return (
        proposal.customer_id,
        proposal.currency,
        proposal.subtotal,
        proposal.tax_total,
        proposal.total,
        tuple((pl.charge.description, pl.charge.amount, pl.tax_amount) for pl in proposal.lines),
    )


def invoice_key(invoice: Invoice) -> tuple:
    return (
        invoice.customer_id,
        invoice.currency,
        invoice.subtotal,
        invoice.tax_total,
        invoice.total,
        tuple(
            (il.description, il.amount, il.tax_amount) for il in invoice.lines.order_by("position")
        ),
    )


def test_the_preview_shows_what_the_run_then_creates_and_writes_nothing(
    customer_factory, contract_factory, contract_line_factory, activate, bill
):
    # A: activated (schedule materialized): Jan-Mar at 100.00 and a 50.00 fee, taxed at 19%.
    a = contract_factory(customer=customer_factory(tax_rate=Decimal(19)))
    contract_line_factory(contract=a, sequence=1, unit_price=usd("100.00"))
    contract_line_factory(
        contract=a, sequence=2, one_time=True, description="Fee", unit_price=usd("50.00")
    )
    activate(a)
    # B: active but never scheduled (say, imported): 3 x 30.00 in arrears, Jan and Feb due.
    b = contract_factory(status=Contract.Status.ACTIVE)
    contract_line_factory(
        contract=b, bill_timing="arrears", quantity=Decimal(3), unit_price=usd("30.00")
    )
    # C: never scheduled, customer on billing hold: Jan-Mar held.
    c = contract_factory(status=Contract.Status.ACTIVE, customer__billing_hold=True)
    contract_line_factory(contract=c)
    # D: activated, contract on billing hold: Jan-Mar held.
    d = contract_factory(billing_hold=True)
    contract_line_factory(contract=d)
    activate(d)
    as_of = date(2026, 3, 1)

    before = billing_row_counts()
    proposals, held = bill_run_preview(as_of=as_of)
    assert billing_row_counts() == before

    by_customer = {p.customer_id: p for p in proposals}
    assert set(by_customer) == {a.customer_id, b.customer_id}
    # A: 3 x 100.00 + 50.00 = 350.00; tax 3 x 19.00 + 9.50 = 66.50; total 416.50.
    assert by_customer[a.customer_id].total == usd("416.50")
    # B: Jan and Feb in arrears, 2 x (3 x 30.00) = 180.00, no tax.
    assert by_customer[b.customer_id].total == usd("180.00")
    assert held == 6  # C's 3 + D's 3

    run = bill(as_of)

    created = Invoice.objects.filter(bill_run=run).order_by("customer_id", "currency")
    assert [invoice_key(i) for i in created] == [proposal_key(p) for p in proposals]
    assert run.events_held == held


def test_run_billing_dry_run_prints_the_invoices_and_writes_nothing(
    contract_line_factory, activate
):
    line = contract_line_factory(contract__customer__tax_rate=Decimal(10))
    activate(line.contract)
    before = billing_row_counts()
    out = StringIO()

    call_command("run_billing", "--dry-run", "--as-of", "2026-02-01", stdout=out)

    assert billing_row_counts() == before
    text = out.getvalue()
    assert "Dry run as of 2026-02-01: nothing is written." in text
    match = re.search(
        rf"customer {line.contract.customer_id} USD: (\d+) lines, subtotal ([\d.]+), "
        r"tax ([\d.]+), total ([\d.]+)",
        text,
    )
    assert match, text
    # Jan and Feb at 100.00: subtotal 200.00, tax 10% = 20.00, total 220.00.
    assert int(match[1]) == 2
    assert [Decimal(match[i]) for i in (2, 3, 4)] == [Decimal(200), Decimal(20), Decimal(220)]
    assert "1 invoices would be created; 0 due events held." in text


@pytest.mark.django_db(transaction=True)
def test_run_billing_as_of_bills_and_reports_the_run(contract_line_factory, activate):
    # A real commit (no test transaction), so the chunks run as they do in production.
    line = contract_line_factory(unit_price=usd("100.00"))
    held = contract_line_factory(contract__billing_hold=True)
    activate(line.contract, held.contract)
    out = StringIO()

    call_command("run_billing", "--as-of", "2026-02-01", stdout=out)

    run = BillRun.objects.get()
    assert out.getvalue().strip() == (
        f"Bill run #{run.pk} as of 2026-02-01: completed; 1 invoices (1 issued) billing 2 "
        "events in 1 chunks; 2 due events on billing hold."
    )
    assert (run.triggered_by, run.status) == ("manage.py run_billing", BillRun.Status.COMPLETED)
    [invoice] = Invoice.objects.all()
    assert (invoice.customer_id, invoice.total, invoice.number) == (
        line.contract.customer_id,
        usd("200.00"),
        "INV-2026-000001",
    )


# --- The run record and its chunks -----------------------------------------------------------


def test_the_run_records_its_chunks_and_bills_every_customer_once(
    contract_line_factory, activate, bill, monkeypatch
):
    monkeypatch.setattr(runs, "CHUNK_SIZE", 2)
    lines = [contract_line_factory(unit_price=usd(f"{10 * (n + 1)}.00")) for n in range(5)]
    activate(*(line.contract for line in lines))
    customer_ids = sorted(line.contract.customer_id for line in lines)

    run = bill(date(2026, 2, 1))

    assert run.status == BillRun.Status.COMPLETED
    assert run.finished_at is not None and run.errors == []
    # Five customers in chunks of two: [1, 2], [3, 4], [5]; each bills Jan and Feb.
    assert (run.chunks_total, run.chunks_done) == (3, 3)
    assert (run.invoices_created, run.invoices_issued, run.events_invoiced) == (5, 5, 10)
    assert run.events_held == 0
    chunks = list(run.chunks.order_by("index"))
    assert [c.customer_ids for c in chunks] == [
        customer_ids[0:2],
        customer_ids[2:4],
        customer_ids[4:],
    ]
    assert [(c.status, c.invoices_created, c.events_invoiced) for c in chunks] == [
        ("done", 2, 4),
        ("done", 2, 4),
        ("done", 1, 2),
    ]
    invoices = Invoice.objects.filter(bill_run=run).order_by("sequence_number")
    assert [i.customer_id for i in invoices] == customer_ids
    # Customer n pays 2 x 10n: 20.00, 40.00, 60.00, 80.00, 100.00.
    totals = {line.contract.customer_id: line.unit_price * 2 for line in lines}
    assert {i.customer_id: i.total for i in invoices} == totals
    assert assert_numbers_gapless() == [f"INV-2026-{n:06d}" for n in range(1, 6)]
    assert_invoiced_events_billed_once()


def test_a_chunk_that_dies_midway_bills_nothing_and_the_next_run_bills_only_it(
    contract_line_factory, activate, bill, monkeypatch
):
    monkeypatch.setattr(runs, "CHUNK_SIZE", 1)
    first, second, third = (
        contract_line_factory(unit_price=usd(price)) for price in ("100.00", "200.00", "300.00")
    )
    activate(first.contract, second.contract, third.contract)
    real_issue = runs.invoices_issue
    calls = []

    def issue_then_die_in_the_second_chunk(**kwargs):
        calls.append(kwargs)
        issued = real_issue(**kwargs)  # numbers are taken before the worker dies
        if len(calls) == 2:
            raise RuntimeError("worker lost mid-chunk")
        return issued

    monkeypatch.setattr(runs, "invoices_issue", issue_then_die_in_the_second_chunk)
    as_of = date(2026, 2, 1)

    crashed = bill(as_of)

    assert crashed.status == BillRun.Status.FAILED
    assert crashed.errors == [{"index": 1, "error": "RuntimeError: worker lost mid-chunk"}]
    assert (crashed.chunks_total, crashed.chunks_done) == (3, 2)
    assert (crashed.invoices_created, crashed.events_invoiced) == (2, 4)
    failed = crashed.chunks.get(index=1)
    assert (failed.status, failed.customer_ids) == ("failed", [second.contract.customer_id])
    # Chunks 0 and 2 kept their invoices; chunk 1 rolled back whole, its number included.
    assert dict(Invoice.objects.values_list("customer_id", "number")) == {
        first.contract.customer_id: "INV-2026-000001",
        third.contract.customer_id: "INV-2026-000002",
    }
    assert set(
        second.billing_events.filter(bill_date__lte=as_of).values_list("status", flat=True)
    ) == {BillingEvent.Status.PENDING}
    assert not InvoiceLine.objects.filter(contract_line=second).exists()

    monkeypatch.setattr(runs, "invoices_issue", real_issue)
    retry = bill(as_of)

    assert (retry.status, retry.invoices_created, retry.events_invoiced) == ("completed", 1, 2)
    [invoice] = retry.invoices.all()
    # The second customer's Jan and Feb: 2 x 200.00 = 400.00, on the next free number.
    assert (invoice.customer_id, invoice.total, invoice.number) == (
        second.contract.customer_id,
        usd("400.00"),
        "INV-2026-000003",
    )
    assert not BillingEvent.objects.filter(bill_date__lte=as_of, status="pending").exists()
    assert_invoiced_events_billed_once()
    assert assert_numbers_gapless() == [f"INV-2026-{n:06d}" for n in range(1, 4)]


# --- Property: any small book, any run dates -------------------------------------------------

subscription_terms = st.fixed_dictionaries(
    {
        "quantity": st.decimals(Decimal("0.01"), Decimal("20.00"), places=2),
        "unit_price": st.decimals(Decimal("0.01"), Decimal("999.99"), places=2),
        "interval_months": st.sampled_from([1, 3, 12]),
        "bill_timing": st.sampled_from(["advance", "arrears"]),
        "bill_day": st.none() | st.just(1) | st.integers(1, 31),
        # Often on the 1st of a month, so that periods end on the month ends drawn below.
        "start_offset": st.integers(0, 330)
        | st.sampled_from([(date(2026, m, 1) - date(2026, 1, 1)).days for m in range(1, 12)]),
        "length_days": st.integers(0, 540),
    }
)
customers = st.fixed_dictionaries(
    {
        "tax_rate": st.sampled_from([Decimal(0), Decimal("7.25"), Decimal(19)]),
        "held": st.sampled_from([False, False, False, True]),
        "lines": st.lists(subscription_terms, min_size=1, max_size=3),
    }
)
# Any day of 2026, with month ends and firsts drawn often: bills fall due on period boundaries.
MONTH_BOUNDARIES_2026 = sorted(
    {date(2026, m, 1) for m in range(1, 13)}
    | {date(2026, m, 1) - timedelta(days=1) for m in range(2, 13)}
    | {date(2026, 12, 31)}
)
run_dates = st.lists(
    st.dates(date(2026, 1, 1), date(2026, 12, 31)) | st.sampled_from(MONTH_BOUNDARIES_2026),
    min_size=1,
    max_size=4,
    unique=True,
).map(sorted)


class _Rollback(Exception):
    """Raised to roll an example's rows back, so examples do not see each other's."""


@hypothesis_settings(
    suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=25, deadline=None
)
@given(book=st.lists(customers, min_size=1, max_size=4), as_ofs=run_dates)
def test_any_book_is_billed_exactly_once_and_invoices_add_up(
    book, as_ofs, customer_factory, contract_factory, contract_line_factory, activate, bill
):
    factories = SimpleNamespace(
        customer=customer_factory, contract=contract_factory, line=contract_line_factory
    )
    try:
        with transaction.atomic():
            check_book(book, as_ofs, factories, activate, bill)
            raise _Rollback
    except _Rollback:
        pass


def check_book(book, as_ofs, factories, activate, bill):
    """Build the book, bill it on each date in turn, and check the invariants."""
    origin = date(2026, 1, 1)
    expected: dict[int, Money] = {}  # contract line -> what it must have billed by the end
    held_lines = set()
    for spec in book:
        customer = factories.customer(tax_rate=spec["tax_rate"], billing_hold=spec["held"])
        terms = [
            (
                origin + timedelta(days=t["start_offset"]),
                origin + timedelta(days=t["start_offset"] + t["length_days"]),
                t,
            )
            for t in spec["lines"]
        ]
        contract = factories.contract(
            customer=customer, start_date=origin, end_date=max(end for _, end, _ in terms)
        )
        for sequence, (start, end, t) in enumerate(terms, start=1):
            line = factories.line(
                contract=contract,
                sequence=sequence,
                quantity=t["quantity"],
                unit_price=usd(t["unit_price"]),
                service_start=start,
                service_end=end,
                interval_months=t["interval_months"],
                bill_timing=t["bill_timing"],
                bill_day_mode="anniversary" if t["bill_day"] is None else "calendar_day",
                bill_day=t["bill_day"],
            )
            # The pure schedule is the oracle: what falls due on or before the last run.
            charges = subscription_charges(
                SubscriptionTerms(
                    service_start=start,
                    service_end=end,
                    interval_months=t["interval_months"],
                    bill_day=t["bill_day"],
                    timing=t["bill_timing"],
                    quantity=t["quantity"],
                    unit_price=t["unit_price"],
                    currency="USD",
                ),
                through=as_ofs[-1] + timedelta(days=1),
            )
            expected[line.pk] = sum((c.amount for c in charges), usd("0"))
            if spec["held"]:
                held_lines.add(line.pk)
        activate(contract)

    for as_of in as_ofs:
        run = bill(as_of)
        assert run.status == BillRun.Status.COMPLETED
        # Nothing billed ahead of its date: an advance period not before it starts, an arrears
        # period not before its last day has been served.
        assert not InvoiceLine.objects.filter(
            invoice__bill_run=run, event__bill_date__gt=as_of
        ).exists()
        for il in InvoiceLine.objects.filter(invoice__bill_run=run).select_related("contract_line"):
            if il.contract_line.bill_timing == "arrears":
                assert il.period_end < as_of, il
            else:
                assert il.period_start <= as_of, il
        # What the holds keep back is counted, never billed.
        assert (
            run.events_held
            == BillingEvent.objects.filter(
                customer__billing_hold=True, bill_date__lte=as_of
            ).count()
        )

    last = as_ofs[-1]
    live = live_lines_per_event()
    for event in BillingEvent.objects.select_related("customer"):
        if event.bill_date <= last and not event.customer.billing_hold:
            assert live[event.pk] == 1, event
        else:
            assert live[event.pk] == 0, event
            assert event.status == BillingEvent.Status.PENDING
    for invoice in Invoice.objects.prefetch_related("lines"):
        lines = list(invoice.lines.all())
        assert invoice.subtotal == sum((il.amount for il in lines), usd("0"))
        assert invoice.tax_total == sum((il.tax_amount for il in lines), usd("0"))
        assert invoice.total == invoice.subtotal + invoice.tax_total
        for il in lines:
            assert il.tax_amount == round_money(il.amount.amount * il.tax_rate / 100, "USD")
            assert il.amount == il.event.amount
    billed: dict[int, Money] = {}
    for il in InvoiceLine.objects.filter(voided=False):
        billed[il.contract_line_id] = billed.get(il.contract_line_id, usd("0")) + il.amount
    for line_id, amount in expected.items():
        assert billed.get(line_id, usd("0")) == (usd("0") if line_id in held_lines else amount)
    assert_invoiced_events_billed_once()
    assert_numbers_gapless()
