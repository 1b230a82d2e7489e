"""Rating usage: each ended billing period of a usage line becomes usage charges, in arrears.

The pipeline of the bill run, for usage: ``usage_rating_propose`` reads a batch of lines (their
plans, the usage not yet billed, summed per line and local day, and the events already rated)
and proposes the billing events to create and the pending ones to rewrite, with the records each
event bills; ``usage_rate_due`` persists that under the customers' locks (a bill run's chunk
does it for its own customers with ``usage_rate_customers``), and the preview of a run
(``usage_rate_preview``) uses the same proposal without writing it.

What a period bills, by source key within its line:

- ``usage:<period start>``, the usage charge: the period's total quantity rated by the line's
  plan, with its tier rows as the breakdown. Every ended period gets one, also when it charges
  nothing: that zero charge is the line's watermark (the periods up to the latest charge are
  rated, no separate "rated through" date needs keeping; ``scheduled_through`` belongs to the
  subscription schedules, which set it on usage lines too) and the event the period's records
  point to. A usage event of zero amount is never put on an invoice (see
  ``billing.runs.due_events``), so a period that charges nothing shows nothing to the customer.
- ``usage:<period start>:minimum``, the true-up up to a minimum commitment.
- ``usage:<period start>:adjustment:<n>``, usage that arrived after the period was invoiced:
  the period's whole total is rated again and the adjustment bills the difference from what the
  period's live events already bill, dated on the run that found it. While nothing of the period
  is invoiced yet, late usage rewrites the pending charge (and true-up) in place instead.

Records are linked to the event that billed them (``UsageRecord.billed_event``), so an invoice
line reaches its records. Exactly once: the records summed and the records linked are the same
rows because the batch's customers are locked first (``lock_customers`` takes ``FOR UPDATE`` on
them, which waits for and then blocks every transaction inserting a usage record of theirs: the
record's foreign key holds a key-share lock on its customer), the events are read under that
lock, and the unique (line, source key) refuses a second insert of any charge. A period's terms
(service start, interval) are assumed fixed once it is rated.
"""

import bisect
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import Max, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import TruncDate
from djmoney.money import Money

from billing.domain.periods import Period, billing_periods
from billing.domain.rating import (
    Plan,
    PlanError,
    PlanKind,
    Rating,
    Row,
    Tier,
    check_plan,
    rate,
)
from billing.domain.subscriptions import format_day
from billing.models import BillingEvent, RatePlan, RateTier, UsageRecord
from billing.schedules import lock_customers
from contracts.models import BillingModel, Contract, ContractLine
from rms.bulk import bulk_insert
from rms.money import round_money

logger = logging.getLogger(__name__)

# Usage lines rated per batch: one lock, four reads and a few bulk writes per batch. 2,000 lines
# hold at most a few tens of thousands of (line, day) sums in memory.
RATING_BATCH_SIZE = 2_000
PREFIX = "usage:"
MINIMUM = "minimum"
ADJUSTMENT = "adjustment"
# The fields a late record may change on a pending usage event.
REWRITTEN_FIELDS = ["quantity", "unit_price", "amount", "breakdown"]


def plan_of(rate_plan: RatePlan, currency: str, tiers: Sequence[RateTier]) -> Plan:
    """Return a stored rate plan and its tiers (in sequence) as the pure rating takes them."""
    return Plan(
        kind=PlanKind(rate_plan.kind),
        currency=currency,
        unit_price=rate_plan.unit_price,
        tiers=[Tier(t.up_to, t.unit_price, t.flat_fee) for t in tiers],
        package_size=rate_plan.package_size,
        package_price=rate_plan.package_price,
        included_quantity=rate_plan.included_quantity,
        base_fee=rate_plan.base_fee,
        minimum=rate_plan.minimum_charge,
        maximum=rate_plan.maximum_charge,
    )


def charge_key(start: date) -> str:
    return f"{PREFIX}{start.isoformat()}"


def ended_periods(line: ContractLine, *, as_of: date) -> list[Period]:
    """Return the line's periods billable on ``as_of``: in arrears, the day after each ends."""
    periods = billing_periods(
        service_start=line.service_start,
        service_end=line.service_end,
        interval_months=line.interval_months or 1,
        bill_day=None,
        through=as_of,
    )
    return [period for period in periods if period.end <= as_of]


def local_midnight(day: date) -> datetime:
    """Return the start of ``day`` in the billing time zone, where periods begin and end."""
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(settings.TIME_ZONE))


def _describe_period(period: Period) -> str:
    return f"{format_day(period.start)} \u2013 {format_day(period.last_day)}"


def _as_rows(rows: Iterable[Row]) -> list[dict[str, str]]:
    return [row.as_dict() for row in rows]


def _fee_row(description: str, amount: Money) -> Row:
    """A row of one fixed amount (a commitment, what was billed before), sign included."""
    return Row(description, Decimal(1), amount.amount, amount)


@dataclass
class RatingProposal:
    """What rating a batch would write: new events, rewritten pending ones, records to link.

    ``links`` maps (period start, period end, source key) to the lines whose unbilled records
    in that period go to the line's event of that key: one UPDATE per entry, whatever the number
    of lines or records.
    """

    created: list[BillingEvent] = field(default_factory=list)
    updated: list[BillingEvent] = field(default_factory=list)
    links: dict[tuple[date, date, str], list[int]] = field(
        default_factory=lambda: defaultdict(list)
    )

    def link(self, line: ContractLine, period: Period, key: str) -> None:
        self.links[(period.start, period.end, key)].append(line.pk)


class _LineRater:
    """Rates one line's periods into a proposal: new periods, then periods with late usage."""

    def __init__(
        self,
        line: ContractLine,
        tiers: Sequence[RateTier],
        periods: list[Period],
        proposal: RatingProposal,
        *,
        as_of: date,
    ) -> None:
        self.line = line
        self.periods = periods
        self.proposal = proposal
        self.as_of = as_of
        self.currency = line.contract.currency
        self.plan = plan_of(line.rate_plan, self.currency, tiers)
        self.name = line.description or line.product.name
        check_plan(self.plan)  # once, before any period

    def event(self, key: str, period: Period, amount: Money, **values) -> BillingEvent:
        line = self.line
        # Priced per period: the unit price is the period's charge, the quantity the usage that
        # it bills; the breakdown carries the rates.
        return BillingEvent(
            line=line,
            contract=line.contract,
            customer=line.contract.customer,
            kind=BillingEvent.Kind.USAGE,
            source_key=key,
            period_start=period.start,
            period_end=period.last_day,
            unit_price=amount,
            amount=amount,
            **values,
        )

    def rate_new(self, period: Period, quantity: Decimal) -> None:
        """Propose the charge (and true-up) of a period rated for the first time."""
        rating = rate(self.plan, quantity)
        key = charge_key(period.start)
        self.proposal.created.append(
            self.event(
                key,
                period,
                rating.charge,
                bill_date=period.end,
                quantity=quantity,
                description=f"{self.name}: usage {_describe_period(period)}"[:255],
                breakdown=_as_rows(rating.rows),
            )
        )
        if rating.true_up is not None:
            self.proposal.created.append(self._true_up(period, rating))
        self.proposal.link(self.line, period, key)

    def _true_up(self, period: Period, rating: Rating) -> BillingEvent:
        return self.event(
            f"{charge_key(period.start)}:{MINIMUM}",
            period,
            rating.true_up,
            bill_date=period.end,
            quantity=Decimal(1),
            description=f"{self.name}: minimum commitment, {_describe_period(period)}"[:255],
            breakdown=self._true_up_rows(rating),
        )

    def _true_up_rows(self, rating: Rating) -> list[dict[str, str]]:
        minimum = rating.charge + rating.true_up
        return _as_rows(
            [
                _fee_row("Minimum commitment for the period", minimum),
                _fee_row("Less the usage charge", -rating.charge),
            ]
        )

    def rate_late(self, period: Period, late: Decimal, events: list[BillingEvent]) -> None:
        """Bill records that arrived after ``period`` was rated: rewrite it, or adjust it."""
        by_key = {event.source_key: event for event in events}
        charge = by_key[charge_key(period.start)]
        adjustments = sorted(
            (e for e in events if e.source_key.split(":")[2:3] == [ADJUSTMENT]),
            key=lambda e: int(e.source_key.rsplit(":", 1)[1]),
        )
        # What the period's records add up to so far: the charge counts the period's total when
        # it was rated, each adjustment the late records it billed.
        total = charge.quantity + sum((e.quantity for e in adjustments), Decimal(0)) + late
        rating = rate(self.plan, total)
        if not adjustments and all(e.status == BillingEvent.Status.PENDING for e in events):
            self._rewrite(period, charge, by_key, rating)
        else:
            self._adjust(period, late, events, adjustments, rating)

    def _rewrite(self, period: Period, charge: BillingEvent, by_key: dict, rating: Rating) -> None:
        """Nothing of the period is invoiced yet: the pending charge and true-up take it all."""
        charge.quantity = rating.quantity
        charge.unit_price = charge.amount = rating.charge
        charge.breakdown = _as_rows(rating.rows)
        self.proposal.updated.append(charge)
        true_up = by_key.get(f"{charge.source_key}:{MINIMUM}")
        if true_up is not None:
            # No longer needed, it drops to zero, which no invoice shows; it is not deleted, as
            # a voided invoice line may still name it.
            amount = rating.true_up or Money(0, self.currency)
            true_up.unit_price = true_up.amount = amount
            true_up.breakdown = self._true_up_rows(rating) if rating.true_up else []
            self.proposal.updated.append(true_up)
        elif rating.true_up is not None:
            self.proposal.created.append(self._true_up(period, rating))
        self.proposal.link(self.line, period, charge.source_key)

    def _adjust(
        self,
        period: Period,
        late: Decimal,
        events: list[BillingEvent],
        adjustments: list[BillingEvent],
        rating: Rating,
    ) -> None:
        """Bill the difference between the period re-rated and what its events already bill."""
        pending = adjustments[-1] if adjustments else None
        if pending is not None and pending.status != BillingEvent.Status.PENDING:
            pending = None
        # Stored amounts carry the field's four places; the sum is a whole number of cents.
        billed = round_money(
            sum((e.amount for e in events if e is not pending), Money(0, self.currency))
        )
        total = rating.charge + (rating.true_up or Money(0, self.currency))
        rows = [*rating.rows]
        if rating.true_up is not None:
            rows.append(_fee_row("Minimum commitment true-up", rating.true_up))
        rows.append(_fee_row(f"Already billed for {_describe_period(period)}", -billed))
        breakdown = _as_rows(rows)
        difference = total - billed
        if pending is not None:
            pending.quantity += late
            pending.unit_price = pending.amount = difference
            pending.breakdown = breakdown
            self.proposal.updated.append(pending)
            key = pending.source_key
        else:
            key = f"{charge_key(period.start)}:{ADJUSTMENT}:{len(adjustments) + 1}"
            self.proposal.created.append(
                self.event(
                    key,
                    period,
                    difference,
                    bill_date=self.as_of,
                    quantity=late,
                    description=(
                        f"{self.name}: usage adjustment for {_describe_period(period)}: "
                        "late records"
                    )[:255],
                    breakdown=breakdown,
                )
            )
        self.proposal.link(self.line, period, key)


def _candidates(*, as_of: date) -> QuerySet[ContractLine]:
    """Usage lines that may have a period to rate on ``as_of``."""
    return ContractLine.objects.filter(
        billing_model=BillingModel.USAGE,
        rate_plan__isnull=False,
        contract__status__in=[Contract.Status.ACTIVE, Contract.Status.COMPLETED],
        service_start__lt=as_of,
    )


def usage_lines(*, as_of: date) -> list[tuple[int, int]]:
    """Return (line id, customer id) of every usage line that may have a period to rate."""
    return list(_candidates(as_of=as_of).order_by("pk").values_list("pk", "contract__customer_id"))


def _unbilled_by_day(
    cutoffs: dict[int, date],
) -> dict[int, list[tuple[date, Decimal]]]:
    """Sum each line's unbilled usage per local day, before the line's cutoff, in one query."""
    by_cutoff: dict[date, list[int]] = defaultdict(list)
    for line_id, cutoff in cutoffs.items():
        by_cutoff[cutoff].append(line_id)
    window = Q()
    for cutoff, line_ids in by_cutoff.items():
        window |= Q(line_id__any=line_ids, occurred_at__lt=local_midnight(cutoff))
    rows = (
        UsageRecord.objects.filter(window, billed_event__isnull=True)
        .annotate(day=TruncDate("occurred_at", tzinfo=ZoneInfo(settings.TIME_ZONE)))
        .order_by()  # the model's ordering would split the groups
        .values_list("line_id", "day")
        .annotate(total=Sum("quantity"))
    )
    by_line: dict[int, list[tuple[date, Decimal]]] = defaultdict(list)
    for line_id, day, total in rows:
        by_line[line_id].append((day, total))
    return by_line


def usage_rating_propose(lines: Sequence[ContractLine], *, as_of: date) -> RatingProposal:
    """Propose what rating ``lines`` on ``as_of`` bills, reading only; see the module docstring.

    ``lines`` come with their contract, customer, product and rate plan. A line whose
    plan cannot rate (a tiered plan without tiers) is logged and left unrated: its usage waits,
    unbilled, until the plan is fixed.
    """
    proposal = RatingProposal()
    rated_through = dict(
        BillingEvent.objects.filter(line__any=lines, kind=BillingEvent.Kind.USAGE)
        .order_by()
        .values_list("line_id")
        .annotate(last=Max("period_end"))
    )
    # One read of the tiers: prefetching them would build a queryset per plan.
    tiers: dict[int, list[RateTier]] = defaultdict(list)
    for tier in RateTier.objects.filter(plan__line__any=lines).order_by("plan_id", "sequence"):
        tiers[tier.plan_id].append(tier)
    raters = []
    for line in lines:
        periods = ended_periods(line, as_of=as_of)
        if not periods:
            continue
        try:
            rater = _LineRater(line, tiers[line.rate_plan.pk], periods, proposal, as_of=as_of)
            raters.append(rater)
        except (PlanError, ValueError) as error:
            logger.error("Usage line %s is not rated: %s", line.pk, error)
    usage = _unbilled_by_day({r.line.pk: r.periods[-1].end for r in raters}) if raters else {}
    late: dict[tuple[int, date], Decimal] = {}
    for rater in raters:
        last_rated = rated_through.get(rater.line.pk)
        starts = [period.start for period in rater.periods]
        totals: dict[Period, Decimal] = defaultdict(Decimal)
        for day, quantity in usage.get(rater.line.pk, []):
            index = bisect.bisect_right(starts, day) - 1
            if index >= 0:  # usage before the service started is never billed
                totals[rater.periods[index]] += quantity
        for period in rater.periods:
            if last_rated is None or period.last_day > last_rated:
                rater.rate_new(period, totals[period])
            elif period in totals:
                late[(rater.line.pk, period.start)] = totals[period]
    if late:
        _propose_late(raters, late)
    return proposal


def _propose_late(raters: list[_LineRater], late: dict[tuple[int, date], Decimal]) -> None:
    """Re-rate the periods that received late usage, against their stored events."""
    events: dict[tuple[int, date], list[BillingEvent]] = defaultdict(list)
    for event in BillingEvent.objects.filter(
        line__in={line_id for line_id, _ in late},
        kind=BillingEvent.Kind.USAGE,
        period_start__in={start for _, start in late},
    ).exclude(status=BillingEvent.Status.CANCELLED):
        events[(event.line_id, event.period_start)].append(event)
    for rater in raters:
        for period in rater.periods:
            key = (rater.line.pk, period.start)
            if key in late and events[key]:
                rater.rate_late(period, late[key], events[key])


def _rating_batches(*, as_of: date) -> Iterable[list[int]]:
    candidates = usage_lines(as_of=as_of)
    for start in range(0, len(candidates), RATING_BATCH_SIZE):
        yield candidates[start : start + RATING_BATCH_SIZE]


# What rating (and the run's preview, which holds and prices the events) reads of a line and
# its contract, customer and product: a bill run loads thousands of lines, and building five
# models of every column each was a third of the rating's time.
LOADED_FIELDS = (
    "sequence",
    "description",
    "service_start",
    "service_end",
    "interval_months",
    "product__name",
    "product__tax_rate",
    "contract__number",
    "contract__currency",
    "contract__billing_hold",
    "contract__delivery_hold",
    "contract__customer__billing_hold",
    "contract__customer__delivery_hold",
    "contract__customer__tax_rate",
)


def _lines_of(batch: list[tuple[int, int]]) -> QuerySet[ContractLine]:
    return ContractLine.objects.filter(pk__any=[line_id for line_id, _ in batch])


def _load(lines: QuerySet[ContractLine]) -> list[ContractLine]:
    plan_fields = (f"rate_plan__{field.name}" for field in RatePlan._meta.concrete_fields)
    return list(
        lines.select_related("contract__customer", "product", "rate_plan")
        .only(*LOADED_FIELDS, *plan_fields)
        .order_by("pk")
    )


@transaction.atomic
def usage_rate_due(*, as_of: date) -> int:
    """Rate every usage period that has ended by ``as_of``, and late usage; return events written.

    Idempotent: a second call finds every ended period rated and no record unbilled, and writes
    nothing. Batches lock their customers in id order, as the bill run's chunks do.
    """
    written = 0
    for batch in _rating_batches(as_of=as_of):
        lock_customers(customer_id for _, customer_id in batch)
        written += _rate_lines(_load(_lines_of(batch)), as_of=as_of)
    return written


def usage_rate_customers(*, as_of: date, customer_ids: Sequence[int]) -> int:
    """Rate what ``usage_rate_due`` would for some customers only; return events written.

    For a bill-run chunk, which rates its own customers' usage and then bills it, so that the
    rating is shared among the run's workers. The caller's transaction holds the customers'
    locks (``lock_customers``).
    """
    lines = _load(_candidates(as_of=as_of).filter(contract__customer_id__any=customer_ids))
    return sum(
        _rate_lines(lines[start : start + RATING_BATCH_SIZE], as_of=as_of)
        for start in range(0, len(lines), RATING_BATCH_SIZE)
    )


def _rate_lines(lines: list[ContractLine], *, as_of: date) -> int:
    """Rate and persist some lines whose customers are locked; return the events written."""
    proposal = usage_rating_propose(lines, as_of=as_of)
    bulk_insert(BillingEvent, proposal.created)
    BillingEvent.objects.bulk_update(
        proposal.updated, [*REWRITTEN_FIELDS, "unit_price_currency", "amount_currency"]
    )
    _link_records(proposal.links)
    return len(proposal.created) + len(proposal.updated)


def _link_records(links: dict[tuple[date, date, str], list[int]]) -> None:
    """Point each period's unbilled records at the event that billed them: one UPDATE per key."""
    for (start, end, key), line_ids in links.items():
        UsageRecord.objects.filter(
            line_id__any=line_ids,
            billed_event__isnull=True,
            occurred_at__gte=local_midnight(start),
            occurred_at__lt=local_midnight(end),
        ).update(
            billed_event=Subquery(
                BillingEvent.objects.filter(line_id=OuterRef("line_id"), source_key=key).values(
                    "pk"
                )[:1]
            )
        )


def usage_rate_preview(*, as_of: date) -> list[BillingEvent]:
    """Return the usage events a run on ``as_of`` would create or rewrite, writing nothing.

    New events have no primary key; rewritten ones keep theirs, with their new amounts.
    """
    events = []
    for batch in _rating_batches(as_of=as_of):
        proposal = usage_rating_propose(_load(_lines_of(batch)), as_of=as_of)
        events += proposal.created + proposal.updated
    return events
