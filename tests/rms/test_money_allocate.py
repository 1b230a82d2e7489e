"""Allocating money by weights: largest remainder, parts that sum exactly to the whole."""

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st
from moneyed import Money

from rms.money import allocate, minor_unit_exponent


def amounts(parts):
    """Return the parts' amounts as strings, so the scale is checked as well as the value."""
    return [str(part.amount) for part in parts]


@pytest.mark.parametrize(
    ("total", "code", "weights", "expected"),
    [
        ("100.00", "USD", [1, 1, 1], ["33.34", "33.33", "33.33"]),  # tie: the earliest wins
        ("-100.00", "USD", [1, 1, 1], ["-33.34", "-33.33", "-33.33"]),  # a credit mirrors it
        ("0.05", "USD", [1, 1], ["0.03", "0.02"]),
        ("0.05", "USD", [0, 1, 1], ["0.00", "0.03", "0.02"]),  # a zero weight gets nothing
        ("10.00", "USD", [1, 2], ["3.33", "6.67"]),  # the largest remainder (0.666...) wins
        ("1000", "JPY", [Decimal("0.3"), Decimal("0.4"), Decimal("0.3")], ["300", "400", "300"]),
        ("100", "JPY", [1, 1, 1], ["34", "33", "33"]),
        ("1.000", "KWD", [1, 1, 1], ["0.334", "0.333", "0.333"]),
        # SSPs 1200, 300 and 500 on a transaction price of 1800 (a 10 % discount spread over all).
        ("1800.00", "USD", [1200, 300, 500], ["1080.00", "270.00", "450.00"]),
        ("99.99", "EUR", [Decimal("0.5")], ["99.99"]),
        ("0.00", "USD", [3, 4], ["0.00", "0.00"]),
        ("100", "USD", [1, 1, 1], ["33.34", "33.33", "33.33"]),  # an integer total is on the cent
    ],
)
def test_allocate_examples(total, code, weights, expected):
    parts = allocate(Money(total, code), weights)
    assert amounts(parts) == expected  # the scale is the currency's
    assert all(part.currency.code == code for part in parts)


def test_allocate_hands_leftover_units_by_remainder_then_by_position():
    # Shares 1.8667, 1.8667, 1.8667 and 1.4 cents: the three larger remainders win.
    assert amounts(allocate(Money("0.07", "USD"), [4, 4, 4, 3])) == ["0.02", "0.02", "0.02", "0.01"]
    # Shares 0.833, 1.667, 0.833, 1.667 cents: both 0.833 remainders win, then of the tied
    # 0.667 remainders only the earlier one.
    assert amounts(allocate(Money("0.05", "USD"), [1, 2, 1, 2])) == ["0.01", "0.02", "0.01", "0.01"]
    assert amounts(allocate(Money("0.02", "USD"), [1, 1, 1])) == ["0.01", "0.01", "0.00"]


@pytest.mark.parametrize(
    ("weights", "error", "message"),
    [
        ([], ValueError, "at least one weight"),
        ([0, 0], ValueError, "all weights are zero"),
        ([1, -1], ValueError, "Weight 1 is -1; weights must not be negative"),
        ([Decimal("NaN")], ValueError, "must be finite"),
        ([Decimal("Infinity")], ValueError, "must be finite"),
        ([0.5, 0.5], TypeError, "Weight 0 is float"),
        ([True, False], TypeError, "Weight 0 is bool"),
    ],
)
def test_allocate_refuses_bad_weights(weights, error, message):
    with pytest.raises(error, match=message):
        allocate(Money("10.00", "USD"), weights)


def test_allocate_refuses_a_total_off_the_minor_unit_or_not_money():
    with pytest.raises(ValueError, match="round it with round_money first"):
        allocate(Money("1.005", "USD"), [1, 1])
    with pytest.raises(ValueError, match="not a whole number"):
        allocate(Money("0.5", "JPY"), [1])
    with pytest.raises(TypeError, match="splits Money, not Decimal"):
        allocate(Decimal("10.00"), [1])


# Properties

codes = st.sampled_from(["USD", "JPY", "KWD", "EUR"])
weights = st.lists(
    st.integers(0, 10**6) | st.decimals(min_value=0, max_value=10**6, places=4),
    min_size=1,
    max_size=20,
).filter(lambda ws: sum(ws) > 0)


@st.composite
def totals(draw):
    """Draw a Money total on its currency's minor unit, positive, negative or zero."""
    code = draw(codes)
    units = draw(st.integers(-(10**13), 10**13))
    return Money(Decimal(units).scaleb(-minor_unit_exponent(code)), code)


@given(total=totals(), weights=weights)
def test_allocate_parts_sum_exactly_and_stay_within_one_minor_unit(total, weights):
    parts = allocate(total, weights)
    assert len(parts) == len(weights)
    assert sum(part.amount for part in parts) == total.amount
    exponent = minor_unit_exponent(total.currency.code)
    minor_unit = Fraction(1, 10**exponent)
    weight_sum = sum(Fraction(w) for w in weights)
    for part, weight in zip(parts, weights, strict=True):
        exact = Fraction(total.amount) * Fraction(weight) / weight_sum
        assert abs(Fraction(part.amount) - exact) < minor_unit
        assert part.amount.as_tuple().exponent == -exponent
        if weight == 0:
            assert part.amount == 0


@given(total=totals(), weights=weights)
def test_allocating_a_credit_mirrors_the_invoice(total, weights):
    assert allocate(-total, weights) == [-part for part in allocate(total, weights)]


@given(total=totals(), weights=weights, factor=st.integers(1, 1000))
def test_allocate_depends_only_on_the_proportions(total, weights, factor):
    assert allocate(total, [w * factor for w in weights]) == allocate(total, weights)
