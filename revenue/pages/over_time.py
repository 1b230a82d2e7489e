"""The contract revenue page's "Billing and revenue over time": what was billed and recognized
month by month, where that left the contract, and the SVG chart of it.
"""

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from djmoney.money import Money

from contracts.models import Contract
from revenue.domain.earning import months_between
from revenue.domain.position import CONTRACT_ASSET, CONTRACT_LIABILITY, NO_POSITION, Position
from revenue.pages.shared import figure
from revenue.selectors import contract_history

POSITION_LABELS = {
    CONTRACT_ASSET: "Contract asset",
    CONTRACT_LIABILITY: "Contract liability",
    NO_POSITION: "No position",
}


def side(position: Position) -> str:
    """Name the side of the balance sheet a position sits on, for a table cell."""
    return {CONTRACT_ASSET: "asset", CONTRACT_LIABILITY: "liability"}.get(position.kind, "")


@dataclass(frozen=True)
class HistoryMonth:
    """A month of billing against revenue; ``position`` is None for months not yet posted."""

    period: date
    billed: Money
    revenue: Money
    planned: Money
    position: Position | None

    @property
    def figures(self) -> dict[str, str]:
        figures = {"billed": figure(self.billed), "revenue": figure(self.revenue)}
        if self.position is not None:
            figures |= {
                "billed_to_date": figure(self.position.billed),
                "revenue_to_date": figure(self.position.revenue),
                "position": figure(abs(self.position.net)),
                "side": side(self.position),
            }
        return figures


def billing_against_revenue(contract: Contract, planned: dict[date, Money]) -> list[HistoryMonth]:
    """Merge the posted history with the planned revenue into one run of calendar months.

    Months without postings between two that have them carry the position forward; months
    after the last posting show only what is planned.
    """
    posted = {month.period: month for month in contract_history(contract=contract)}
    known = [*posted, *planned]
    if not known:
        return []
    zero = Money(0, contract.currency)
    last_posted = max(posted, default=None)
    months, position = [], None
    for period in months_between(min(known), max(known)):
        figures = posted.get(period)
        if figures is not None:
            position = figures.position
        months.append(
            HistoryMonth(
                period=period,
                billed=figures.billed if figures else zero,
                revenue=figures.revenue if figures else zero,
                planned=planned.get(period, zero),
                position=position if last_posted and period <= last_posted else None,
            )
        )
    return months


# Chart geometry in SVG user units; the SVG scales to the page's width.
CHART_WIDTH, CHART_HEIGHT = 880, 280
CHART_LEFT, CHART_RIGHT, CHART_TOP, CHART_BOTTOM = 84, 12, 14, 34
# At most this many month labels under the axis, so they never overlap.
CHART_MAX_LABELS = 12


@dataclass(frozen=True)
class Bar:
    x: str
    y: str
    width: str
    height: str
    css: str
    title: str


@dataclass(frozen=True)
class Chart:
    """An SVG bar chart of billed and recognized revenue per month, with the position line."""

    width: int
    height: int
    left: int
    right: int
    bars: list[Bar]
    line: str
    dots: list[tuple[str, str, str]]
    ticks: list[tuple[str, str, bool]]
    labels: list[tuple[str, str]]


def _coordinate(value: Decimal) -> str:
    return f"{value:.1f}"


def _nice_step(span: Decimal) -> Decimal:
    """Return a round tick step (1, 2 or 5 times a power of ten) giving about four ticks."""
    raw = span / 4
    magnitude = Decimal(10) ** raw.adjusted()
    return next(factor * magnitude for factor in (1, 2, 5, 10) if raw <= factor * magnitude)


def history_chart(months: list[HistoryMonth]) -> Chart | None:
    """Lay out the bars, the position line and the axes; None when there is nothing to draw."""
    if not months:
        return None
    values = [Decimal(0)]
    for month in months:
        values += [month.billed.amount, month.revenue.amount + month.planned.amount]
        if month.position is not None:
            values.append(month.position.net.amount)
    step = _nice_step((max(values) - min(values)) or Decimal(1))
    low = (min(values) / step).to_integral_value(rounding=ROUND_FLOOR) * step
    # A contract of nothing but zeros still gets an axis one step high.
    high = max((max(values) / step).to_integral_value(rounding=ROUND_CEILING) * step, low + step)
    plot_width = Decimal(CHART_WIDTH - CHART_LEFT - CHART_RIGHT)
    plot_height = Decimal(CHART_HEIGHT - CHART_TOP - CHART_BOTTOM)

    def y(value: Decimal) -> Decimal:
        return CHART_TOP + (high - value) * plot_height / (high - low)

    def bar(x: Decimal, width: Decimal, bottom: Decimal, top: Decimal, css: str, title: str):
        upper, lower = y(max(bottom, top)), y(min(bottom, top))
        return Bar(*map(_coordinate, (x, upper, width, lower - upper)), css, title)

    slot = plot_width / len(months)
    width = slot * Decimal("0.34")
    every = -(-len(months) // CHART_MAX_LABELS)
    bars, points, dots, labels = [], [], [], []
    for index, month in enumerate(months):
        x = CHART_LEFT + slot * index
        name = f"{month.period:%b %Y}"
        revenue, revenue_x = month.revenue.amount, x + slot * Decimal("0.52")
        for left, bottom, top, css, amount in [
            (x + slot * Decimal("0.14"), 0, month.billed.amount, "billed", month.billed),
            (revenue_x, 0, revenue, "recognized", month.revenue),
            (revenue_x, revenue, revenue + month.planned.amount, "planned", month.planned),
        ]:
            if amount:
                bars.append(bar(left, width, bottom, top, css, f"{name} {css} {figure(amount)}"))
        if month.position is not None:
            centre = _coordinate(x + slot / 2)
            point = _coordinate(y(month.position.net.amount))
            points.append(f"{centre},{point}")
            note = POSITION_LABELS[month.position.kind].lower()
            dots.append((centre, point, f"{name} {note} {figure(abs(month.position.net))}"))
        if index % every == 0:
            labels.append((_coordinate(x + slot / 2), f"{month.period:%b %Y}"))
    ticks = []
    value = low
    while value <= high:
        ticks.append((_coordinate(y(value)), f"{value.normalize():,f}", value == 0))
        value += step
    return Chart(
        width=CHART_WIDTH,
        height=CHART_HEIGHT,
        left=CHART_LEFT,
        right=CHART_WIDTH - CHART_RIGHT,
        bars=bars,
        line=" ".join(points),
        dots=dots,
        ticks=ticks,
        labels=labels,
    )
