"""Invariants of variable consideration over any sequence of re-assessments, closes and a final
resolution: revenue over the life is the fixed price plus the actual, every allocation adds up
to its transaction price, every journal entry balances, and nothing in a closed month changes.
Every example's rows are rolled back.
"""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import time_machine
from django.db import transaction
from django.db.models import Sum
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from moneyed import Money

from revenue.domain.recognition import month_end
from revenue.domain.variable_consideration import Scenario
from revenue.journal import first_open_period
from revenue.models import (
    Allocation,
    JournalLine,
    ObligationAllocation,
    RevenueScheduleEntry,
    VariableConsideration,
)
from revenue.variable_consideration import (
    variable_consideration_assess,
    variable_consideration_create,
    variable_consideration_resolve,
)
from tests.revenue.test_engine import assert_journal_balances

pytestmark = pytest.mark.django_db

D = date
Kind = VariableConsideration.Kind


def usd(amount) -> Money:
    return Money(Decimal(amount), "USD")


class _Rollback(Exception):
    """Raised to roll an example's rows back, so examples do not see each other's."""


cents = st.integers(0, 2_000_000).map(lambda units: Decimal(units).scaleb(-2))
events = st.lists(
    st.tuples(
        st.integers(1, 12),  # the month it happens in
        st.sampled_from(["assess", "close"]),
        cents,  # the estimate (a bonus) or its negative (a penalty)
        st.sampled_from([None, Decimal("0.5"), Decimal(0)]),  # constrained to this share of it
    ),
    max_size=5,
)


@hypothesis_settings(
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    max_examples=20,
    deadline=None,
)
@given(
    steps=events,
    penalty=st.booleans(),
    tied=st.booleans(),
    actual=cents,
)
def test_any_re_assessments_keep_the_books_whole(
    steps,
    penalty,
    tied,
    actual,
    product_factory,
    contract_line_factory,
    contract_factory,
    activate,
    recognize,
    close,
):
    try:
        with (
            time_machine.travel(datetime(2027, 6, 1, 12, tzinfo=UTC), tick=False),
            transaction.atomic(),
        ):
            contract = contract_factory()
            platform = product_factory(ssp=usd("90000"))
            setup = product_factory(
                ssp=usd("30000"),
                revenue_policy="point_in_time",
                default_billing_model="one_time",
            )
            contract_line_factory(
                contract=contract,
                product=platform,
                interval_months=12,
                unit_price=usd("80000"),
            )
            contract_line_factory(
                contract=contract,
                product=setup,
                one_time=True,
                unit_price=usd("20000"),
                service_start=D(2026, 3, 10),
            )
            activate(contract)
            check(contract, steps, penalty, tied, actual, recognize, close)
            raise _Rollback
    except _Rollback:
        pass


def closed_lines() -> set[tuple]:
    first_open = first_open_period()
    if first_open is None:
        return set()
    return set(
        JournalLine.objects.filter(entry__period__lt=first_open).values_list(
            "id", "entry_id", "account_id", "debit", "credit", "date"
        )
    )


def check_allocations() -> None:
    for allocation in Allocation.objects.all():
        shares = ObligationAllocation.objects.filter(allocation=allocation)
        assert sum((s.allocated for s in shares), usd(0)) == allocation.transaction_price


def check(contract, steps, penalty, tied, actual, recognize, close):
    sign = -1 if penalty else 1
    item = variable_consideration_create(
        contract=contract,
        kind=Kind.PENALTY if penalty else Kind.PERFORMANCE_BONUS,
        description="Service credit" if penalty else "Bonus",
        method=VariableConsideration.Method.MOST_LIKELY,
        obligation=contract.obligations.order_by("sequence").first() if tied else None,
    )
    frozen: set[tuple] = set()
    for month, action, amount, share in sorted(steps, key=lambda step: step[0]):
        day = month_end(D(2026, month, 1))
        first_open = first_open_period()
        if first_open is not None and day < first_open:
            continue  # already closed: nothing can be done in it
        if action == "close":
            close(day)
        else:
            estimate = usd(sign * amount)
            constrained = None
            if share is not None:
                # A penalty is constrained towards the larger penalty: its whole amount.
                constrained = estimate if penalty else usd(amount * share).round(2)
            variable_consideration_assess(
                item=item,
                period=day,
                scenarios=[Scenario(amount=estimate, probability=Decimal(1))],
                constrained=constrained,
                reason="Judgement",
            )
            recognize(day)
        # What was closed before stays exactly as it was; what is closed now is frozen too.
        now_closed = closed_lines()
        assert frozen <= now_closed
        frozen = now_closed
        check_allocations()
    first_open = first_open_period() or D(2026, 1, 1)
    variable_consideration_resolve(
        item=item, actual=usd(sign * actual), period=max(first_open, D(2026, 12, 1))
    )
    recognize(D(2027, 1, 31))
    assert frozen <= closed_lines()
    check_allocations()
    # Over the life: the fixed 100,000 plus the actual outcome, to the cent.
    total = RevenueScheduleEntry.objects.filter(
        contract=contract, status=RevenueScheduleEntry.Status.RECOGNIZED
    ).aggregate(total=Sum("amount"))["total"]
    assert usd(total).round(2) == usd(100000) + usd(sign * actual)
    assert not RevenueScheduleEntry.objects.filter(contract=contract, status="planned").exists()
    assert_journal_balances()
