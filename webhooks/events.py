"""Webhook events: what each one says, and recording it with a delivery per subscriber.

Called from billing's signals inside the transaction that made the change, so an event exists
exactly when the change committed; the deliveries are queued once it has. A bill run issues
thousands of invoices at once, so everything here works on lists: one query finds the
subscribers (and when there are none, nothing else happens), a few bulk inserts record the lot.
"""

from collections.abc import Sequence

from django.utils import timezone

from billing.models import BillRun, Invoice
from contracts.models import Contract, Customer, Milestone, Renewal
from rms.api import money_data
from webhooks import delivery
from webhooks.models import (
    EventType,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    iso,
    new_event_id,
)

# Rows per INSERT: a bill run's events go in a few statements, each well under SQLite's limit
# on bound variables.
BATCH_SIZE = 1000


def subscribed_endpoint_ids(event_type: str) -> list[int]:
    """Return the active endpoints subscribed to ``event_type``: one query.

    Filtered in Python: endpoints are few, and JSON containment is not portable to SQLite.
    """
    rows = WebhookEndpoint.objects.filter(active=True).order_by("pk").values_list("pk", "events")
    return [pk for pk, events in rows if event_type in events]


def events_record(
    *, event_type: str, data: Sequence[dict], endpoint_ids: Sequence[int]
) -> list[WebhookEvent]:
    """Record one event per item of ``data`` and a delivery of each to each endpoint.

    Must run in the transaction of the change announced; the deliveries are queued when it
    commits, and vanish with it if it rolls back.
    """
    if not data or not endpoint_ids:
        return []
    now = timezone.now()
    events = [
        WebhookEvent(id=new_event_id(), type=event_type, data=item, created_at=now) for item in data
    ]
    WebhookEvent.objects.bulk_create(events, batch_size=BATCH_SIZE)
    deliveries = WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(
                endpoint_id=endpoint_id,
                event=event,
                created_at=now,
                next_attempt_at=now + delivery.REQUEUE_AFTER,
            )
            for event in events
            for endpoint_id in endpoint_ids
        ],
        batch_size=BATCH_SIZE,
    )
    delivery.deliveries_queue([(row.pk, 1) for row in deliveries])
    return events


def invoices_event(*, event_type: str, invoices: Sequence[Invoice]) -> list[WebhookEvent]:
    """Record ``event_type`` for each invoice, for the endpoints subscribed to it."""
    endpoint_ids = subscribed_endpoint_ids(event_type)
    if not endpoint_ids or not invoices:
        return []
    numbers = dict(
        Customer.objects.filter(pk__in={invoice.customer_id for invoice in invoices}).values_list(
            "pk", "number"
        )
    )
    data = [
        invoice_data(invoice, customer_number=numbers[invoice.customer_id]) for invoice in invoices
    ]
    return events_record(event_type=event_type, data=data, endpoint_ids=endpoint_ids)


def milestone_event(*, milestone: Milestone) -> list[WebhookEvent]:
    """Record ``milestone.achieved`` for the endpoints subscribed to it."""
    event_type = EventType.MILESTONE_ACHIEVED
    endpoint_ids = subscribed_endpoint_ids(event_type)
    if not endpoint_ids:
        return []
    data = [milestone_data(milestone)]
    return events_record(event_type=event_type, data=data, endpoint_ids=endpoint_ids)


def bill_run_event(*, bill_run: BillRun) -> list[WebhookEvent]:
    """Record ``bill_run.finished`` for the endpoints subscribed to it."""
    event_type = EventType.BILL_RUN_FINISHED
    endpoint_ids = subscribed_endpoint_ids(event_type)
    if not endpoint_ids:
        return []
    data = [bill_run_data(bill_run)]
    return events_record(event_type=event_type, data=data, endpoint_ids=endpoint_ids)


def contract_renewed_event(*, contract: Contract, renewal: Renewal) -> list[WebhookEvent]:
    """Record ``contract.renewed`` for the endpoints subscribed to it."""
    event_type = EventType.CONTRACT_RENEWED
    endpoint_ids = subscribed_endpoint_ids(event_type)
    if not endpoint_ids:
        return []
    data = [renewal_data(contract, renewal)]
    return events_record(event_type=event_type, data=data, endpoint_ids=endpoint_ids)


# --- What events say ------------------------------------------------------------------------


def invoice_data(invoice: Invoice, *, customer_number: str) -> dict:
    """Describe an invoice: its number, dates, amounts (decimal strings) and payment state.

    Field names are the invoice API's, so that a receiver can read an event's object and a
    fetched one alike (as with the milestone and the bill run below).
    """
    currency = invoice.total.currency.code

    def money(amount) -> dict[str, str]:
        return money_data(amount, currency)

    return {
        "object": "invoice",
        "id": invoice.pk,
        "number": invoice.number,
        "status": invoice.status,
        "customer": invoice.customer_id,
        "customer_number": customer_number,
        "currency": currency,
        "bill_to_name": invoice.bill_to_name,
        "bill_run": invoice.bill_run_id,
        "invoice_date": iso(invoice.invoice_date),
        "issue_date": iso(invoice.issue_date),
        "due_date": iso(invoice.due_date),
        "subtotal": money(invoice.subtotal.amount),
        "tax_total": money(invoice.tax_total.amount),
        "total": money(invoice.total.amount),
        "amount_paid": money(invoice.amount_paid),
        "amount_credited": money(invoice.amount_credited),
        "balance_due": money(invoice.balance_due.amount),
        "payment_status": invoice.payment_status,
    }


def milestone_data(milestone: Milestone) -> dict:
    """Describe a milestone: which contract, what it bills, and whether it awaits approval."""
    contract = milestone.line.contract
    return {
        "object": "milestone",
        "id": milestone.pk,
        "name": milestone.name,
        "sequence": milestone.sequence,
        "status": milestone.status,
        "contract": contract.pk,
        "contract_number": contract.number,
        "customer": contract.customer_id,
        "line": milestone.line_id,
        "amount": money_data(milestone.amount.amount, milestone.amount.currency.code),
        "planned_date": iso(milestone.planned_date),
        "achieved_on": iso(milestone.achieved_on),
        "achieved_by": milestone.achieved_by,
        "external_reference": milestone.external_reference,
        "awaiting_approval": milestone.approved_at is None,
    }


def bill_run_data(run: BillRun) -> dict:
    """Describe a bill run: its date, outcome and counts, and the errors of failed chunks."""
    return {
        "object": "bill_run",
        "id": run.pk,
        "as_of": iso(run.as_of),
        "status": run.status,
        "triggered_by": run.triggered_by,
        "started_at": iso(run.started_at),
        "finished_at": iso(run.finished_at),
        "invoices_created": run.invoices_created,
        "invoices_issued": run.invoices_issued,
        "events_invoiced": run.events_invoiced,
        "events_held": run.events_held,
        "events_blocked": run.events_blocked,
        "chunks_total": run.chunks_total,
        "chunks_done": run.chunks_done,
        "chunks_failed": len(run.errors),
        "errors": run.errors,
    }


def renewal_data(contract: Contract, renewal: Renewal) -> dict:
    """Describe a renewal: the contract, the term renewed and the new one, and the prices.

    Each renewed line names its successor for the new term with the old and new unit price
    (decimal strings); ``uplift_percent`` is null when the prices were entered line by line.
    """
    return {
        "object": "contract_renewal",
        "id": renewal.pk,
        "contract": contract.pk,
        "contract_number": contract.number,
        "customer": contract.customer_id,
        "currency": contract.currency,
        "from_end": iso(renewal.from_end),
        "to_end": iso(renewal.to_end),
        "uplift_percent": (
            None if renewal.uplift_percent is None else f"{renewal.uplift_percent.normalize():f}"
        ),
        "lines": [
            {"line": p["line"], "new_line": p["new_line"], "from": p["from"], "to": p["to"]}
            for p in renewal.prices
        ],
        "automatic": renewal.automatic,
        "renewed_by": renewal.renewed_by,
        "renewed_at": iso(renewal.renewed_at),
    }
