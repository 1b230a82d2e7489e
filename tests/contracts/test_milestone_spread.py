"""Milestone templates spread a line's value so the schedule sums exactly to it."""

from decimal import Decimal

import pytest
from djmoney.money import Money
from hypothesis import assume, given
from hypothesis import strategies as st

from contracts.domain.milestones import spread


def test_thirty_forty_thirty_of_an_awkward_value_puts_the_remainder_last():
    # 30% of 1,000.01 = 300.003 -> 300.00; 40% = 400.004 -> 400.00; last = 1,000.01 - 700.00.
    assert spread(Money("1000.01", "USD"), [Decimal(30), Decimal(40), Decimal(30)]) == [
        Money("300.00", "USD"),
        Money("400.00", "USD"),
        Money("300.01", "USD"),
    ]


def test_yen_and_three_place_currencies_round_to_their_own_minor_unit():
    # 1/3 of 100 yen: 33.33 -> 33, 33, then 34.
    thirds = [Decimal("33.3333"), Decimal("33.3333"), Decimal("33.3334")]
    assert spread(Money(100, "JPY"), thirds) == [Money(33, "JPY")] * 2 + [Money(34, "JPY")]
    # 10% of 1.2345 KWD -> 0.1235 rounds half-up to 0.124 (three places).
    assert spread(Money("1.235", "KWD"), [Decimal(10), Decimal(90)])[0] == Money("0.124", "KWD")


def test_when_rounding_up_would_leave_the_last_negative_the_largest_remainders_win():
    # 33.2998% of 3.32 = 1.10553 -> 1.11 three times is 3.33: the last would be -0.01.
    thirds = [Decimal("33.2998")] * 3 + [Decimal("0.1006")]
    parts = spread(Money("3.32", "USD"), thirds)
    assert parts == [
        Money("1.11", "USD"),
        Money("1.11", "USD"),
        Money("1.10", "USD"),
        Money("0.00", "USD"),
    ]


def test_percents_that_do_not_make_a_whole_are_refused():
    with pytest.raises(ValueError, match="sum to 90"):
        spread(Money(100, "USD"), [Decimal(50), Decimal(40)])


@given(
    value=st.decimals(min_value=0, max_value=10**9, places=2),
    cuts=st.lists(st.integers(min_value=0, max_value=100), min_size=1, max_size=8),
)
def test_a_spread_always_sums_to_the_value(value, cuts):
    percents = [Decimal(c) for c in cuts]
    percents[-1] += 100 - sum(percents)
    assume(percents[-1] >= 0)
    parts = spread(Money(value, "USD"), percents)
    assert sum(parts, Money(0, "USD")) == Money(value, "USD")
