"""Variable consideration in the allocation: expected value with a constraint, re-estimated after
a close, spread by relative SSP or tied to one obligation; and a rebate that lowers revenue.

The arithmetic is worked in the comments; ratable months are by days with the largest-remainder
rule (tests/revenue/test_engine.py explains it).
"""

from datetime import date
from decimal import Decimal

import pytest

from revenue.models import Allocation, JournalLine, ObligationAllocation, VariableConsideration
from revenue.selectors import trial_balance
from revenue.variable_consideration import (
    variable_consideration_assess,
    variable_consideration_create,
)
from tests.revenue.test_engine import assert_journal_balances, recognized
from tests.revenue.test_variable_examples import month_entries
from tests.revenue.variable import after_the_year, scenarios, usd  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db

D = date
Kind = VariableConsideration.Kind
Method = VariableConsideration.Method


@pytest.fixture
def bundle(product_factory, contract_line_factory, contract_factory, activate):
    """A platform year (SSP 90,000, sold 75,000) and onboarding on 1 Jan (SSP 30,000, sold 25,000).

    Fixed price 100,000, SSPs 3:1: the platform is allocated 75,000, onboarding 25,000.
    """
    contract = contract_factory()
    platform = product_factory(name="Platform", ssp=usd("90000"))
    onboarding = product_factory(
        name="Onboarding",
        ssp=usd("30000"),
        revenue_policy="point_in_time",
        default_billing_model="one_time",
    )
    contract_line_factory(
        contract=contract, product=platform, interval_months=12, unit_price=usd("75000")
    )
    contract_line_factory(
        contract=contract, product=onboarding, one_time=True, unit_price=usd("25000")
    )
    activate(contract)
    return contract, *contract.obligations.order_by("sequence")


def usage_bonus(contract, obligation=None):
    """A usage-volume bonus estimated by expected value: 0 @0.2, 10,000 @0.5, 20,000 @0.3.

    EV = 0 x 0.2 + 10,000 x 0.5 + 20,000 x 0.3 = 5,000 + 6,000 = 11,000; constrained to 8,000.
    """
    item = variable_consideration_create(
        contract=contract,
        kind=Kind.USAGE_COMMITMENT,
        description="Volume above the 1M-call commitment",
        method=Method.EXPECTED_VALUE,
        obligation=obligation,
    )
    assessment = variable_consideration_assess(
        item=item,
        period=D(2026, 1, 1),
        scenarios=scenarios(("0", "0.2"), ("10000", "0.5"), ("20000", "0.3")),
        constrained=usd("8000"),
        reason="Only 8,000 is highly probable: the customer's second region may not launch",
    )
    assert (assessment.estimate, assessment.constrained) == (usd("11000"), usd("8000"))
    return item


def reestimate_in_april(item, close):
    """Close Jan-Mar, then re-estimate in April: 10,000 @0.5, 20,000 @0.5 -> EV 15,000, in full."""
    close(D(2026, 3, 31))
    return variable_consideration_assess(
        item=item,
        period=D(2026, 4, 1),
        scenarios=scenarios(("10000", "0.5"), ("20000", "0.5")),
        reason="Second region launched: the whole estimate is highly probable",
    )


def test_a_pooled_estimate_is_split_by_relative_ssp_and_its_re_estimate_caught_up(
    bundle, close, recognize
):
    contract, platform, onboarding = bundle
    item = usage_bonus(contract)
    platform.refresh_from_db()
    onboarding.refresh_from_db()
    # The pool is 100,000 + 8,000 = 108,000, split 3:1: 81,000 and 27,000 (the 8,000 goes
    # 6,000 / 2,000, as the fixed price goes 75,000 / 25,000).
    assert (platform.allocated, onboarding.allocated) == (usd("81000"), usd("27000"))
    allocation = Allocation.objects.filter(contract=contract).latest()
    assert allocation.transaction_price == usd("108000")
    shares = ObligationAllocation.objects.filter(allocation=allocation).order_by("id")
    assert sum((s.allocated for s in shares), usd("0")) == usd("108000")

    reestimate_in_april(item, close)
    recognize(D(2026, 4, 30))
    platform.refresh_from_db()
    onboarding.refresh_from_db()
    # The pool is now 115,000: 86,250 and 28,750 (the 15,000 goes 11,250 / 3,750).
    assert (platform.allocated, onboarding.allocated) == (usd("86250"), usd("28750"))
    # Onboarding was delivered on 1 Jan and earned 27,000 in January: it catches up the whole
    # 28,750 - 27,000 = 1,750 in April.
    assert month_entries(onboarding, D(2026, 4, 1)) == [(usd("1750"), True)]
    # Platform, by days. 81,000 in cents 8,100,000 x days / 365: 31-day 687,945.205 (.205),
    # Feb 621,369.863 (.863), 30-day 665,753.425 (.425); floors sum to 8,099,996, 4 cents to
    # Feb, Apr, Jun, Sep: Jan-Mar 6,879.45 + 6,213.70 + 6,879.45 = 19,972.60.
    # 86,250 in cents 8,625,000 x days / 365: 31-day 732,534.246 (.246), Feb 661,643.836 (.836),
    # 30-day 708,904.110 (.110); floors sum to 8,624,997, 3 cents to Feb, Jan, Mar:
    # Jan-Mar 7,325.35 + 6,616.44 + 7,325.35 = 21,267.14. Catch-up 21,267.14 - 19,972.60 =
    # 1,294.54 (5,250 x 90/365 = 1,294.52 by days; the months' remainders make two cents).
    # April earns 86,250's 7,089.04 (708,904 cents, no remainder cent).
    assert month_entries(platform, D(2026, 4, 1)) == [
        (usd("1294.54"), True),
        (usd("7089.04"), False),
    ]
    assert (
        Allocation.objects.filter(contract=contract)
        .latest()
        .reason.startswith(
            "Re-estimate of Usage beyond the minimum commitment for Apr 2026: 8,000.00 -> "
            "15,000.00 USD (Second region launched"
        )
    )
    recognize(D(2026, 12, 31))
    # Over the life: 100,000 fixed + 15,000 variable.
    total = sum((a for o in (platform, onboarding) for _, a in recognized(o)), usd("0"))
    assert total == usd("115000")
    assert_journal_balances()


def test_an_estimate_tied_to_one_obligation_goes_to_it_alone(bundle, close, recognize):
    contract, platform, onboarding = bundle
    item = usage_bonus(contract, obligation=platform)
    platform.refresh_from_db()
    onboarding.refresh_from_db()
    # ASC 606-10-32-40: the 8,000 relates to the platform only: 83,000 and 25,000.
    assert (platform.allocated, onboarding.allocated) == (usd("83000"), usd("25000"))

    reestimate_in_april(item, close)
    recognize(D(2026, 4, 30))
    platform.refresh_from_db()
    onboarding.refresh_from_db()
    assert (platform.allocated, onboarding.allocated) == (usd("90000"), usd("25000"))
    # Onboarding is untouched: no catch-up.
    assert month_entries(onboarding, D(2026, 4, 1)) == []
    # 83,000 in cents 8,300,000 x days / 365: 31-day 704,931.507 (.507), Feb 636,712.329
    # (.329), 30-day 682,191.781 (.781); floors sum to 8,299,993, 7 cents to Apr, Jun, Sep,
    # Nov, then Jan, Mar, May: Jan-Mar 7,049.32 + 6,367.12 + 7,049.32 = 20,465.76.
    # 90,000 in cents 9,000,000 x days / 365: 31-day 764,383.562 (.562), Feb 690,410.959
    # (.959), 30-day 739,726.027 (.027); floors sum to 8,999,995, 5 cents to Feb, Jan, Mar,
    # May, Jul: Jan-Mar 7,643.84 + 6,904.11 + 7,643.84 = 22,191.79.
    # Catch-up 22,191.79 - 20,465.76 = 1,726.03 (7,000 x 90/365 = 1,726.03). April: 7,397.26.
    assert month_entries(platform, D(2026, 4, 1)) == [
        (usd("1726.03"), True),
        (usd("7397.26"), False),
    ]


def test_a_re_estimate_after_a_close_leaves_the_closed_months_as_they_were(
    bundle, close, recognize
):
    contract, platform, _ = bundle
    item = usage_bonus(contract)
    close(D(2026, 2, 28))
    closed = list(
        JournalLine.objects.filter(entry__period__lt=D(2026, 3, 1))
        .order_by("id")
        .values_list("id", "entry_id", "account_id", "debit", "credit", "date")
    )
    closed_schedule = [e for e in recognized(platform) if e[0] < D(2026, 3, 1)]
    reestimate_in_april(item, close)
    recognize(D(2026, 6, 30))
    assert (
        list(
            JournalLine.objects.filter(entry__period__lt=D(2026, 3, 1))
            .order_by("id")
            .values_list("id", "entry_id", "account_id", "debit", "credit", "date")
        )
        == closed
    )
    assert [e for e in recognized(platform) if e[0] < D(2026, 3, 1)] == closed_schedule
    # Every catch-up is dated in the first open month, April.
    catch_ups = platform.schedule.filter(catch_up=True, status="recognized")
    assert {entry.period for entry in catch_ups} == {D(2026, 4, 1)}


def test_a_volume_rebate_lowers_the_price_and_the_revenue(
    product_factory, contract_line_factory, contract_factory, activate, recognize
):
    contract = contract_factory()
    product = product_factory(name="Managed service", ssp=usd("120000"))
    contract_line_factory(
        contract=contract, product=product, interval_months=12, unit_price=usd("120000")
    )
    activate(contract)
    item = variable_consideration_create(
        contract=contract,
        kind=Kind.VOLUME_REBATE,
        description="3% / 5% rebate on annual volume",
        method=Method.EXPECTED_VALUE,
    )
    # EV = -6,000 x 0.5 + -3,000 x 0.5 = -4,500; the larger rebate is included (lower than the
    # estimate), so that a reversal of revenue later is unlikely.
    assessment = variable_consideration_assess(
        item=item,
        period=D(2026, 1, 1),
        scenarios=scenarios(("-6000", "0.5"), ("-3000", "0.5")),
        constrained=usd("-6000"),
        reason="Customer's orders already run at the 5% tier",
    )
    assert (assessment.estimate, assessment.constrained) == (usd("-4500"), usd("-6000"))
    [po] = contract.obligations.all()
    po.refresh_from_db()
    assert po.allocated == usd("114000")
    recognize(D(2026, 12, 31))
    # 114,000 in cents 11,400,000 x days / 365: 31-day 968,219.178 (.178), Feb 874,520.548
    # (.548), 30-day 936,986.301 (.301); floors sum to 11,399,997, 3 cents to Feb, Apr, Jun.
    # January earns 9,682.19, not the 10,191.78 of the price without the rebate.
    assert month_entries(po, D(2026, 1, 1)) == [(usd("9682.19"), False)]
    assert sum((a for _, a in recognized(po)), usd("0")) == usd("114000")
    revenue = next(row for row in trial_balance() if row.account.role == "revenue")
    assert revenue.credit == Decimal("114000.00")
    assert_journal_balances()
