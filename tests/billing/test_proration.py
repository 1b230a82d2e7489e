"""Proration: exact partial-period amounts, one rounding per charge, splits that add up."""

from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st
from moneyed import Money

from billing.domain.periods import Period
from billing.domain.proration import (
    period_charge,
    prorated_amount,
    split_by_days,
)
from rms.money import minor_unit_exponent, round_fraction

D = date


def period(start, end, full_start=None, full_end=None):
    """Build a period; without a full period given, the period is full."""
    return Period(start=start, end=end, full_start=full_start or start, full_end=full_end or end)


JANUARY = period(D(2026, 1, 1), D(2026, 2, 1))
JANUARY_STUB = period(D(2026, 1, 15), D(2026, 2, 1), D(2026, 1, 1), D(2026, 2, 1))


# prorated_amount


def test_prorated_amount_is_exact():
    assert prorated_amount(Decimal(100), days_used=17, days_in_period=31) == Fraction(1700, 31)
    assert prorated_amount(Decimal("1200"), days_used=181, days_in_period=365) == Fraction(
        217200, 365
    )
    assert prorated_amount(Decimal("9.99"), days_used=0, days_in_period=30) == 0
    assert prorated_amount(Decimal("9.99"), days_used=30, days_in_period=30) == Fraction("9.99")


@pytest.mark.parametrize(
    ("days_used", "days_in_period", "message"),
    [
        (-1, 30, "cannot be negative"),
        (31, 30, "cannot exceed the days in the period"),
        (0, 0, "at least one day"),
        (1, -5, "at least one day"),
    ],
)
def test_prorated_amount_refuses_impossible_days(days_used, days_in_period, message):
    with pytest.raises(ValueError, match=message):
        prorated_amount(Decimal(100), days_used=days_used, days_in_period=days_in_period)


def test_prorated_amount_refuses_floats():
    with pytest.raises(TypeError, match="Decimal, not float"):
        prorated_amount(100.0, days_used=1, days_in_period=2)


# period_charge: hand-worked figures


def test_a_full_period_costs_quantity_times_price_rounded_once():
    charge = period_charge(
        unit_price=Decimal("33.3333"), quantity=Decimal(3), period=JANUARY, currency="USD"
    )
    assert charge == Money("100.00", "USD")  # 99.9999 rounded once, not 33.33 * 3 = 99.99


def test_a_stub_of_17_of_31_days():
    charge = period_charge(
        unit_price=Decimal(100), quantity=Decimal(1), period=JANUARY_STUB, currency="USD"
    )
    assert charge == Money("54.84", "USD")  # 1700 / 31 = 54.8387...


def test_a_term_ending_mid_year_is_181_of_365_days():
    half_year = period(D(2026, 1, 1), D(2026, 7, 1), D(2026, 1, 1), D(2027, 1, 1))
    charge = period_charge(
        unit_price=Decimal(1200), quantity=Decimal(1), period=half_year, currency="USD"
    )
    assert charge == Money("595.07", "USD")  # 217200 / 365 = 595.0684...


def test_february_in_a_leap_year_has_29_days():
    stub = period(D(2028, 2, 15), D(2028, 3, 1), D(2028, 2, 1), D(2028, 3, 1))
    charge = period_charge(
        unit_price=Decimal(290), quantity=Decimal(1), period=stub, currency="USD"
    )
    assert charge == Money("150.00", "USD")  # 290 * 15 / 29


def test_per_unit_pricing_multiplies_before_rounding():
    charge = period_charge(
        unit_price=Decimal("12.5"), quantity=Decimal(7), period=JANUARY_STUB, currency="USD"
    )
    assert charge == Money("47.98", "USD")  # 7 * 12.5 * 17 / 31 = 47.9838...


@pytest.mark.parametrize(
    ("code", "expected"),
    [("USD", "54.84"), ("JPY", "55"), ("KWD", "54.839")],
)
def test_each_currency_rounds_to_its_own_minor_unit(code, expected):
    charge = period_charge(
        unit_price=Decimal(100), quantity=Decimal(1), period=JANUARY_STUB, currency=code
    )
    assert charge == Money(expected, code)
    assert str(charge.amount) == expected


def test_jpy_rounds_to_whole_yen():
    charge = period_charge(
        unit_price=Decimal(10000), quantity=Decimal(1), period=JANUARY_STUB, currency="JPY"
    )
    assert charge == Money("5484", "JPY")  # 170000 / 31 = 5483.87...


def test_half_a_cent_rounds_up_and_a_credit_mirrors_it():
    one_of_two_days = period(D(2026, 1, 1), D(2026, 1, 2), D(2026, 1, 1), D(2026, 1, 3))
    charge = period_charge(
        unit_price=Decimal("0.01"), quantity=Decimal(1), period=one_of_two_days, currency="USD"
    )
    assert charge == Money("0.01", "USD")  # exactly 0.005: half-up, not banker's 0.00
    credit = period_charge(
        unit_price=Decimal("-0.01"), quantity=Decimal(1), period=one_of_two_days, currency="USD"
    )
    assert credit == Money("-0.01", "USD")


def test_period_charge_refuses_floats():
    with pytest.raises(TypeError, match="unit_price is Decimal, not float"):
        period_charge(unit_price=9.99, quantity=Decimal(1), period=JANUARY, currency="USD")


# round_fraction


@pytest.mark.parametrize(
    ("value", "code", "expected"),
    [
        (Fraction(1, 3), "USD", "0.33"),
        (Fraction(2, 3), "USD", "0.67"),
        (Fraction(1, 200), "USD", "0.01"),  # exactly half a cent
        (Fraction(-1, 200), "USD", "-0.01"),
        (Fraction(999, 200000), "USD", "0.00"),  # 0.004995, just short of half a cent
        (Fraction(5, 2), "JPY", "3"),
        (Fraction(-5, 2), "JPY", "-3"),
        (Fraction(1, 2000), "KWD", "0.001"),
        (Fraction(0), "USD", "0.00"),
    ],
)
def test_round_fraction_is_half_up_away_from_zero(value, code, expected):
    rounded = round_fraction(value, code)
    assert rounded == Money(expected, code)
    assert str(rounded.amount) == expected


def half_up_reference(value: Fraction, code: str) -> Decimal:
    """Round exactly with integers: an independent check on ``round_fraction``."""
    scale = 10 ** minor_unit_exponent(code)
    magnitude = abs(value) * scale + Fraction(1, 2)
    units = magnitude.numerator // magnitude.denominator
    return Decimal(-units if value < 0 else units) / scale


codes = st.sampled_from(["USD", "JPY", "KWD", "EUR"])
fractions_ = st.fractions(min_value=-(10**9), max_value=10**9, max_denominator=10**6)


@given(value=fractions_, code=codes)
def test_round_fraction_matches_exact_half_up(value, code):
    assert round_fraction(value, code).amount == half_up_reference(value, code)


@given(units=st.integers(-(10**9), 10**9), code=codes)
def test_round_fraction_on_exact_half_way_points(units, code):
    value = (Fraction(units) + Fraction(1, 2)) / 10 ** minor_unit_exponent(code)
    expected = half_up_reference(value, code)
    assert round_fraction(value, code).amount == expected
    assert abs(expected) > abs(value)  # a tie always moves away from zero


# Properties: the pieces of a period add up

prices = st.decimals(min_value=0, max_value=10**7, places=4, allow_nan=False)
signed_prices = st.decimals(min_value=-(10**7), max_value=10**7, places=4, allow_nan=False)
quantities = st.decimals(min_value=0, max_value=10**4, places=2, allow_nan=False)
full_days = st.integers(min_value=1, max_value=3700)


@st.composite
def day_splits(draw):
    """Draw a full period's length and consecutive parts of it, cut at random days."""
    length = draw(full_days)
    cuts = sorted(draw(st.lists(st.integers(0, length), max_size=12)))
    edges = [0, *cuts, length]
    return length, [after - before for before, after in pairwise(edges)]


@given(amount=signed_prices, split=day_splits())
def test_prorated_parts_of_a_period_sum_to_its_full_amount(amount, split):
    length, days = split
    parts = [prorated_amount(amount, days_used=d, days_in_period=length) for d in days]
    assert sum(parts) == amount


@given(price=signed_prices, quantity=quantities, split=day_splits(), code=codes)
def test_split_by_days_parts_sum_to_the_rounded_full_charge(price, quantity, split, code):
    length, days = split
    start = D(2026, 1, 1)
    full = period(start, start + timedelta(days=length))
    charge = period_charge(unit_price=price, quantity=quantity, period=full, currency=code)
    assert charge.amount == half_up_reference(Fraction(quantity) * Fraction(price), code)
    parts = split_by_days(charge, days)
    assert sum(p.amount for p in parts) == charge.amount
    minor_unit = Fraction(1, 10 ** minor_unit_exponent(code))
    for part, count in zip(parts, days, strict=True):
        assert part.currency == charge.currency
        assert abs(Fraction(part.amount) - Fraction(charge.amount) * count / length) < minor_unit


@st.composite
def partial_periods(draw):
    """Draw a full period and a day count within it, starting anywhere in 2000-2100."""
    start = draw(st.dates(min_value=D(2000, 1, 1), max_value=D(2100, 12, 31)))
    length = draw(full_days)
    used = draw(st.integers(1, length))
    return start, length, used


def charge_for(price, quantity, start, length, used, code="USD"):
    """Charge the last ``used`` days of a full period of ``length`` days from ``start``."""
    full_end = start + timedelta(days=length)
    partial = period(full_end - timedelta(days=used), full_end, start, full_end)
    return period_charge(unit_price=price, quantity=quantity, period=partial, currency=code)


@given(
    price=prices, quantities=st.lists(quantities, min_size=2, max_size=2), shape=partial_periods()
)
def test_period_charge_never_falls_as_quantity_rises(price, quantities, shape):
    low, high = sorted(quantities)
    start, length, used = shape
    assert charge_for(price, low, start, length, used) <= charge_for(
        price, high, start, length, used
    )


@given(price=prices, quantity=quantities, shape=partial_periods(), more=st.integers(0, 3700))
def test_period_charge_never_falls_as_days_rise(price, quantity, shape, more):
    start, length, used = shape
    longer = min(length, used + more)
    assert charge_for(price, quantity, start, length, used) <= charge_for(
        price, quantity, start, length, longer
    )


# split_by_days: examples and refusals


def test_split_by_days_a_mid_month_change():
    parts = split_by_days(Money("100.00", "USD"), [10, 21])
    assert parts == [Money("32.26", "USD"), Money("67.74", "USD")]  # 32.258..., 67.741...


def test_split_by_days_hands_the_remainder_to_the_largest_share():
    assert split_by_days(Money("100.00", "USD"), [1, 1, 1]) == [
        Money("33.34", "USD"),
        Money("33.33", "USD"),
        Money("33.33", "USD"),
    ]


@pytest.mark.parametrize(
    ("days", "error", "message"),
    [
        ([], ValueError, "at least one weight"),
        ([0, 0], ValueError, "all day counts are zero"),
        ([5, -1], ValueError, "must not be negative"),
        ([1.5, 2], TypeError, "Day count 0 is float"),
    ],
)
def test_split_by_days_refuses_impossible_day_counts(days, error, message):
    with pytest.raises(error, match=message):
        split_by_days(Money("10.00", "USD"), days)
