"""Tests for variable consideration: estimate, constraint and cumulative catch-up (no database)."""

from decimal import Decimal
from fractions import Fraction
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st
from moneyed import Money

from revenue.domain.variable_consideration import (
    EXPECTED_VALUE,
    MOST_LIKELY,
    Estimate,
    Scenario,
    catch_up,
    constrain,
    estimate_variable,
    expected_value,
    most_likely_amount,
)
from rms.money import minor_unit_exponent


def usd(amount: str | int) -> Money:
    return Money(Decimal(amount), "USD")


# A performance bonus: nothing at 30%, 10,000 at 50%, 15,000 at 20%.
BONUS = [
    Scenario(usd(0), Decimal("0.3")),
    Scenario(usd(10_000), Decimal("0.5")),
    Scenario(usd(15_000), Decimal("0.2")),
]


def test_expected_value_of_performance_bonus():
    # 0 x 0.3 + 10,000 x 0.5 + 15,000 x 0.2 = 0 + 5,000 + 3,000 = 8,000
    assert expected_value(BONUS) == usd("8000.00")


def test_most_likely_amount_of_performance_bonus():
    # 0.5 is the single highest probability, so its amount 10,000 is the most likely.
    assert most_likely_amount(BONUS) == usd("10000.00")


def test_constraint_to_highly_probable_floor():
    # min(8,000 estimate, 5,000 floor) = 5,000
    estimate = estimate_variable(
        scenarios=BONUS,
        method=EXPECTED_VALUE,
        highly_probable_floor=usd(5_000),
        reason="Bonus depends on the customer's audit outcome, outside our influence.",
    )
    assert estimate == Estimate(
        method=EXPECTED_VALUE,
        estimate=usd("8000.00"),
        constrained=usd("5000.00"),
        constraint_reason="Bonus depends on the customer's audit outcome, outside our influence.",
    )


def test_floor_above_estimate_leaves_estimate():
    # min(10,000 most likely, 12,000 floor) = 10,000
    estimate = estimate_variable(
        scenarios=BONUS, method=MOST_LIKELY, highly_probable_floor=usd(12_000), reason="history"
    )
    assert estimate.estimate == estimate.constrained == usd("10000.00")


def test_no_floor_enters_whole_estimate():
    estimate = estimate_variable(scenarios=BONUS, method=EXPECTED_VALUE)
    assert estimate.constrained == usd("8000.00")
    assert estimate.constraint_reason == ""


def test_volume_rebate_is_negative_consideration():
    # No rebate at 0.6, 5,000 at 0.3, 12,000 at 0.1:
    # 0 x 0.6 - 5,000 x 0.3 - 12,000 x 0.1 = -1,500 - 1,200 = -2,700
    rebate = [
        Scenario(usd(0), Decimal("0.6")),
        Scenario(usd(-5_000), Decimal("0.3")),
        Scenario(usd(-12_000), Decimal("0.1")),
    ]
    assert expected_value(rebate) == usd("-2700.00")
    assert most_likely_amount(rebate) == usd("0.00")
    # A non-negative floor never raises a rebate: min(-2,700, 0) = -2,700.
    assert constrain(estimate=usd("-2700"), highly_probable_floor=usd(0), reason="x") == usd(
        "-2700.00"
    )


def test_probabilities_summing_to_099_are_refused():
    # 0.3 + 0.5 + 0.19 = 0.99: one outcome is missing.
    scenarios = [*BONUS[:2], Scenario(usd(15_000), Decimal("0.19"))]
    with pytest.raises(ValueError, match=r"sum to 0\.99, not exactly 1"):
        expected_value(scenarios)
    with pytest.raises(ValueError, match=r"sum to 0\.99"):
        most_likely_amount(scenarios)


def test_tie_for_most_likely_is_refused():
    scenarios = [Scenario(usd(0), Decimal("0.5")), Scenario(usd(10_000), Decimal("0.5"))]
    with pytest.raises(ValueError, match="does not predict better"):
        most_likely_amount(scenarios)
    # The expected value is still defined: 0 x 0.5 + 10,000 x 0.5 = 5,000
    assert expected_value(scenarios) == usd("5000.00")


def test_tie_below_the_highest_is_fine():
    scenarios = [
        Scenario(usd(1), Decimal("0.25")),
        Scenario(usd(2), Decimal("0.25")),
        Scenario(usd(3), Decimal("0.5")),
    ]
    assert most_likely_amount(scenarios) == usd("3.00")


def test_jpy_rounds_half_up_to_whole_yen():
    # 1,001 x 0.5 + 0 x 0.5 = 500.5 -> 501 (half-up, not banker's 500)
    scenarios = [
        Scenario(Money(1_001, "JPY"), Decimal("0.5")),
        Scenario(Money(0, "JPY"), Decimal("0.5")),
    ]
    result = expected_value(scenarios)
    assert result == Money(501, "JPY")
    assert result.amount.as_tuple().exponent == 0


def test_usd_rounding_of_expected_value():
    # 10.01 x 0.125 + 0 x 0.875 = 1.25125 -> 1.25
    scenarios = [Scenario(usd("10.01"), Decimal("0.125")), Scenario(usd(0), Decimal("0.875"))]
    assert expected_value(scenarios) == usd("1.25")


@pytest.mark.parametrize(
    ("scenarios", "error", "message"),
    [
        ([], ValueError, "no scenarios"),
        (
            [Scenario(usd(1), Decimal("1.1")), Scenario(usd(1), Decimal("-0.1"))],
            ValueError,
            "0 and 1",
        ),
        ([Scenario(usd(1), 1.0)], TypeError, "float, not Decimal"),
        ([Scenario(usd(1), True)], TypeError, "bool, not Decimal"),
        ([Scenario(Decimal(1), Decimal(1))], TypeError, "not Money"),
        ([Scenario(usd(1), Decimal("NaN"))], ValueError, "0 and 1"),
        (
            [Scenario(usd(1), Decimal("0.5")), Scenario(Money(1, "EUR"), Decimal("0.5"))],
            ValueError,
            "across currencies",
        ),
    ],
)
def test_invalid_scenarios_are_refused(scenarios, error, message):
    for method in (expected_value, most_likely_amount):
        with pytest.raises(error, match=message):
            method(scenarios)


def test_constraint_without_reason_is_refused():
    with pytest.raises(ValueError, match="must be documented"):
        constrain(estimate=usd(8_000), highly_probable_floor=usd(5_000), reason="  ")


def test_negative_floor_is_refused():
    with pytest.raises(ValueError, match="negative"):
        constrain(estimate=usd(8_000), highly_probable_floor=usd(-1), reason="x")


def test_floor_in_other_currency_is_refused():
    with pytest.raises(ValueError, match="EUR floor"):
        constrain(estimate=usd(8_000), highly_probable_floor=Money(1, "EUR"), reason="x")


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="Unknown estimation method"):
        estimate_variable(scenarios=BONUS, method="median")


def test_catch_up_on_partly_satisfied_obligation():
    # (96,000 - 90,000) x 0.4 = 6,000 x 0.4 = 2,400
    assert catch_up(
        allocated_before=usd(90_000), allocated_after=usd(96_000), fraction_satisfied=Decimal("0.4")
    ) == usd("2400.00")


def test_catch_up_reversal_and_exact_fraction():
    # (90,000 - 96,000) x 1/3 = -2,000
    assert catch_up(
        allocated_before=usd(96_000), allocated_after=usd(90_000), fraction_satisfied=Fraction(1, 3)
    ) == usd("-2000.00")
    # (100.00 - 0) x 1/3 = 33.333... -> 33.33; x 2/3 = 66.666... -> 66.67
    assert catch_up(
        allocated_before=usd(0), allocated_after=usd(100), fraction_satisfied=Fraction(1, 3)
    ) == usd("33.33")
    assert catch_up(
        allocated_before=usd(0), allocated_after=usd(100), fraction_satisfied=Fraction(2, 3)
    ) == usd("66.67")


def test_catch_up_rounds_half_up_once():
    # (0.01 - 0) x 0.5 = 0.005 -> 0.01; (-0.01) x 0.5 = -0.005 -> -0.01 (away from zero)
    half = Decimal("0.5")
    assert catch_up(
        allocated_before=usd(0), allocated_after=usd("0.01"), fraction_satisfied=half
    ) == usd("0.01")
    assert catch_up(
        allocated_before=usd("0.01"), allocated_after=usd(0), fraction_satisfied=half
    ) == usd("-0.01")


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"fraction_satisfied": Decimal("1.01")}, ValueError, "0 and 1"),
        ({"fraction_satisfied": Fraction(-1, 2)}, ValueError, "0 and 1"),
        ({"fraction_satisfied": 0.4}, TypeError, "float"),
        ({"fraction_satisfied": Decimal("NaN")}, ValueError, "not finite"),
        ({"allocated_after": Money(1, "EUR")}, ValueError, "across currencies"),
        ({"allocated_before": 90_000}, TypeError, "not Money"),
    ],
)
def test_invalid_catch_up_is_refused(kwargs, error, message):
    arguments = {
        "allocated_before": usd(90_000),
        "allocated_after": usd(96_000),
        "fraction_satisfied": Decimal("0.4"),
        **kwargs,
    }
    with pytest.raises(error, match=message):
        catch_up(**arguments)


# --- properties -------------------------------------------------------------------------------

CURRENCIES = st.sampled_from(["USD", "JPY", "KWD", "EUR"])


@st.composite
def scenario_sets(draw, *, on_grid=False):
    """Draw 1-6 scenarios in one currency, probabilities in 1/10,000ths summing exactly to 1.

    Amounts have four places (finer than any minor unit, as unit prices can be) or, ``on_grid``,
    sit on the currency's minor unit.
    """
    currency = draw(CURRENCIES)
    exponent = minor_unit_exponent(currency)
    count = draw(st.integers(min_value=1, max_value=6))
    cuts = sorted(draw(st.lists(st.integers(0, 10_000), min_size=count - 1, max_size=count - 1)))
    bounds = [0, *cuts, 10_000]
    scenarios = []
    for low, high in pairwise(bounds):
        places = exponent if on_grid else 4
        amount = Decimal(draw(st.integers(-(10**10), 10**10))).scaleb(-places)
        scenarios.append(Scenario(Money(amount, currency), Decimal(high - low).scaleb(-4)))
    return scenarios, exponent


@given(scenario_sets())
def test_expected_value_lies_between_min_and_max_amounts(drawn):
    scenarios, exponent = drawn
    result = expected_value(scenarios).amount
    amounts = [s.amount.amount for s in scenarios]
    # Rounding may step past an off-grid extreme by at most half a minor unit, never more.
    half_unit = Decimal(5).scaleb(-exponent - 1)
    assert min(amounts) - half_unit <= result <= max(amounts) + half_unit


@given(scenario_sets(on_grid=True))
def test_expected_value_lies_between_min_and_max_on_grid_amounts(drawn):
    scenarios, _ = drawn
    result = expected_value(scenarios).amount
    amounts = [s.amount.amount for s in scenarios]
    # The extremes sit on the minor-unit grid, so rounding to that grid cannot pass them.
    assert min(amounts) <= result <= max(amounts)


@given(scenario_sets())
def test_expected_value_within_half_minor_unit_of_exact(drawn):
    scenarios, exponent = drawn
    exact = sum(Fraction(s.amount.amount) * Fraction(s.probability) for s in scenarios)
    result = expected_value(scenarios)
    assert abs(Fraction(result.amount) - exact) <= Fraction(1, 2 * 10**exponent)
    assert result.amount.as_tuple().exponent == -exponent


@given(
    scenario_sets(),
    st.sampled_from([EXPECTED_VALUE, MOST_LIKELY]),
    st.integers(0, 10**10),
)
def test_constrained_never_exceeds_estimate_with_a_floor(drawn, method, floor_units):
    scenarios, exponent = drawn
    highest = max(s.probability for s in scenarios)
    if method == MOST_LIKELY and sum(s.probability == highest for s in scenarios) > 1:
        method = EXPECTED_VALUE
    floor = Money(Decimal(floor_units).scaleb(-4), scenarios[0].amount.currency)
    result = estimate_variable(
        scenarios=scenarios, method=method, highly_probable_floor=floor, reason="judgement"
    )
    assert result.constrained.amount <= result.estimate.amount
    assert result.constrained.amount <= floor.amount + Decimal(1).scaleb(-exponent) / 2


@given(
    CURRENCIES,
    st.integers(-(10**12), 10**12),
    st.integers(-(10**12), 10**12),
    st.fractions(min_value=0, max_value=1, max_denominator=10**6),
)
def test_catch_up_zero_when_unchanged_and_signed_with_change(currency, before, after, fraction):
    exponent = minor_unit_exponent(currency)
    before_money = Money(Decimal(before).scaleb(-exponent), currency)
    after_money = Money(Decimal(after).scaleb(-exponent), currency)
    unchanged = catch_up(
        allocated_before=before_money, allocated_after=before_money, fraction_satisfied=fraction
    )
    assert unchanged.amount == 0
    result = catch_up(
        allocated_before=before_money, allocated_after=after_money, fraction_satisfied=fraction
    )
    # Rounding can take a tiny catch-up to zero, never across it.
    assert result.amount * (after - before) >= 0
    exact = Fraction(after - before, 10**exponent) * fraction
    assert abs(Fraction(result.amount) - exact) <= Fraction(1, 2 * 10**exponent)
