"""Invoices: persisting proposed invoices, issuing them with gapless numbers, voiding them.

Numbers are taken from ``InvoiceSequence`` under a row lock inside the issuing transaction, so a
rolled-back issue gives its numbers back and two concurrent issuers get consecutive numbers: the
sequence per series and year has no gaps and no repeats.
"""

from collections import defaultdict
from datetime import date

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connections, router, transaction
from django.utils import timezone

from billing.delivery import invoices_queue_delivery
from billing.domain.invoices import ProposedInvoice, format_invoice_number
from billing.milestone_events import milestones_follow_events
from billing.models import BillingEvent, BillRun, Invoice, InvoiceLine, InvoiceSequence
from billing.schedules import lock_customers, schedule_refresh
from billing.signals import invoice_voided, invoices_issued
from contracts.models import ContractLine, Customer
from rms.audit import history_record_bulk
from rms.bulk import bulk_insert, column_values, rows_insert


def invoices_create(
    *, proposals: list[ProposedInvoice], invoice_date: date, bill_run: BillRun | None = None
) -> list[Invoice]:
    """Write proposed invoices as drafts and mark their events invoiced, in bulk.

    The caller holds the customers' locks and has re-read the events under them; the update
    below still checks that every event was pending, and the database refuses a second live
    invoice line for an event, so a logic error fails loudly instead of double billing.
    """
    invoices = [
        Invoice(
            customer_id=p.customer_id,
            currency=p.currency,
            bill_run=bill_run,
            invoice_date=invoice_date,
            subtotal=p.subtotal,
            tax_total=p.tax_total,
            total=p.total,
            delivery_held=p.delivery_held,
        )
        for p in proposals
    ]
    bulk_insert(Invoice, invoices)
    history_record_bulk(Invoice, invoices, history_type="+")
    lines = [
        {
            "invoice_id": invoice.pk,
            "event_id": line.charge.event_id,
            "contract_line_id": line.charge.contract_line_id,
            "position": position,
            "description": line.charge.description,
            "period_start": line.charge.period_start,
            "period_end": line.charge.period_end,
            "quantity": line.charge.quantity,
            "unit_price": line.charge.unit_price,
            "amount": line.charge.amount,
            "tax_rate": line.charge.tax_rate,
            "tax_amount": line.tax_amount,
            "breakdown": list(line.charge.breakdown),
        }
        for invoice, proposal in zip(invoices, proposals, strict=True)
        for position, line in enumerate(proposal.lines, start=1)
    ]
    # No one needs the lines as objects: they go in as rows (COPY on PostgreSQL).
    rows_insert(InvoiceLine, lines)
    event_ids = [line["event_id"] for line in lines]
    marked = BillingEvent.objects.filter(
        pk__any=event_ids, status=BillingEvent.Status.PENDING
    ).update(status=BillingEvent.Status.INVOICED, blocked_reason="")
    if marked != len(event_ids):
        raise IntegrityError(
            f"{len(event_ids) - marked} of {len(event_ids)} events were no longer pending; "
            "nothing from this batch is billed."
        )
    milestones_follow_events(event_ids=event_ids, invoiced=True)
    return invoices


def needs_review(customer: Customer) -> bool:
    """Whether the customer's invoices wait as drafts for review instead of being issued."""
    if customer.invoice_review == Customer.InvoiceReview.DEFAULT:
        return settings.RMS_INVOICE_REVIEW
    return customer.invoice_review == Customer.InvoiceReview.REVIEW


def _take_numbers(*, series: str, year: int, count: int) -> range:
    """Reserve ``count`` consecutive numbers of a series and year under the sequence's lock."""
    try:
        with transaction.atomic():
            InvoiceSequence.objects.get_or_create(series=series, year=year)
    except IntegrityError:
        pass  # a concurrent issuer created the row first; the lock below waits for it
    sequence = InvoiceSequence.objects.select_for_update().get(series=series, year=year)
    first = sequence.last_number + 1
    sequence.last_number += count
    sequence.save(update_fields=["last_number"])
    return range(first, first + count)


def invoices_issue(*, invoices: list[Invoice], issue_date: date) -> list[Invoice]:
    """Issue draft invoices: number them, date them, freeze the bill-to, compute due dates.

    Must run inside the caller's transaction, which holds the invoices (or their customers)
    locked; numbers are handed out in the order given. Their delivery is queued for after the
    commit.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("invoices_issue must run inside a transaction.")
    customers = {
        customer.pk: customer
        for customer in Customer.objects.select_related("payment_terms").filter(
            pk__any={invoice.customer_id for invoice in invoices}
        )
    }
    by_series: dict[str, list[Invoice]] = defaultdict(list)
    for invoice in invoices:
        if invoice.status != Invoice.Status.DRAFT:
            raise ValidationError(f"Invoice {invoice} is {invoice.status}; only drafts are issued.")
        by_series[invoice.series].append(invoice)
    # A delivery hold placed on a contract after its draft was created still holds the invoice.
    held_by_contract = set(
        InvoiceLine.objects.filter(
            invoice__any=invoices, contract_line__contract__delivery_hold=True
        ).values_list("invoice_id", flat=True)
    )
    now = timezone.now()
    for series, group in sorted(by_series.items()):
        numbers = _take_numbers(series=series, year=issue_date.year, count=len(group))
        for invoice, number in zip(group, numbers, strict=True):
            customer = customers[invoice.customer_id]
            invoice.status = Invoice.Status.ISSUED
            invoice.year = issue_date.year
            invoice.sequence_number = number
            invoice.number = format_invoice_number(
                series=series, year=issue_date.year, sequence_number=number
            )
            invoice.issue_date = issue_date
            invoice.invoice_date = issue_date
            invoice.due_date = customer.payment_terms.due_date(issue_date)
            invoice.payment_terms_text = customer.payment_terms.description
            invoice.bill_to_name = customer.legal_name
            invoice.bill_to_address = customer.billing_address
            invoice.delivery_held = (
                invoice.delivery_held or customer.delivery_hold or invoice.pk in held_by_contract
            )
            invoice.issued_at = now
    _save_issue_fields(invoices)
    history_record_bulk(Invoice, invoices)
    invoices_issued.send(sender=Invoice, invoices=invoices)
    invoices_queue_delivery(invoice_ids=[invoice.pk for invoice in invoices])
    return invoices


ISSUE_FIELDS = [
    "status",
    "invoice_date",
    "year",
    "sequence_number",
    "number",
    "issue_date",
    "due_date",
    "payment_terms_text",
    "bill_to_name",
    "bill_to_address",
    "delivery_held",
    "issued_at",
]


def _save_issue_fields(invoices: list[Invoice]) -> None:
    """Write the ``ISSUE_FIELDS`` of the invoices, each row its own values.

    On PostgreSQL this is one ``UPDATE ... FROM unnest(<one array per column>)``: ``bulk_update``
    would build a ``CASE WHEN id = ...`` of one branch per invoice for each field, which took
    close to a second per chunk of 500 invoices to compile (most of the bill run) and makes the
    database scan the branches for every row. Other databases (SQLite in development) use
    ``bulk_update``.
    """
    connection = connections[router.db_for_write(Invoice)]
    if connection.vendor != "postgresql":
        Invoice.objects.bulk_update(invoices, ISSUE_FIELDS)
        return
    if not invoices:
        return
    if any(invoice.pk is None for invoice in invoices):
        raise ValueError("All bulk_update() objects must have a primary key set.")  # as Django
    meta = Invoice._meta
    fields = [meta.pk, *(meta.get_field(name) for name in ISSUE_FIELDS)]
    quote = connection.ops.quote_name
    table, pk = quote(meta.db_table), quote(meta.pk.column)
    columns = [quote(field.column) for field in fields]
    sql = (
        f"UPDATE {table} SET {', '.join(f'{c} = new.{c}' for c in columns[1:])} "
        f"FROM unnest({', '.join(f'%s::{f.cast_db_type(connection)}[]' for f in fields)}) "
        f"AS new({', '.join(columns)}) WHERE {table}.{pk} = new.{pk}"
    )
    params = [column_values(field, invoices, connection) for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


@transaction.atomic
def invoice_issue(*, invoice: Invoice, issue_date: date | None = None) -> Invoice:
    """Issue one reviewed draft (dated today unless told otherwise).

    Under its customer's lock, as bill runs issue, so that a period close waits for it.
    """
    lock_customers([invoice.customer_id])
    locked = Invoice.objects.select_for_update().get(pk=invoice.pk)
    invoices_issue(invoices=[locked], issue_date=issue_date or timezone.localdate())
    return locked


@transaction.atomic
def invoice_void(*, invoice: Invoice, reason: str) -> Invoice:
    """Void a draft or issued invoice and release what it billed to the next bill run.

    The number of a voided issued invoice stays used (gapless means no number is reused); its
    lines are kept, marked void, and its events become pending again, re-computed from their
    lines' current terms, so the next run bills them afresh. To not bill them at all, put a
    billing hold on the contract before the next run.
    """
    if not reason.strip():
        raise ValidationError({"void_reason": "Say why the invoice is voided."})
    lock_customers([invoice.customer_id])  # the bill run's lock order: customer, then invoice
    locked = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if locked.status == Invoice.Status.VOID:
        raise ValidationError(f"Invoice {locked} is already void.")
    was_issued = locked.status == Invoice.Status.ISSUED
    if locked.amount_paid or locked.amount_credited or locked.credit_notes.exists():
        # Voiding would strand the payments and credit notes applied to it.
        raise ValidationError(
            f"Invoice {locked} has payments or credit notes against it; correct it with a "
            "credit note instead of voiding it."
        )
    locked.status = Invoice.Status.VOID
    locked.void_reason = reason.strip()
    locked.voided_at = timezone.now()
    locked.save(update_fields=["status", "void_reason", "voided_at"])
    event_ids = list(locked.lines.values_list("event_id", flat=True))
    locked.lines.update(voided=True)
    BillingEvent.objects.filter(pk__in=event_ids).update(status=BillingEvent.Status.PENDING)
    milestones_follow_events(event_ids=event_ids, invoiced=False)
    if was_issued:
        invoice_voided.send(sender=Invoice, invoice=locked)
    released_lines = (
        ContractLine.objects.filter(billing_events__in=event_ids)
        .select_related("contract__customer", "product")
        .distinct()
    )
    schedule_refresh(lines=released_lines, as_of=timezone.localdate())
    return locked
