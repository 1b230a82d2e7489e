"""Bill runs: find what is due, split it into chunks of customers, invoice each chunk once.

The pipeline (after Kill Bill's invoice generator): a selector loads due events into plain
values; ``billing.domain.invoices.assemble`` proposes invoices; a safety bound rejects absurd
output; one transaction per chunk persists everything with bulk writes. A dry run stops before
the writes. Any number of workers may process chunks at once: each chunk locks its customers
(in id order) and re-reads what is still pending under the lock, so a second run, a retried task
or a crashed worker never bills an event twice; a chunk's writes commit together or not at all.
"""

import logging
from datetime import date, timedelta

from django.db import transaction
from django.db.models import F, Q, QuerySet, Sum
from django.utils import timezone
from djmoney.money import Money

from billing.budgets import budget_blocked
from billing.domain.invoices import DueCharge, ProposedInvoice, assemble
from billing.domain.periods import add_months
from billing.invoicing import invoices_create, invoices_issue, needs_review
from billing.models import BillingEvent, BillRun, BillRunChunk, Invoice
from billing.schedules import (
    EVERGREEN_HORIZON_MONTHS,
    event_from_charge,
    line_charges,
    lock_customers,
    schedule_extend,
)
from billing.signals import bill_run_finished
from billing.usage_rating import usage_lines, usage_rate_customers, usage_rate_preview
from contracts.models import Contract, ContractLine, Customer

logger = logging.getLogger(__name__)

# Customers per chunk. A chunk is one transaction of a fixed handful of queries (lock, load,
# two bulk inserts, two updates, numbering) holding its customers' row locks: 500 keeps a chunk
# well under a second on PostgreSQL and still gives several workers a share of a large run.
CHUNK_SIZE = 500

# A usage event of zero (a period that charged nothing, a true-up no longer needed) records that
# the period is rated and holds its records, but is never put on an invoice: see
# ``billing.usage_rating``. Late usage that makes it charge something makes it due. A negative
# adjustment (late usage that moved a volume-tiered period to a cheaper tier) is not invoiced
# either: an invoice never carries a negative total; finance gives it back as a credit note.
NOTHING_TO_BILL = Q(kind=BillingEvent.Kind.USAGE, amount__lte=0)


def due_events(*, as_of: date) -> QuerySet[BillingEvent]:
    """Pending events billable on ``as_of``: due, and under no billing hold."""
    return BillingEvent.objects.filter(
        status=BillingEvent.Status.PENDING,
        bill_date__lte=as_of,
        contract__billing_hold=False,
        customer__billing_hold=False,
    ).exclude(NOTHING_TO_BILL)


def held_events(*, as_of: date) -> QuerySet[BillingEvent]:
    """Pending events that are due but kept out of invoices by a billing hold."""
    return BillingEvent.objects.filter(
        Q(contract__billing_hold=True) | Q(customer__billing_hold=True),
        status=BillingEvent.Status.PENDING,
        bill_date__lte=as_of,
    ).exclude(NOTHING_TO_BILL)


def lines_to_schedule(*, as_of: date, months_ahead: int = 0) -> QuerySet[ContractLine]:
    """Lines of active contracts whose schedule stops before ``months_ahead`` months past
    ``as_of``.

    With the default 0, the lines a bill run on ``as_of`` must extend to see everything due.
    Fixed-term lines are scheduled to their end at once, so only new ones come back.
    """
    needed_through = add_months(as_of, months_ahead, anchor_day=as_of.day)
    fixed_term_short = Q(service_end__isnull=False, scheduled_through__lte=needed_through) & Q(
        scheduled_through__lt=F("service_end") + timedelta(days=2)
    )
    evergreen_short = Q(service_end__isnull=True, scheduled_through__lte=needed_through)
    return ContractLine.objects.filter(
        Q(scheduled_through__isnull=True) | fixed_term_short | evergreen_short,
        contract__status=Contract.Status.ACTIVE,
        # The customer too: each scheduled event names it, one query per line otherwise.
    ).select_related("contract__customer", "product")


def schedules_top_up(*, as_of: date) -> int:
    """Keep evergreen schedules about a year ahead, so users see the coming year's billing.

    Runs daily apart from the bill run (which only extends what it needs to bill), and extends
    a line once fewer than ``EVERGREEN_HORIZON_MONTHS - 1`` months remain: about monthly.
    Returns the number of events created.
    """
    lines = lines_to_schedule(as_of=as_of, months_ahead=EVERGREEN_HORIZON_MONTHS - 1)
    return schedule_extend(lines=lines, as_of=as_of).created


def _tax_rate(event: BillingEvent):
    product_rate = event.line.product.tax_rate
    return product_rate if product_rate is not None else event.customer.tax_rate


def _due_charge(event: BillingEvent) -> DueCharge:
    return DueCharge(
        event_id=event.pk,
        customer_id=event.customer_id,
        contract_line_id=event.line_id,
        sort_key=(event.contract.number, event.line.sequence, event.period_start, event.pk),
        description=event.description,
        period_start=event.period_start,
        period_end=event.period_end,
        quantity=event.quantity,
        unit_price=event.unit_price,
        amount=event.amount,
        tax_rate=_tax_rate(event),
        delivery_held=event.contract.delivery_hold or event.customer.delivery_hold,
        breakdown=tuple(event.breakdown),
    )


# What the assembler needs of a due event, in the order ``due_charges`` unpacks it. Reading plain
# values instead of ``select_related`` model instances spares building five models (event,
# contract, customer, line, product) per event, most of a chunk's read time.
DUE_CHARGE_COLUMNS = (
    "pk",
    "customer_id",
    "line_id",
    "contract__number",
    "line__sequence",
    "description",
    "period_start",
    "period_end",
    "quantity",
    "unit_price",
    "unit_price_currency",
    "amount",
    "amount_currency",
    "line__product__tax_rate",
    "customer__tax_rate",
    "contract__delivery_hold",
    "customer__delivery_hold",
    "breakdown",
)


def due_charges(
    *, as_of: date, customer_ids: list[int] | None = None, record_blocked: bool = True
) -> tuple[list[DueCharge], int]:
    """Load the due, unheld events (of some customers) as plain values for the assembler.

    Events their contract's not-to-exceed cap stops are left out; returns the charges and how
    many were stopped (their reasons recorded on them unless ``record_blocked`` is off).
    """
    events = due_events(as_of=as_of)
    if customer_ids is not None:
        events = events.filter(customer_id__any=customer_ids)
    return _charges(events, record_blocked=record_blocked)


def _charges(
    events: QuerySet[BillingEvent], *, record_blocked: bool
) -> tuple[list[DueCharge], int]:
    blocked = budget_blocked(events=events, record=record_blocked)
    if blocked:
        events = events.exclude(pk__in=blocked)
    places = BillingEvent._meta.get_field("amount").decimal_places
    charges = [
        DueCharge(
            event_id=pk,
            customer_id=customer_id,
            contract_line_id=line_id,
            sort_key=(contract_number, line_sequence, period_start, pk),
            description=description,
            period_start=period_start,
            period_end=period_end,
            quantity=quantity,
            # As the model's MoneyField builds them, so the charge is the same either way.
            unit_price=Money(unit_price, unit_price_currency, decimal_places=places),
            amount=Money(amount, amount_currency, decimal_places=places),
            tax_rate=product_tax_rate if product_tax_rate is not None else customer_tax_rate,
            delivery_held=contract_delivery_hold or customer_delivery_hold,
            breakdown=tuple(breakdown),
        )
        for (
            pk,
            customer_id,
            line_id,
            contract_number,
            line_sequence,
            description,
            period_start,
            period_end,
            quantity,
            unit_price,
            unit_price_currency,
            amount,
            amount_currency,
            product_tax_rate,
            customer_tax_rate,
            contract_delivery_hold,
            customer_delivery_hold,
            breakdown,
        ) in events.values_list(*DUE_CHARGE_COLUMNS)
    ]
    return charges, len(blocked)


def bill_run_preview(*, as_of: date) -> tuple[list[ProposedInvoice], int]:
    """Return the invoices a run on ``as_of`` would create, and the held event count.

    Writes nothing: lines whose schedule the run would extend are computed in memory, and so is
    the usage that the run would rate (new charges, and pending ones rewritten by late usage).
    """
    stored = set(
        BillingEvent.objects.filter(line__in=lines_to_schedule(as_of=as_of)).values_list(
            "line_id", "source_key"
        )
    )
    proposed = [
        event_from_charge(line, kind, key, charge)
        for line in lines_to_schedule(as_of=as_of)
        for key, (kind, charge) in line_charges(line, through=as_of + timedelta(days=1)).items()
        if (line.pk, key) not in stored
    ]
    usage = usage_rate_preview(as_of=as_of)
    rewritten = {event.pk for event in usage if event.pk is not None}
    due, _ = due_charges(as_of=as_of, record_blocked=False)
    charges = [c for c in due if c.event_id not in rewritten]
    held = held_events(as_of=as_of).exclude(pk__in=rewritten).count()
    next_id = -1  # unsaved events get negative ids: they exist only in this preview
    for event in proposed + usage:
        if event.amount.amount == 0 and event.kind == BillingEvent.Kind.USAGE:
            continue
        if event.contract.billing_hold or event.customer.billing_hold:
            held += 1
            continue
        if event.pk is None:
            event.pk, next_id = next_id, next_id - 1
        charges.append(_due_charge(event))
    return assemble(charges), held


def bill_run_start(*, as_of: date, triggered_by: str = "") -> BillRun:
    """Start a bill run: extend schedules, split the due customers into chunks, queue them.

    Returns the run; with eager Celery (the embedded default) its chunks have been processed
    by the time this returns, with a broker they are processed by the workers.
    """
    from billing.tasks import bill_run_chunk_task  # tasks import this module

    with transaction.atomic():
        run = BillRun.objects.create(as_of=as_of, triggered_by=triggered_by)
        schedule_extend(lines=lines_to_schedule(as_of=as_of), as_of=as_of)
        # Customers with usage to rate get a chunk too: each chunk rates its own customers'
        # usage, so the workers share the rating as they share the invoicing.
        customer_ids = sorted(
            set(due_events(as_of=as_of).values_list("customer_id", flat=True).distinct())
            | {customer_id for _, customer_id in usage_lines(as_of=as_of)}
        )
        chunks = BillRunChunk.objects.bulk_create(
            BillRunChunk(run=run, index=index, customer_ids=list(ids))
            for index, ids in enumerate(
                customer_ids[start : start + CHUNK_SIZE]
                for start in range(0, len(customer_ids), CHUNK_SIZE)
            )
        )
        run.chunks_total = len(chunks)
        run.save(update_fields=["chunks_total"])
        chunk_ids = [chunk.pk for chunk in chunks]
        transaction.on_commit(
            lambda: [bill_run_chunk_task.delay(chunk_id) for chunk_id in chunk_ids]
        )
    if not chunk_ids:
        bill_run_finish_if_complete(run_id=run.pk)
    run.refresh_from_db()
    return run


def bill_run_chunk(*, chunk_id: int) -> BillRunChunk:
    """Invoice one chunk of customers, exactly once, in one transaction.

    A chunk already done (a redelivered task) is left as it is. Under the customers' locks the
    due events are read afresh, so events invoiced meanwhile by another run are not seen.
    """
    with transaction.atomic():
        # of=("self",): lock the chunk only. Locking the joined run row too would make every
        # chunk of a run wait for the one before it, whatever the number of workers.
        chunk = (
            BillRunChunk.objects.select_for_update(of=("self",))
            .select_related("run")
            .get(pk=chunk_id)
        )
        if chunk.status != BillRunChunk.Status.PENDING:
            return chunk
        run = chunk.run
        lock_customers(chunk.customer_ids)
        usage_rate_customers(as_of=run.as_of, customer_ids=chunk.customer_ids)
        charges, blocked = due_charges(as_of=run.as_of, customer_ids=chunk.customer_ids)
        proposals = assemble(charges)
        invoices, to_issue = _invoice(proposals, on=run.as_of, bill_run=run)
        chunk.status = BillRunChunk.Status.DONE
        chunk.events_blocked = blocked
        chunk.invoices_created = len(invoices)
        chunk.invoices_issued = len(to_issue)
        chunk.events_invoiced = sum(len(p.lines) for p in proposals)
        chunk.finished_at = timezone.now()
        chunk.save()
    bill_run_finish_if_complete(run_id=run.pk)
    return chunk


def _invoice(
    proposals: list[ProposedInvoice], *, on: date, bill_run: BillRun | None
) -> tuple[list[Invoice], list[Invoice]]:
    """Write the proposed invoices and issue those of customers who do not review drafts.

    Returns the invoices created and those issued. The caller holds the customers' locks.
    """
    invoices = invoices_create(proposals=proposals, invoice_date=on, bill_run=bill_run)
    # needs_review reads this one field; invoices_issue loads what issuing needs.
    customers = {
        customer.pk: customer
        for customer in Customer.objects.only("invoice_review").filter(
            pk__any={invoice.customer_id for invoice in invoices}
        )
    }
    to_issue = [i for i in invoices if not needs_review(customers[i.customer_id])]
    if to_issue:
        invoices_issue(invoices=to_issue, issue_date=on)
    return invoices, to_issue


@transaction.atomic
def events_invoice_now(*, event_ids: list[int], on: date) -> list[Invoice]:
    """Invoice some due events at once, outside a bill run (an achieved milestone's, say).

    The same machinery as a bill run's chunk, on the events' customers only: locks, holds and
    not-to-exceed caps apply, so an event a hold or a cap keeps back stays pending for later.
    Events already invoiced (by a run that got there first) are simply not found.
    """
    customer_ids = sorted(
        set(BillingEvent.objects.filter(pk__in=event_ids).values_list("customer_id", flat=True))
    )
    if not customer_ids:
        return []
    lock_customers(customer_ids)
    events = due_events(as_of=on).filter(pk__in=event_ids)
    charges, _ = _charges(events, record_blocked=True)
    invoices, _ = _invoice(assemble(charges), on=on, bill_run=None)
    return invoices


def bill_run_chunk_failed(*, chunk_id: int, error: str) -> None:
    """Record that a chunk gave up (its transaction rolled back: nothing of it was billed)."""
    BillRunChunk.objects.filter(pk=chunk_id, status=BillRunChunk.Status.PENDING).update(
        status=BillRunChunk.Status.FAILED, error=error[:2000], finished_at=timezone.now()
    )
    logger.error("Bill run chunk %s failed: %s", chunk_id, error)
    run_id = BillRunChunk.objects.values_list("run_id", flat=True).get(pk=chunk_id)
    bill_run_finish_if_complete(run_id=run_id)


@transaction.atomic
def bill_run_finish_if_complete(*, run_id: int) -> None:
    """Close the run once no chunk is pending: totals from its chunks, failed if any failed."""
    run = BillRun.objects.select_for_update().get(pk=run_id)
    if run.status != BillRun.Status.RUNNING:
        return
    chunks = run.chunks.all()
    if chunks.filter(status=BillRunChunk.Status.PENDING).exists():
        return
    totals = chunks.aggregate(
        invoices_created=Sum("invoices_created", default=0),
        invoices_issued=Sum("invoices_issued", default=0),
        events_invoiced=Sum("events_invoiced", default=0),
        events_blocked=Sum("events_blocked", default=0),
    )
    failed = list(chunks.filter(status=BillRunChunk.Status.FAILED).values("index", "error"))
    for field, value in totals.items():
        setattr(run, field, value)
    # Counted at the end: the chunks have rated the usage of customers on hold by then.
    run.events_held = held_events(as_of=run.as_of).count()
    run.chunks_done = run.chunks_total - len(failed)
    run.errors = failed
    run.status = BillRun.Status.FAILED if failed else BillRun.Status.COMPLETED
    run.finished_at = timezone.now()
    run.save()
    bill_run_finished.send(sender=BillRun, bill_run=run)
