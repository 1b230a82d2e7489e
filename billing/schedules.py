"""Materializing billing events from contract lines (the schedule of what comes due).

The pure modules say what a line bills and when; this module keeps the stored events in step with
them. Pending events follow the line (a price or quantity changed before billing changes what is
due); invoiced events are history and are never touched. Each line records how far it has been
scheduled, so a bill run only schedules the lines whose horizon it has reached.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db import transaction
from djmoney.money import Money

from billing.continuations import chains_for, charges_net_of_prior
from billing.domain.periods import add_months
from billing.domain.subscriptions import (
    BillTiming,
    Charge,
    SubscriptionTerms,
    one_time_charge,
    subscription_charges,
)
from billing.models import BillingEvent, InvoiceLine
from contracts.models import BillingModel, Contract, ContractLine, Customer, OneTimeTrigger

# Evergreen lines are scheduled this far past the run date: far enough for a user to see the
# coming year, short enough that a run tops up a few events per line, not hundreds.
EVERGREEN_HORIZON_MONTHS = 12
# Lines are scheduled in batches of this size: one read of their events and three bulk writes
# per batch, whatever the number of periods.
SCHEDULE_BATCH_SIZE = 2_000


@dataclass(frozen=True)
class ScheduleChange:
    created: int = 0
    updated: int = 0
    deleted: int = 0

    def __add__(self, other: "ScheduleChange") -> "ScheduleChange":
        return ScheduleChange(
            self.created + other.created,
            self.updated + other.updated,
            self.deleted + other.deleted,
        )


def schedule_horizon(line: ContractLine, *, as_of: date) -> date:
    """Return the exclusive date up to which a line's bill dates are materialized."""
    if line.service_end is not None:
        # Arrears bill the day after the period ends: one day past the last day of service.
        return line.service_end + timedelta(days=2)
    return add_months(as_of, EVERGREEN_HORIZON_MONTHS, anchor_day=as_of.day)


def subscription_terms(line: ContractLine, *, unit_price: Decimal) -> SubscriptionTerms:
    """Return a subscription line's terms as the pure billing functions take them.

    ``unit_price`` is a parameter so that revenue can price the same periods at the line's SSP.
    """
    return SubscriptionTerms(
        service_start=line.service_start,
        service_end=line.service_end,
        interval_months=line.interval_months,
        bill_day=line.bill_day if line.bill_day_mode == "calendar_day" else None,
        timing=BillTiming(line.bill_timing),
        quantity=line.quantity,
        unit_price=unit_price,
        currency=line.contract.currency,
        anchor=line.billing_anchor,
    )


def line_charges(
    line: ContractLine, *, through: date, since: date | None = None
) -> dict[str, tuple[str, Charge]]:
    """Return what a line bills with a bill date in [``since``, ``through``), by source key.

    Shipment-triggered one-time lines bill per shipment (see ``shipment_record``), so their
    schedule is empty here.
    """
    currency = line.contract.currency
    if line.billing_model == BillingModel.SUBSCRIPTION:
        terms = subscription_terms(line, unit_price=line.unit_price.amount)
        return {
            charge.period.start.isoformat(): (BillingEvent.Kind.SUBSCRIPTION, charge)
            for charge in subscription_charges(terms, through=through, since=since)
        }
    if (
        line.billing_model == BillingModel.ONE_TIME
        and line.one_time_trigger == OneTimeTrigger.ON_ORDER
        and line.service_start < through
        and (since is None or line.service_start >= since)
    ):
        charge = one_time_charge(
            bill_date=line.service_start,
            quantity=line.quantity,
            unit_price=line.unit_price.amount,
            currency=currency,
            description=line.description or line.product.name,
        )
        return {"order": (BillingEvent.Kind.ONE_TIME, charge)}
    return {}


def event_from_charge(line: ContractLine, kind: str, key: str, charge: Charge) -> BillingEvent:
    """Build (without saving) the stored event for one charge of a line."""
    return BillingEvent(
        line=line,
        contract=line.contract,
        customer=line.contract.customer,
        kind=kind,
        source_key=key,
        bill_date=charge.bill_date,
        period_start=charge.period.start,
        period_end=charge.period.last_day,
        quantity=charge.quantity,
        unit_price=Money(charge.unit_price, charge.amount.currency),
        amount=charge.amount,
        description=_describe(line, kind, charge),
    )


def _describe(line: ContractLine, kind: str, charge: Charge) -> str:
    """Name what is billed: "Pro seats: 1 Jan 2026 - 31 Jan 2026" for a period."""
    if kind != BillingEvent.Kind.SUBSCRIPTION:
        return charge.description
    return f"{line.description or line.product.name}: {charge.description}"[:255]


# What a refresh may change on a pending event (the customer too, if a contract changed hands).
SCHEDULED_FIELDS = [
    "customer_id",
    "bill_date",
    "period_start",
    "period_end",
    "quantity",
    "unit_price",
    "amount",
    "description",
]


def _differs(stored: BillingEvent, proposed: BillingEvent) -> bool:
    return any(getattr(stored, f) != getattr(proposed, f) for f in SCHEDULED_FIELDS)


def lock_customers(customer_ids: Iterable[int]) -> list[int]:
    """Lock customers in id order: one writer of a customer's billing at a time, no deadlocks."""
    return list(
        Customer.objects.filter(pk__any=set(customer_ids))
        .order_by("pk")
        .select_for_update()
        .values_list("pk", flat=True)
    )


@transaction.atomic
def schedule_refresh(*, lines: Iterable[ContractLine], as_of: date) -> ScheduleChange:
    """Bring the stored events of ``lines`` in step with their terms, up to each line's horizon.

    Active contracts are scheduled forward: pending events that no longer match are updated or
    withdrawn, missing ones are created, invoiced ones are left alone. A completed contract keeps
    what is scheduled (periods served before its end still bill). Draft and terminated contracts
    have nothing due: their pending events are withdrawn, except that a contract terminated early
    by a modification still bills the days served before its termination. Runs under the
    customers' row locks, so that a bill run never invoices an event while it is being replaced.
    """
    lines = [line for line in lines if line.contract.status != Contract.Status.COMPLETED]
    change = ScheduleChange()
    for start in range(0, len(lines), SCHEDULE_BATCH_SIZE):
        change += _refresh_batch(lines[start : start + SCHEDULE_BATCH_SIZE], as_of=as_of)
    return change


@transaction.atomic
def schedule_extend(*, lines: Iterable[ContractLine], as_of: date) -> ScheduleChange:
    """Materialize the events of active ``lines`` from where each schedule stops to its horizon.

    What a bill run calls: the events before ``scheduled_through`` already follow the line's
    terms (``schedule_refresh`` keeps them so on every change), so only the periods after it
    are computed and inserted, and an event that exists already is left as it is.
    """
    lines = [line for line in lines if line.contract.status == Contract.Status.ACTIVE]
    created = 0
    for start in range(0, len(lines), SCHEDULE_BATCH_SIZE):
        batch = lines[start : start + SCHEDULE_BATCH_SIZE]
        lock_customers(line.contract.customer_id for line in batch)
        chains = chains_for(batch)
        to_create = []
        for line in batch:
            scheduled_from = line.scheduled_through
            line.scheduled_through = schedule_horizon(line, as_of=as_of)
            charges = line_charges(line, through=line.scheduled_through, since=scheduled_from)
            to_create += [
                event_from_charge(line, kind, key, charge)
                for key, (kind, charge) in charges_net_of_prior(charges, line, chains).items()
            ]
        # The unique (line, source key) makes an event another writer added meanwhile a no-op.
        created += len(BillingEvent.objects.bulk_create(to_create, ignore_conflicts=True))
        _save_horizons(batch)
    return ScheduleChange(created=created)


def _save_horizons(lines: list[ContractLine]) -> None:
    """Store each line's ``scheduled_through`` with one UPDATE per distinct date.

    Lines scheduled together mostly share a horizon (a year from the run date, a term's end),
    so this is a few statements where ``bulk_update`` would build one CASE branch per line.
    """
    by_horizon: dict[date | None, list[int]] = defaultdict(list)
    for line in lines:
        by_horizon[line.scheduled_through].append(line.pk)
    for horizon, pks in by_horizon.items():
        ContractLine.objects.filter(pk__in=pks).update(scheduled_through=horizon)


def _proposed_events(line: ContractLine, *, as_of: date, chains) -> dict[str, BillingEvent]:
    contract = line.contract
    # A contract a modification terminated still bills what was served up to its termination
    # (its lines end there); one merely marked terminated has nothing due.
    served = contract.status == Contract.Status.TERMINATED and contract.terminated_on is not None
    if contract.status != Contract.Status.ACTIVE and not served:
        return {}
    line.scheduled_through = schedule_horizon(line, as_of=as_of)
    charges = line_charges(line, through=line.scheduled_through)
    # A line continuing another after a modification bills only what its predecessors did not.
    return {
        key: event_from_charge(line, kind, key, charge)
        for key, (kind, charge) in charges_net_of_prior(charges, line, chains).items()
    }


def _refresh_batch(lines: list[ContractLine], *, as_of: date) -> ScheduleChange:
    lock_customers(line.contract.customer_id for line in lines)
    stored: dict[tuple[int, str], BillingEvent] = {
        (event.line_id, event.source_key): event
        for event in BillingEvent.objects.filter(
            line__in=lines,
            kind__in=[BillingEvent.Kind.SUBSCRIPTION, BillingEvent.Kind.ONE_TIME],
        )
    }
    chains = chains_for(lines)
    to_create, to_update = [], []
    for line in lines:
        for key, event in _proposed_events(line, as_of=as_of, chains=chains).items():
            current = stored.pop((line.pk, key), None)
            if current is None:
                to_create.append(event)
            elif current.status == BillingEvent.Status.CANCELLED or (
                current.status == BillingEvent.Status.PENDING and _differs(current, event)
            ):
                for field in SCHEDULED_FIELDS:
                    setattr(current, field, getattr(event, field))
                current.status = BillingEvent.Status.PENDING
                to_update.append(current)
    # What is left in ``stored`` is no longer due. Pending events are withdrawn: deleted, or
    # cancelled where a voided invoice line still names them. Invoiced ones are history.
    withdrawn = [e for e in stored.values() if e.status == BillingEvent.Status.PENDING]
    named = set(InvoiceLine.objects.filter(event__in=withdrawn).values_list("event_id", flat=True))
    for event in withdrawn:
        if event.pk in named:
            event.status = BillingEvent.Status.CANCELLED
            to_update.append(event)
    BillingEvent.objects.bulk_create(to_create)
    BillingEvent.objects.bulk_update(
        to_update, [*SCHEDULED_FIELDS, "status", "unit_price_currency", "amount_currency"]
    )
    BillingEvent.objects.filter(pk__in=[e.pk for e in withdrawn if e.pk not in named]).delete()
    _save_horizons(lines)
    return ScheduleChange(len(to_create), len(to_update), len(withdrawn))
