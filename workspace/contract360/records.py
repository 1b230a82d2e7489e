"""The contract's billing records as its 360 page lists them, each read in one query.

An invoice belongs to a customer and may carry several contracts' lines, so the contract's
invoices are those with a line of it, and each shows the contract's share beside its total;
credit notes likewise. Query counts do not grow with the contract: every list is one query
(with its joins or one prefetch), never one per row.
"""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db.models import Count, Prefetch, Q, Sum
from djmoney.money import Money

from billing.models import BillingEvent, CreditNote, Invoice, InvoiceLine, PaymentApplication
from contracts.models import Contract
from rms.money import round_money

# The schedule shows this many billed periods back and due periods ahead; the links under it
# open the whole schedule in the billing events list.
SCHEDULE_ROWS = 12

Event = BillingEvent.Status


@dataclass(frozen=True)
class ScheduleTally:
    """The contract's billing events of one status: how many and how much."""

    status: str
    label: str
    count: int
    amount: Money


@dataclass(frozen=True)
class BillingSchedule:
    """What the contract billed lately and what comes due next, with the totals per status."""

    billed: list[BillingEvent]  # newest first, each with ``invoice`` set (None if voided)
    due: list[BillingEvent]  # soonest first
    tallies: list[ScheduleTally]
    held: ScheduleTally  # due by today but kept back by a billing hold


def billing_schedule(contract: Contract, *, today: date, held: bool) -> BillingSchedule:
    """Read the last billed periods, the next due ones and the totals per status (4 queries).

    What a billing hold keeps back is what is pending and due by ``today`` while the contract
    or its customer is held: summed in the database, as are the totals.
    """
    events = BillingEvent.objects.filter(contract=contract)
    live_lines = InvoiceLine.objects.filter(voided=False).select_related("invoice")
    billed = list(
        events.filter(status=Event.INVOICED)
        .prefetch_related(Prefetch("invoice_lines", queryset=live_lines, to_attr="live_lines"))
        .order_by("-bill_date", "-line__sequence")[:SCHEDULE_ROWS]
    )
    for event in billed:
        event.invoice = event.live_lines[0].invoice if event.live_lines else None
    due = events.filter(status=Event.PENDING).order_by("bill_date", "line__sequence")
    due_by_today = Q(bill_date__lte=today)
    sums = {
        row["status"]: row
        for row in events.values("status")
        .annotate(
            count=Count("pk"),
            total=Sum("amount"),
            due_count=Count("pk", filter=due_by_today),
            due_total=Sum("amount", filter=due_by_today),
        )
        .order_by()
    }
    pending = sums.get(Event.PENDING, {}) if held else {}

    def tally(status: str, label: str, count: int | None, total: Decimal | None) -> ScheduleTally:
        return ScheduleTally(
            status, label, count or 0, round_money(total or Decimal(0), contract.currency)
        )

    def of_status(status: str, label: str) -> ScheduleTally:
        row = sums.get(status, {})
        return tally(status, label, row.get("count"), row.get("total"))

    return BillingSchedule(
        billed=billed,
        due=list(due[:SCHEDULE_ROWS]),
        tallies=[of_status(Event.INVOICED, "Billed"), of_status(Event.PENDING, "Still to bill")],
        held=tally("held", "Held", pending.get("due_count"), pending.get("due_total")),
    )


@dataclass(frozen=True)
class InvoiceRow:
    """An invoice with a line of the contract: the contract's share and what is still open."""

    invoice: Invoice
    share: Money

    @property
    def open(self) -> Money:
        invoice = self.invoice
        if invoice.status in (Invoice.Status.DRAFT, Invoice.Status.VOID):
            return Money(0, invoice.total.currency)
        return round_money(invoice.balance_due)


def contract_invoices(contract: Contract) -> list[InvoiceRow]:
    """Return the invoices billing the contract, newest first, with its share (net of tax)."""
    invoices = (
        Invoice.objects.filter(lines__contract_line__contract=contract)
        .annotate(share=Sum("lines__amount"))
        .order_by("-invoice_date", "-pk")
    )
    return [
        InvoiceRow(invoice, round_money(invoice.share, contract.currency)) for invoice in invoices
    ]


@dataclass(frozen=True)
class CreditRow:
    credit_note: CreditNote
    share: Money


def contract_credit_notes(contract: Contract) -> list[CreditRow]:
    """Return the credit notes taking back the contract's invoice lines, with its share."""
    notes = (
        CreditNote.objects.filter(lines__invoice_line__contract_line__contract=contract)
        .annotate(share=Sum("lines__amount"))
        .select_related("invoice")
        .order_by("-issue_date", "-pk")
    )
    return [CreditRow(note, round_money(note.share, contract.currency)) for note in notes]


def invoice_payments(invoices: list[InvoiceRow]) -> list[PaymentApplication]:
    """Return the payments applied to these invoices, newest first (one query)."""
    if not invoices:
        return []
    return list(
        PaymentApplication.objects.filter(invoice__in=[row.invoice.pk for row in invoices])
        .select_related("payment", "invoice")
        .order_by("-applied_on", "-pk")
    )


@dataclass(frozen=True)
class Holds:
    """The holds over the contract: its own and its customer's, billing and delivery."""

    contract: Contract

    @property
    def active(self) -> list[tuple[str, str, str]]:
        """(whose, which hold, reason) for each hold in force."""
        found = []
        for whose, holder in (("Contract", self.contract), ("Customer", self.contract.customer)):
            for flag, label in (("billing_hold", "billing"), ("delivery_hold", "delivery")):
                if getattr(holder, flag):
                    found.append((whose, label, holder.hold_reason or "no reason given"))
        return found

    @property
    def billing_held(self) -> bool:
        return self.contract.billing_hold or self.contract.customer.billing_hold


def delivery_held(invoices: list[InvoiceRow]) -> list[Invoice]:
    """The contract's issued invoices that a delivery hold keeps from being sent."""
    return [row.invoice for row in invoices if row.invoice.delivery_held]


def amendments(contract: Contract) -> dict:
    """The contract's modifications, change orders and renewals (three queries)."""
    return {
        "modifications": list(contract.modifications.order_by("-effective_date", "-pk")),
        "change_orders": list(contract.change_orders.order_by("-created_at", "-pk")),
        "renewals": list(contract.renewals.order_by("-renewed_at", "-pk")),
    }
