"""Contract position (revenue - billings) and remaining performance obligations."""

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from moneyed import Money

from revenue.domain.position import Position, contract_position, remaining_obligation
from revenue.domain.recognition import milestone_entries, ratable_schedule

D = date


def usd(amount):
    return Money(Decimal(amount), "USD")


# A subscription invoiced up front with an activation fee.


def test_upfront_invoice_with_activation_fee_is_a_contract_liability():
    # USD 12,000.00 annual subscription plus a 1,000.00 activation fee that gives no distinct
    # service, so it belongs to the subscription PO: 13,000.00 recognized ratably over 2026,
    # all of it invoiced on 1 January.
    # January in cents: 1,300,000 x 31 / 365 = 110,410.958 → 110,410 (+1 for its .958
    # remainder, among the largest) = 1,104.11.
    schedule = ratable_schedule(
        allocated=usd("13000.00"), service_start=D(2026, 1, 1), service_end=D(2026, 12, 31)
    )
    january = schedule[0].amount
    assert january == usd("1104.11")

    # Position at 31 Jan: 1,104.11 - 13,000.00 = -11,895.89, a contract liability (deferred
    # revenue) of 11,895.89 and no asset.
    position = contract_position(revenue=january, billed=usd("13000.00"))
    assert position.kind == "contract_liability"
    assert position.net == usd("-11895.89")
    assert position.liability == usd("11895.89")
    assert position.asset == usd("0")

    # RPO at 31 Jan: 13,000.00 - 1,104.11 = 11,895.89, all of it (Feb-Dec) within 12 months.
    within, later = remaining_obligation(
        allocated=usd("13000.00"),
        recognized=january,
        schedule_after=schedule[1:],
        as_of=D(2026, 1, 31),
    )
    assert (within, later) == (usd("11895.89"), usd("0.00"))


def test_milestone_billed_at_value_but_earned_at_allocation_is_a_liability():
    # 30/40/30 of a 100,000.00 project allocated 90,000.00: milestone 1 earns 27,000.00 and is
    # invoiced at 30,000.00, so 27,000 - 30,000 = -3,000.00, a contract liability of 3,000.00.
    values = [usd("30000.00"), usd("40000.00"), usd("30000.00")]
    (earned,) = milestone_entries(allocated=usd("90000.00"), milestone_values=values, achieved=[0])

    position = contract_position(revenue=earned, billed=usd("30000.00"))

    assert position == Position(
        revenue=usd("27000.00"),
        billed=usd("30000.00"),
        net=usd("-3000.00"),
        kind="contract_liability",
    )
    assert position.liability == usd("3000.00")


def test_billing_lagging_achievement_is_a_contract_asset():
    # Milestones 1 and 2 achieved (27,000 + 36,000 = 63,000.00 earned) but milestone 2's invoice
    # is held, so only 30,000.00 is billed: 63,000 - 30,000 = 33,000.00 of unbilled revenue.
    values = [usd("30000.00"), usd("40000.00"), usd("30000.00")]
    earned = milestone_entries(allocated=usd("90000.00"), milestone_values=values, achieved=[0, 1])

    position = contract_position(revenue=sum(earned, usd(0)), billed=usd("30000.00"))

    assert position.kind == "contract_asset"
    assert position.asset == usd("33000.00")
    assert position.liability == usd("0")


def test_equal_revenue_and_billing_is_no_position():
    position = contract_position(revenue=usd("500.00"), billed=usd("500.00"))
    assert position.kind == "none"
    assert position.asset == position.liability == usd("0")


def test_position_refuses_mixed_currencies_and_inconsistent_figures():
    with pytest.raises(ValueError, match="mix currencies"):
        contract_position(revenue=usd("1.00"), billed=Money("1.00", "EUR"))
    with pytest.raises(ValueError, match="revenue - billed"):
        Position(revenue=usd("5"), billed=usd("3"), net=usd("1"), kind="contract_asset")
    with pytest.raises(ValueError, match="contract_asset"):
        Position(revenue=usd("5"), billed=usd("3"), net=usd("2"), kind="contract_liability")


AMOUNTS = st.integers(min_value=-(10**12), max_value=10**12).map(
    lambda cents: usd(Decimal(cents).scaleb(-2))
)


@given(revenue=AMOUNTS, billed=AMOUNTS)
def test_position_nets_revenue_against_billings(revenue, billed):
    position = contract_position(revenue=revenue, billed=billed)

    assert position.net == revenue - billed
    assert position.asset - position.liability == position.net
    assert position.asset >= usd(0) and position.liability >= usd(0)
    assert position.asset == usd(0) or position.liability == usd(0)


# Remaining performance obligations

# USD 730.00 over 2026-01-01 to 2027-12-31 (730 days) earns exactly USD 1.00 a day, so each
# month's entry is its day count in dollars.
TWO_YEARS = ratable_schedule(
    allocated=usd("730.00"), service_start=D(2026, 1, 1), service_end=D(2027, 12, 31)
)


def test_rpo_splits_the_next_twelve_months_from_later():
    # Recognized Jan-Jun 2026: 31 + 28 + 31 + 30 + 31 + 30 = 181.00; RPO = 730 - 181 = 549.00.
    # As of 1 Jul 2026 the window is [2026-07-01, 2027-07-01): Jul 2026-Jun 2027 = 365 days →
    # 365.00 within 12 months; Jul-Dec 2027 = 31 + 31 + 30 + 31 + 30 + 31 = 184.00 later.
    recognized = sum((entry.amount for entry in TWO_YEARS[:6]), usd(0))
    assert recognized == usd("181.00")

    within, later = remaining_obligation(
        allocated=usd("730.00"),
        recognized=recognized,
        schedule_after=TWO_YEARS[6:],
        as_of=D(2026, 7, 1),
    )

    assert (within, later) == (usd("365.00"), usd("184.00"))


def test_rpo_counts_the_unrecognized_current_month_as_near_term():
    # As of 15 Jul 2026, with July not yet recognized: July starts before the horizon
    # (2027-07-15) so it is within, as is July 2027: 365 + 31 = 396.00 within; Aug-Dec 2027 =
    # 31 + 30 + 31 + 30 + 31 = 153.00 later; 396 + 153 = 549.00.
    within, later = remaining_obligation(
        allocated=usd("730.00"),
        recognized=usd("181.00"),
        schedule_after=TWO_YEARS[6:],
        as_of=D(2026, 7, 15),
    )

    assert (within, later) == (usd("396.00"), usd("153.00"))


def test_rpo_difference_from_the_schedule_goes_to_later():
    # No schedule at all (say a milestone project): the whole RPO of 549.00 is "later".
    assert remaining_obligation(
        allocated=usd("730.00"), recognized=usd("181.00"), schedule_after=[], as_of=D(2026, 7, 1)
    ) == (usd("0.00"), usd("549.00"))
    # A stale schedule larger than the RPO (allocation reduced to 500.00 → RPO 319.00, yet the
    # schedule shows 365.00 within 12 months): within is capped at 319.00, later is 0.00.
    assert remaining_obligation(
        allocated=usd("500.00"),
        recognized=usd("181.00"),
        schedule_after=TWO_YEARS[6:],
        as_of=D(2026, 7, 1),
    ) == (usd("319.00"), usd("0.00"))


def test_rpo_refuses_mixed_currencies():
    with pytest.raises(ValueError, match="mix currencies"):
        remaining_obligation(
            allocated=usd("730.00"),
            recognized=Money("1.00", "EUR"),
            schedule_after=[],
            as_of=D(2026, 7, 1),
        )


@given(
    cut=st.integers(min_value=0, max_value=len(TWO_YEARS)),
    as_of=st.dates(min_value=D(2025, 6, 1), max_value=D(2028, 6, 30)),
    adjustment=st.integers(min_value=-100_000, max_value=100_000),
)
def test_rpo_parts_always_sum_to_allocated_less_recognized(cut, as_of, adjustment):
    allocated = usd("730.00") + usd(Decimal(adjustment).scaleb(-2))
    recognized = sum((entry.amount for entry in TWO_YEARS[:cut]), usd(0))

    within, later = remaining_obligation(
        allocated=allocated, recognized=recognized, schedule_after=TWO_YEARS[cut:], as_of=as_of
    )

    assert within + later == allocated - recognized
