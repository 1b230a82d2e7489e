"""Reads behind the finance reports, aggregated by month in the database.

Each report is a fixed number of grouped queries whatever the size of the book, and its figures
come back per currency: amounts in different currencies are never added together.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db.models import Case, Count, DateField, DecimalField, F, Q, QuerySet, Sum, Value, When
from django.db.models.functions import TruncMonth
from djmoney.money import Money

from contracts.models import Contract
from revenue.domain.earning import next_month
from revenue.domain.recognition import month_end, month_start
from revenue.journal import ledger_accounts
from revenue.models import (
    JournalEntry,
    JournalLine,
    LedgerAccount,
    PerformanceObligation,
    RevenueScheduleEntry,
)
from revenue.selectors import BILLING_KINDS, ZERO, rpo_of
from rms.money import round_money

# The waterfall's month columns; everything after them is one "later" column.
WATERFALL_MONTHS = 12
# The roll-forward's bucket for everything posted before its first month.
OPENING = date.min


def month_range(first: date, last: date) -> list[date]:
    """Return the first day of every month from ``first``'s to ``last``'s, both included."""
    months, cursor = [], month_start(first)
    while cursor <= last:
        months.append(cursor)
        cursor = next_month(cursor)
    return months


def _scoped(
    queryset: QuerySet, *, currency_field: str, contract: str, currency: str, customer_id: int
) -> QuerySet:
    """Narrow ``queryset`` to one currency and one customer, where they are given."""
    if currency:
        queryset = queryset.filter(**{currency_field: currency})
    if customer_id:
        queryset = queryset.filter(**{f"{contract}__customer_id": customer_id})
    return queryset


def _signed(then: Q, amount: F) -> Sum:
    """Sum ``amount`` over the rows matching ``then``."""
    return Sum(
        Case(When(then, then=amount), default=ZERO),
        output_field=DecimalField(max_digits=19, decimal_places=4),
    )


def _money(amount: Decimal | None, currency: str) -> Money:
    # Every posting is on the minor unit; rounding only removes SQLite's float noise.
    return round_money(amount or Decimal(0), currency)


# --- Revenue waterfall ---------------------------------------------------------------------------


@dataclass(frozen=True)
class WaterfallRow:
    """One contract's revenue per month column, then "later"."""

    contract_id: int
    contract: str
    customer: str
    amounts: tuple[Money, ...]

    @property
    def total(self) -> Money:
        return sum(self.amounts[1:], self.amounts[0])


@dataclass(frozen=True)
class Waterfall:
    """The waterfall of one currency: months, one row per contract, the column totals."""

    currency: str
    months: list[date]
    rows: list[WaterfallRow]
    totals: tuple[Money, ...]

    @property
    def total(self) -> Money:
        return sum(self.totals[1:], self.totals[0])


def revenue_waterfall(
    *, as_of: date, currency: str = "", customer_id: int | None = None
) -> list[Waterfall]:
    """Return revenue by month from ``as_of``'s month on, per contract, one table per currency.

    The schedules as they stand: what is recognized in those months and what is planned, the
    twelve months from ``as_of``'s own, then everything after them in one "later" bucket.
    """
    months = [month_start(as_of)]
    while len(months) < WATERFALL_MONTHS:
        months.append(next_month(months[-1]))
    later = next_month(months[-1])
    entries = _scoped(
        RevenueScheduleEntry.objects.filter(period__gte=months[0]),
        currency_field="amount_currency",
        contract="contract",
        currency=currency,
        customer_id=customer_id,
    )
    rows = (
        entries.annotate(
            bucket=Case(
                When(period__gte=later, then=Value(later)),
                default=F("period"),
                output_field=DateField(),
            )
        )
        .values(
            "amount_currency",
            "contract_id",
            "contract__number",
            "contract__customer__legal_name",
            "bucket",
        )
        .annotate(amount=Sum("amount"))
        .order_by("amount_currency", "contract__customer__legal_name", "contract__number")
    )
    columns = {month: index for index, month in enumerate([*months, later])}
    tables: dict[str, dict[int, list]] = defaultdict(dict)
    for row in rows:
        code = row["amount_currency"]
        contract = tables[code].setdefault(
            row["contract_id"],
            [
                row["contract__number"],
                row["contract__customer__legal_name"],
                [Decimal(0)] * len(columns),
            ],
        )
        contract[2][columns[row["bucket"]]] += row["amount"]
    result = []
    for code, contracts in tables.items():
        lines = [
            WaterfallRow(
                contract_id=contract_id,
                contract=number,
                customer=customer,
                amounts=tuple(_money(amount, code) for amount in amounts),
            )
            for contract_id, (number, customer, amounts) in contracts.items()
        ]
        totals = tuple(
            sum((line.amounts[i] for line in lines), Money(0, code)) for i in range(len(columns))
        )
        result.append(Waterfall(currency=code, months=months, rows=lines, totals=totals))
    return result


# --- Deferred revenue roll-forward ---------------------------------------------------------------


@dataclass(frozen=True)
class RollForwardMonth:
    """One month of the contract balance account: ``opening + billings - revenue = closing``.

    Balances are read as deferred revenue, positive when billed ahead of revenue. The closing
    balance is each contract's net figure added up; ``deferred`` and ``unbilled`` are its two
    sides (contracts billed ahead are a liability, contracts earned ahead an asset), so
    ``closing = deferred - unbilled``.
    """

    period: date
    opening: Money
    billings: Money
    revenue: Money
    closing: Money
    deferred: Money
    unbilled: Money


def deferred_revenue_rollforward(
    *, first: date, last: date, currency: str = "", customer_id: int | None = None
) -> dict[str, list[RollForwardMonth]]:
    """Return the roll-forward of the contract balance per currency, month by month.

    Read off the journal's contract-balance account by accounting period: billings are the
    invoices less voids and credit notes it was credited with, revenue every other posting to
    it (recognitions and their catch-ups). Everything before ``first`` is summed per contract
    into one opening bucket, so the rows fetched grow with the months shown, not the book's age.
    """
    months = month_range(first, last)
    account = ledger_accounts()[LedgerAccount.Role.CONTRACT]
    lines = _scoped(
        JournalLine.objects.filter(account=account, entry__period__lte=months[-1]),
        currency_field="currency",
        contract="contract",
        currency=currency,
        customer_id=customer_id,
    )
    rows = (
        lines.annotate(
            bucket=Case(
                When(entry__period__lt=months[0], then=Value(OPENING)),
                default=F("entry__period"),
                output_field=DateField(),
            )
        )
        .values("currency", "bucket", "contract_id")
        .annotate(
            billings=_signed(Q(kind__in=BILLING_KINDS), F("credit") - F("debit")),
            revenue=_signed(~Q(kind__in=BILLING_KINDS), F("debit") - F("credit")),
        )
        .order_by("currency", "bucket")
    )
    by_currency: dict[str, dict[date, list]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        by_currency[row["currency"]][row["bucket"]].append(row)
    return {
        code: _roll_forward(code, postings, months)
        for code, postings in sorted(by_currency.items())
    }


def _roll_forward(code: str, postings: dict[date, list], months: list[date]) -> list:
    """Walk the months, keeping each contract's balance and the sums of its two sides."""
    balances: dict[int | None, Money] = defaultdict(lambda: Money(0, code))
    zero = Money(0, code)
    deferred = unbilled = zero

    def post(month: date) -> tuple[Money, Money]:
        nonlocal deferred, unbilled
        billed = revenue = zero
        for row in postings.get(month, []):
            month_billed, month_revenue = (
                _money(row["billings"], code),
                _money(row["revenue"], code),
            )
            billed, revenue = billed + month_billed, revenue + month_revenue
            before = balances[row["contract_id"]]
            after = balances[row["contract_id"]] = before + month_billed - month_revenue
            deferred += max(after, zero) - max(before, zero)
            unbilled += max(-after, zero) - max(-before, zero)
        return billed, revenue

    post(OPENING)
    result = []
    for month in months:
        opening = deferred - unbilled
        billed, revenue = post(month)
        result.append(
            RollForwardMonth(
                period=month,
                opening=opening,
                billings=billed,
                revenue=revenue,
                closing=deferred - unbilled,
                deferred=deferred,
                unbilled=unbilled,
            )
        )
    return result


# --- Remaining performance obligations -----------------------------------------------------------


@dataclass(frozen=True)
class RpoRow:
    """One contract's transaction price, what of it is recognized, and what remains when."""

    contract_id: int
    contract: str
    customer: str
    transaction_price: Money
    recognized: Money
    remaining: Money
    within_12_months: Money
    later: Money


def remaining_obligations(
    *, as_of: date, currency: str = "", customer_id: int | None = None
) -> dict[str, list[RpoRow]]:
    """Return the RPO of every contract with some left at ``as_of``, per currency.

    The transaction price is the sum of the obligations' allocations; the remainder and its
    timing are ``revenue.selectors.rpo_of``'s, so this page and the contract page agree.
    """
    prices = (
        _scoped(
            PerformanceObligation.objects.all(),
            currency_field="allocated_currency",
            contract="contract",
            currency=currency,
            customer_id=customer_id,
        )
        .values(
            "contract_id",
            "contract__number",
            "contract__customer__legal_name",
            "allocated_currency",
        )
        .annotate(price=Sum("allocated"))
        .order_by("allocated_currency", "contract__customer__legal_name", "contract__number")
    )
    prices = list(prices)
    rpo = rpo_of(contract_ids=[row["contract_id"] for row in prices], as_of=as_of)
    result: dict[str, list[RpoRow]] = defaultdict(list)
    for row in prices:
        remaining = rpo[row["contract_id"]]
        if not remaining.total:
            continue
        code = row["allocated_currency"]
        price = _money(row["price"], code)
        result[code].append(
            RpoRow(
                contract_id=row["contract_id"],
                contract=row["contract__number"],
                customer=row["contract__customer__legal_name"],
                transaction_price=price,
                recognized=price - remaining.total,
                remaining=remaining.total,
                within_12_months=remaining.within_12_months,
                later=remaining.later,
            )
        )
    return dict(result)


# --- Billings and bookings -----------------------------------------------------------------------


@dataclass(frozen=True)
class BillingsMonth:
    """A month's billings: invoices issued, less voids and credit notes (both negative here)."""

    period: date
    invoiced: Money
    voided: Money
    credited: Money

    @property
    def net(self) -> Money:
        return self.invoiced + self.voided + self.credited


BILLINGS_KIND_FIELD = {
    JournalEntry.Kind.INVOICE: "invoiced",
    JournalEntry.Kind.INVOICE_VOID: "voided",
    JournalEntry.Kind.CREDIT_NOTE: "credited",
}


def billings_by_month(
    *, first: date, last: date, currency: str = "", customer_id: int | None = None
) -> dict[str, list[BillingsMonth]]:
    """Return each month's billings per currency, net of sales tax, by accounting period.

    Read off the contract-balance account as the roll-forward is, so its billings column and
    this report's net billings are the same figures.
    """
    account = ledger_accounts()[LedgerAccount.Role.CONTRACT]
    months = month_range(first, last)
    lines = _scoped(
        JournalLine.objects.filter(
            account=account, kind__in=BILLING_KINDS, entry__period__range=(months[0], months[-1])
        ),
        currency_field="currency",
        contract="contract",
        currency=currency,
        customer_id=customer_id,
    )
    rows = lines.values("currency", "entry__period", "kind").annotate(
        amount=Sum(F("credit") - F("debit"))
    )
    found: dict[str, dict[date, dict[str, Money]]] = defaultdict(lambda: defaultdict(dict))
    for row in rows.order_by("currency", "entry__period", "kind"):
        code = row["currency"]
        found[code][row["entry__period"]][BILLINGS_KIND_FIELD[row["kind"]]] = _money(
            row["amount"], code
        )
    return {
        code: [
            BillingsMonth(
                period=month,
                **{field: by_month[month].get(field, Money(0, code)) for field in _BILLINGS},
            )
            for month in months
        ]
        for code, by_month in sorted(found.items())
    }


_BILLINGS = list(BILLINGS_KIND_FIELD.values())


@dataclass(frozen=True)
class BookingsMonth:
    """The contracts signed in a month and their total contract value."""

    period: date
    contracts: int
    value: Money


def bookings_by_month(
    *, first: date, last: date, currency: str = "", customer_id: int | None = None
) -> dict[str, list[BookingsMonth]]:
    """Return the contracts signed each month and their total value, per currency.

    A contract is booked in the month of its signed date, once active (drafts are not
    bookings), at its transaction price: the sum of its obligations' allocations.
    """
    months = month_range(first, last)
    obligations = _scoped(
        PerformanceObligation.objects.filter(
            contract__signed_date__range=(months[0], month_end(months[-1]))
        ).exclude(contract__status=Contract.Status.DRAFT),
        currency_field="allocated_currency",
        contract="contract",
        currency=currency,
        customer_id=customer_id,
    )
    rows = (
        obligations.annotate(month=TruncMonth("contract__signed_date", output_field=DateField()))
        .values("allocated_currency", "month")
        .annotate(contracts=Count("contract", distinct=True), value=Sum("allocated"))
        .order_by("allocated_currency", "month")
    )
    found: dict[str, dict[date, BookingsMonth]] = defaultdict(dict)
    for row in rows:
        code = row["allocated_currency"]
        found[code][row["month"]] = BookingsMonth(
            period=row["month"], contracts=row["contracts"], value=_money(row["value"], code)
        )
    return {
        code: [
            by_month.get(month) or BookingsMonth(period=month, contracts=0, value=Money(0, code))
            for month in months
        ]
        for code, by_month in sorted(found.items())
    }
