"""Subscription charges: bill dates in advance and in arrears, proration, one-time fees."""

import subprocess
import sys
from datetime import date, timedelta
from decimal import Decimal
from itertools import pairwise

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from moneyed import Money

from billing.domain.periods import billing_periods
from billing.domain.subscriptions import (
    BillTiming,
    Charge,
    SubscriptionTerms,
    one_time_charge,
    subscription_charges,
)
from rms.money import round_money

D = date
EN_DASH = "\u2013"  # invoices print a range with an en dash; ruff flags the literal character


def terms(**overrides):
    """Return a monthly USD 100 flat fee billed in advance on day 1, overridden as asked."""
    values = {
        "service_start": D(2026, 1, 15),
        "service_end": D(2026, 4, 20),
        "interval_months": 1,
        "bill_day": 1,
        "timing": BillTiming.ADVANCE,
        "quantity": Decimal(1),
        "unit_price": Decimal(100),
        "currency": "USD",
    }
    return SubscriptionTerms(**(values | overrides))


FAR = D(2100, 1, 1)


def test_bill_timing_values_match_the_contract_line_choices():
    from contracts.models import BillTiming as ModelBillTiming

    assert {timing.value for timing in BillTiming} == set(ModelBillTiming.values)


def test_terms_accept_the_models_plain_timing_string():
    assert terms(timing="arrears").timing is BillTiming.ARREARS
    with pytest.raises(ValueError, match="'weekly' is not a valid BillTiming"):
        terms(timing="weekly")


def test_terms_refuse_floats():
    with pytest.raises(TypeError, match="unit_price is Decimal, not float"):
        terms(unit_price=100.0)


# Hand-worked lines


def test_calendar_day_1_in_advance():
    charges = subscription_charges(terms(), through=FAR)
    assert [(c.bill_date, c.amount, c.description) for c in charges] == [
        (
            D(2026, 1, 15),
            Money("54.84", "USD"),
            f"15 Jan 2026 {EN_DASH} 31 Jan 2026 (prorated 17/31 days)",
        ),
        (D(2026, 2, 1), Money("100.00", "USD"), f"1 Feb 2026 {EN_DASH} 28 Feb 2026"),
        (D(2026, 3, 1), Money("100.00", "USD"), f"1 Mar 2026 {EN_DASH} 31 Mar 2026"),
        (
            D(2026, 4, 1),
            Money("66.67", "USD"),
            f"1 Apr 2026 {EN_DASH} 20 Apr 2026 (prorated 20/30 days)",
        ),
    ]
    assert all(c.quantity == 1 and c.unit_price == 100 for c in charges)


def test_the_same_line_in_arrears_bills_the_day_after_each_period():
    advance = subscription_charges(terms(), through=FAR)
    arrears = subscription_charges(terms(timing=BillTiming.ARREARS), through=FAR)
    assert [c.bill_date for c in arrears] == [
        D(2026, 2, 1),
        D(2026, 3, 1),
        D(2026, 4, 1),
        D(2026, 4, 21),  # the day after the service ends
    ]
    # Timing moves the bill date only: the periods and amounts are the same.
    assert [(c.period, c.amount) for c in arrears] == [(c.period, c.amount) for c in advance]


def test_through_is_exclusive_for_both_timings():
    advance = subscription_charges(terms(), through=D(2026, 3, 1))
    assert [c.bill_date for c in advance] == [D(2026, 1, 15), D(2026, 2, 1)]
    arrears = subscription_charges(terms(timing=BillTiming.ARREARS), through=D(2026, 3, 1))
    assert [c.bill_date for c in arrears] == [D(2026, 2, 1)]  # February is due on 1 March
    arrears = subscription_charges(terms(timing=BillTiming.ARREARS), through=D(2026, 3, 2))
    assert [c.bill_date for c in arrears] == [D(2026, 2, 1), D(2026, 3, 1)]
    assert subscription_charges(terms(), through=D(2026, 1, 15)) == []


def test_annual_term_ending_mid_year():
    line = terms(
        service_start=D(2026, 1, 1),
        service_end=D(2026, 6, 30),
        interval_months=12,
        bill_day=None,
        unit_price=Decimal(1200),
    )
    [charge] = subscription_charges(line, through=FAR)
    assert (charge.bill_date, charge.amount) == (D(2026, 1, 1), Money("595.07", "USD"))
    assert charge.description == f"1 Jan 2026 {EN_DASH} 30 Jun 2026 (prorated 181/365 days)"
    [charge] = subscription_charges(terms(**(vars(line) | {"timing": "arrears"})), through=FAR)
    assert charge.bill_date == D(2026, 7, 1)


def test_quarterly_per_seat_with_a_calendar_stub():
    line = terms(
        service_start=D(2026, 1, 15),
        service_end=D(2026, 10, 31),
        interval_months=3,
        quantity=Decimal(25),
        unit_price=Decimal("30.00"),
    )
    charges = subscription_charges(line, through=FAR)
    assert [(c.bill_date, c.amount) for c in charges] == [
        (D(2026, 1, 15), Money("138.59", "USD")),  # 750 * 17 / 92 = 138.586...
        (D(2026, 2, 1), Money("750.00", "USD")),
        (D(2026, 5, 1), Money("750.00", "USD")),
        (D(2026, 8, 1), Money("750.00", "USD")),
    ]
    assert charges[0].description.endswith("(prorated 17/92 days)")


def test_jpy_rounds_to_whole_yen():
    line = terms(unit_price=Decimal(10000), currency="JPY")
    charges = subscription_charges(line, through=D(2026, 2, 2))
    assert [c.amount for c in charges] == [Money("5484", "JPY"), Money("10000", "JPY")]
    assert str(charges[0].amount.amount) == "5484"


def test_evergreen_anniversary_line_up_to_the_horizon():
    line = terms(
        service_start=D(2028, 1, 31), service_end=None, bill_day=None, unit_price=Decimal("49.99")
    )
    advance = subscription_charges(line, through=D(2028, 5, 1))
    assert [c.bill_date for c in advance] == [
        D(2028, 1, 31),
        D(2028, 2, 29),
        D(2028, 3, 31),
        D(2028, 4, 30),
    ]
    assert {c.amount for c in advance} == {Money("49.99", "USD")}
    assert advance[1].description == f"29 Feb 2028 {EN_DASH} 30 Mar 2028"
    arrears = subscription_charges(
        terms(**(vars(line) | {"timing": BillTiming.ARREARS})), through=D(2028, 5, 1)
    )
    assert [c.bill_date for c in arrears] == [D(2028, 2, 29), D(2028, 3, 31), D(2028, 4, 30)]


def test_one_time_charge():
    charge = one_time_charge(
        bill_date=D(2026, 1, 15),
        quantity=Decimal(3),
        unit_price=Decimal("33.335"),
        currency="USD",
        description="Activation",
    )
    assert charge == Charge(
        bill_date=D(2026, 1, 15),
        period=charge.period,
        quantity=Decimal(3),
        unit_price=Decimal("33.335"),
        amount=Money("100.01", "USD"),  # 100.005 rounded half-up once
        description="Activation",
    )
    assert (charge.period.start, charge.period.end) == (D(2026, 1, 15), D(2026, 1, 16))
    assert not charge.period.is_partial


def test_one_time_charge_in_yen_and_refusing_floats():
    charge = one_time_charge(
        bill_date=D(2026, 1, 1),
        quantity=Decimal("2.5"),
        unit_price=Decimal(333),
        currency="JPY",
        description="Setup",
    )
    assert charge.amount == Money("833", "JPY")  # 832.5 half-up
    with pytest.raises(TypeError, match="quantity is Decimal, not float"):
        one_time_charge(
            bill_date=D(2026, 1, 1),
            quantity=1.0,
            unit_price=Decimal(1),
            currency="USD",
            description="Setup",
        )


def test_the_domain_never_loads_the_database_layer():
    """Import the domain in a fresh interpreter: it must run without django.db."""
    script = (
        "import sys; import billing.domain.subscriptions, billing.domain.proration; "
        "loaded = [m for m in sys.modules if m == 'django.db' or m.startswith('django.db.')]; "
        "print(loaded); sys.exit(1 if loaded else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


# Properties

starts = st.dates(min_value=D(2000, 1, 1), max_value=D(2100, 12, 31))


@st.composite
def subscription_terms(draw):
    """Draw any subscription line: fixed or evergreen, anniversary or calendar, any currency."""
    start = draw(starts)
    length = draw(st.none() | st.integers(0, 2000))
    return terms(
        service_start=start,
        service_end=None if length is None else start + timedelta(days=length),
        interval_months=draw(st.integers(1, 24)),
        bill_day=draw(st.none() | st.integers(1, 31)),
        timing=draw(st.sampled_from(BillTiming)),
        quantity=draw(st.decimals(min_value=0, max_value=1000, places=2)),
        unit_price=draw(st.decimals(min_value=0, max_value=10**6, places=4)),
        currency=draw(st.sampled_from(["USD", "JPY", "KWD"])),
    )


@given(line=subscription_terms(), horizon=st.integers(0, 3000))
def test_charges_are_due_before_the_horizon_in_order_and_full_periods_cost_the_price(line, horizon):
    through = line.service_start + timedelta(days=horizon)
    charges = subscription_charges(line, through=through)
    assert all(c.bill_date < through for c in charges)
    assert [c.bill_date for c in charges] == sorted({c.bill_date for c in charges})
    for before, after in pairwise(charges):
        assert before.period.end == after.period.start
    if charges:
        assert charges[0].period.start == line.service_start
    full_price = round_money(line.quantity * line.unit_price, line.currency)
    for charge in charges:
        assert charge.amount.currency.code == line.currency
        assert charge.amount <= full_price
        if not charge.period.is_partial:
            assert charge.amount == full_price


@given(line=subscription_terms(), horizon=st.integers(0, 3000))
def test_arrears_bills_the_same_periods_as_advance_only_later(line, horizon):
    through = line.service_start + timedelta(days=horizon)
    advance = subscription_charges(terms(**(vars(line) | {"timing": "advance"})), through=through)
    arrears = subscription_charges(terms(**(vars(line) | {"timing": "arrears"})), through=through)
    assert len(arrears) <= len(advance)
    assert [(c.period, c.amount) for c in arrears] == [
        (c.period, c.amount) for c in advance[: len(arrears)]
    ]
    assert all(c.bill_date == c.period.start for c in advance)
    assert all(c.bill_date == c.period.end for c in arrears)


@given(line=subscription_terms())
def test_a_fixed_term_bills_every_period_once_the_horizon_passes_its_end(line):
    assume(line.service_end is not None)
    through = line.service_end + timedelta(days=2)
    periods = billing_periods(
        service_start=line.service_start,
        service_end=line.service_end,
        interval_months=line.interval_months,
        bill_day=line.bill_day,
    )
    assert [c.period for c in subscription_charges(line, through=through)] == periods


@given(line=subscription_terms(), cut=st.integers(0, 3000), horizon=st.integers(0, 3000))
def test_extending_from_a_date_gives_exactly_the_later_charges(line, cut, horizon):
    """A schedule extended ``since`` a date gains what it lacked: no charge lost or repeated."""
    through = line.service_start + timedelta(days=horizon)
    since = line.service_start + timedelta(days=cut)
    everything = subscription_charges(line, through=through)
    extension = subscription_charges(line, through=through, since=since)
    assert extension == [c for c in everything if c.bill_date >= since]
