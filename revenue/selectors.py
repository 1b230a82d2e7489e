"""Reads of the revenue ledger: contract positions, RPO, trial balance, billing against revenue.

Everything is read off the journal (what was posted, as of its accounting date), aggregated in
the database: the position of a whole book is one grouped query, whatever its size.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db.models import Case, DecimalField, F, Q, QuerySet, Sum, Value, When
from djmoney.money import Money

from contracts.models import Contract
from revenue.domain.position import Position, contract_position, remaining_obligation
from revenue.domain.recognition import RevenueEntry, month_end
from revenue.journal import ledger_accounts
from revenue.models import (
    JournalEntry,
    JournalLine,
    LedgerAccount,
    PerformanceObligation,
    RevenueScheduleEntry,
)
from rms.money import round_money

# Billed is net of voids and credit notes: each reverses what it takes back.
BILLING_KINDS = [
    JournalEntry.Kind.INVOICE,
    JournalEntry.Kind.INVOICE_VOID,
    JournalEntry.Kind.CREDIT_NOTE,
]
ZERO = Value(Decimal(0), output_field=DecimalField(max_digits=19, decimal_places=4))


def _net(then: Q) -> Sum:
    """Sum credits minus debits of the journal lines matching ``then``."""
    return Sum(
        Case(When(then, then=F("credit") - F("debit")), default=ZERO),
        output_field=DecimalField(max_digits=19, decimal_places=4),
    )


def _position_rows(*, as_of: date, contract_ids: Iterable[int] | None = None) -> QuerySet:
    """Return one row per contract and currency: revenue and billed through ``as_of``."""
    accounts = ledger_accounts()
    revenue = accounts[LedgerAccount.Role.REVENUE]
    contract = accounts[LedgerAccount.Role.CONTRACT]
    lines = JournalLine.objects.filter(
        date__lte=as_of, account__in=[revenue, contract], contract__isnull=False
    )
    if contract_ids is not None:
        lines = lines.filter(contract_id__in=list(contract_ids))
    return (
        lines.values("contract_id", "currency")
        .annotate(
            revenue=_net(Q(account=revenue)),
            billed=_net(Q(account=contract, kind__in=BILLING_KINDS)),
        )
        .order_by("contract_id")
    )


def _position(row: dict) -> Position:
    # Rounding to the minor unit only removes SQLite's float noise: every posting is on it.
    return contract_position(
        revenue=round_money(row["revenue"], row["currency"]),
        billed=round_money(row["billed"], row["currency"]),
    )


def positions_of(*, contracts: Iterable[Contract], as_of: date) -> dict[int, Position]:
    """Return the position at ``as_of`` of each of ``contracts`` (zero where nothing posted)."""
    contracts = list(contracts)
    found = {
        row["contract_id"]: _position(row)
        for row in _position_rows(as_of=as_of, contract_ids=[c.pk for c in contracts])
    }
    zero = {c.pk: Money(0, c.currency) for c in contracts}
    return {
        c.pk: found.get(c.pk) or contract_position(revenue=zero[c.pk], billed=zero[c.pk])
        for c in contracts
    }


def position_of(*, contract: Contract, as_of: date) -> Position:
    """Return a contract's cumulative revenue, billings and net position at ``as_of``."""
    return positions_of(contracts=[contract], as_of=as_of)[contract.pk]


@dataclass(frozen=True)
class BookPosition:
    """The positions of every contract with postings, and their totals per currency."""

    as_of: date
    by_contract: dict[int, Position]
    totals: dict[str, dict[str, Money]]


def book_position(*, as_of: date) -> BookPosition:
    """Return every contract's position at ``as_of`` and the book's totals per currency.

    The totals report contract assets and contract liabilities apart (each contract nets to
    one side), as the balance sheet presents them.
    """
    by_contract: dict[int, Position] = {}
    totals: dict[str, dict[str, Money]] = {}
    for row in _position_rows(as_of=as_of):
        position = _position(row)
        by_contract[row["contract_id"]] = position
        currency = row["currency"]
        zero = Money(0, currency)
        total = totals.setdefault(
            currency,
            {"revenue": zero, "billed": zero, "asset": zero, "liability": zero, "net": zero},
        )
        total["revenue"] += position.revenue
        total["billed"] += position.billed
        total["asset"] += position.asset
        total["liability"] += position.liability
        total["net"] += position.net
    return BookPosition(as_of=as_of, by_contract=by_contract, totals=totals)


@dataclass(frozen=True)
class Rpo:
    """Remaining performance obligations: allocated price not yet recognized, by timing."""

    total: Money
    within_12_months: Money
    later: Money


def rpo_of(*, contract_ids: Iterable[int], as_of: date) -> dict[int, Rpo]:
    """Return each contract's RPO at ``as_of``, split into within 12 months and later.

    Allocated comes from the obligations, recognized from the journal through ``as_of``, and
    the timing from the planned schedule (the forecast of the latest run).
    """
    ids = list(contract_ids)
    allocated = defaultdict(Decimal)
    currencies: dict[int, str] = {}
    for contract_id, currency, amount in (
        PerformanceObligation.objects.filter(contract_id__in=ids)
        .values("contract_id", "allocated_currency")
        .annotate(total=Sum("allocated"))
        .values_list("contract_id", "allocated_currency", "total")
    ):
        allocated[contract_id] += amount
        currencies[contract_id] = currency
    revenue = {
        row["contract_id"]: round_money(row["revenue"], row["currency"])
        for row in _position_rows(as_of=as_of, contract_ids=ids)
    }
    planned: dict[int, list[RevenueEntry]] = defaultdict(list)
    for contract_id, period, amount, currency in RevenueScheduleEntry.objects.filter(
        contract_id__in=ids, status=RevenueScheduleEntry.Status.PLANNED
    ).values_list("contract_id", "period", "amount", "amount_currency"):
        planned[contract_id].append(
            RevenueEntry(
                period_start=period,
                period_end=month_end(period),
                amount=round_money(amount, currency),
            )
        )
    result = {}
    for contract_id, currency in currencies.items():
        total = round_money(allocated[contract_id], currency)
        recognized = revenue.get(contract_id, Money(0, currency))
        within, later = remaining_obligation(
            allocated=total,
            recognized=recognized,
            schedule_after=planned[contract_id],
            as_of=as_of,
        )
        result[contract_id] = Rpo(total=within + later, within_12_months=within, later=later)
    return result


@dataclass(frozen=True)
class TrialBalanceRow:
    account: LedgerAccount
    currency: str
    debit: Decimal
    credit: Decimal

    @property
    def balance(self) -> Decimal:
        """Return debits minus credits: positive is a debit balance."""
        return self.debit - self.credit


def trial_balance(*, period: date | None = None, through: date | None = None) -> list:
    """Return debits and credits per account and currency, for one period or cumulatively.

    With ``period`` (a month's first day) the postings of that month; with ``through`` every
    posting up to that date. Each currency's debits equal its credits: every entry balances.
    """
    lines = JournalLine.objects.all()
    if period is not None:
        lines = lines.filter(entry__period=period)
    if through is not None:
        lines = lines.filter(date__lte=through)
    accounts = LedgerAccount.objects.in_bulk()
    rows = (
        lines.values("account_id", "currency")
        .annotate(debit=Sum("debit"), credit=Sum("credit"))
        .order_by("account__code", "currency")
    )
    return [
        TrialBalanceRow(
            account=accounts[row["account_id"]],
            currency=row["currency"],
            debit=round_money(row["debit"], row["currency"]).amount,
            credit=round_money(row["credit"], row["currency"]).amount,
        )
        for row in rows
    ]


@dataclass(frozen=True)
class MonthFigures:
    """One month of a contract's history: billed and recognized in it, and the position after."""

    period: date
    billed: Money
    revenue: Money
    position: Position


def contract_history(*, contract: Contract) -> list[MonthFigures]:
    """Return a contract's billings and revenue month by month, with the position at each end."""
    accounts = ledger_accounts()
    revenue_account = accounts[LedgerAccount.Role.REVENUE]
    contract_account = accounts[LedgerAccount.Role.CONTRACT]
    rows = (
        JournalLine.objects.filter(
            contract=contract, account__in=[revenue_account, contract_account]
        )
        .values("entry__period")
        .annotate(
            revenue=_net(Q(account=revenue_account)),
            billed=_net(Q(account=contract_account, kind__in=BILLING_KINDS)),
        )
        .order_by("entry__period")
    )
    currency = contract.currency
    revenue = billed = Money(0, currency)
    history = []
    for row in rows:
        month_revenue = round_money(row["revenue"], currency)
        month_billed = round_money(row["billed"], currency)
        revenue += month_revenue
        billed += month_billed
        history.append(
            MonthFigures(
                period=row["entry__period"],
                billed=month_billed,
                revenue=month_revenue,
                position=contract_position(revenue=revenue, billed=billed),
            )
        )
    return history


JOURNAL_CSV_HEADER = [
    "entry",
    "date",
    "period",
    "kind",
    "account",
    "account_name",
    "contract",
    "debit",
    "credit",
    "currency",
    "description",
    "source",
]


def journal_csv_rows(entries: QuerySet) -> Iterable[list[str]]:
    """Yield the journal lines of ``entries`` as CSV rows for a general ledger import."""
    lines = (
        JournalLine.objects.filter(entry__in=entries)
        .select_related("entry", "account", "contract")
        .order_by("entry__date", "entry_id", "id")
    )
    for line in lines.iterator(chunk_size=2_000):
        entry = line.entry
        yield [
            str(entry.pk),
            entry.date.isoformat(),
            entry.period.strftime("%Y-%m"),
            entry.kind,
            line.account.code,
            line.account.name,
            line.contract.number if line.contract else "",
            f"{round_money(line.debit, line.currency).amount}",
            f"{round_money(line.credit, line.currency).amount}",
            line.currency,
            entry.description,
            entry.source_key,
        ]
