"""Check constraints evaluated in Python give the database's verdict, row for row.

``rms.constraints`` replaces one query (and savepoint) per constraint per row with Python; the
property below holds it to the database's own answer (``CheckConstraint.validate`` asks it) over
rows built from every kind of value the conditions compare: NULLs, zero, negatives, choices
outside their set, dates either side of each other.
"""

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import DEFAULT_DB_ALIAS
from djmoney.money import Money
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts.models import BillingModel, Contract, ContractLine, Milestone
from rms.constraints import check_constraint_errors

pytestmark = pytest.mark.django_db

amounts = st.one_of(st.none(), st.sampled_from([Decimal(-1), Decimal(0), Decimal("12.5")]))
dates = st.one_of(st.none(), st.sampled_from([date(2026, 1, 1), date(2026, 6, 30)]))


def database_verdict(row) -> set[str]:
    """The names of the check constraints the database says ``row`` breaks."""
    broken = set()
    for model, constraints in row.get_constraints():
        for constraint in constraints:
            if not hasattr(constraint, "condition"):
                continue
            try:
                constraint.validate(model, row, using=DEFAULT_DB_ALIAS)
            except ValidationError:
                broken.add(constraint.name)
    return broken


def python_verdict(row) -> set[str]:
    """The names of the constraints ``rms.constraints`` says ``row`` breaks."""
    names = {c.name: c.name for _, constraints in row.get_constraints() for c in constraints}
    errors = check_constraint_errors(row, exclude=set(), using=DEFAULT_DB_ALIAS, field_of=names)
    return set(errors)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    billing_model=st.sampled_from([*BillingModel.values, "bogus"]),
    quantity=st.sampled_from([Decimal(-1), Decimal(0), Decimal(2)]),
    unit_price=amounts,
    ssp=amounts,
    start=st.sampled_from([date(2026, 1, 1), date(2026, 6, 30)]),
    end=dates,
    interval=st.sampled_from([None, 1]),
    timing=st.sampled_from(["", "advance", "sometime"]),
    day_mode=st.sampled_from(["", "anniversary", "calendar_day"]),
    bill_day=st.sampled_from([None, 5]),
    trigger=st.sampled_from(["", "on_order", "later"]),
)
def test_line_constraints_match_the_database(
    billing_model,
    quantity,
    unit_price,
    ssp,
    start,
    end,
    interval,
    timing,
    day_mode,
    bill_day,
    trigger,
):
    line = ContractLine(
        billing_model=billing_model,
        quantity=quantity,
        unit_price=None if unit_price is None else Money(unit_price, "USD"),
        ssp_override=None if ssp is None else Money(ssp, "USD"),
        service_start=start,
        service_end=end,
        interval_months=interval,
        bill_timing=timing,
        bill_day_mode=day_mode,
        bill_day=bill_day,
        one_time_trigger=trigger,
    )
    assert python_verdict(line) == database_verdict(line)


@settings(max_examples=60, deadline=None)
@given(
    start=st.sampled_from([date(2026, 1, 1), date(2026, 6, 30)]),
    end=dates,
    evergreen=st.booleans(),
    cap=amounts,
    cap_currency=st.sampled_from(["USD", "EUR"]),
)
def test_contract_constraints_match_the_database(start, end, evergreen, cap, cap_currency):
    contract = Contract(
        number="K-1",
        currency="USD",
        start_date=start,
        end_date=end,
        evergreen=evergreen,
        not_to_exceed=None if cap is None else Money(cap, cap_currency),
    )
    assert python_verdict(contract) == database_verdict(contract)


def test_a_broken_constraint_is_named_by_its_field():
    line = ContractLine(
        billing_model=BillingModel.ONE_TIME,
        quantity=Decimal(0),
        unit_price=Money(10, "USD"),
        one_time_trigger="",
        service_start=date(2026, 1, 1),
    )
    errors = check_constraint_errors(
        line,
        exclude=set(),
        using=DEFAULT_DB_ALIAS,
        field_of={"contract_line_quantity_positive": "quantity"},
    )
    assert errors == {
        "quantity": ["The quantity must be greater than zero."],
        "__all__": [
            "A one-time line needs a unit price and whether it bills on order or shipment."
        ],
    }


def test_excluded_fields_skip_their_constraints():
    milestone = Milestone(amount=Money(-5, "USD"), status="planned")
    assert (
        check_constraint_errors(milestone, exclude={"amount"}, using=DEFAULT_DB_ALIAS, field_of={})
        == {}
    )
    assert "__all__" in check_constraint_errors(
        milestone, exclude=set(), using=DEFAULT_DB_ALIAS, field_of={}
    )
