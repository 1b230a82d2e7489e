"""Billing periods: anniversary and calendar-day boundaries, stubs, short months, tiling."""

import calendar
from datetime import date, timedelta
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.domain.periods import Period, add_months, billing_periods

D = date


def spans(periods):
    """Return (first day, last day) pairs, the way an invoice prints them."""
    return [(p.start, p.last_day) for p in periods]


# add_months


@pytest.mark.parametrize(
    ("day", "months", "anchor", "expected"),
    [
        (D(2026, 1, 31), 1, 31, D(2026, 2, 28)),
        (D(2028, 1, 31), 1, 31, D(2028, 2, 29)),  # leap year
        (D(2026, 2, 28), 1, 31, D(2026, 3, 31)),  # the anchor restores the day after February
        (D(2026, 1, 15), 12, 15, D(2027, 1, 15)),
        (D(2026, 11, 30), 3, 30, D(2027, 2, 28)),  # across a year end
        (D(2026, 2, 1), -3, 1, D(2025, 11, 1)),  # backwards, for a stub's full period
        (D(2026, 3, 31), -1, 31, D(2026, 2, 28)),
        (D(2024, 2, 29), 12, 29, D(2025, 2, 28)),
        (D(2024, 2, 29), 48, 29, D(2028, 2, 29)),
    ],
)
def test_add_months_clamps_to_the_month_and_keeps_the_anchor(day, months, anchor, expected):
    assert add_months(day, months, anchor_day=anchor) == expected


@pytest.mark.parametrize("anchor", [0, 32])
def test_add_months_refuses_an_impossible_anchor(anchor):
    with pytest.raises(ValueError, match="anchor day must be between 1 and 31"):
        add_months(D(2026, 1, 1), 1, anchor_day=anchor)


def test_add_months_refuses_to_leave_the_calendar():
    with pytest.raises(ValueError, match="outside the calendar"):
        add_months(D(9999, 12, 1), 1, anchor_day=1)


# Period


def test_period_properties():
    stub = Period(
        start=D(2026, 1, 15), end=D(2026, 2, 1), full_start=D(2026, 1, 1), full_end=D(2026, 2, 1)
    )
    assert (stub.days, stub.full_days, stub.is_partial, stub.last_day) == (
        17,
        31,
        True,
        D(2026, 1, 31),
    )
    full = Period(
        start=D(2026, 2, 1), end=D(2026, 3, 1), full_start=D(2026, 2, 1), full_end=D(2026, 3, 1)
    )
    assert (full.days, full.full_days, full.is_partial, full.last_day) == (
        28,
        28,
        False,
        D(2026, 2, 28),
    )


def test_period_refuses_an_empty_range_or_one_outside_its_full_period():
    with pytest.raises(ValueError, match="must end after it starts"):
        Period(
            start=D(2026, 1, 1), end=D(2026, 1, 1), full_start=D(2026, 1, 1), full_end=D(2026, 2, 1)
        )
    with pytest.raises(ValueError, match="not inside its full period"):
        Period(
            start=D(2026, 1, 1), end=D(2026, 2, 2), full_start=D(2026, 1, 1), full_end=D(2026, 2, 1)
        )


# Anniversary billing


def test_anniversary_from_31_january_2026_restores_the_day_after_short_months():
    periods = billing_periods(
        service_start=D(2026, 1, 31),
        service_end=D(2026, 7, 30),
        interval_months=1,
        bill_day=None,
    )
    assert spans(periods) == [
        (D(2026, 1, 31), D(2026, 2, 27)),
        (D(2026, 2, 28), D(2026, 3, 30)),
        (D(2026, 3, 31), D(2026, 4, 29)),
        (D(2026, 4, 30), D(2026, 5, 30)),
        (D(2026, 5, 31), D(2026, 6, 29)),
        (D(2026, 6, 30), D(2026, 7, 30)),
    ]
    assert not any(p.is_partial for p in periods)


def test_anniversary_from_31_january_2028_meets_the_leap_day():
    periods = billing_periods(
        service_start=D(2028, 1, 31),
        service_end=None,
        interval_months=1,
        bill_day=None,
        through=D(2028, 5, 1),
    )
    assert [p.start for p in periods] == [
        D(2028, 1, 31),
        D(2028, 2, 29),
        D(2028, 3, 31),
        D(2028, 4, 30),
    ]
    assert [p.days for p in periods] == [29, 31, 30, 31]


def test_anniversary_quarterly():
    periods = billing_periods(
        service_start=D(2026, 1, 15),
        service_end=D(2027, 1, 14),
        interval_months=3,
        bill_day=None,
    )
    assert spans(periods) == [
        (D(2026, 1, 15), D(2026, 4, 14)),
        (D(2026, 4, 15), D(2026, 7, 14)),
        (D(2026, 7, 15), D(2026, 10, 14)),
        (D(2026, 10, 15), D(2027, 1, 14)),
    ]
    assert [p.days for p in periods] == [90, 91, 92, 92]


def test_annual_from_29_february_clamps_in_common_years_and_returns_in_leap_years():
    periods = billing_periods(
        service_start=D(2024, 2, 29),
        service_end=None,
        interval_months=12,
        bill_day=None,
        through=D(2028, 3, 1),
    )
    assert [p.start for p in periods] == [
        D(2024, 2, 29),
        D(2025, 2, 28),
        D(2026, 2, 28),
        D(2027, 2, 28),
        D(2028, 2, 29),
    ]


def test_a_term_ending_mid_period_gives_a_partial_last_period():
    [period] = billing_periods(
        service_start=D(2026, 1, 1),
        service_end=D(2026, 6, 30),
        interval_months=12,
        bill_day=None,
    )
    assert (period.start, period.end) == (D(2026, 1, 1), D(2026, 7, 1))
    assert (period.full_start, period.full_end) == (D(2026, 1, 1), D(2027, 1, 1))
    assert (period.days, period.full_days, period.is_partial) == (181, 365, True)


def test_a_one_day_service():
    [period] = billing_periods(
        service_start=D(2026, 3, 10), service_end=D(2026, 3, 10), interval_months=1, bill_day=None
    )
    assert (period.days, period.full_days) == (1, 31)


# Calendar-day billing


def test_calendar_day_1_from_mid_january_starts_with_a_stub():
    periods = billing_periods(
        service_start=D(2026, 1, 15),
        service_end=D(2026, 4, 30),
        interval_months=1,
        bill_day=1,
    )
    assert spans(periods) == [
        (D(2026, 1, 15), D(2026, 1, 31)),
        (D(2026, 2, 1), D(2026, 2, 28)),
        (D(2026, 3, 1), D(2026, 3, 31)),
        (D(2026, 4, 1), D(2026, 4, 30)),
    ]
    stub = periods[0]
    assert (stub.full_start, stub.full_end) == (D(2026, 1, 1), D(2026, 2, 1))
    assert (stub.days, stub.full_days, stub.is_partial) == (17, 31, True)
    assert not any(p.is_partial for p in periods[1:])


def test_calendar_day_on_the_start_day_has_no_stub():
    periods = billing_periods(
        service_start=D(2026, 1, 1), service_end=D(2026, 3, 31), interval_months=1, bill_day=1
    )
    assert [p.start for p in periods] == [D(2026, 1, 1), D(2026, 2, 1), D(2026, 3, 1)]
    assert not any(p.is_partial for p in periods)


def test_calendar_day_31_bills_on_the_last_day_of_february():
    periods = billing_periods(
        service_start=D(2026, 1, 10),
        service_end=None,
        interval_months=1,
        bill_day=31,
        through=D(2026, 5, 1),
    )
    assert [p.start for p in periods] == [
        D(2026, 1, 10),
        D(2026, 1, 31),
        D(2026, 2, 28),
        D(2026, 3, 31),
        D(2026, 4, 30),
    ]
    stub = periods[0]
    assert (stub.full_start, stub.full_end, stub.days, stub.full_days) == (
        D(2025, 12, 31),
        D(2026, 1, 31),
        21,
        31,
    )


def test_calendar_day_31_from_a_february_start_before_the_clamped_day():
    periods = billing_periods(
        service_start=D(2026, 2, 10),
        service_end=None,
        interval_months=1,
        bill_day=31,
        through=D(2026, 4, 1),
    )
    assert [(p.start, p.end, p.full_start) for p in periods] == [
        (D(2026, 2, 10), D(2026, 2, 28), D(2026, 1, 31)),
        (D(2026, 2, 28), D(2026, 3, 31), D(2026, 2, 28)),
        (D(2026, 3, 31), D(2026, 4, 30), D(2026, 3, 31)),
    ]
    assert (periods[0].days, periods[0].full_days) == (18, 28)


def test_calendar_day_31_starting_on_28_february_counts_as_on_the_bill_day():
    periods = billing_periods(
        service_start=D(2026, 2, 28),
        service_end=None,
        interval_months=1,
        bill_day=31,
        through=D(2026, 4, 1),
    )
    assert [p.start for p in periods] == [D(2026, 2, 28), D(2026, 3, 31)]
    assert not periods[0].is_partial


def test_calendar_day_start_after_the_bill_day_stubs_to_next_month():
    periods = billing_periods(
        service_start=D(2026, 1, 20), service_end=D(2026, 3, 14), interval_months=1, bill_day=15
    )
    assert [(p.start, p.end, p.full_start, p.full_end) for p in periods] == [
        (D(2026, 1, 20), D(2026, 2, 15), D(2026, 1, 15), D(2026, 2, 15)),
        (D(2026, 2, 15), D(2026, 3, 15), D(2026, 2, 15), D(2026, 3, 15)),
    ]


def test_calendar_quarterly_stub_is_prorated_against_the_quarter_ending_at_the_boundary():
    periods = billing_periods(
        service_start=D(2026, 1, 15),
        service_end=None,
        interval_months=3,
        bill_day=1,
        through=D(2026, 9, 1),
    )
    assert [(p.start, p.end, p.full_start) for p in periods] == [
        (D(2026, 1, 15), D(2026, 2, 1), D(2025, 11, 1)),
        (D(2026, 2, 1), D(2026, 5, 1), D(2026, 2, 1)),
        (D(2026, 5, 1), D(2026, 8, 1), D(2026, 5, 1)),
        (D(2026, 8, 1), D(2026, 11, 1), D(2026, 8, 1)),
    ]
    assert (periods[0].days, periods[0].full_days) == (17, 92)


def test_calendar_annual_with_stub_and_short_last_period():
    periods = billing_periods(
        service_start=D(2026, 3, 15), service_end=D(2027, 6, 30), interval_months=12, bill_day=1
    )
    assert [(p.start, p.end, p.full_start, p.full_end) for p in periods] == [
        (D(2026, 3, 15), D(2026, 4, 1), D(2025, 4, 1), D(2026, 4, 1)),
        (D(2026, 4, 1), D(2027, 4, 1), D(2026, 4, 1), D(2027, 4, 1)),
        (D(2027, 4, 1), D(2027, 7, 1), D(2027, 4, 1), D(2028, 4, 1)),
    ]
    assert [(p.days, p.full_days) for p in periods] == [(17, 365), (365, 365), (91, 366)]


def test_stub_and_end_in_the_same_period():
    [period] = billing_periods(
        service_start=D(2026, 1, 10), service_end=D(2026, 1, 20), interval_months=1, bill_day=1
    )
    assert (period.start, period.end, period.full_start, period.full_end) == (
        D(2026, 1, 10),
        D(2026, 1, 21),
        D(2026, 1, 1),
        D(2026, 2, 1),
    )


# The horizon


def test_through_stops_before_periods_starting_on_or_after_it():
    kwargs = {"service_start": D(2026, 1, 1), "interval_months": 1, "bill_day": None}
    periods = billing_periods(service_end=None, through=D(2026, 3, 1), **kwargs)
    assert [p.start for p in periods] == [D(2026, 1, 1), D(2026, 2, 1)]
    periods = billing_periods(service_end=None, through=D(2026, 3, 2), **kwargs)
    assert [p.start for p in periods] == [D(2026, 1, 1), D(2026, 2, 1), D(2026, 3, 1)]
    assert periods[-1].end == D(2026, 4, 1)  # the horizon does not cut a period short
    assert billing_periods(service_end=None, through=D(2026, 1, 1), **kwargs) == []


def test_through_also_limits_a_fixed_term():
    periods = billing_periods(
        service_start=D(2026, 1, 1),
        service_end=D(2026, 12, 31),
        interval_months=1,
        bill_day=None,
        through=D(2026, 2, 15),
    )
    assert [p.start for p in periods] == [D(2026, 1, 1), D(2026, 2, 1)]


# Validation


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"interval_months": 0}, "interval must be 1 to 120 months"),
        ({"interval_months": 121}, "interval must be 1 to 120 months"),
        ({"bill_day": 0}, "bill day must be between 1 and 31"),
        ({"bill_day": 32}, "bill day must be between 1 and 31"),
        ({"service_end": D(2025, 12, 31)}, "ends .* before it starts"),
        ({"service_end": None}, "evergreen line .* needs a `through` date"),
    ],
)
def test_billing_periods_refuses_bad_terms(kwargs, message):
    terms = {
        "service_start": D(2026, 1, 1),
        "service_end": D(2026, 12, 31),
        "interval_months": 1,
        "bill_day": None,
    }
    with pytest.raises(ValueError, match=message):
        billing_periods(**(terms | kwargs))


# Properties

starts = st.dates(min_value=D(2000, 1, 1), max_value=D(2100, 12, 31))
intervals = st.integers(min_value=1, max_value=24)
bill_days = st.none() | st.integers(min_value=1, max_value=31)
lengths = st.integers(min_value=0, max_value=4000)


def on_anchor(day: date, anchor: int) -> bool:
    """Return whether a boundary falls on the anchor day, clamped to its month."""
    return day.day == min(anchor, calendar.monthrange(day.year, day.month)[1])


def months_between(earlier: date, later: date) -> int:
    """Return how many calendar months apart two dates are, ignoring the day."""
    return (later.year - earlier.year) * 12 + later.month - earlier.month


def check_shape(periods, *, service_start, interval_months, bill_day):
    """Assert what holds for every period list: order, bounds, boundaries on the anchor."""
    assert periods[0].start == service_start
    for before, after in pairwise(periods):
        assert before.end == after.start  # no gap, no overlap
        assert before.full_end == after.full_start
    anchor = service_start.day if bill_day is None else bill_day
    for period in periods:
        assert 0 < period.days <= period.full_days
        assert period.full_start <= period.start < period.end <= period.full_end
        assert months_between(period.full_start, period.full_end) == interval_months
        assert on_anchor(period.full_start, anchor) and on_anchor(period.full_end, anchor)
    assert not any(p.is_partial for p in periods[1:-1])
    # A stub exists exactly when the service does not start on a boundary day; anniversary
    # billing never has one.
    assert (periods[0].full_start == service_start) == on_anchor(service_start, anchor)
    if bill_day is None:
        assert periods[0].full_start == service_start


@given(start=starts, length=lengths, interval=intervals, bill_day=bill_days)
def test_fixed_term_periods_tile_the_service_exactly(start, length, interval, bill_day):
    service_end = start + timedelta(days=length)
    periods = billing_periods(
        service_start=start, service_end=service_end, interval_months=interval, bill_day=bill_day
    )
    check_shape(periods, service_start=start, interval_months=interval, bill_day=bill_day)
    assert periods[-1].end == service_end + timedelta(days=1)
    assert sum(p.days for p in periods) == length + 1


@given(start=starts, horizon=st.integers(1, 4000), interval=intervals, bill_day=bill_days)
def test_evergreen_periods_reach_the_horizon(start, horizon, interval, bill_day):
    through = start + timedelta(days=horizon)
    periods = billing_periods(
        service_start=start,
        service_end=None,
        interval_months=interval,
        bill_day=bill_day,
        through=through,
    )
    check_shape(periods, service_start=start, interval_months=interval, bill_day=bill_day)
    assert periods[-1].start < through <= periods[-1].end
    assert not periods[-1].is_partial or len(periods) == 1


@given(
    start=starts, length=lengths, cut=st.integers(0, 4000), interval=intervals, bill_day=bill_days
)
def test_an_end_date_changes_only_the_last_period(start, length, cut, interval, bill_day):
    """Setting an end on an evergreen line must not move any period already billed."""
    service_end = start + timedelta(days=length)
    terms = {"service_start": start, "interval_months": interval, "bill_day": bill_day}
    fixed = billing_periods(service_end=service_end, **terms)
    evergreen = billing_periods(service_end=None, through=fixed[-1].end, **terms)
    assert fixed[:-1] == evergreen[:-1]
    assert len(fixed) == len(evergreen)
    through = start + timedelta(days=cut)
    limited = billing_periods(service_end=service_end, through=through, **terms)
    assert limited == [p for p in fixed if p.start < through]
