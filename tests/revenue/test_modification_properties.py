"""Invariants of revenue after any sequence of contract modifications.

Each example builds a 2026 subscription contract of one or two ratable lines, then applies up to
three modifications at increasing random effective dates, each a seat or price change (the line
split at the date, as MODIFICATIONS does) or a term change (the lines that run to the end moved
to a new end), each treated as a cumulative catch-up or prospectively, its terms announced
first or not, with revenue runs and period closes between them. Whatever the sequence:

- the allocations sum to the transaction price (what the lines charge, by billing's own pure
  schedule, as the oracle);
- nothing posted in a closed period changes, and a prospective modification posts nothing for
  the months before its effective date;
- every journal entry balances;
- over the contract's life revenue equals the final transaction price, each obligation its
  allocation, and nothing is left planned.
"""

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from unittest.mock import patch

import pytest
from django.db import transaction
from django.db.models import Sum
from djmoney.money import Money
from hypothesis import HealthCheck, event, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from billing.continuations import exact_amount
from billing.domain.subscriptions import subscription_charges
from billing.schedules import subscription_terms
from contracts.services import contract_terms_announce
from revenue.models import Allocation, RevenueScheduleEntry
from rms.money import round_fraction, round_money
from tests.revenue.test_modification_prospective import (
    assert_balanced,
    journal_before,
    modify,
    split_line,
)

pytestmark = pytest.mark.django_db

START, END = date(2026, 1, 1), date(2026, 12, 31)
Status = RevenueScheduleEntry.Status

line_specs = st.lists(
    st.fixed_dictionaries(
        {
            "quantity": st.integers(1, 20),
            "price": st.integers(1, 50_000).map(lambda cents: Decimal(cents) / 100),
            "ssp": st.integers(1, 50_000).map(lambda cents: Decimal(cents) / 100),
        }
    ),
    min_size=1,
    max_size=2,
)
modifications = st.lists(
    st.fixed_dictionaries(
        {
            "day": st.integers(1, 330),
            "kind": st.sampled_from(["seats", "price", "term"]),
            "line": st.integers(0, 1),
            "quantity": st.integers(1, 30),
            "price": st.integers(1, 50_000).map(lambda cents: Decimal(cents) / 100),
            "end_days": st.integers(0, 400),
            "treatment": st.sampled_from(["catch_up", "prospective"]),
            # Before the modification: a revenue run, a close, or nothing, on a day before it.
            "before": st.sampled_from(["nothing", "run", "close"]),
            "before_day": st.integers(0, 60),
            # Contracts may announce the new terms before the treatment (as MODIFICATIONS does).
            "terms_first": st.booleans(),
        }
    ),
    min_size=1,
    max_size=3,
)


class _Rollback(Exception):
    """Raised to roll an example's rows back, so examples do not see each other's."""


@hypothesis_settings(
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    max_examples=30,
    deadline=None,
)
@given(specs=line_specs, changes=modifications)
def test_any_sequence_of_modifications_keeps_the_books_whole(
    specs,
    changes,
    product_factory,
    contract_factory,
    contract_line_factory,
    activate,
    recognize,
    close,
    django_capture_on_commit_callbacks,
):
    try:
        with transaction.atomic():
            contract = contract_factory()
            for sequence, spec in enumerate(specs, start=1):
                contract_line_factory(
                    contract=contract,
                    sequence=sequence,
                    product=product_factory(
                        ssp=Money(spec["ssp"], "USD"), revenue_policy="ratable"
                    ),
                    quantity=Decimal(spec["quantity"]),
                    unit_price=Money(spec["price"], "USD"),
                )
            activate(contract)
            check_sequence(contract, changes, recognize, close, django_capture_on_commit_callbacks)
            raise _Rollback
    except _Rollback:
        pass


def check_sequence(contract, changes, recognize, close, on_commit):
    effective = START
    closed_through = None
    for number, change in enumerate(changes, start=1):
        effective = max(effective + timedelta(days=1), START + timedelta(days=change["day"]))
        before = effective - timedelta(days=1 + change["before_day"])
        if change["before"] == "run" and before >= START:
            recognize(before)
        elif change["before"] == "close" and before >= START:
            month = before.replace(day=1) - timedelta(days=1)
            if month >= START and (closed_through is None or month > closed_through):
                # The books' calendar, not the machine's: the month has ended.
                with patch("django.utils.timezone.localdate", return_value=date(2099, 1, 1)):
                    close(month)
                closed_through = month
        frozen = journal_before(closed_through + timedelta(days=1)) if closed_through else []
        earlier = revenue_before(contract, effective)
        if not apply(contract, change, effective):
            event("modification not applicable")
            continue
        event(f"applied: {change['kind']} {change['treatment']} after {change['before']}")
        if change["terms_first"]:
            with on_commit(execute=True):
                contract_terms_announce(contract=contract)
        modify(contract, modification_id=number, effective=effective, treatment=change["treatment"])
        if change["treatment"] == "prospective":
            # No catch-up: the months before the effective date keep what they recognized.
            assert revenue_before(contract, effective) == earlier
        check_allocation(contract)
        if closed_through:
            assert journal_before(closed_through + timedelta(days=1)) == frozen
        assert_balanced()

    last = max(line.service_end for line in contract.lines.all()) + timedelta(days=40)
    recognize(last)
    price = check_allocation(contract)
    revenue = Money(0, "USD")
    for obligation in contract.obligations.all():
        earned = obligation.schedule.filter(status=Status.RECOGNIZED).aggregate(
            total=Sum("amount")
        )["total"] or Decimal(0)
        assert round_money(earned, "USD") == obligation.allocated, obligation
        assert not obligation.schedule.filter(status=Status.PLANNED).exists()
        revenue += obligation.allocated
    assert revenue == price
    assert_balanced()


def revenue_before(contract, effective) -> Money:
    """Return what the contract recognized for the months before ``effective``'s."""
    total = RevenueScheduleEntry.objects.filter(
        contract_id=contract.pk, status=Status.RECOGNIZED, period__lt=effective.replace(day=1)
    ).aggregate(total=Sum("amount"))["total"]
    return round_money(total or Decimal(0), "USD")


def apply(contract, change, effective) -> bool:
    """Change the lines as MODIFICATIONS would; return False when the change cannot apply."""
    lines = list(contract.lines.order_by("sequence"))
    running = [line for line in lines if line.service_start < effective <= line.service_end]
    if change["kind"] == "term":
        end = max(line.service_end for line in lines)
        new_end = effective + timedelta(days=change["end_days"])
        moved = [line for line in lines if line.service_end == end]
        if new_end == end or any(line.service_start > new_end for line in moved):
            return False
        for line in moved:
            line.service_end = new_end
            line.save(update_fields=["service_end"])
        return True
    if not running:
        return False
    line = running[change["line"] % len(running)]
    if change["kind"] == "seats":
        split_line(line, effective=effective, quantity=Decimal(change["quantity"]))
    else:
        split_line(line, effective=effective, unit_price=Money(change["price"], "USD"))
    return True


def charges(lines) -> Money:
    """What the lines charge over their terms, by billing's own pure schedule (the oracle).

    A line split by a modification and the line it continues share the billing period of the
    split: billing charges that period once, each line's days at its own terms, rounded once.
    """
    exact: dict[tuple[int, date], Fraction] = defaultdict(Fraction)
    for line in lines:
        chain = line
        while chain.continues_id is not None:
            chain = next(other for other in lines if other.pk == chain.continues_id)
        terms = subscription_terms(line, unit_price=line.unit_price.amount)
        for charge in subscription_charges(terms, through=line.service_end + timedelta(days=2)):
            exact[(chain.pk, charge.period.full_start)] += exact_amount(charge)
    return sum((round_fraction(amount, "USD") for amount in exact.values()), Money(0, "USD"))


def check_allocation(contract) -> Money:
    """The obligations share exactly the transaction price; return it."""
    price = charges(list(contract.lines.all()))
    obligations = list(contract.obligations.all())
    assert sum((o.allocated for o in obligations), Money(0, "USD")) == price
    latest = Allocation.objects.filter(contract=contract).latest()
    assert latest.transaction_price == price
    assert {s.obligation_id: s.allocated for s in latest.shares.all()} == {
        o.pk: o.allocated for o in obligations
    }
    return price
