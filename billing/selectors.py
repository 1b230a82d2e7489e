"""Reads of billing facts that revenue recognition builds on (what a line is worth, what it
billed, what shipped, which milestones are achieved), in bulk for a set of lines."""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db.models import Sum
from djmoney.money import Money

from billing.continuations import chains_for, net_of_prior
from billing.domain.subscriptions import subscription_charges
from billing.models import BillingEvent, CreditNote, CreditNoteLine, Shipment
from billing.schedules import schedule_horizon, subscription_terms
from contracts.models import BillingModel, ContractLine, Milestone
from rms.money import round_money


def line_term_value(
    line: ContractLine,
    *,
    unit_price: Decimal,
    billed: Sequence["BilledPeriod"] = (),
    net_of_prior_lines: bool = False,
) -> Money:
    """Return what a fixed-term line charges over its whole term at ``unit_price`` per unit.

    A subscription is priced period by period, prorated exactly as billing prorates it, so the
    line's SSP over its term (``unit_price`` = the SSP) and its contract price are measured on
    the same periods. What ``billed`` shows as already invoiced counts at what it was invoiced
    for, and shipments at what they billed: a price change reprices only what is still to come,
    as billing does, and a period invoiced before the line was cut short still counts (until a
    credit note takes it back). Other lines are quantity x unit price (a milestone line's unit
    price is its project value).

    With ``net_of_prior_lines`` a line that continues another after a contract modification
    charges, in the period it shares with the lines before it, only what they did not already
    bill for its days (``billing.continuations``): the chain is worth what billing charges it,
    never its shared period twice. A standalone value (the SSP) is not netted.
    """
    currency = line.contract.currency
    invoiced = {period.source_key: period.amount for period in billed if period.invoiced}
    if line.billing_model == BillingModel.SUBSCRIPTION:
        if line.service_end is None:
            raise ValueError(f"Line {line.pk} is evergreen: it has no term value.")
        charges = subscription_charges(
            subscription_terms(line, unit_price=unit_price),
            through=schedule_horizon(line, as_of=line.service_start),
        )
        if net_of_prior_lines and line.continues_id is not None:
            chains = chains_for([line])
            charges = [
                netted
                for charge in charges
                if (
                    netted := net_of_prior(
                        charge, chains.carry_before(line, charge.period.full_start)
                    )
                )
                is not None
            ]
        to_come = {charge.period.start.isoformat(): charge.amount for charge in charges}
        # Invoiced periods count as invoiced, those the line's term no longer covers (a period
        # billed in advance before a modification ended the line) included: what was billed
        # stays the customer's price until a credit note takes it back.
        return sum({**to_come, **invoiced}.values(), Money(0, currency))
    if line.billing_model == BillingModel.ONE_TIME:
        shipped = [period for period in billed if period.kind == BillingEvent.Kind.SHIPMENT]
        if shipped:
            backordered = line.quantity - sum((period.quantity for period in shipped), Decimal(0))
            rest = round_money(unit_price * backordered, currency)
            return sum((period.amount for period in shipped), rest)
        return invoiced.get("order", round_money(unit_price * line.quantity, currency))
    return round_money(unit_price * line.quantity, currency)


@dataclass(frozen=True)
class BilledPeriod:
    """A non-cancelled billing event of a line: what it charges for which days."""

    line_id: int
    kind: str
    source_key: str
    period_start: date
    period_end: date
    quantity: Decimal
    amount: Money
    invoiced: bool


@dataclass(frozen=True)
class Delivery:
    line_id: int
    shipped_on: date
    quantity: Decimal


@dataclass(frozen=True)
class MilestoneFact:
    line_id: int
    amount: Money
    planned_date: date
    achieved_on: date | None


def billed_periods(line_ids: Iterable[int]) -> dict[int, list[BilledPeriod]]:
    """Return each line's live billing events (pending or invoiced), by line id."""
    result: dict[int, list[BilledPeriod]] = defaultdict(list)
    rows = (
        BillingEvent.objects.filter(line_id__in=list(line_ids))
        .exclude(status=BillingEvent.Status.CANCELLED)
        # A negative usage adjustment is never invoiced (it is given back by a credit note,
        # which revenue counts on its own), so it is not consideration either.
        .exclude(kind=BillingEvent.Kind.USAGE, amount__lt=0)
        .order_by("line_id", "period_start", "id")
        .values_list(
            "line_id",
            "kind",
            "source_key",
            "period_start",
            "period_end",
            "quantity",
            "amount",
            "amount_currency",
            "status",
        )
    )
    for line_id, kind, key, start, end, quantity, amount, currency, status in rows:
        result[line_id].append(
            BilledPeriod(
                line_id=line_id,
                kind=kind,
                source_key=key,
                period_start=start,
                period_end=end,
                quantity=quantity,
                amount=Money(amount, currency),
                invoiced=status == BillingEvent.Status.INVOICED,
            )
        )
    return result


def enforceable(periods: Iterable[BilledPeriod], *, today: date) -> list[BilledPeriod]:
    """Return the billed periods of an evergreen line the customer is committed to.

    An evergreen subscription can be cancelled for any period not yet begun, so only periods
    invoiced or already started are consideration; the schedule materialized a year ahead is a
    forecast, not a promise.
    """
    return [period for period in periods if period.invoiced or period.period_start <= today]


def deliveries(line_ids: Iterable[int]) -> dict[int, list[Delivery]]:
    """Return each line's shipments, by line id."""
    result: dict[int, list[Delivery]] = defaultdict(list)
    rows = Shipment.objects.filter(line_id__in=list(line_ids)).values_list(
        "line_id", "shipped_on", "quantity"
    )
    for line_id, shipped_on, quantity in rows:
        result[line_id].append(Delivery(line_id, shipped_on, quantity))
    return result


def milestone_facts(line_ids: Iterable[int]) -> dict[int, list[MilestoneFact]]:
    """Return each line's milestones that still count (not cancelled), in schedule order."""
    result: dict[int, list[MilestoneFact]] = defaultdict(list)
    rows = (
        Milestone.objects.filter(line_id__in=list(line_ids))
        .exclude(status=Milestone.Status.CANCELLED)
        .order_by("line_id", "sequence")
        .values_list("line_id", "amount", "amount_currency", "planned_date", "achieved_on")
    )
    for line_id, amount, currency, planned, achieved in rows:
        result[line_id].append(MilestoneFact(line_id, Money(amount, currency), planned, achieved))
    return result


def cancelled_milestones(line_ids: Iterable[int]) -> dict[int, Money]:
    """Return, per milestone line, what its cancelled milestones were worth.

    Cancelling a planned milestone takes it out of the project: the line's consideration falls
    by its amount (the line's value is what the full schedule bills).
    """
    rows = (
        Milestone.objects.filter(line_id__in=list(line_ids), status=Milestone.Status.CANCELLED)
        .values("line_id", "amount_currency")
        .annotate(total=Sum("amount"))
        .order_by("line_id")
    )
    return {row["line_id"]: round_money(row["total"], row["amount_currency"]) for row in rows}


def credits_by_line(line_ids: Iterable[int]) -> dict[int, list[tuple[date, Money]]]:
    """Return what issued credit notes took back from each contract line, dated, by line id."""
    rows = (
        CreditNoteLine.objects.filter(
            invoice_line__contract_line_id__in=list(line_ids),
            credit_note__status=CreditNote.Status.ISSUED,
        )
        .values("invoice_line__contract_line_id", "credit_note__issue_date", "amount_currency")
        .annotate(total=Sum("amount"))
        .order_by("credit_note__issue_date")
    )
    result: dict[int, list[tuple[date, Money]]] = defaultdict(list)
    for row in rows:
        result[row["invoice_line__contract_line_id"]].append(
            (row["credit_note__issue_date"], round_money(row["total"], row["amount_currency"]))
        )
    return result
