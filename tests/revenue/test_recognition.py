"""Revenue recognition (ASC 606 step 5): ratable, point in time, milestones, percent complete."""

from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st
from moneyed import Money

from revenue.domain.recognition import (
    RevenueEntry,
    cumulative_catch_up,
    milestone_entries,
    point_in_time_entry,
    ratable_schedule,
)
from rms.money import minor_unit_exponent

D = date


def usd(amount):
    return Money(Decimal(amount), "USD")


def amounts(entries):
    return [entry.amount for entry in entries]


# Ratable: an annual SaaS subscription, USD 12,000.00 for 2026-01-01 to 2026-12-31.
#
# 365 days, so a day earns 12,000 / 365 = 32.876712... In cents (1,200,000 of them):
#   31-day month: 1,200,000 x 31 / 365 = 101,917.808 → floor 101,917, remainder .808
#   28-day Feb:   1,200,000 x 28 / 365 =  92,054.794 → floor  92,054, remainder .794
#   30-day month: 1,200,000 x 30 / 365 =  98,630.136 → floor  98,630, remainder .136
# Floors: 7 x 101,917 + 92,054 + 4 x 98,630 = 1,199,993 cents, 7 cents short. The largest
# remainders are the seven 31-day months (.808), so each gets a cent: January is 31/365 x 12,000
# = 1,019.178 → 1,019.18, and the year sums to 7 x 1,019.18 + 920.54 + 4 x 986.30 = 12,000.00.
USD_2026 = {31: usd("1019.18"), 28: usd("920.54"), 30: usd("986.30")}


def test_annual_subscription_is_recognized_by_days_in_each_month():
    schedule = ratable_schedule(
        allocated=usd("12000.00"), service_start=D(2026, 1, 1), service_end=D(2026, 12, 31)
    )

    assert [entry.period_start for entry in schedule] == [D(2026, m, 1) for m in range(1, 13)]
    assert schedule[0] == RevenueEntry(D(2026, 1, 1), D(2026, 1, 31), usd("1019.18"))
    assert schedule[1].period_end == D(2026, 2, 28)
    for entry in schedule:
        days = (entry.period_end - entry.period_start).days + 1
        assert entry.amount == USD_2026[days], entry
    assert sum(amounts(schedule), usd(0)) == usd("12000.00")


def test_leap_year_spreads_over_366_days():
    # 2028 has 366 days. In cents:
    #   31-day month: 1,200,000 x 31 / 366 = 101,639.344 → floor 101,639, remainder .344
    #   29-day Feb:   1,200,000 x 29 / 366 =  95,081.967 → floor  95,081, remainder .967
    #   30-day month: 1,200,000 x 30 / 366 =  98,360.655 → floor  98,360, remainder .655
    # Floors: 7 x 101,639 + 95,081 + 4 x 98,360 = 1,199,994, 6 cents short. They go to February
    # (.967), the four 30-day months (.655) and the first 31-day month, January (.344, the earliest
    # of a tie). 1,016.40 + 6 x 1,016.39 + 950.82 + 4 x 983.61 = 12,000.00.
    schedule = ratable_schedule(
        allocated=usd("12000.00"), service_start=D(2028, 1, 1), service_end=D(2028, 12, 31)
    )

    assert amounts(schedule) == [
        usd(a)
        for a in (
            "1016.40", "950.82", "1016.39", "983.61", "1016.39", "983.61",
            "1016.39", "1016.39", "983.61", "1016.39", "983.61", "1016.39",
        )
    ]  # fmt: skip
    assert schedule[1].period_end == D(2028, 2, 29)
    assert sum(amounts(schedule), usd(0)) == usd("12000.00")


def test_mid_month_start_touches_thirteen_months():
    # 15 Jan 2026 to 14 Jan 2027 is 365 days over 13 calendar months:
    #   Jan 2026, days 15-31 = 17 days: 1,200,000 x 17 / 365 = 55,890.41 → 558.90 (remainder .41)
    #   Jan 2027, days 1-14  = 14 days: 1,200,000 x 14 / 365 = 46,027.40 → 460.27 (remainder .397)
    # Floors sum to 1,199,993; the 7 cents go to the six 31-day months (.808) and February (.794).
    # 558.90 + 920.55 + 6 x 1,019.18 + 4 x 986.30 + 460.27 = 12,000.00.
    schedule = ratable_schedule(
        allocated=usd("12000.00"), service_start=D(2026, 1, 15), service_end=D(2027, 1, 14)
    )

    assert len(schedule) == 13
    assert schedule[0] == RevenueEntry(D(2026, 1, 1), D(2026, 1, 31), usd("558.90"))
    assert schedule[1].amount == usd("920.55")
    assert schedule[2].amount == usd("1019.18")  # March
    assert schedule[3].amount == usd("986.30")  # April
    assert schedule[-1] == RevenueEntry(D(2027, 1, 1), D(2027, 1, 31), usd("460.27"))
    assert sum(amounts(schedule), usd(0)) == usd("12000.00")


def test_yen_has_no_minor_unit():
    # JPY 100,000 over Jan-Mar 2026 (31 + 28 + 31 = 90 days):
    #   Jan 100,000 x 31 / 90 = 34,444.44; Feb x 28 / 90 = 31,111.11; Mar = 34,444.44.
    # Floors 34,444 + 31,111 + 34,444 = 99,999; the one yen goes to the earliest of the tied
    # largest remainders (.44), January.
    schedule = ratable_schedule(
        allocated=Money(100_000, "JPY"), service_start=D(2026, 1, 1), service_end=D(2026, 3, 31)
    )

    assert amounts(schedule) == [Money(34_445, "JPY"), Money(31_111, "JPY"), Money(34_444, "JPY")]


def test_single_day_service_is_one_entry():
    schedule = ratable_schedule(
        allocated=usd("50.00"), service_start=D(2026, 6, 30), service_end=D(2026, 6, 30)
    )

    assert schedule == [RevenueEntry(D(2026, 6, 1), D(2026, 6, 30), usd("50.00"))]


def test_service_ending_before_it_starts_is_refused():
    with pytest.raises(ValueError, match="before it starts"):
        ratable_schedule(
            allocated=usd("10.00"), service_start=D(2026, 2, 1), service_end=D(2026, 1, 31)
        )


def test_an_entry_must_span_one_calendar_month():
    with pytest.raises(ValueError, match="first day"):
        RevenueEntry(D(2026, 1, 2), D(2026, 1, 31), usd("1.00"))
    with pytest.raises(ValueError, match="ends on"):
        RevenueEntry(D(2026, 2, 1), D(2026, 2, 27), usd("1.00"))


CURRENCIES = st.sampled_from(["USD", "JPY", "KWD"])


@given(
    start=st.dates(min_value=D(2000, 1, 1), max_value=D(2100, 12, 31)),
    span=st.integers(min_value=0, max_value=2000),
    minor_units=st.integers(min_value=-(10**12), max_value=10**12),
    currency=CURRENCIES,
)
def test_ratable_schedule_sums_exactly_and_tracks_each_months_day_share(
    start, span, minor_units, currency
):
    step = Decimal(1).scaleb(-minor_unit_exponent(currency))
    allocated = Money(minor_units * step, currency)
    end = start + timedelta(days=span)

    schedule = ratable_schedule(allocated=allocated, service_start=start, service_end=end)

    assert sum(amounts(schedule), Money(0, currency)) == allocated
    total_days = span + 1
    covered = 0
    for entry in schedule:
        days = (min(entry.period_end, end) - max(entry.period_start, start)).days + 1
        covered += days
        exact = Fraction(allocated.amount) * days / total_days
        assert abs(Fraction(entry.amount.amount) - exact) < Fraction(step)
    assert covered == total_days
    assert schedule[0].period_start <= start and schedule[-1].period_end >= end


# Point in time


def test_partial_shipment_recognizes_the_shipped_share():
    # 6 of 10 units shipped on 17 March of a PO allocated USD 1,000.00: 1,000 x 6 / 10 = 600.00.
    entry = point_in_time_entry(
        allocated=usd("1000.00"), on=D(2026, 3, 17), fraction=Fraction(6, 10)
    )

    assert entry == RevenueEntry(D(2026, 3, 1), D(2026, 3, 31), usd("600.00"))


def test_point_in_time_rounds_once_half_up():
    # 2 of 3 units: 1,000 x 2 / 3 = 666.666... → 666.67; 1 of 3 → 333.333... → 333.33.
    on = D(2026, 3, 17)
    two_thirds = point_in_time_entry(allocated=usd("1000.00"), on=on, fraction=Fraction(2, 3))
    one_third = point_in_time_entry(allocated=usd("1000.00"), on=on, fraction=Fraction(1, 3))
    assert two_thirds.amount == usd("666.67")
    assert one_third.amount == usd("333.33")
    # Full delivery is the whole allocation; half of 0.01 is 0.005 → 0.01 (half-up, not banker's).
    assert point_in_time_entry(allocated=usd("250.00"), on=on).amount == usd("250.00")
    assert point_in_time_entry(allocated=usd("0.01"), on=on, fraction=Decimal("0.5")).amount == (
        usd("0.01")
    )


@pytest.mark.parametrize("fraction", [Decimal("1.01"), Decimal("-0.1"), Fraction(11, 10)])
def test_point_in_time_refuses_a_fraction_outside_zero_to_one(fraction):
    with pytest.raises(ValueError, match="between 0 and 1"):
        point_in_time_entry(allocated=usd("100.00"), on=D(2026, 1, 1), fraction=fraction)


def test_point_in_time_refuses_float():
    with pytest.raises(TypeError):
        point_in_time_entry(allocated=usd("100.00"), on=D(2026, 1, 1), fraction=0.5)


# Milestones (output method)

MILESTONES_30_40_30 = [usd("30000.00"), usd("40000.00"), usd("30000.00")]


def test_milestone_recognizes_its_share_of_the_allocated_price():
    # Project value 100,000 at 30/40/30, allocated 90,000 after the bundle discount:
    #   milestone 1: 90,000 x 30,000 / 100,000 = 27,000.00 (not the 30,000.00 invoiced)
    #   milestone 2: 90,000 x 40,000 / 100,000 = 36,000.00
    #   milestone 3: 27,000.00; all three = 90,000.00.
    allocated = usd("90000.00")

    assert milestone_entries(
        allocated=allocated, milestone_values=MILESTONES_30_40_30, achieved=[0]
    ) == [usd("27000.00")]
    assert milestone_entries(
        allocated=allocated, milestone_values=MILESTONES_30_40_30, achieved=[2, 0, 1]
    ) == [usd("27000.00"), usd("27000.00"), usd("36000.00")]


def test_milestone_rounding_is_shared_across_the_schedule():
    # 1,000.00 over three equal milestones: 333.333... each; floors 333.33 x 3 = 999.99 and the
    # cent goes to the first. Each milestone earns the same whichever others are achieved.
    values = [usd("10.00")] * 3
    every = milestone_entries(allocated=usd("1000.00"), milestone_values=values, achieved=[0, 1, 2])
    assert every == [usd("333.34"), usd("333.33"), usd("333.33")]
    assert milestone_entries(allocated=usd("1000.00"), milestone_values=values, achieved=[2]) == [
        usd("333.33")
    ]
    assert milestone_entries(allocated=usd("1000.00"), milestone_values=values, achieved=[]) == []


def test_milestone_refuses_bad_indexes_and_mixed_currencies():
    kwargs = {"allocated": usd("90000.00"), "milestone_values": MILESTONES_30_40_30}
    with pytest.raises(ValueError, match="does not exist"):
        milestone_entries(**kwargs, achieved=[3])
    with pytest.raises(ValueError, match="more than once"):
        milestone_entries(**kwargs, achieved=[1, 1])
    with pytest.raises(ValueError, match="mix currencies"):
        milestone_entries(
            allocated=Money("90000.00", "EUR"), milestone_values=MILESTONES_30_40_30, achieved=[0]
        )


@given(
    minor_units=st.integers(min_value=0, max_value=10**12),
    currency=CURRENCIES,
    values=st.lists(st.integers(min_value=0, max_value=10**9), min_size=1, max_size=12).filter(any),
)
def test_all_milestones_sum_exactly_to_the_allocation(minor_units, currency, values):
    step = Decimal(1).scaleb(-minor_unit_exponent(currency))
    allocated = Money(minor_units * step, currency)
    milestone_values = [Money(value * step, currency) for value in values]

    shares = milestone_entries(
        allocated=allocated,
        milestone_values=milestone_values,
        achieved=list(range(len(values))),
    )

    assert sum(shares, Money(0, currency)) == allocated


# Percent complete (input method)


def test_catch_up_books_progress_less_what_is_recognized():
    # A PO allocated 100,000.00. Period 1: 40% complete → 40,000.00 from nothing recognized.
    allocated = usd("100000.00")
    first = cumulative_catch_up(
        allocated=allocated, progress=Decimal("0.40"), recognized_to_date=usd(0)
    )
    assert first == usd("40000.00")

    # Period 2: total cost estimate rises, so progress falls to 35%. Revenue to date should be
    # 35,000.00; 40,000.00 is booked, so the catch-up is 35,000 - 40,000 = -5,000.00.
    second = cumulative_catch_up(
        allocated=allocated, progress=Decimal("0.35"), recognized_to_date=first
    )
    assert second == usd("-5000.00")

    # Done: 100% → 100,000 - 35,000 = 65,000.00, so the life total is the allocation.
    last = cumulative_catch_up(allocated=allocated, progress=1, recognized_to_date=first + second)
    assert last == usd("65000.00")
    assert first + second + last == allocated


def test_catch_up_rounds_once():
    # 1,000.00 x 1/3 = 333.333... → 333.33; then 1,000.00 x 2/3 = 666.666... → 666.67 to date,
    # so the second period books 666.67 - 333.33 = 333.34.
    allocated = usd("1000.00")
    first = cumulative_catch_up(
        allocated=allocated, progress=Fraction(1, 3), recognized_to_date=usd(0)
    )
    second = cumulative_catch_up(
        allocated=allocated, progress=Fraction(2, 3), recognized_to_date=first
    )
    assert (first, second) == (usd("333.33"), usd("333.34"))


@pytest.mark.parametrize("progress", [Decimal("1.0001"), Decimal("-0.01"), Decimal("NaN")])
def test_catch_up_refuses_progress_outside_zero_to_one(progress):
    with pytest.raises(ValueError):
        cumulative_catch_up(
            allocated=usd("100.00"), progress=progress, recognized_to_date=usd("0.00")
        )


def test_catch_up_refuses_mixed_currencies():
    with pytest.raises(ValueError, match="mix currencies"):
        cumulative_catch_up(
            allocated=usd("100.00"),
            progress=Decimal("0.5"),
            recognized_to_date=Money("10.00", "EUR"),
        )
