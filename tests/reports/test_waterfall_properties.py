"""The waterfall on any schedule: each month is what the schedules put in it, and parts add up.

Random schedule entries (planned and recognized, negative catch-ups included, before, inside
and after the window) for contracts in two currencies are summed by hand in Python and compared
with the grouped query's table, cell by cell.
"""

from collections import defaultdict
from datetime import date
from decimal import Decimal

import pytest
from django.db import transaction
from djmoney.money import Money
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.domain.periods import add_months
from reports.selectors import revenue_waterfall
from revenue.domain.recognition import month_start
from revenue.models import PerformanceObligation, RevenueScheduleEntry

pytestmark = pytest.mark.django_db

entry = st.tuples(
    st.integers(0, 2),  # which contract
    st.integers(-6, 30),  # months after January 2026
    st.integers(-100_000, 10_000_000),  # minor units
    st.sampled_from(RevenueScheduleEntry.Status.values),
)


@pytest.fixture
def obligations(contract_factory, customer_factory):
    """One obligation on each of two USD contracts and a EUR one."""
    made = []
    for currency in ("USD", "USD", "EUR"):
        contract = contract_factory(customer=customer_factory(currency=currency))
        zero = Money(0, currency)
        made.append(
            PerformanceObligation.objects.create(
                contract=contract,
                sequence=1,
                name="Service",
                pattern="ratable",
                service_start=date(2026, 1, 1),
                ssp=zero,
                fixed_price=zero,
                allocated=zero,
                allocation_method="relative_ssp",
            )
        )
    return made


# A database example per run: fewer than the pure properties, so the suite stays quick.
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(entries=st.lists(entry, max_size=30), as_of=st.dates(date(2026, 1, 1), date(2026, 12, 31)))
def test_waterfall_cells_are_the_schedules_sums(obligations, entries, as_of):
    first = month_start(as_of)
    later = add_months(first, 12, anchor_day=1)
    expected: dict[str, dict[int, list[Decimal]]] = defaultdict(dict)
    with transaction.atomic():
        for which, offset, units, status in entries:
            obligation = obligations[which]
            period = add_months(date(2026, 1, 1), offset, anchor_day=1)
            amount = Decimal(units) / 100
            RevenueScheduleEntry.objects.create(
                obligation=obligation,
                contract=obligation.contract,
                period=period,
                amount=Money(amount, obligation.contract.currency),
                status=status,
                recognized_on=period if status == "recognized" else None,
            )
            if period < first:
                continue
            cells = expected[obligation.contract.currency].setdefault(
                obligation.contract_id, [Decimal(0)] * 13
            )
            index = (
                12
                if period >= later
                else (period.year - first.year) * 12 + (period.month - first.month)
            )
            cells[index] += amount

        tables = {table.currency: table for table in revenue_waterfall(as_of=as_of)}

        assert set(tables) == set(expected)
        for code, table in tables.items():
            found = {row.contract_id: [cell.amount for cell in row.amounts] for row in table.rows}
            assert found == expected[code]
            # Parts add up: every row to its total, every column to the totals row.
            for row in table.rows:
                assert row.total == sum(row.amounts, Money(0, code))
            for index, total in enumerate(table.totals):
                assert total == sum((row.amounts[index] for row in table.rows), Money(0, code))
            assert table.total == sum((row.total for row in table.rows), Money(0, code))
        transaction.set_rollback(True)
