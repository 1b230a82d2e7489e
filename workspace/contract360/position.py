"""A contract's position over time as the 360 page charts, tabulates and exports it.

The months come from the revenue page's history (``revenue.pages.over_time``: the journal's
billings and revenue per accounting month, with the position after each); this module only
lays them out as cumulative series for the chart, rows for the table and cells for the CSV.
Every month's figures link to the journal entries they were summed from.
"""

from dataclasses import dataclass
from datetime import date

from django.urls import reverse
from djmoney.money import Money

from imports.engine import escape_formula
from revenue.pages.over_time import HistoryMonth
from revenue.pages.shared import figure
from rms.money import round_money

POSITION_CSV_HEADER = [
    "month",
    "currency",
    "billed",
    "recognized",
    "billed_to_date",
    "recognized_to_date",
    "position",
    "side",
]


@dataclass(frozen=True)
class PositionMonth:
    """One posted month: what was billed and earned in it, and where that left the contract."""

    period: date
    billed: Money
    revenue: Money
    billed_to_date: Money
    revenue_to_date: Money
    journal_url: str

    @property
    def net(self) -> Money:
        """The position at the month's end: revenue to date - billed to date."""
        return self.revenue_to_date - self.billed_to_date

    @property
    def side(self) -> str:
        """Which side of the balance sheet the month ends on: asset, liability or none ("")."""
        amount = self.net.amount
        return "asset" if amount > 0 else "liability" if amount < 0 else ""

    @property
    def figures(self) -> dict[str, str]:
        return {
            "billed": figure(self.billed),
            "revenue": figure(self.revenue),
            "billed_to_date": figure(self.billed_to_date),
            "revenue_to_date": figure(self.revenue_to_date),
            "position": figure(abs(self.net)),
        }

    def csv_row(self) -> list[str]:
        """The month as CSV cells: plain amounts on the minor unit, the position signed."""
        amounts = [self.billed, self.revenue, self.billed_to_date, self.revenue_to_date, self.net]
        return [
            f"{self.period:%Y-%m}",
            self.net.currency.code,
            *(f"{round_money(amount).amount}" for amount in amounts),
            escape_formula(self.side),
        ]


def position_months(contract_id: int, history: list[HistoryMonth]) -> list[PositionMonth]:
    """Turn the revenue page's posted months into the 360 page's rows, each with its source."""
    journal = reverse("admin:revenue_journalentry_changelist")
    months = []
    for month in history:
        if month.position is None:
            continue  # planned only: nothing posted yet, no position to draw
        months.append(
            PositionMonth(
                period=month.period,
                billed=month.billed,
                revenue=month.revenue,
                billed_to_date=month.position.billed,
                revenue_to_date=month.position.revenue,
                journal_url=f"{journal}?contract__id__exact={contract_id}"
                f"&period={month.period.isoformat()}",
            )
        )
    return months


def chart_data(months: list[PositionMonth]) -> dict:
    """The chart's series: cumulative revenue and billings per month, as decimal strings.

    Strings rather than floats so that no amount is rounded on the way; the page's script
    reads them as numbers for drawing only.
    """
    return {
        "currency": months[0].net.currency.code if months else "",
        "labels": [f"{month.period:%b %Y}" for month in months],
        "revenue": [f"{round_money(month.revenue_to_date).amount}" for month in months],
        "billed": [f"{round_money(month.billed_to_date).amount}" for month in months],
        "sides": [month.side for month in months],
    }
