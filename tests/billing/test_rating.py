"""Rating usage: hand-worked charges for every plan kind, and the properties tiers must keep."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from moneyed import Money

from billing.domain.rating import Plan, PlanError, PlanKind, Tier, rate, tier_errors
from rms.money import round_money

D = Decimal


def usd(amount: str) -> Money:
    return Money(amount, "USD")


# 0-1,000 at 0.10, 1,000-5,000 at 0.08, above at 0.05.
TIERS = (Tier(D(1000), D("0.10")), Tier(D(5000), D("0.08")), Tier(None, D("0.05")))


def test_per_unit_with_a_decimal_quantity():
    # 12.5 GB at 0.0035 = 0.04375 -> 0.04.
    rating = rate(Plan(PlanKind.PER_UNIT, "USD", unit_price=D("0.0035")), D("12.5"))
    assert (rating.charge, rating.true_up) == (usd("0.04"), None)


def test_graduated_prices_each_unit_at_its_own_tier():
    # 6,000: 1,000 x 0.10 = 100.00; 4,000 x 0.08 = 320.00; 1,000 x 0.05 = 50.00 -> 470.00.
    rating = rate(Plan(PlanKind.GRADUATED, "USD", tiers=TIERS), D(6000))
    assert [(r.quantity, r.amount) for r in rating.rows] == [
        (D(1000), usd("100.00")),
        (D(4000), usd("320.00")),
        (D(1000), usd("50.00")),
    ]
    assert rating.charge == usd("470.00")


def test_a_quantity_exactly_on_a_boundary_stays_in_the_lower_tier():
    # 1,000 is the first tier's inclusive bound: graduated 100.00, volume 1,000 x 0.10 too.
    assert rate(Plan(PlanKind.GRADUATED, "USD", tiers=TIERS), D(1000)).charge == usd("100.00")
    volume = rate(Plan(PlanKind.VOLUME, "USD", tiers=TIERS), D(1000))
    assert (volume.charge, volume.rows[0].unit_price) == (usd("100.00"), D("0.10"))
    # One unit more moves the whole volume to the second tier: 1,001 x 0.08 = 80.08.
    assert rate(Plan(PlanKind.VOLUME, "USD", tiers=TIERS), D(1001)).charge == usd("80.08")


def test_package_rounds_blocks_up():
    # 2,501 calls in blocks of 1,000 at 5.00: 3 blocks, 15.00.
    plan = Plan(PlanKind.PACKAGE, "USD", package_size=D(1000), package_price=D(5))
    rating = rate(plan, D(2501))
    assert (rating.rows[0].quantity, rating.charge) == (D(3), usd("15.00"))


def test_included_quantity_then_overage():
    # The benchmark's plan: 1,000 calls included, 0.01 per call beyond; 1,042 calls -> 0.42.
    plan = Plan(PlanKind.OVERAGE, "USD", included_quantity=D(1000), unit_price=D("0.01"))
    assert rate(plan, D(1042)).charge == usd("0.42")
    assert rate(plan, D(900)).charge == usd("0.00")
    # With a base fee of 20.00 the fee is its own row: 20.42.
    with_fee = Plan(
        PlanKind.OVERAGE, "USD", included_quantity=D(1000), unit_price=D("0.01"), base_fee=D(20)
    )
    assert [row.amount for row in rate(with_fee, D(1042)).rows] == [usd("20.00"), usd("0.42")]


def test_zero_usage_with_a_minimum_bills_a_true_up_of_the_whole_minimum():
    plan = Plan(PlanKind.PER_UNIT, "USD", unit_price=D("0.10"), minimum=D(50))
    zero = rate(plan, D(0))
    assert (zero.charge, zero.true_up) == (usd("0.00"), usd("50.00"))
    # 300 x 0.10 = 30.00: a true-up of 20.00; 600 units (60.00) need none.
    assert rate(plan, D(300)).true_up == usd("20.00")
    assert rate(plan, D(600)).true_up is None


def test_a_maximum_caps_the_charge_with_a_row_saying_so():
    plan = Plan(PlanKind.PER_UNIT, "USD", unit_price=D("0.10"), maximum=D(100))
    rating = rate(plan, D(5000))  # 500.00 before the cap
    assert rating.charge == usd("100.00")
    assert rating.rows[-1].amount == usd("-400.00")
    assert sum((row.amount for row in rating.rows), usd("0")) == rating.charge


def test_yen_rounds_to_whole_yen():
    # 333 x 1.5 = 499.5 -> 500 (half-up).
    assert rate(Plan(PlanKind.PER_UNIT, "JPY", unit_price=D("1.5")), D(333)).charge == Money(
        500, "JPY"
    )


def test_tier_tables_must_ascend_and_end_open():
    assert tier_errors([Tier(D(10), D(1)), Tier(D(5), D(1)), Tier(None, D(1))]) == [
        "Tier 2: its upper bound 5 must be above 10."
    ]
    assert tier_errors([Tier(D(10), D(1))]) == ["Tier 1 is the last: leave its upper bound empty."]
    assert tier_errors([Tier(None, D(1)), Tier(None, D(1))]) == [
        "Tier 1: only the last tier can be open-ended."
    ]
    with pytest.raises(PlanError, match="Tier 1 is the last"):
        rate(Plan(PlanKind.GRADUATED, "USD", tiers=[Tier(D(10), D(1))]), D(3))


def test_a_negative_quantity_is_refused():
    with pytest.raises(ValueError, match="cannot be negative"):
        rate(Plan(PlanKind.PER_UNIT, "USD", unit_price=D(1)), D(-1))


quantities = st.decimals(min_value=0, max_value=10**7, places=3)
prices = st.decimals(min_value=0, max_value=100, places=4)


@st.composite
def tier_tables(draw):
    bounds = sorted(set(draw(st.lists(st.integers(1, 10**6), min_size=0, max_size=5))))
    rates = draw(st.lists(prices, min_size=len(bounds) + 1, max_size=len(bounds) + 1))
    bounded = [Tier(D(b), r) for b, r in zip(bounds, rates, strict=False)]
    return (*bounded, Tier(None, rates[-1]))


@given(tiers=tier_tables(), a=quantities, b=quantities)
def test_graduated_charge_is_monotone_in_quantity(tiers, a, b):
    plan = Plan(PlanKind.GRADUATED, "USD", tiers=tiers)
    low, high = sorted((a, b))
    assert rate(plan, low).charge <= rate(plan, high).charge


@given(tiers=tier_tables(), quantity=quantities)
def test_volume_charge_is_quantity_times_the_rate_of_its_tier(tiers, quantity):
    containing = next(t for t in tiers if t.up_to is None or quantity <= t.up_to)
    rating = rate(Plan(PlanKind.VOLUME, "USD", tiers=tiers), quantity)
    assert rating.charge == round_money(quantity * containing.unit_price, "USD")


@given(quantity=quantities, rate_=prices, minimum=st.decimals(0, 10**5, places=2))
def test_the_true_up_never_leaves_a_period_below_its_minimum(quantity, rate_, minimum):
    rating = rate(Plan(PlanKind.PER_UNIT, "USD", unit_price=rate_, minimum=minimum), quantity)
    billed = rating.charge + (rating.true_up or usd("0"))
    assert billed >= Money(minimum, "USD")
    assert rating.true_up is None or billed == Money(minimum, "USD")
