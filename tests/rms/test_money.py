"""Rounding money: half-up to each currency's minor unit, never banker's rounding."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from moneyed import Money

from rms.money import minor_unit_exponent, round_money


@pytest.mark.parametrize(("code", "places"), [("USD", 2), ("EUR", 2), ("JPY", 0), ("KWD", 3)])
def test_minor_unit_follows_iso_4217(code, places):
    assert minor_unit_exponent(code) == places


@pytest.mark.parametrize(
    ("amount", "code", "expected"),
    [
        ("2.345", "USD", "2.35"),  # half-up: banker's rounding would give 2.34
        ("2.335", "USD", "2.34"),
        ("-2.345", "USD", "-2.35"),  # half away from zero, as a credit mirrors its invoice
        ("1234.5", "JPY", "1235"),
        ("1.2345", "KWD", "1.235"),
        ("10", "USD", "10.00"),
    ],
)
def test_round_money_half_up(amount, code, expected):
    rounded = round_money(Decimal(amount), code)
    assert rounded == Money(expected, code)
    assert str(rounded.amount) == expected  # the scale is the currency's, not the input's


def test_round_money_accepts_money_and_refuses_a_currency_mismatch():
    assert round_money(Money("1.005", "EUR")) == Money("1.01", "EUR")
    with pytest.raises(ValueError, match="Cannot round USD money as EUR"):
        round_money(Money("1", "USD"), "EUR")


def test_round_money_refuses_floats():
    with pytest.raises(TypeError, match="Decimal, not float"):
        round_money(0.1, "USD")


amounts = st.decimals(min_value=-(10**12), max_value=10**12, places=6, allow_nan=False)


@given(amount=amounts, code=st.sampled_from(["USD", "JPY", "KWD", "EUR"]))
def test_rounding_moves_an_amount_by_at_most_half_a_minor_unit(amount, code):
    rounded = round_money(amount, code).amount
    half_unit = Decimal(1).scaleb(-minor_unit_exponent(code)) / 2
    assert abs(rounded - amount) <= half_unit
    assert round_money(rounded, code).amount == rounded  # rounding twice changes nothing
