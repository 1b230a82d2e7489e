"""Variable consideration end to end: worked examples in the style of the published ones.

Each case is worked by hand in its comments (ratable revenue is by days, split over the months
by the largest-remainder rule, as tests/revenue/test_engine.py explains), then checked against
the schedule, the allocation and the journal that the real services and revenue runs produce.
"""

from datetime import date

import pytest
from djmoney.money import Money

from revenue.models import Allocation, JournalLine, RevenueScheduleEntry, VariableConsideration
from revenue.variable_consideration import (
    variable_consideration_assess,
    variable_consideration_create,
    variable_consideration_resolve,
)
from tests.revenue.test_engine import assert_journal_balances, recognized
from tests.revenue.variable import after_the_year, scenarios, usd  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db

D = date
Kind = VariableConsideration.Kind
Method = VariableConsideration.Method


@pytest.fixture
def service(product_factory, contract_line_factory, contract_factory, activate):
    """A 12-month service for 120,000 USD from 1 Jan 2026, earned ratably by days."""
    contract = contract_factory()
    product = product_factory(name="Managed service", ssp=usd("120000"))
    contract_line_factory(
        contract=contract, product=product, interval_months=12, unit_price=usd("120000")
    )
    activate(contract)
    return contract


def month_entries(obligation, period: date) -> list[tuple[Money, bool]]:
    """Return the (amount, catch-up?) entries recognized in ``period``, in posting order."""
    return [
        (entry.amount, entry.catch_up)
        for entry in obligation.schedule.filter(
            status=RevenueScheduleEntry.Status.RECOGNIZED, period=period
        ).order_by("id")
    ]


def closed_lines() -> list[tuple]:
    """Return every journal line of a period before the first open one, as it stands."""
    return list(
        JournalLine.objects.order_by("id").values_list(
            "id", "entry_id", "account_id", "debit", "credit", "date", "entry__period"
        )
    )


# 120,000 over 365 days, in cents 12,000,000 x days / 365:
#   31-day month 1,019,178.082 (rem .082); Feb 920,547.945 (.945); 30-day 986,301.369 (.369).
#   Floors 7 x 1,019,178 + 920,547 + 4 x 986,301 = 11,999,997: 3 cents go to Feb, Apr, Jun.
#   Jan-May: 10,191.78 + 9,205.48 + 10,191.78 + 9,863.02 + 10,191.78 = 49,643.84.
# 132,000 (with the bonus), in cents 13,200,000 x days / 365:
#   31-day 1,121,095.890 (.890); Feb 1,012,602.739 (.739); 30-day 1,084,931.507 (.507).
#   Floors 7 x 1,121,095 + 1,012,602 + 4 x 1,084,931 = 13,199,991: 9 cents go to the seven
#   31-day months, Feb and Apr. Jan 11,210.96, Feb 10,126.03, Mar 11,210.96, Apr 10,849.32,
#   May 11,210.96, Jun 10,849.31, Jul 11,210.96, Aug 11,210.96, Sep 10,849.31, ...
#   Jan-May: 11,210.96 x 3 + 10,126.03 + 10,849.32 = 54,608.23.
JAN_TO_MAY_120K = usd("49643.84")


@pytest.fixture
def bonus_made_certain(service, close, recognize):
    """A 12,000 completion bonus, constrained to 0 in January, highly probable at June's end.

    Jan-May are recognized and closed at 120,000; the June run then includes the bonus.
    """
    item = variable_consideration_create(
        contract=service,
        kind=Kind.PERFORMANCE_BONUS,
        description="Completion bonus on go-live by 30 Sep",
        method=Method.MOST_LIKELY,
        created_by="controller",
    )
    january = variable_consideration_assess(
        item=item,
        period=D(2026, 1, 1),
        scenarios=scenarios(("12000", "0.6"), ("0", "0.4")),
        constrained=usd("0"),
        reason="Outside the entity's influence: go-live depends on the customer's data migration",
        assessed_by="controller",
    )
    # Most likely amount: 12,000 (probability 0.6 against 0.4), constrained to 0.
    assert (january.estimate, january.constrained) == (usd("12000"), usd("0"))
    close(D(2026, 5, 31))
    [po] = service.obligations.all()
    lines_before = closed_lines()
    june = variable_consideration_assess(
        item=item,
        period=D(2026, 6, 30),
        scenarios=scenarios(("12000", "0.95"), ("0", "0.05")),
        reason="Constraint lifted: migration finished, go-live highly probable",
        assessed_by="controller",
    )
    assert (june.period, june.estimate, june.constrained) == (
        D(2026, 6, 1),
        usd("12000"),
        usd("12000"),
    )
    # The contract was recognized through 31 May: June's assessment counts from June's run.
    po.refresh_from_db()
    assert po.allocated == usd("120000")
    recognize(D(2026, 6, 30))
    po.refresh_from_db()
    return item, po, lines_before


def test_a_bonus_constrained_to_zero_is_left_out_of_the_price(bonus_made_certain):
    item, po, _ = bonus_made_certain
    # While constrained to 0, Jan-May earned 120,000's months: 49,643.84.
    assert (
        sum((amount for period, amount in recognized(po) if period < D(2026, 6, 1)), usd("0"))
        == JAN_TO_MAY_120K
    )
    first = Allocation.objects.filter(contract=item.contract).order_by("id").first()
    assert first.transaction_price == usd("120000")


def test_a_bonus_that_becomes_certain_posts_its_catch_up_in_the_open_month(bonus_made_certain):
    item, po, lines_before = bonus_made_certain
    assert po.allocated == usd("132000")
    latest = Allocation.objects.filter(contract=item.contract).latest()
    assert latest.transaction_price == usd("132000")
    assert latest.reason.startswith(
        "Re-estimate of Performance bonus for Jun 2026: 0.00 -> 12,000.00 USD "
        "(Constraint lifted: migration finished, go-live highly probable)"
    )
    # Jan-May should have earned 54,608.23 at 132,000 but earned 49,643.84: a catch-up of
    # 54,608.23 - 49,643.84 = 4,964.39 posts on 1 June (12,000 x 151/365 = 4,964.38, plus the
    # cent that 132,000's remainders put in Feb). June then earns its own 10,849.31.
    assert month_entries(po, D(2026, 6, 1)) == [(usd("4964.39"), True), (usd("10849.31"), False)]
    # Through June the bonus has earned 4,964.39 + (10,849.31 - 9,863.02) = 5,950.68, which is
    # 12,000 x 181/365 = 5,950.68: the half year's share by days.
    # The closed months are untouched.
    assert [line for line in closed_lines() if line[6] < D(2026, 6, 1)] == lines_before
    assert_journal_balances()


def test_later_months_earn_the_price_with_the_bonus(bonus_made_certain, recognize):
    _, po, _ = bonus_made_certain
    recognize(D(2026, 8, 31))
    # 132,000 by days: Jul and Aug 11,210.96 each (about 11,000 a month, 132,000 / 12).
    assert month_entries(po, D(2026, 7, 1)) == [(usd("11210.96"), False)]
    assert month_entries(po, D(2026, 8, 1)) == [(usd("11210.96"), False)]


def test_resolving_at_the_included_amount_changes_nothing(bonus_made_certain, recognize, close):
    item, po, _ = bonus_made_certain
    close(D(2026, 8, 31))
    allocations = Allocation.objects.count()
    variable_consideration_resolve(
        item=item, actual=usd("12000"), period=D(2026, 9, 30), resolved_by="controller"
    )
    recognize(D(2026, 12, 31))
    # The actual equals what the price included: no new allocation, no catch-up; September
    # earns its 10,849.31 like any month, and the year ends at 132,000.
    assert Allocation.objects.count() == allocations
    assert month_entries(po, D(2026, 9, 1)) == [(usd("10849.31"), False)]
    assert sum((amount for _, amount in recognized(po)), usd("0")) == usd("132000")
    item.refresh_from_db()
    assert (item.resolved, item.included) == (True, usd("12000"))


def test_resolving_at_a_different_actual_posts_the_difference(bonus_made_certain, recognize, close):
    item, po, _ = bonus_made_certain
    close(D(2026, 8, 31))
    before = closed_lines()
    # The customer pays 10,000 only: the price becomes 130,000.
    variable_consideration_resolve(
        item=item,
        actual=usd("10000"),
        period=D(2026, 9, 15),
        note="Go-live on 5 Oct: reduced bonus per clause 7.2",
        resolved_by="controller",
    )
    recognize(D(2026, 9, 30))
    po.refresh_from_db()
    assert po.allocated == usd("130000")
    assert (
        Allocation.objects.filter(contract=item.contract)
        .latest()
        .reason.startswith(
            "True-up of Performance bonus to its actual outcome: 12,000.00 -> 10,000.00 USD"
        )
    )
    # 130,000 in cents 13,000,000 x days / 365: 31-day 1,104,109.589 (.589), Feb 997,260.274
    # (.274), 30-day 1,068,493.151 (.151); floors sum to 12,999,995, 5 cents to Jan, Mar, May,
    # Jul, Aug. Jan-Aug: 11,041.10 x 5 + 9,972.60 + 10,684.93 x 2 = 86,547.96.
    # Recognized Jan-Aug: 54,608.23 (Jan-May at 132,000 with the June catch-up) + Jun 10,849.31
    # + Jul 11,210.96 + Aug 11,210.96 = 87,879.46. Catch-up: 86,547.96 - 87,879.46 = -1,331.50
    # (2,000 x 243/365 = 1,331.51 by days, a cent apart by the months' remainders).
    assert month_entries(po, D(2026, 9, 1)) == [(usd("-1331.50"), True), (usd("10684.93"), False)]
    assert [line for line in closed_lines() if line[6] < D(2026, 9, 1)] == before
    recognize(D(2026, 12, 31))
    # Over the year: the fixed 120,000 plus the actual 10,000.
    assert sum((amount for _, amount in recognized(po)), usd("0")) == usd("130000")
    assert_journal_balances()
