"""Billing periods: where each period of a recurring line starts and ends.

Every period is a half-open date range ``[start, end)``: the end is the first day *not* served.
Half-open ranges tile without gaps or overlaps, and ``end - start`` is the day count that
proration needs, with no off-by-one. ``last_day`` gives the inclusive date for display.

Boundaries are always computed from an anchor day of the month (the service start's day for
anniversary billing, the bill day for calendar billing), never by stepping from the previous
boundary. Chaining would lose the day for good after a short month (31 Jan, 28 Feb, 28 Mar, ...);
anchoring restores it (31 Jan, 28 Feb, 31 Mar, ...).
"""

import calendar
from dataclasses import dataclass
from datetime import date, timedelta

MAX_INTERVAL_MONTHS = 120  # matches the contract line's validator: ten years per period at most

ONE_DAY = timedelta(days=1)


def add_months(day: date, months: int, *, anchor_day: int) -> date:
    """Return the date ``months`` later on ``anchor_day``, clamped to that month's length.

    Only the year and month of ``day`` matter; the day of the result comes from ``anchor_day`` so
    that a series of boundaries keeps its day across short months. ``months`` may be negative,
    which finds the start of the full period behind a leading stub.
    """
    if not 1 <= anchor_day <= 31:
        raise ValueError(f"The anchor day must be between 1 and 31, not {anchor_day}.")
    month_index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(month_index, 12)
    month += 1
    if not date.min.year <= year <= date.max.year:
        raise ValueError(f"{day.isoformat()} plus {months} months is outside the calendar.")
    return date(year, month, min(anchor_day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class Period:
    """One billing period ``[start, end)`` and the nominal full period ``[full_start, full_end)``.

    The full period is what the price is quoted for; a partial period (a leading stub or a term
    cut short) is charged ``days / full_days`` of it. For a full period both ranges coincide.
    """

    start: date
    end: date
    full_start: date
    full_end: date

    def __post_init__(self) -> None:
        """Refuse an empty period or one that sticks out of its full period."""
        if not self.start < self.end:
            raise ValueError(f"A period must end after it starts: {self.start} to {self.end}.")
        if not (self.full_start <= self.start and self.end <= self.full_end):
            raise ValueError(
                f"The period {self.start} to {self.end} is not inside its full period "
                f"{self.full_start} to {self.full_end}."
            )

    @property
    def days(self) -> int:
        """Return the number of days served, the numerator of proration."""
        return (self.end - self.start).days

    @property
    def full_days(self) -> int:
        """Return the number of days in the full period, the denominator of proration."""
        return (self.full_end - self.full_start).days

    @property
    def is_partial(self) -> bool:
        """Return whether the period is shorter than its full period and so is prorated."""
        return self.start != self.full_start or self.end != self.full_end

    @property
    def last_day(self) -> date:
        """Return the last day served (inclusive), as invoices print a period."""
        return self.end - ONE_DAY


def billing_periods(
    *,
    service_start: date,
    service_end: date | None,
    interval_months: int,
    bill_day: int | None,
    through: date | None = None,
    anchor: date | None = None,
) -> list[Period]:
    """Return the billing periods of a recurring line, in order, tiling its service exactly.

    ``service_end`` is the inclusive last day of service, or ``None`` for an evergreen line.
    ``through`` is an exclusive horizon for period starts, so an evergreen line yields a finite
    list; it is required when ``service_end`` is ``None`` and may also shorten a fixed term.

    ``bill_day=None`` bills on the anniversary of ``service_start``: no stub, and boundaries every
    ``interval_months`` months on the start's day. ``bill_day=D`` bills on day D of the month
    (clamped to the month's length): the first boundary is the first such day strictly after the
    service start, and the days before it form a partial stub whose full period is the
    ``interval_months`` months ending on that boundary. A start that is itself on day D has no stub.
    A last period cut short by ``service_end`` is partial against its nominal full period.

    ``anchor`` places the boundaries as if the service had started on that day (on or before
    ``service_start``): a line that continues another after a contract modification keeps its
    billing cycle, and its first period is a partial one of the cycle's period it starts in.
    """
    if not 1 <= interval_months <= MAX_INTERVAL_MONTHS:
        raise ValueError(
            f"The billing interval must be 1 to {MAX_INTERVAL_MONTHS} months, "
            f"not {interval_months}."
        )
    if bill_day is not None and not 1 <= bill_day <= 31:
        raise ValueError(f"The bill day must be between 1 and 31, not {bill_day}.")
    if service_end is not None and service_end < service_start:
        raise ValueError(f"The service ends ({service_end}) before it starts ({service_start}).")
    if service_end is None and through is None:
        raise ValueError("An evergreen line (no service end) needs a `through` date to stop at.")
    if anchor is not None and anchor > service_start:
        raise ValueError(f"The billing anchor ({anchor}) is after the service start.")
    cycle_start = anchor or service_start

    # The service's exclusive end, in the same half-open terms as the periods.
    service_stop = None if service_end is None else service_end + ONE_DAY

    if bill_day is None:
        anchor_day, origin, first_index = cycle_start.day, cycle_start, 0
    else:
        anchor_day = bill_day
        same_month = add_months(cycle_start, 0, anchor_day=bill_day)
        if same_month == cycle_start:
            origin, first_index = cycle_start, 0
        else:
            # The first bill day strictly after the start; the stub's full period ends there.
            if same_month > cycle_start:
                origin = same_month
            else:
                origin = add_months(cycle_start, 1, anchor_day=bill_day)
            first_index = -1

    def boundary(index: int) -> date:
        # Every boundary from the one origin and anchor: see the module docstring.
        return add_months(origin, index * interval_months, anchor_day=anchor_day)

    periods = []
    index = first_index
    full_start = boundary(index)
    while True:
        full_end = boundary(index + 1)
        if full_end <= service_start:  # a period of the cycle before an anchored service
            index += 1
            full_start = full_end
            continue
        start = max(service_start, full_start)
        if through is not None and start >= through:
            break
        if service_stop is not None and start >= service_stop:
            break
        end = full_end if service_stop is None else min(full_end, service_stop)
        periods.append(Period(start=start, end=end, full_start=full_start, full_end=full_end))
        index += 1
        full_start = full_end
    return periods
