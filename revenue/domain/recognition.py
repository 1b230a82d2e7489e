"""Revenue recognition, ASC 606 / IFRS 15 step 5: when, and how much, each obligation earns.

Every function takes the performance obligation's *allocated* price (step 4's output, already on
the currency's minor unit) and returns what is recognized. Exact intermediates are ``Fraction``;
each amount is rounded once, through ``rms.money``. Where a price is split into parts (months of a
ratable service, milestones of a project) the parts come from ``rms.money.allocate`` so that over
the obligation's life the recognized revenue equals the allocated price to the minor unit.
"""

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

from moneyed import Money

from rms.money import allocate, require_money, require_same_currency, round_fraction

ONE_DAY = timedelta(days=1)


def month_start(day: date) -> date:
    """Return the first day of the calendar month holding ``day``."""
    return day.replace(day=1)


def month_end(day: date) -> date:
    """Return the last day of the calendar month holding ``day``."""
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


@dataclass(frozen=True)
class RevenueEntry:
    """Revenue recognized in one calendar month, the unit a revenue run posts and closes.

    ``period_start`` and ``period_end`` are the first and last day (inclusive) of that month, so
    entries line up with accounting periods whatever day the service starts on.
    """

    period_start: date
    period_end: date
    amount: Money

    def __post_init__(self) -> None:
        """Refuse an entry that does not span exactly one calendar month, or a non-Money amount."""
        if self.period_start != month_start(self.period_start):
            raise ValueError(f"An entry starts on a month's first day, not {self.period_start}.")
        if self.period_end != month_end(self.period_start):
            raise ValueError(
                f"An entry starting {self.period_start} ends on {month_end(self.period_start)}, "
                f"not {self.period_end}."
            )
        if not isinstance(self.amount, Money):
            raise TypeError(f"An entry's amount is Money, not {type(self.amount).__name__}.")


def _exact_ratio(name: str, value: Decimal | Fraction | int) -> Fraction:
    """Return a ratio in [0, 1] as a ``Fraction``; floats and out-of-range values are refused."""
    if isinstance(value, bool) or not isinstance(value, Decimal | Fraction | int):
        raise TypeError(f"{name} is Decimal, Fraction or int, not {type(value).__name__}.")
    if isinstance(value, Decimal) and not value.is_finite():
        raise ValueError(f"{name} must be finite, not {value}.")
    ratio = Fraction(value)
    # Outside 0..1 the figure is an estimating error (more than done, less than nothing); clamping
    # it would hide the error in the ledger, so it is refused instead.
    if not 0 <= ratio <= 1:
        raise ValueError(f"{name} must be between 0 and 1, not {value}.")
    return ratio


def ratable_schedule(
    *, allocated: Money, service_start: date, service_end: date
) -> list[RevenueEntry]:
    """Spread an over-time obligation evenly by days, one entry per calendar month it touches.

    ``service_end`` is the inclusive last day of service. Each month earns
    ``days served in that month / total days`` of the price. Splitting by days rather than by
    months is what ASC 606 "ratable" means for a service delivered evenly: February earns less
    than March, and a leap year's 366 days each earn 1/366. The shares are split with
    ``rms.money.allocate`` (largest remainder), so each entry is within one minor unit of its exact
    share and the entries sum exactly to ``allocated``.
    """
    require_money("allocated", allocated)
    if service_end < service_start:
        raise ValueError(f"The service ends ({service_end}) before it starts ({service_start}).")

    months: list[date] = []
    days: list[int] = []
    cursor = service_start
    while cursor <= service_end:
        last = min(month_end(cursor), service_end)
        months.append(month_start(cursor))
        days.append((last - cursor).days + 1)
        cursor = last + ONE_DAY

    amounts = allocate(allocated, days)
    return [
        RevenueEntry(period_start=start, period_end=month_end(start), amount=amount)
        for start, amount in zip(months, amounts, strict=True)
    ]


def point_in_time_entry(
    *, allocated: Money, on: date, fraction: Decimal | Fraction | int = 1
) -> RevenueEntry:
    """Recognize an obligation satisfied at a point in time, in the month control passes.

    Control passes on delivery, shipment, acceptance or activation (``on``). A partial shipment
    satisfies the obligation only for what shipped: pass ``fraction`` = units shipped / units
    ordered, kept exact (``Fraction(6, 10)``) and rounded once.
    """
    require_money("allocated", allocated)
    ratio = _exact_ratio("fraction", fraction)
    amount = round_fraction(Fraction(allocated.amount) * ratio, allocated.currency.code)
    return RevenueEntry(period_start=month_start(on), period_end=month_end(on), amount=amount)


def milestone_entries(
    *, allocated: Money, milestone_values: Sequence[Money], achieved: Sequence[int]
) -> list[Money]:
    """Return the revenue of each achieved milestone (output method), in ``achieved``'s order.

    A milestone earns its share of the obligation's *allocated* price, not its billed value:
    ``share = milestone value / total milestone values``. When step 4 spread a bundle discount
    onto the project, the revenue per milestone is below its invoice, and the gap is a contract
    liability. All shares are computed together with ``rms.money.allocate``, so the milestone
    revenues never drift: once every milestone is achieved they sum exactly to ``allocated``,
    and each milestone always earns the same amount whichever others are achieved.
    """
    require_money("allocated", allocated)
    if not milestone_values:
        raise ValueError("A milestone schedule needs at least one milestone.")
    for position, value in enumerate(milestone_values):
        require_money(f"Milestone value {position}", value)
    require_same_currency(allocated, *milestone_values)
    for position, index in enumerate(achieved):
        if isinstance(index, bool) or not isinstance(index, int):
            raise TypeError(f"Achieved entry {position} is {type(index).__name__}, not int.")
        if not 0 <= index < len(milestone_values):
            raise ValueError(
                f"Milestone {index} does not exist; there are {len(milestone_values)} milestones."
            )
    if len(set(achieved)) != len(achieved):
        # Recognizing a milestone twice would overstate revenue; the caller has a bug.
        raise ValueError(f"A milestone is listed as achieved more than once: {list(achieved)}.")

    shares = allocate(allocated, [value.amount for value in milestone_values])
    return [shares[index] for index in achieved]


def cumulative_catch_up(
    *, allocated: Money, progress: Decimal | Fraction | int, recognized_to_date: Money
) -> Money:
    """Return this period's revenue under the input method (percent complete), as a catch-up.

    ``progress`` is cost or hours incurred / total estimated, between 0 and 1. Revenue to date
    should be ``allocated x progress`` rounded once; this period books the difference from what
    is already recognized. When the estimate of total cost rises, progress falls and the result
    is negative: ASC 606 books the whole correction now rather than restating closed periods.
    """
    require_money("allocated", allocated)
    require_money("recognized_to_date", recognized_to_date)
    require_same_currency(allocated, recognized_to_date)
    ratio = _exact_ratio("progress", progress)
    earned_to_date = round_fraction(Fraction(allocated.amount) * ratio, allocated.currency.code)
    return earned_to_date - recognized_to_date
