"""Where each milestone stands in billing: planned, awaiting approval, invoiced (and by which
invoice), stopped by the not-to-exceed cap, kept back by a billing hold, or pending.

One reading for every reader (the API, the admin widget, the notification emails), in a fixed
number of queries for any number of milestones.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from billing.milestone_events import SOURCE_PREFIX
from billing.models import BillingEvent, Invoice, InvoiceLine
from contracts.models import Milestone


class BillingState:
    """What became of a milestone."""

    PLANNED = "planned"
    CANCELLED = "cancelled"
    AWAITING_APPROVAL = "awaiting_approval"
    INVOICED = "invoiced"
    BLOCKED = "blocked"
    HELD = "held"
    PENDING = "pending"
    ALL = [PLANNED, CANCELLED, AWAITING_APPROVAL, INVOICED, BLOCKED, HELD, PENDING]


@dataclass(frozen=True)
class MilestoneBilling:
    state: str
    invoice: Invoice | None = None
    reason: str = ""


def milestones_billing(milestones: Sequence[Milestone]) -> dict[int, MilestoneBilling]:
    """Return each milestone's billing state and live invoice, in two queries for any number.

    The invoice is the newest live invoice billing the milestone's event; the state is the
    first that applies of: awaiting approval, invoiced, stopped by the not-to-exceed cap, kept
    back by a billing hold, else pending. The milestones need their contract and customer
    loaded (``select_related("line__contract__customer")``).
    """
    cleared = {m.pk: m for m in milestones if m.approved_at is not None}
    events = {}
    if cleared:
        rows = BillingEvent.objects.filter(
            kind=BillingEvent.Kind.MILESTONE,
            line_id__in={m.line_id for m in cleared.values()},
            source_key__in=[f"{SOURCE_PREFIX}{pk}" for pk in cleared],
        ).values_list("pk", "line_id", "source_key", "blocked_reason")
        for event_id, line_id, key, blocked_reason in rows:
            milestone = cleared.get(int(key.removeprefix(SOURCE_PREFIX)))
            if milestone is not None and milestone.line_id == line_id:
                events[milestone.pk] = (event_id, blocked_reason)
    invoices: dict[int, Invoice] = {}
    if events:
        billed = (
            InvoiceLine.objects.filter(event_id__in=[event for event, _ in events.values()])
            .exclude(invoice__status=Invoice.Status.VOID)
            .select_related("invoice")
            # Invoice's own ordering, as milestone_invoice's .first() reads it.
            .order_by("-invoice__invoice_date", "-invoice__id")
        )
        for line in billed:
            invoices.setdefault(line.event_id, line.invoice)
    return {m.pk: _billing_of(m, events.get(m.pk), invoices) for m in milestones}


def _billing_of(
    milestone: Milestone, event: tuple[int, str] | None, invoices: dict[int, Invoice]
) -> MilestoneBilling:
    if milestone.status == Milestone.Status.PLANNED:
        return MilestoneBilling(BillingState.PLANNED)
    if milestone.status == Milestone.Status.CANCELLED:
        return MilestoneBilling(BillingState.CANCELLED)
    if milestone.awaiting_approval:
        return MilestoneBilling(BillingState.AWAITING_APPROVAL)
    event_id, blocked_reason = event or (None, "")
    if event_id in invoices:
        return MilestoneBilling(BillingState.INVOICED, invoice=invoices[event_id])
    if blocked_reason:
        return MilestoneBilling(BillingState.BLOCKED, reason=blocked_reason)
    contract = milestone.line.contract
    if contract.is_billing_held:
        return MilestoneBilling(
            BillingState.HELD, reason=contract.hold_reason or contract.customer.hold_reason
        )
    return MilestoneBilling(BillingState.PENDING)


def milestone_invoice(milestone: Milestone) -> Invoice | None:
    """Return the live invoice that bills the milestone, if it has been invoiced."""
    return milestones_billing([milestone])[milestone.pk].invoice
