"""The dashboard's own reads: MRR at month ends, milestones due, what is held, the last bill run.

Billings, revenue, balances and the aging are the reports' and receivables' selectors, reused as
they are. Each read here is one or two grouped queries whatever the size of the book, and its
figures come back per currency.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Case, Count, DecimalField, F, Q, QuerySet, Sum, When
from djmoney.money import Money

from billing.models import BillingEvent, BillRun, Invoice
from contracts.models import BillingModel, Contract, ContractLine, Milestone
from reports.selectors import month_range
from revenue.domain.recognition import month_end
from revenue.selectors import ZERO
from rms.money import round_money
from workspace.dashboard.mrr import MrrMonth, monthly_amount, mrr_movements

# How far ahead "due soon" looks, as the milestones list's own filter does.
UPCOMING_DAYS = 30
# The milestones listed on the dashboard per currency; the rest are a link away.
MILESTONE_ROWS = 10

_DECIMAL = DecimalField(max_digits=30, decimal_places=10)


def _scoped(queryset: QuerySet, *, currency_field: str, customer_field: str, filters) -> QuerySet:
    if filters.currency:
        queryset = queryset.filter(**{currency_field: filters.currency})
    if filters.customer_id:
        queryset = queryset.filter(**{customer_field: filters.customer_id})
    return queryset


# --- MRR -----------------------------------------------------------------------------------------


def _live_on(day: date) -> Q:
    return Q(service_start__lte=day) & (Q(service_end__isnull=True) | Q(service_end__gte=day))


def mrr_by_month(filters) -> dict[str, list[MrrMonth]]:
    """Return MRR and its movements for each month of ``filters``' range, per currency.

    A customer's MRR at a month end is the sum over the subscription lines of its signed
    contracts (any status but draft) in service that day of ``quantity x unit price / interval
    months``, rounded half-up to the currency's minor unit. One query: the lines' amounts per
    customer, currency and interval, with one column per month end.
    """
    months = month_range(filters.first, filters.last)
    ends = [filters.first - timedelta(days=1), *(month_end(month) for month in months)]
    lines = _scoped(
        ContractLine.objects.filter(billing_model=BillingModel.SUBSCRIPTION)
        .exclude(contract__status=Contract.Status.DRAFT)
        .filter(service_start__lte=ends[-1])
        .filter(Q(service_end__isnull=True) | Q(service_end__gte=ends[0])),
        currency_field="unit_price_currency",
        customer_field="contract__customer_id",
        filters=filters,
    )
    columns = {
        f"end_{index}": Sum(
            Case(When(_live_on(day), then=F("quantity") * F("unit_price")), default=ZERO),
            output_field=_DECIMAL,
        )
        for index, day in enumerate(ends)
    }
    rows = (
        lines.values("contract__customer_id", "unit_price_currency", "interval_months")
        .annotate(**columns)
        .order_by()
    )
    unrounded: dict[str, dict[int, list[Decimal]]] = defaultdict(dict)
    for row in rows:
        figures = unrounded[row["unit_price_currency"]].setdefault(
            row["contract__customer_id"], [Decimal(0)] * len(ends)
        )
        for index in range(len(ends)):
            figures[index] += monthly_amount(
                per_interval=row[f"end_{index}"] or Decimal(0),
                interval_months=row["interval_months"],
            )
    return {
        code: mrr_movements(
            {
                customer: [round_money(figure, code).amount for figure in figures]
                for customer, figures in customers.items()
            },
            months,
        )
        for code, customers in sorted(unrounded.items())
    }


# --- Milestones due ------------------------------------------------------------------------------


@dataclass(frozen=True)
class MilestoneTally:
    """How many planned milestones of one currency are overdue or due soon, and for how much."""

    currency: str
    overdue_count: int
    overdue: Money
    upcoming_count: int
    upcoming: Money


@dataclass(frozen=True)
class MilestonesDue:
    tallies: list[MilestoneTally]
    # The earliest planned ones (overdue first), each with its line, contract and customer.
    milestones: list[Milestone]
    as_of: date

    @property
    def horizon(self) -> date:
        return self.as_of + timedelta(days=UPCOMING_DAYS)


def milestones_due(filters) -> MilestonesDue:
    """Return the planned milestones overdue at ``as_of`` or due within 30 days of it.

    Two queries: the counts and amounts per currency, and the first few to list by name.
    """
    as_of = filters.as_of
    horizon = as_of + timedelta(days=UPCOMING_DAYS)
    planned = _scoped(
        Milestone.objects.filter(status=Milestone.Status.PLANNED, planned_date__lte=horizon),
        currency_field="amount_currency",
        customer_field="line__contract__customer_id",
        filters=filters,
    )
    overdue = Q(planned_date__lt=as_of)
    tallies = (
        planned.values("amount_currency")
        .annotate(
            overdue_count=Count("pk", filter=overdue),
            overdue=Sum("amount", filter=overdue),
            upcoming_count=Count("pk", filter=~overdue),
            upcoming=Sum("amount", filter=~overdue),
        )
        .order_by("amount_currency")
    )
    listed = planned.select_related("line__contract__customer").order_by(
        "planned_date", "line__contract__number", "line__sequence", "sequence"
    )
    return MilestonesDue(
        tallies=[
            MilestoneTally(
                currency=row["amount_currency"],
                overdue_count=row["overdue_count"],
                overdue=round_money(row["overdue"] or Decimal(0), row["amount_currency"]),
                upcoming_count=row["upcoming_count"],
                upcoming=round_money(row["upcoming"] or Decimal(0), row["amount_currency"]),
            )
            for row in tallies
        ],
        milestones=list(listed[:MILESTONE_ROWS]),
        as_of=as_of,
    )


# --- Held ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HeldTally:
    """What is held back in one currency: a count and an amount, for each of three reasons."""

    currency: str
    # Issued under a delivery hold and not sent yet.
    invoices_count: int
    invoices: Money
    # Due charges a billing hold (customer or contract) keeps from being invoiced.
    on_hold_count: int
    on_hold: Money
    # Due charges a not-to-exceed cap stops.
    capped_count: int
    capped: Money


def held(filters) -> list[HeldTally]:
    """Return the invoices held from delivery and the charges held from billing, per currency.

    Two grouped queries: issued invoices flagged ``delivery_held`` with no delivery yet, and the
    pending billing events due by ``as_of`` (not those scheduled later) that a billing hold or a
    not-to-exceed cap keeps back.
    """
    zero = {"invoices_count": 0, "on_hold_count": 0, "capped_count": 0}
    found: dict[str, dict] = defaultdict(lambda: dict(zero))
    invoices = _scoped(
        Invoice.objects.filter(
            status=Invoice.Status.ISSUED, delivery_held=True, sent_at__isnull=True
        ),
        currency_field="currency",
        customer_field="customer_id",
        filters=filters,
    )
    for row in invoices.values("currency").annotate(count=Count("pk"), amount=Sum("total")):
        found[row["currency"]].update(invoices_count=row["count"], invoices=row["amount"])
    on_hold = Q(contract__billing_hold=True) | Q(customer__billing_hold=True)
    capped = ~on_hold & ~Q(blocked_reason="")
    events = _scoped(
        BillingEvent.objects.filter(
            status=BillingEvent.Status.PENDING, bill_date__lte=filters.as_of
        ).filter(on_hold | ~Q(blocked_reason="")),
        currency_field="amount_currency",
        customer_field="customer_id",
        filters=filters,
    )
    rows = events.values("amount_currency").annotate(
        on_hold_count=Count("pk", filter=on_hold),
        on_hold=Sum("amount", filter=on_hold),
        capped_count=Count("pk", filter=capped),
        capped=Sum("amount", filter=capped),
    )
    for row in rows.order_by():
        found[row.pop("amount_currency")].update(row)
    return [
        HeldTally(
            currency=code,
            invoices_count=figures["invoices_count"],
            invoices=round_money(figures.get("invoices") or Decimal(0), code),
            on_hold_count=figures["on_hold_count"],
            on_hold=round_money(figures.get("on_hold") or Decimal(0), code),
            capped_count=figures["capped_count"],
            capped=round_money(figures.get("capped") or Decimal(0), code),
        )
        for code, figures in sorted(found.items())
    ]


def last_bill_run() -> BillRun | None:
    """Return the most recently started bill run (runs are book-wide: no filter applies)."""
    return BillRun.objects.order_by("-started_at", "-pk").first()
