"""Invariants of billing and revenue together, after any sequence of real contract modifications.

Where ``test_modification_properties`` splits lines by hand to test revenue alone, this drives
the whole chain a finance user does: a 2026 contract of one or two monthly in-advance
subscription lines is billed and recognized, then amended up to three times through
``contracts.modifications.modification_apply`` (seat or price changes, a term moved, an early
termination with or without a refund; each treated as a cumulative catch-up or prospectively),
with bill runs, revenue runs and period closes in between. Whatever the sequence, at the end of
the (possibly moved) term:

- revenue over the contract's life equals what the customer was billed net of credits, which
  is the final transaction price: the position is nil, each figure within a cent per line and
  period of the terms in effect each day (billing rounds each period once);
- every journal entry balances and nothing posted in a closed month changes;
- a prospective modification posts nothing for the months that ended before it.
"""

from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from unittest.mock import patch

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Sum
from djmoney.money import Money
from hypothesis import HealthCheck, Phase, event, given, note
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from contracts.models import Contract, Modification, ModificationChange
from contracts.modifications import modification_apply
from revenue.domain.recognition import month_end, month_start
from revenue.models import RevenueScheduleEntry
from revenue.selectors import position_of
from rms.money import round_money
from tests.revenue.test_modification_prospective import assert_balanced, journal_before

pytestmark = pytest.mark.django_db

START = date(2026, 1, 1)
LATER = date(2099, 12, 31)
Kind = ModificationChange.Kind
Status = RevenueScheduleEntry.Status

cents = st.integers(100, 50_000).map(lambda c: Decimal(c) / 100)
lines = st.lists(
    st.fixed_dictionaries({"seats": st.integers(1, 12), "price": cents, "ssp": cents}),
    min_size=1,
    max_size=2,
)
amendments = st.lists(
    st.fixed_dictionaries(
        {
            "days_later": st.integers(10, 120),
            "kind": st.sampled_from(["seats", "price", "term", "terminate"]),
            "line": st.integers(0, 1),
            "seats": st.integers(1, 15),
            "price": cents,
            "end_shift": st.integers(-60, 120),
            "treatment": st.sampled_from(["catch_up", "prospective"]),
            "refund": st.booleans(),
            # Before the amendment: billing through its month, then a revenue run, a close or
            # nothing, some days before it.
            "before": st.sampled_from(["nothing", "run", "close"]),
        }
    ),
    min_size=1,
    max_size=3,
)


class _Rollback(Exception):
    """Rolls an example's rows back, so that examples do not see each other's."""


@hypothesis_settings(
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    max_examples=40,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
)
@given(specs=lines, changes=amendments)
def test_billing_and_revenue_agree_after_any_sequence_of_amendments(
    specs,
    changes,
    product_factory,
    contract_factory,
    contract_line_factory,
    activate,
    bill,
    recognize,
    close,
    django_capture_on_commit_callbacks,
):
    note(f"lines {specs}, amendments {changes}")
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
                    quantity=Decimal(spec["seats"]),
                    unit_price=Money(spec["price"], "USD"),
                )
            activate(contract)
            kept_prepaid = amend_in_turn(
                contract, changes, bill, recognize, close, django_capture_on_commit_callbacks
            )
            check_the_life(contract, bill, recognize, kept_prepaid=kept_prepaid)
            raise _Rollback
    except _Rollback:
        pass


def amend_in_turn(contract, changes, bill, recognize, close, on_commit) -> bool:
    """Apply ``changes`` in turn; return whether a termination kept the prepaid fees."""
    kept_prepaid = False
    effective = START
    closed_through = None
    for number, change in enumerate(changes, start=1):
        contract.refresh_from_db()
        effective = effective + timedelta(days=change["days_later"])
        if contract.status != Contract.Status.ACTIVE or effective > contract.end_date:
            event("term over before the amendment")
            break
        bill(month_start(effective))
        before = effective - timedelta(days=5)
        if change["before"] != "nothing":
            recognize(before)
        if change["before"] == "close" and month_start(before) > START:
            month = month_start(before) - timedelta(days=1)
            if closed_through is None or month > closed_through:
                # The books' calendar, not the machine's: the month has ended.
                with patch("django.utils.timezone.localdate", return_value=date(2099, 1, 1)):
                    close(month)
                closed_through = month
        frozen = journal_before(closed_through + timedelta(days=1)) if closed_through else []
        ended = revenue_of_months_ended_before(contract, effective)
        modification = draft(contract, number, effective, change)
        if modification is None:
            event("amendment not applicable")
            continue
        with on_commit(execute=True):
            try:
                modification_apply(modification=modification, by="tests")
            except ValidationError:  # e.g. a term shortened below what was invoiced in arrears
                refused = True
            else:
                refused = False
        if refused:
            event("refused")
            continue
        event(f"applied {change['kind']} {change['treatment']}")
        kept_prepaid |= change["kind"] == "terminate" and not change["refund"]
        if change["before"] != "nothing":
            recognize(before)  # the same date again: only the amendment's own effect posts
        if change["treatment"] == "prospective" and change["kind"] != "terminate":
            assert revenue_of_months_ended_before(contract, effective) == ended
        if closed_through:
            assert journal_before(closed_through + timedelta(days=1)) == frozen
    return kept_prepaid


def draft(contract, number, effective, change) -> Modification | None:
    """Return a draft modification for ``change`` from ``effective``, or None when there is no
    line in service on that date to change."""
    in_service = list(
        contract.lines.filter(service_start__lte=effective, service_end__gte=effective).order_by(
            "sequence"
        )
    )
    if not in_service:
        return None
    line = in_service[change["line"] % len(in_service)]
    modification = Modification.objects.create(
        contract=contract,
        reference=f"A-{number}",
        effective_date=effective,
        description=change["kind"],
        treatment=change["treatment"],
        treatment_reason="Chosen by the test",
        refund_on_termination=change["refund"],
    )
    if change["kind"] == "seats":
        fields = {"kind": Kind.CHANGE_QUANTITY, "line": line, "quantity": Decimal(change["seats"])}
    elif change["kind"] == "price":
        fields = {
            "kind": Kind.CHANGE_PRICE,
            "line": line,
            "unit_price": Money(change["price"], "USD"),
        }
    elif change["kind"] == "term":
        new_end = max(effective, contract.end_date + timedelta(days=change["end_shift"]))
        fields = {"kind": Kind.CHANGE_TERM, "new_end_date": new_end}
    else:
        fields = {"kind": Kind.TERMINATE}
    ModificationChange.objects.create(modification=modification, **fields)
    return modification


def check_the_life(contract, bill, recognize, *, kept_prepaid: bool) -> None:
    contract.refresh_from_db()
    last_day = contract.end_date
    bill(last_day)
    recognize(month_end(last_day))
    # Credit notes for a modification are dated the day it is applied (the machine's today).
    position = position_of(contract=contract, as_of=LATER)
    # Revenue over the life equals what the customer owes after credits: the position is nil.
    assert position.revenue == position.billed
    assert not RevenueScheduleEntry.objects.filter(
        contract_id=contract.pk, status=Status.PLANNED
    ).exists()
    # And that is the final transaction price: each day at the terms in effect that day, to a
    # cent per line and billing period (each period is rounded once); a termination that keeps
    # the prepaid fees charges its last period whole.
    worth, periods = daily_worth(contract)
    if kept_prepaid:
        assert position.billed.amount >= worth - Decimal("0.01") * periods
    else:
        assert abs(position.billed.amount - worth) <= Decimal("0.01") * periods
    assert_balanced()


def daily_worth(contract) -> tuple[Decimal, int]:
    """Return what the lines' days are worth (monthly periods, priced by days in each period),
    and how many line-periods that spans, as the tolerance's count of roundings."""
    total, periods = Fraction(0), 0
    for line in contract.lines.all():
        day = line.service_start
        while day <= line.service_end:
            period_start = month_start(day)
            period_end = month_end(day)
            days_in_period = (period_end - period_start).days + 1
            served = (min(period_end, line.service_end) - day).days + 1
            unit = Fraction(line.unit_price.amount) * Fraction(line.quantity)
            total += unit * served / days_in_period
            periods += 1
            day = period_end + timedelta(days=1)
    return Decimal(total.numerator) / Decimal(total.denominator), periods


def revenue_of_months_ended_before(contract, effective: date) -> dict:
    """Return the revenue recognized for each month that ended before ``effective``'s month."""
    rows = (
        RevenueScheduleEntry.objects.filter(
            contract_id=contract.pk, status=Status.RECOGNIZED, period__lt=month_start(effective)
        )
        .values("period")
        .annotate(total=Sum("amount"))
        .order_by("period")
    )
    # Rounded: SQLite sums decimals as floats. A month whose entries net to nothing counts as
    # none: the amendment's terms may be announced before its treatment, and a re-plan in
    # between can post and reverse an amount in the same open month.
    totals = {row["period"]: round_money(row["total"], "USD") for row in rows}
    return {period: total for period, total in totals.items() if total}
