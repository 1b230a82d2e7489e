"""Usage billing through the bill run: periods rated in arrears, late usage, explainability.

Worked by hand: an API plan with 1,000 calls included a month and 0.01 per call beyond, and
1,042 calls in January, bills 42 x 0.01 = 0.42 on 1 February.
"""

import io
import re
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader

from billing import runs
from billing.documents import invoice_pdf
from billing.invoicing import invoice_issue
from billing.models import BillingEvent, InvoiceLine, RatePlan, RateTier, UsageRecord
from billing.runs import bill_run_preview
from billing.usage_rating import usage_rate_due
from contracts.services import hold_set
from tests.billing.conftest import assert_invoiced_events_billed_once, billing_row_counts, usd

pytestmark = pytest.mark.django_db

JANUARY = "1 Jan 2026 \u2013 31 Jan 2026"
OVERAGE = {"kind": RatePlan.Kind.OVERAGE, "included_quantity": 1000, "unit_price": "0.01"}


@pytest.fixture
def usage_line(customer_factory, contract_factory, contract_line_factory, activate):
    """Return a function making an active 2026 contract with one usage line on a rate plan."""

    def make(tiers=(), **plan):
        contract = contract_factory(customer=customer_factory())
        line = contract_line_factory(contract=contract, usage=True, description="API calls")
        rate_plan = RatePlan.objects.create(line=line, **plan)
        for sequence, (up_to, unit_price) in enumerate(tiers, start=1):
            RateTier.objects.create(
                plan=rate_plan, sequence=sequence, up_to=up_to, unit_price=unit_price
            )
        activate(contract)
        line.refresh_from_db()
        return line

    return make


def record(line, quantity, when: datetime, key: str | None = None) -> UsageRecord:
    return UsageRecord.objects.create(
        line=line,
        customer=line.contract.customer,
        quantity=Decimal(quantity),
        occurred_at=when,
        idempotency_key=key or f"{line.pk}-{when.isoformat()}-{quantity}",
        payload_hash="0" * 64,
    )


def at(day: int, month: int = 1, hour: int = 12) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=ZoneInfo("UTC"))


def usage_lines(line) -> list[InvoiceLine]:
    return list(
        InvoiceLine.objects.filter(contract_line=line, event__kind=BillingEvent.Kind.USAGE)
        .select_related("event", "invoice")
        .order_by("invoice__invoice_date", "position")
    )


def test_overage_is_billed_the_day_after_the_period_with_its_breakdown(usage_line, bill):
    line = usage_line(**OVERAGE)
    january = [record(line, 1000, at(5)), record(line, 42, at(31, hour=23))]
    february = record(line, 7, at(1, month=2, hour=0))

    assert bill(date(2026, 1, 31)).invoices_created == 0  # January has not ended yet
    run = bill(date(2026, 2, 1))

    (invoice_line,) = usage_lines(line)
    assert run.invoices_created == 1
    assert invoice_line.amount == usd("0.42")
    assert invoice_line.quantity == 1042
    assert JANUARY in invoice_line.description
    assert invoice_line.breakdown == [
        {
            "description": "Overage beyond 1000 included",
            "quantity": "42",
            "unit_price": "0.01",
            "amount": "0.42",
        }
    ]
    billed = set(invoice_line.event.usage_records.values_list("pk", flat=True))
    assert billed == {r.pk for r in january}
    february.refresh_from_db()
    assert february.billed_event is None  # February's period has not ended


def test_graduated_tiers_across_a_boundary(usage_line, bill):
    line = usage_line(
        kind=RatePlan.Kind.GRADUATED, tiers=[(Decimal(100), Decimal("1.00")), (None, "0.50")]
    )
    record(line, 150, at(10))

    bill(date(2026, 2, 1))

    (invoice_line,) = usage_lines(line)
    # 100 x 1.00 + 50 x 0.50
    assert invoice_line.amount == usd("125.00")
    assert [(r["quantity"], r["amount"]) for r in invoice_line.breakdown] == [
        ("100", "100.00"),
        ("50", "25.00"),
    ]


def test_a_minimum_with_no_usage_bills_only_the_true_up(usage_line, bill):
    line = usage_line(kind=RatePlan.Kind.PER_UNIT, unit_price="0.10", minimum_charge=50)

    invoice = bill(date(2026, 2, 1)).invoices.get()

    (true_up,) = invoice.lines.all()
    assert true_up.amount == usd("50.00")
    assert "minimum commitment" in true_up.description
    assert true_up.event.source_key == "usage:2026-01-01:minimum"
    # The zero usage charge records that January is rated, but is on no invoice.
    charge = BillingEvent.objects.get(line=line, source_key="usage:2026-01-01")
    assert (charge.amount, charge.status) == (usd("0"), BillingEvent.Status.PENDING)


def test_late_usage_after_invoicing_is_an_adjustment_in_the_next_run(usage_line, bill):
    line = usage_line(**OVERAGE)
    record(line, 1042, at(5))
    bill(date(2026, 2, 1))
    late = record(line, 100, at(20))

    run = bill(date(2026, 3, 1))

    adjustment = InvoiceLine.objects.get(invoice__bill_run=run, contract_line=line)
    # January re-rated: 142 x 0.01 = 1.42, less the 0.42 already billed.
    assert adjustment.amount == usd("1.00")
    assert adjustment.description == f"API calls: usage adjustment for {JANUARY}: late records"
    assert (adjustment.period_start, adjustment.period_end) == (date(2026, 1, 1), date(2026, 1, 31))
    assert adjustment.breakdown[-1] == {
        "description": f"Already billed for {JANUARY}",
        "quantity": "1",
        "unit_price": "-0.42",
        "amount": "-0.42",
    }
    assert adjustment.event.source_key == "usage:2026-01-01:adjustment:1"
    assert list(adjustment.event.usage_records.all()) == [late]
    assert_invoiced_events_billed_once()


def test_late_usage_before_invoicing_rewrites_the_pending_charge(usage_line, bill):
    line = usage_line(**OVERAGE)
    record(line, 1042, at(5))
    usage_rate_due(as_of=date(2026, 2, 1))  # rated, not yet invoiced
    record(line, 8, at(6))

    bill(date(2026, 2, 1))

    (invoice_line,) = usage_lines(line)
    assert (invoice_line.quantity, invoice_line.amount) == (1050, usd("0.50"))
    assert invoice_line.event.usage_records.count() == 2
    assert BillingEvent.objects.filter(line=line).count() == 1


def test_reruns_and_later_runs_bill_nothing_twice(usage_line, bill):
    line = usage_line(**OVERAGE, minimum_charge=5)
    record(line, 1042, at(5))
    bill(date(2026, 2, 1))
    after_first = billing_row_counts()

    assert usage_rate_due(as_of=date(2026, 2, 1)) == 0
    assert bill(date(2026, 2, 1)).invoices_created == 0
    assert bill(date(2026, 2, 15)).invoices_created == 0

    counts = billing_row_counts()
    assert counts["billing.Invoice"] == after_first["billing.Invoice"]
    assert counts["billing.BillingEvent"] == after_first["billing.BillingEvent"]
    assert [line.amount for line in usage_lines(line)] == [usd("0.42"), usd("4.58")]
    assert_invoiced_events_billed_once()


def test_a_usage_line_on_billing_hold_waits(usage_line, bill):
    line = usage_line(**OVERAGE)
    record(line, 1500, at(5))
    hold_set(target=line.contract, kind="billing_hold", on=True, reason="disputed")

    run = bill(date(2026, 2, 1))

    assert (run.invoices_created, run.events_held) == (0, 1)
    hold_set(target=line.contract, kind="billing_hold", on=False)
    bill(date(2026, 2, 2))
    assert [line.amount for line in usage_lines(line)] == [usd("5.00")]


def test_each_chunk_rates_its_own_customers_so_a_failed_chunk_leaves_only_its_usage(
    usage_line, bill, monkeypatch
):
    monkeypatch.setattr(runs, "CHUNK_SIZE", 1)
    first, second = usage_line(**OVERAGE), usage_line(**OVERAGE)
    record(first, 1042, at(5))
    late_sender = record(second, 1100, at(6))
    real_rate = runs.usage_rate_customers

    def die_rating_the_second(**kwargs):
        if kwargs["customer_ids"] == [second.contract.customer_id]:
            raise RuntimeError("worker lost while rating")
        return real_rate(**kwargs)

    monkeypatch.setattr(runs, "usage_rate_customers", die_rating_the_second)

    crashed = bill(date(2026, 2, 1))

    # One chunk per customer, though neither had anything due before its usage was rated.
    assert (crashed.chunks_total, crashed.chunks_done, crashed.invoices_created) == (2, 1, 1)
    assert [line.amount for line in usage_lines(first)] == [usd("0.42")]
    assert not second.billing_events.exists()  # its chunk rolled back, rating included
    late_sender.refresh_from_db()
    assert late_sender.billed_event is None

    monkeypatch.setattr(runs, "usage_rate_customers", real_rate)
    retry = bill(date(2026, 2, 1))

    assert (retry.status, retry.invoices_created) == ("completed", 1)
    assert [line.amount for line in usage_lines(second)] == [usd("1.00")]
    assert [line.amount for line in usage_lines(first)] == [usd("0.42")]  # not billed again
    assert_invoiced_events_billed_once()


def test_the_preview_shows_the_usage_a_run_would_bill_and_writes_nothing(usage_line, bill):
    line = usage_line(**OVERAGE)
    record(line, 1042, at(5))
    before = billing_row_counts()

    (proposal,), held = bill_run_preview(as_of=date(2026, 2, 1))

    assert billing_row_counts() == before
    assert [(c.charge.amount, c.charge.breakdown[0]["quantity"]) for c in proposal.lines] == [
        (usd("0.42"), "42")
    ]
    assert held == 0


def pdf_text(data: bytes) -> str:
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    return re.sub(r"\s+", " ", text)


def test_the_invoice_pdf_prints_the_tier_rows(usage_line, bill):
    line = usage_line(
        kind=RatePlan.Kind.GRADUATED, tiers=[(Decimal(100), Decimal("1.00")), (None, "0.50")]
    )
    record(line, 150, at(10))
    invoice = bill(date(2026, 2, 1)).invoices.get()
    if invoice.status == invoice.Status.DRAFT:
        invoice = invoice_issue(invoice=invoice, issue_date=date(2026, 2, 1))

    text = pdf_text(invoice_pdf(invoice))

    assert "Tier 1 (0 to 100): 100 \u00d7 1 = $100.00" in text
    assert "Tier 2 (100 and above): 50 \u00d7 0.5 = $25.00" in text


def test_the_admin_links_an_invoice_line_to_exactly_the_records_it_billed(
    usage_line, bill, staff_client
):
    line = usage_line(**OVERAGE)
    billed = [record(line, 600, at(5)), record(line, 442, at(9))]
    record(line, 5, at(3, month=2))  # not billed yet
    invoice = bill(date(2026, 2, 1)).invoices.get()
    (invoice_line,) = usage_lines(line)

    page = staff_client.get(f"/admin/billing/invoice/{invoice.pk}/change/").content.decode()
    link = re.search(r'href="([^"]*usagerecord/\?billed_event__id__exact=\d+)"', page)
    listing = staff_client.get(link.group(1).replace("&amp;", "&"))

    assert "Overage beyond 1000 included: 42 &times; 0.01 = 0.42" in page
    assert listing.status_code == 200
    assert {r.pk for r in listing.context["cl"].result_list} == {r.pk for r in billed}
    assert invoice_line.event_id == int(link.group(1).rsplit("=", 1)[1])


def test_the_rate_plan_admin_names_the_tier_at_fault(
    contract_line_factory, staff_client, customer_factory, contract_factory
):
    line = contract_line_factory(contract=contract_factory(customer=customer_factory()), usage=True)
    form = {
        "line": line.pk,
        "kind": RatePlan.Kind.VOLUME,
        "tiers-TOTAL_FORMS": 2,
        "tiers-INITIAL_FORMS": 0,
        "tiers-0-sequence": 1,
        "tiers-0-up_to": "100",
        "tiers-0-unit_price": "1",
        "tiers-0-flat_fee": "0",
        "tiers-1-sequence": 2,
        "tiers-1-up_to": "50",
        "tiers-1-unit_price": "0.5",
        "tiers-1-flat_fee": "0",
    }

    response = staff_client.post("/admin/billing/rateplan/add/", form)

    assert response.status_code == 200
    assert "Tier 2 is the last: leave its upper bound empty." in response.content.decode()
    assert not RatePlan.objects.exists()
    form["tiers-1-up_to"] = ""
    response = staff_client.post("/admin/billing/rateplan/add/", form)
    assert response.status_code == 302
    assert RatePlan.objects.get().tiers.count() == 2


def test_late_usage_that_lowers_a_volume_charge_is_not_invoiced_negative(usage_line, bill):
    # Volume tiers: up to 1,000 at 0.10, above at 0.05. January's 900 calls bill 90.00; 200
    # late calls move all 1,100 to 0.05: 55.00, 35.00 less than billed.
    line = usage_line(tiers=[(1000, "0.10"), (None, "0.05")], kind=RatePlan.Kind.VOLUME)
    record(line, 900, at(10))
    bill(date(2026, 2, 1))
    record(line, 200, at(20))

    run = bill(date(2026, 3, 1))

    adjustment = BillingEvent.objects.get(line=line, source_key__contains="adjustment")
    assert (adjustment.amount, adjustment.status) == (usd("-35.00"), BillingEvent.Status.PENDING)
    # No invoice carries it: finance gives the 35.00 back with a credit note.
    assert not InvoiceLine.objects.filter(event=adjustment).exists()
    assert run.invoices.filter(total__lt=0).count() == 0
