"""Allocation of the transaction price (ASC 606 step 4): hand-worked examples and properties."""

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from moneyed import Money

from revenue.domain.allocation import (
    Allocation,
    Obligation,
    allocate_relative_ssp,
    allocate_residual,
    transaction_price,
)
from rms.money import minor_unit_exponent, round_money


def usd(amount):
    return Money(Decimal(amount), "USD")


def po(key, ssp, price, currency="USD", *, variable=False):
    """Build an obligation from strings, all in one currency."""
    return Obligation(
        key=key,
        ssp=Money(Decimal(ssp), currency),
        fixed_price=Money(Decimal(price), currency),
        variable=variable,
    )


def allocated(allocations):
    return [a.allocated for a in allocations]


# Relative SSP: hand-worked examples


def test_bundle_discount_is_spread_in_proportion_to_ssp():
    # Total SSP 1,000 + 500 + 500 = 2,000; contract price 1,800 (a 10% discount).
    # Licence 1,800 x 1,000/2,000 = 900; support and installation 1,800 x 500/2,000 = 450 each.
    # Every PO bears the same 10% discount, not just the one the quote happened to discount.
    obligations = [
        po("licence", "1000", "1800"),
        po("support", "500", "0"),
        po("installation", "500", "0"),
    ]
    result = allocate_relative_ssp(obligations)
    assert result == [
        Allocation("licence", usd("1000"), usd("900.00"), Fraction(1, 2), "relative_ssp"),
        Allocation("support", usd("500"), usd("450.00"), Fraction(1, 4), "relative_ssp"),
        Allocation("installation", usd("500"), usd("450.00"), Fraction(1, 4), "relative_ssp"),
    ]


def test_transaction_price_is_the_sum_of_fixed_prices_wherever_the_contract_puts_them():
    # Same bundle, price spread 1,200 / 300 / 300 = 1,800: the allocation does not follow it.
    obligations = [
        po("licence", "1000", "1200"),
        po("support", "500", "300"),
        po("installation", "500", "300"),
    ]
    assert transaction_price(obligations) == usd("1800")
    assert allocated(allocate_relative_ssp(obligations)) == [usd(900), usd(450), usd(450)]


def test_awkward_usd_split_gives_the_leftover_cent_to_the_first_tie():
    # 100.00 / 3 = 33.333...: floors 33.33 x 3 = 99.99, one cent left over; the remainders tie,
    # so the earliest PO takes it: 33.34 + 33.33 + 33.33 = 100.00.
    obligations = [po("a", "50", "100"), po("b", "50", "0"), po("c", "50", "0")]
    result = allocate_relative_ssp(obligations)
    assert allocated(result) == [usd("33.34"), usd("33.33"), usd("33.33")]
    assert [a.share for a in result] == [Fraction(1, 3)] * 3


def test_awkward_jpy_split_rounds_to_whole_yen():
    # JPY has no minor unit: 1,000 / 3 = 333.33...; floors 333 x 3 = 999, the first takes 1 yen.
    obligations = [po(k, "500", "0", "JPY") for k in "abc"]
    obligations[0] = po("a", "500", "1000", "JPY")
    result = allocate_relative_ssp(obligations)
    assert allocated(result) == [Money(334, "JPY"), Money(333, "JPY"), Money(333, "JPY")]


def test_awkward_kwd_split_rounds_to_the_fils():
    # KWD has three places: 10.000 / 3 = 3.3333...; floors 3.333 x 3 = 9.999, one fils left.
    obligations = [po("a", "7", "10", "KWD"), po("b", "7", "0", "KWD"), po("c", "7", "0", "KWD")]
    result = allocate_relative_ssp(obligations)
    assert allocated(result) == [
        Money("3.334", "KWD"),
        Money("3.333", "KWD"),
        Money("3.333", "KWD"),
    ]
    assert all(a.allocated.amount.as_tuple().exponent == -3 for a in result)


def test_uneven_split_gives_leftover_to_largest_remainder_not_first():
    # SSPs 1 : 2 over 10.00: exact 3.333... and 6.666...; floors 3.33 + 6.66 = 9.99; the second's
    # remainder (0.666 cents) beats the first's (0.333 cents): 3.33 + 6.67 = 10.00.
    obligations = [po("small", "1", "10"), po("large", "2", "0")]
    assert allocated(allocate_relative_ssp(obligations)) == [usd("3.33"), usd("6.67")]


def test_activation_fee_with_zero_ssp_gives_everything_to_the_subscription():
    # Annual subscription 12,000 (SSP 12,000) plus a 1,000 activation fee that is no distinct
    # service (SSP 0): price 13,000 all goes to the subscription PO, 13,000 x 12,000/12,000.
    obligations = [
        po("subscription", "12000", "12000"),
        po("activation", "0", "1000"),
    ]
    result = allocate_relative_ssp(obligations)
    assert allocated(result) == [usd("13000.00"), usd("0.00")]
    assert [a.share for a in result] == [Fraction(1), Fraction(0)]


def test_variable_usage_po_keeps_its_own_price_and_stays_out_of_the_pool():
    # Platform SSP 900 and onboarding SSP 100 share the fixed 800 (a 20% discount): 720 / 80.
    # Usage (estimated 250, SSP 300) relates to the usage service alone: it keeps 250 and its
    # SSP does not dilute the pool (with it in, the platform would get 800 x 900/1,300 = 553.85).
    obligations = [
        po("platform", "900", "800"),
        po("usage", "300", "250", variable=True),
        po("onboarding", "100", "0"),
    ]
    result = allocate_relative_ssp(obligations)
    assert transaction_price(obligations) == usd("800")
    assert [(a.key, a.allocated, a.method) for a in result] == [
        ("platform", usd("720.00"), "relative_ssp"),
        ("usage", usd("250.00"), "variable_own"),
        ("onboarding", usd("80.00"), "relative_ssp"),
    ]
    assert result[1].share == 1


def test_prices_with_four_places_are_rounded_once_before_the_split():
    # 3 x 33.3350 = 100.0050 rounds half-up to 100.01; split 33.34 / 33.34 / 33.33.
    obligations = [po(k, "1", "33.3350") for k in "abc"]
    assert transaction_price(obligations) == usd("100.01")
    assert allocated(allocate_relative_ssp(obligations)) == [
        usd("33.34"),
        usd("33.34"),
        usd("33.33"),
    ]


def test_free_contract_allocates_zero_even_with_zero_ssps():
    obligations = [po("a", "0", "0"), po("b", "0", "0")]
    assert allocated(allocate_relative_ssp(obligations)) == [usd(0), usd(0)]


def test_only_variable_obligations_leave_an_empty_pool():
    result = allocate_relative_ssp([po("usage", "0", "42.50", variable=True)])
    assert allocated(result) == [usd("42.50")]


# Relative SSP: refusals


def test_mixed_currencies_are_refused():
    obligations = [po("licence", "1000", "900"), po("support", "500", "450", "EUR")]
    with pytest.raises(ValueError, match=r"across currencies.*EUR.*USD"):
        allocate_relative_ssp(obligations)
    with pytest.raises(ValueError, match="across currencies"):
        allocate_residual(obligations, residual_key="licence")


def test_ssp_and_price_in_different_currencies_are_refused():
    obligation = Obligation("a", usd(10), Money(10, "EUR"))
    with pytest.raises(ValueError, match="fixed_price in EUR"):
        allocate_relative_ssp([obligation])


@pytest.mark.parametrize(
    ("obligation", "message"),
    [
        (po("a", "-1", "10"), "a: SSP is -1 USD"),
        (po("a", "10", "-5"), "a: price is -5 USD"),
    ],
)
def test_negative_amounts_are_refused(obligation, message):
    with pytest.raises(ValueError, match=message):
        allocate_relative_ssp([obligation])


def test_all_zero_ssps_with_a_price_are_refused():
    with pytest.raises(ValueError, match="every fixed-price obligation has a zero SSP"):
        allocate_relative_ssp([po("a", "0", "100"), po("b", "0", "0")])


def test_empty_list_is_refused():
    with pytest.raises(ValueError, match="no performance obligations"):
        allocate_relative_ssp([])


def test_duplicate_keys_are_refused():
    with pytest.raises(ValueError, match="'a' is listed twice"):
        allocate_relative_ssp([po("a", "1", "1"), po("a", "1", "1")])


def test_float_amounts_are_refused():
    with pytest.raises(TypeError, match="ssp is float"):
        allocate_relative_ssp([Obligation("a", 1.0, usd(1))])


# Residual


def test_residual_gets_the_price_less_the_other_ssps():
    # Price 10,000; hardware SSP 3,000 and support SSP 2,000 are observable; the licence's SSP is
    # uncertain: licence = 10,000 - 3,000 - 2,000 = 5,000.
    obligations = [
        po("hardware", "3000", "10000"),
        po("support", "2000", "0"),
        po("licence", "0", "0"),
    ]
    result = allocate_residual(obligations, residual_key="licence")
    assert [(a.key, a.allocated, a.share, a.method) for a in result] == [
        ("hardware", usd(3000), Fraction(3, 10), "residual"),
        ("support", usd(2000), Fraction(1, 5), "residual"),
        ("licence", usd(5000), Fraction(1, 2), "residual"),
    ]


def test_negative_residual_is_refused_naming_both_figures():
    # Price 4,000 < 3,000 + 2,000 = 5,000: the residual would be -1,000.
    obligations = [
        po("hardware", "3000", "4000"),
        po("support", "2000", "0"),
        po("licence", "0", "0"),
    ]
    with pytest.raises(ValueError, match=r"price 4000\.00 USD.*SSPs 5000\.00 USD"):
        allocate_residual(obligations, residual_key="licence")


def test_residual_leaves_variable_obligations_on_their_own_price():
    # Fixed price 10,000; hardware 3,000; licence 7,000; usage keeps its 400.
    obligations = [
        po("hardware", "3000", "10000"),
        po("usage", "999", "400", variable=True),
        po("licence", "0", "0"),
    ]
    result = allocate_residual(obligations, residual_key="licence")
    assert allocated(result) == [usd(3000), usd(400), usd(7000)]
    assert [a.method for a in result] == ["residual", "variable_own", "residual"]


def test_residual_key_must_be_known_and_fixed_price():
    obligations = [po("hardware", "3000", "10000"), po("usage", "0", "5", variable=True)]
    with pytest.raises(ValueError, match="'licence' is not among"):
        allocate_residual(obligations, residual_key="licence")
    with pytest.raises(ValueError, match="'usage' has variable consideration"):
        allocate_residual(obligations, residual_key="usage")


# Properties

CURRENCIES = ["USD", "JPY", "KWD"]
# SSPs from 0 to 1,000,000 with two places, as cents.
ssp_cents = st.integers(min_value=0, max_value=100_000_000)


@st.composite
def contracts(draw):
    """Draw 1-8 obligations in one currency, at least one fixed-price PO with a positive SSP."""
    currency = draw(st.sampled_from(CURRENCIES))
    exponent = minor_unit_exponent(currency)
    rows = draw(
        st.lists(st.tuples(ssp_cents, st.integers(0, 10**8), st.booleans()), min_size=1, max_size=8)
    )
    assume(any(cents > 0 and not variable for cents, _, variable in rows))
    return [
        Obligation(
            key=f"po{i}",
            ssp=Money(Decimal(cents).scaleb(-2), currency),
            fixed_price=Money(Decimal(units).scaleb(-exponent), currency),
            variable=variable,
        )
        for i, (cents, units, variable) in enumerate(rows)
    ]


def pool_sum(allocations):
    parts = [a.allocated for a in allocations if a.method != "variable_own"]
    return sum(parts[1:], parts[0])


@given(contracts())
def test_relative_ssp_allocations_sum_exactly_to_the_transaction_price(obligations):
    result = allocate_relative_ssp(obligations)
    assert [a.key for a in result] == [o.key for o in obligations]
    assert pool_sum(result) == transaction_price(obligations)
    for obligation, allocation in zip(obligations, result, strict=True):
        if obligation.variable:
            assert allocation.allocated == obligation.fixed_price


@given(contracts())
def test_each_allocation_is_within_one_minor_unit_of_its_exact_share(obligations):
    price = transaction_price(obligations)
    minor_unit = Fraction(1, 10 ** minor_unit_exponent(price.currency))
    pool = [o for o in obligations if not o.variable]
    total_ssp = sum(Fraction(o.ssp.amount) for o in pool)
    result = [a for a in allocate_relative_ssp(obligations) if a.method == "relative_ssp"]
    for obligation, allocation in zip(pool, result, strict=True):
        exact = Fraction(price.amount) * Fraction(obligation.ssp.amount) / total_ssp
        assert allocation.share == Fraction(obligation.ssp.amount) / total_ssp
        assert abs(Fraction(allocation.allocated.amount) - exact) < minor_unit


@given(contracts(), st.integers(min_value=2, max_value=1000))
def test_scaling_every_ssp_leaves_the_allocation_unchanged(obligations, factor):
    scaled = [Obligation(o.key, o.ssp * factor, o.fixed_price, o.variable) for o in obligations]
    before = allocate_relative_ssp(obligations)
    after = allocate_relative_ssp(scaled)
    assert allocated(after) == allocated(before)
    assert [a.share for a in after] == [a.share for a in before]


@given(contracts(), st.data())
def test_residual_allocations_sum_exactly_to_the_price_when_valid(obligations, data):
    fixed = [i for i, o in enumerate(obligations) if not o.variable]
    index = data.draw(st.sampled_from(fixed))
    residual = obligations[index]
    others = [o for o in obligations if not o.variable and o is not residual]
    # Price the residual PO so the price covers the others' SSPs: the residual is never negative.
    floor = sum((round_money(o.ssp).amount for o in others), Decimal(0))
    extra = data.draw(st.integers(0, 10**8))
    exponent = minor_unit_exponent(residual.ssp.currency)
    price = Money(floor + Decimal(extra).scaleb(-exponent), residual.ssp.currency)
    obligations[index] = Obligation(residual.key, residual.ssp, price)
    result = allocate_residual(obligations, residual_key=residual.key)
    assert [a.key for a in result] == [o.key for o in obligations]
    assert pool_sum(result) == transaction_price(obligations)
    for obligation, allocation in zip(obligations, result, strict=True):
        if obligation in others:
            assert allocation.allocated == round_money(obligation.ssp)
    assert result[index].allocated.amount >= 0


@given(contracts(), st.data())
def test_residual_either_sums_to_the_price_or_is_refused(obligations, data):
    fixed = [o.key for o in obligations if not o.variable]
    key = data.draw(st.sampled_from(fixed))
    try:
        result = allocate_residual(obligations, residual_key=key)
    except ValueError as error:
        assert "cannot apply" in str(error)
    else:
        assert pool_sum(result) == transaction_price(obligations)
