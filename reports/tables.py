"""The reports as tables: what each one is called, its columns, and its rows per currency.

A report builds ``Table`` objects from its selector once; the page, the CSV download and the
PDF all print those same tables, so the three never disagree.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from djmoney.money import Money

from reports import selectors

# What a table's cell holds: text, a count, an amount, or a contract (below).
Cell = str | int | Money | date


@dataclass(frozen=True)
class ContractCell:
    """A contract number that links to the contract on the page and prints as its number."""

    number: str
    pk: int

    def __str__(self) -> str:
        return self.number


@dataclass(frozen=True)
class Table:
    """One currency's part of a report: a head, rows of cells and a totals row."""

    currency: str
    columns: list[str]
    rows: list[list["Cell | ContractCell"]]
    totals: list["Cell | ContractCell"]


@dataclass(frozen=True)
class Filters:
    """What the person asked for: a currency, a customer, and an as-of date or a month range."""

    currency: str
    customer_id: int | None
    as_of: date
    first: date
    last: date

    @property
    def scope(self) -> dict:
        return {"currency": self.currency, "customer_id": self.customer_id}


@dataclass(frozen=True)
class ReportSpec:
    """A report: its address, its words, whether it reads one date or a range, its builder."""

    slug: str
    title: str
    summary: str
    explain: str
    dated: bool  # True: one as-of date; False: a range of months
    build: Callable[[Filters], list[Table]]

    @property
    def url_name(self) -> str:
        """Return the admin URL's name (without the ``admin:`` namespace)."""
        return f"reports_{self.slug.replace('-', '_')}"


def _month(day: date) -> str:
    return f"{day:%b %Y}"


def waterfall_tables(filters: Filters) -> list[Table]:
    tables = []
    for waterfall in selectors.revenue_waterfall(as_of=filters.as_of, **filters.scope):
        columns = ["Contract", "Customer", *map(_month, waterfall.months), "Later", "Total"]
        rows = [
            [ContractCell(row.contract, row.contract_id), row.customer, *row.amounts, row.total]
            for row in waterfall.rows
        ]
        totals = ["Total", "", *waterfall.totals, waterfall.total]
        tables.append(Table(waterfall.currency, columns, rows, totals))
    return tables


ROLL_FORWARD_COLUMNS = [
    "Month",
    "Opening",
    "Billings",
    "Revenue recognized",
    "Closing",
    "of which deferred revenue",
    "of which unbilled revenue",
]


def roll_forward_tables(filters: Filters) -> list[Table]:
    found = selectors.deferred_revenue_rollforward(
        first=filters.first, last=filters.last, **filters.scope
    )
    tables = []
    for code, months in found.items():
        rows = [
            [
                _month(m.period),
                m.opening,
                m.billings,
                m.revenue,
                m.closing,
                m.deferred,
                m.unbilled,
            ]
            for m in months
        ]
        totals = [
            "Period",
            months[0].opening,
            sum((m.billings for m in months), Money(0, code)),
            sum((m.revenue for m in months), Money(0, code)),
            months[-1].closing,
            months[-1].deferred,
            months[-1].unbilled,
        ]
        tables.append(Table(code, ROLL_FORWARD_COLUMNS, rows, totals))
    return tables


RPO_COLUMNS = [
    "Contract",
    "Customer",
    "Transaction price",
    "Recognized",
    "Remaining (RPO)",
    "Within 12 months",
    "Beyond 12 months",
]


def rpo_tables(filters: Filters) -> list[Table]:
    tables = []
    for code, lines in selectors.remaining_obligations(
        as_of=filters.as_of, **filters.scope
    ).items():
        figures = [
            [r.transaction_price, r.recognized, r.remaining, r.within_12_months, r.later]
            for r in lines
        ]
        rows = [
            [ContractCell(r.contract, r.contract_id), r.customer, *amounts]
            for r, amounts in zip(lines, figures, strict=True)
        ]
        totals = [
            "Total",
            "",
            *(sum((row[i] for row in figures), Money(0, code)) for i in range(5)),
        ]
        tables.append(Table(code, RPO_COLUMNS, rows, totals))
    return tables


BILLINGS_COLUMNS = ["Month", "Invoices issued", "Voided", "Credit notes", "Net billings"]


def billings_tables(filters: Filters) -> list[Table]:
    tables = []
    for code, months in selectors.billings_by_month(
        first=filters.first, last=filters.last, **filters.scope
    ).items():
        figures = [[m.invoiced, m.voided, m.credited, m.net] for m in months]
        rows = [[_month(m.period), *amounts] for m, amounts in zip(months, figures, strict=True)]
        totals = ["Total", *(sum((row[i] for row in figures), Money(0, code)) for i in range(4))]
        tables.append(Table(code, BILLINGS_COLUMNS, rows, totals))
    return tables


BOOKINGS_COLUMNS = ["Month signed", "Contracts", "Total contract value"]


def bookings_tables(filters: Filters) -> list[Table]:
    tables = []
    for code, months in selectors.bookings_by_month(
        first=filters.first, last=filters.last, **filters.scope
    ).items():
        rows = [[_month(m.period), m.contracts, m.value] for m in months]
        totals = [
            "Total",
            sum(m.contracts for m in months),
            sum((m.value for m in months), Money(0, code)),
        ]
        tables.append(Table(code, BOOKINGS_COLUMNS, rows, totals))
    return tables


REPORTS = {
    spec.slug: spec
    for spec in [
        ReportSpec(
            slug="waterfall",
            title="Revenue waterfall",
            summary="Revenue by month for the next twelve months and later, per contract.",
            explain=(
                "Revenue each contract's schedule puts in each month from the as-of month on: "
                "what is already recognized in those months and what is planned. Months after "
                "the twelfth are summed under Later. One table per currency."
            ),
            dated=True,
            build=waterfall_tables,
        ),
        ReportSpec(
            slug="deferred-revenue",
            title="Deferred revenue roll-forward",
            summary="Opening + billings - revenue = closing, month by month.",
            explain=(
                "The contract balance account of the journal, by accounting month: billings "
                "(invoices less voids and credit notes, before tax) add to it and recognized "
                "revenue takes from it. A positive balance is deferred revenue. The closing "
                "balance nets each contract's own figure, split into the contracts billed ahead "
                "(deferred revenue, a liability) and those earned ahead (unbilled revenue, an "
                "asset): closing = deferred - unbilled."
            ),
            dated=False,
            build=roll_forward_tables,
        ),
        ReportSpec(
            slug="rpo",
            title="Remaining performance obligations",
            summary="Allocated price not yet recognized, within 12 months and beyond.",
            explain=(
                "For each contract with something left to earn at the as-of date: its "
                "transaction price (what was allocated to its obligations), what of it is "
                "recognized, and the remainder, split by when the schedule expects to earn it. "
                "What no schedule times yet counts as beyond 12 months."
            ),
            dated=True,
            build=rpo_tables,
        ),
        ReportSpec(
            slug="billings",
            title="Billings",
            summary="Invoices issued less voids and credit notes, by month.",
            explain=(
                "What was billed in each accounting month, before sales tax: invoices issued, "
                "less invoices voided and credit notes issued (shown negative). Net billings "
                "are the billings of the deferred revenue roll-forward."
            ),
            dated=False,
            build=billings_tables,
        ),
        ReportSpec(
            slug="bookings",
            title="Bookings",
            summary="Contracts signed and their total contract value, by month signed.",
            explain=(
                "Contracts counted in the month of their signed date once active, at their "
                "total contract value (the transaction price allocated to their obligations). "
                "Contracts without a signed date are not bookings."
            ),
            dated=False,
            build=bookings_tables,
        ),
    ]
}
