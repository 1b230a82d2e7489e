"""The dashboard's blocks as tables (one per currency) and the charts drawn from them.

The page, its charts and each block's CSV print the same ``Table`` objects, so they never
disagree. Figures link to the list they come from: the journal for billings and revenue, the
roll-forward report for balances, the aging report, the milestones, invoices and charges held.
"""

from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from urllib.parse import urlencode

from django.urls import reverse
from djmoney.money import Money

from billing.domain.receivables import AgingBucket
from billing.receivables import AgingLine, aging
from reports.selectors import BillingsMonth, billings_by_month, deferred_revenue_rollforward
from reports.tables import Filters, Table
from revenue.models import JournalEntry
from revenue.selectors import BILLING_KINDS
from workspace.dashboard import selectors

AGING_LABELS = {
    AgingBucket.CURRENT: "Current",
    AgingBucket.D1_30: "1-30 days",
    AgingBucket.D31_60: "31-60 days",
    AgingBucket.D61_90: "61-90 days",
    AgingBucket.OVER_90: "Over 90 days",
}


@dataclass(frozen=True)
class Link:
    """A cell that links to its source list on the page and prints as its text in a CSV."""

    text: str
    url: str

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class LinkedAmount:
    """An amount that links to the records behind it."""

    amount: Money
    url: str


@dataclass(frozen=True)
class Series:
    """One line or bar series of a chart: a label, a figure per label, how it is drawn."""

    label: str
    values: list[Money]
    kind: str = "bar"  # or "line"
    stack: str = ""  # bars sharing a stack are drawn on top of each other

    def as_json(self) -> dict:
        return {
            "label": self.label,
            "data": [str(value.amount) for value in self.values],
            "type": self.kind,
            "stack": self.stack,
        }


@dataclass(frozen=True)
class Chart:
    """One currency's chart: its labels along the axis and its series."""

    currency: str
    labels: list[str]
    series: list[Series]

    def as_json(self) -> dict:
        return {
            "currency": self.currency,
            "labels": self.labels,
            "series": [series.as_json() for series in self.series],
        }


@dataclass(frozen=True)
class Block:
    """A block of the dashboard: its key (the CSV's ``block``), title, tables and charts."""

    key: str
    title: str
    explain: str
    tables: list[Table]
    charts: list[Chart] = field(default_factory=list)
    source: Link | None = None


def _month(day: date) -> str:
    return f"{day:%b %Y}"


def _admin_url(name: str, **query) -> str:
    query = {key: value for key, value in query.items() if value not in ("", None)}
    return f"{reverse(f'admin:{name}')}?{urlencode(query)}" if query else reverse(f"admin:{name}")


def _journal_url(*, period: date, currency: str, kinds: list[str]) -> str:
    return _admin_url(
        "revenue_journalentry_changelist",
        period=period.isoformat(),
        currency__exact=currency,
        kind__in=",".join(kinds),
    )


class Dashboard:
    """The blocks for one set of filters; each block reads only what it needs, once."""

    def __init__(self, filters: Filters) -> None:
        self.filters = filters

    @property
    def _scope(self) -> dict:
        return self.filters.scope

    def _report_url(self, name: str) -> str:
        return _admin_url(
            name,
            currency=self.filters.currency,
            customer=self.filters.customer_id,
            first=f"{self.filters.first:%Y-%m}",
            last=f"{self.filters.last:%Y-%m}",
        )

    @cached_property
    def _mrr(self) -> dict:
        return selectors.mrr_by_month(self.filters)

    @cached_property
    def _aging_lines(self) -> list[AgingLine]:
        """Return the aging's total per currency, or the filtered customer's own lines."""
        report = aging(as_of=self.filters.as_of)
        if self.filters.customer_id:
            lines = [line for line in report.rows if line.customer_id == self.filters.customer_id]
        else:
            lines = report.totals
        if self.filters.currency:
            lines = [line for line in lines if line.currency == self.filters.currency]
        return lines

    def headlines(self) -> list[dict]:
        """Return the figures at the end of the range, per currency, for the cards on top.

        Each is ``(label, amount, block key)``: a card links to the block it comes from.
        """
        found: dict[str, list] = {}
        for code, months in self._mrr.items():
            found.setdefault(code, []).extend(
                [
                    ("MRR", Money(months[-1].closing, code), "mrr"),
                    ("ARR", Money(months[-1].arr, code), "mrr"),
                ]
            )
        for code, months in self._roll_forward.items():
            found.setdefault(code, []).extend(
                [
                    ("Deferred revenue", months[-1].deferred, "balances"),
                    ("Unbilled revenue", months[-1].unbilled, "balances"),
                ]
            )
        for line in self._aging_lines:
            found.setdefault(line.currency, []).append(("Receivables open", line.total, "aging"))
        return [{"currency": code, "figures": found[code]} for code in sorted(found)]

    @cached_property
    def _roll_forward(self) -> dict:
        return deferred_revenue_rollforward(
            first=self.filters.first, last=self.filters.last, **self._scope
        )

    # -- 1. Billings and revenue -------------------------------------------------------------------

    def billings(self) -> Block:
        billings = billings_by_month(
            first=self.filters.first, last=self.filters.last, **self._scope
        )
        revenue_kinds = [JournalEntry.Kind.RECOGNITION.value]
        billing_kinds = [str(kind) for kind in BILLING_KINDS]
        tables, charts = [], []
        for code in sorted(set(billings) | set(self._roll_forward)):
            months = self._roll_forward.get(code) or []
            billed = billings.get(code) or []
            revenue = {month.period: month.revenue for month in months}
            rows = []
            for month in billed or _no_billings(months, code):
                earned = revenue.get(month.period, Money(0, code))
                rows.append(
                    [
                        _month(month.period),
                        month.invoiced,
                        month.voided,
                        month.credited,
                        LinkedAmount(
                            month.net,
                            _journal_url(period=month.period, currency=code, kinds=billing_kinds),
                        ),
                        LinkedAmount(
                            earned,
                            _journal_url(period=month.period, currency=code, kinds=revenue_kinds),
                        ),
                    ]
                )
            totals = ["Period", *(_column_sum(rows, index, code) for index in range(1, 6))]
            tables.append(Table(code, BILLINGS_COLUMNS, rows, totals))
            charts.append(
                Chart(
                    code,
                    [row[0] for row in rows],
                    [
                        Series("Net billings", [_amount(row[4]) for row in rows]),
                        Series("Revenue recognized", [_amount(row[5]) for row in rows], "line"),
                    ],
                )
            )
        return Block(
            "billings",
            "Billings and revenue",
            "Net billings (invoices less voids and credit notes, before tax) and revenue "
            "recognized, by accounting month, read off the journal.",
            tables,
            charts,
            Link("Billings report", self._report_url("reports_billings")),
        )

    # -- 2. Deferred and unbilled ------------------------------------------------------------------

    def balances(self) -> Block:
        tables, charts = [], []
        for code, months in self._roll_forward.items():
            rows = [
                [_month(m.period), m.deferred, m.unbilled, m.closing, m.billings, m.revenue]
                for m in months
            ]
            tables.append(Table(code, BALANCE_COLUMNS, rows, []))
            charts.append(
                Chart(
                    code,
                    [row[0] for row in rows],
                    [
                        Series(
                            "Deferred revenue (liability)", [m.deferred for m in months], "line"
                        ),
                        Series("Unbilled revenue", [m.unbilled for m in months], "line"),
                    ],
                )
            )
        return Block(
            "balances",
            "Deferred and unbilled revenue",
            "Contract balances at each month end: contracts billed ahead of revenue add up to "
            "deferred revenue (a liability), contracts earned ahead of billing to unbilled "
            "revenue (an asset). Net = deferred - unbilled.",
            tables,
            charts,
            Link("Deferred revenue roll-forward", self._report_url("reports_deferred_revenue")),
        )

    # -- 3. MRR and ARR ----------------------------------------------------------------------------

    def mrr(self) -> Block:
        tables, charts = [], []
        for code, months in self._mrr.items():

            def money(amount, code=code) -> Money:
                return Money(amount, code)

            rows = [
                [
                    _month(m.period),
                    *map(money, (m.opening, m.new, m.expansion, m.contraction, m.churn)),
                    money(m.closing),
                    money(m.arr),
                ]
                for m in months
            ]
            totals = [
                "Period",
                rows[0][1],
                *(_column_sum(rows, index, code) for index in range(2, 6)),
                rows[-1][6],
                rows[-1][7],
            ]
            tables.append(Table(code, MRR_COLUMNS, rows, totals))
            charts.append(
                Chart(
                    code,
                    [row[0] for row in rows],
                    [
                        Series("New", [row[2] for row in rows], stack="movement"),
                        Series("Expansion", [row[3] for row in rows], stack="movement"),
                        Series("Contraction", [-row[4] for row in rows], stack="movement"),
                        Series("Churn", [-row[5] for row in rows], stack="movement"),
                        Series("Closing MRR", [row[6] for row in rows], "line"),
                    ],
                )
            )
        return Block(
            "mrr",
            "MRR and ARR",
            "Monthly recurring revenue of the subscriptions in service at each month end, and "
            "its movement from the month end before: new customers, expansion, contraction and "
            "churn. ARR = 12 x MRR.",
            tables,
            charts,
        )

    # -- 4. AR aging -------------------------------------------------------------------------------

    def aging(self) -> Block:
        source = _admin_url("billing_aging", as_of=self.filters.as_of.isoformat())
        tables, charts = [], []
        for line in self._aging_lines:
            tables.append(Table(line.currency, AGING_COLUMNS, [_aging_row(line, source)], []))
            charts.append(
                Chart(
                    line.currency,
                    list(AGING_LABELS.values()),
                    [Series("Open", [line.buckets[bucket] for bucket in AGING_LABELS])],
                )
            )
        return Block(
            "aging",
            "Accounts receivable aging",
            f"Issued invoices still open on {self.filters.as_of:%-d %B %Y}, by days past due; "
            "credit is unapplied payments and over-credited invoices.",
            tables,
            charts,
            Link("Aging by customer", source),
        )

    # -- 5. Milestones due -------------------------------------------------------------------------

    def milestones(self) -> Block:
        due = selectors.milestones_due(self.filters)
        as_of = due.as_of
        tables = []
        for tally in due.tallies:
            common = {"status__exact": "planned", "amount_currency__exact": tally.currency}
            overdue_url = _admin_url(
                "contracts_milestone_changelist", planned_date__lt=as_of.isoformat(), **common
            )
            upcoming_url = _admin_url(
                "contracts_milestone_changelist",
                planned_date__gte=as_of.isoformat(),
                planned_date__lte=due.horizon.isoformat(),
                **common,
            )
            rows = [
                [
                    Link(milestone.name, _milestone_url(milestone)),
                    Link(milestone.line.contract.number, _contract_url(milestone)),
                    milestone.line.contract.customer.legal_name,
                    milestone.planned_date,
                    "Overdue" if milestone.planned_date < as_of else "Due soon",
                    milestone.amount,
                ]
                for milestone in due.milestones
                if milestone.amount.currency.code == tally.currency
            ]
            totals = [
                Link(f"{tally.overdue_count} overdue", overdue_url),
                Link(
                    f"{tally.upcoming_count} due within {selectors.UPCOMING_DAYS} days",
                    upcoming_url,
                ),
                "",
                "",
                "Total",
                tally.overdue + tally.upcoming,
            ]
            tables.append(Table(tally.currency, MILESTONE_COLUMNS, rows, totals))
        return Block(
            "milestones",
            "Milestones due",
            f"Planned milestones overdue on {as_of:%-d %B %Y} or due by {due.horizon:%-d %B %Y} "
            f"(the first {selectors.MILESTONE_ROWS}, earliest first; the counts link to all).",
            tables,
            source=Link(
                "All planned milestones",
                _admin_url("contracts_milestone_changelist", status__exact="planned"),
            ),
        )

    # -- 6. Held ---------------------------------------------------------------------------------

    def held(self) -> Block:
        as_of = self.filters.as_of.isoformat()
        invoices = reverse("admin:billing_invoice_changelist")
        events = reverse("admin:billing_billingevent_changelist")
        tables = []
        for tally in selectors.held(self.filters):
            code = tally.currency
            held_invoices = urlencode(
                {
                    "status__exact": "issued",
                    "delivery_held__exact": 1,
                    "sent_at__isnull": "True",
                    "currency__exact": code,
                }
            )
            rows = [
                [
                    Link("Invoices held from delivery", f"{invoices}?{held_invoices}"),
                    tally.invoices_count,
                    tally.invoices,
                ],
                [
                    Link(
                        "Charges on billing hold",
                        f"{events}?status__exact=pending&held=yes&amount_currency__exact={code}"
                        f"&bill_date__lte={as_of}",
                    ),
                    tally.on_hold_count,
                    tally.on_hold,
                ],
                [
                    Link(
                        "Charges stopped by a not-to-exceed cap",
                        f"{events}?held=cap&amount_currency__exact={code}&bill_date__lte={as_of}",
                    ),
                    tally.capped_count,
                    tally.capped,
                ],
            ]
            tables.append(Table(code, HELD_COLUMNS, rows, []))
        return Block(
            "held",
            "Held",
            "Issued invoices a delivery hold keeps from being sent, and due charges a billing "
            "hold or a not-to-exceed cap keeps from being invoiced (they bill in the first run "
            "after the hold is released).",
            tables,
        )


BILLINGS_COLUMNS = [
    "Month",
    "Invoiced",
    "Voided",
    "Credit notes",
    "Net billings",
    "Revenue recognized",
]
BALANCE_COLUMNS = [
    "Month end",
    "Deferred revenue",
    "Unbilled revenue",
    "Net balance",
    "Billings",
    "Revenue",
]
MRR_COLUMNS = [
    "Month",
    "Opening MRR",
    "New",
    "Expansion",
    "Contraction",
    "Churn",
    "Closing MRR",
    "ARR",
]
AGING_COLUMNS = ["Customer", *AGING_LABELS.values(), "Open", "Credit"]
MILESTONE_COLUMNS = ["Milestone", "Contract", "Customer", "Planned", "Due", "Amount"]
HELD_COLUMNS = ["Held", "Count", "Amount"]

# What the CSV's ``block`` parameter names, in the order the page shows them.
BLOCKS = {
    "billings": Dashboard.billings,
    "balances": Dashboard.balances,
    "mrr": Dashboard.mrr,
    "aging": Dashboard.aging,
    "milestones": Dashboard.milestones,
    "held": Dashboard.held,
}


def _amount(cell: Money | LinkedAmount) -> Money:
    return cell.amount if isinstance(cell, LinkedAmount) else cell


def _column_sum(rows: list[list], index: int, code: str) -> Money:
    return sum((_amount(row[index]) for row in rows), Money(0, code))


def _no_billings(months: list, code: str) -> list[BillingsMonth]:
    """Return zero billings for the months of a currency that only earned revenue in them."""
    zero = Money(0, code)
    return [
        BillingsMonth(period=m.period, invoiced=zero, voided=zero, credited=zero) for m in months
    ]


def _aging_row(line: AgingLine, source: str) -> list:
    name = f"{line.customer_number} {line.customer_name}" if line.customer_id else "All customers"
    return [
        Link(name, source),
        *(line.buckets[bucket] for bucket in AGING_LABELS),
        LinkedAmount(line.total, source),
        line.credit,
    ]


def _milestone_url(milestone) -> str:
    return reverse("admin:contracts_milestone_change", args=[milestone.pk])


def _contract_url(milestone) -> str:
    url = reverse("admin:contracts_contract_change", args=[milestone.line.contract_id])
    return f"{url}#milestones"
