"""Revenue through the real ``modification_apply``: the worked examples of the other modification
tests, with the lines split and the credits issued by contracts and billing themselves."""

from datetime import date
from decimal import Decimal

import pytest
from django.db.models import Sum
from djmoney.money import Money

from contracts.models import Modification, ModificationChange
from contracts.modifications import modification_apply
from revenue.models import Allocation, RevenueScheduleEntry
from revenue.selectors import position_of
from rms.money import round_money

pytestmark = pytest.mark.django_db
D = date
Kind = ModificationChange.Kind


def usd(a):
    return Money(Decimal(a), "USD")


def by_month(po, status="recognized"):
    rows = po.schedule.filter(status=status).values("period").annotate(t=Sum("amount"))
    return {r["period"]: round_money(r["t"], "USD") for r in rows}


def apply(contract, effective, *changes, **fields):
    m = Modification.objects.create(
        contract=contract, reference="A-7", effective_date=effective, description="x", **fields
    )
    for c in changes:
        ModificationChange.objects.create(modification=m, **c)
    return m


def test_seats_prospective_real(
    product_factory,
    contract_factory,
    contract_line_factory,
    activate,
    bill,
    recognize,
    django_capture_on_commit_callbacks,
):
    contract = contract_factory()
    product = product_factory(name="Seats", ssp=usd("100"), revenue_policy="ratable")
    line = contract_line_factory(
        contract=contract, product=product, quantity=Decimal(10), unit_price=usd("100")
    )
    activate(contract)
    bill(D(2026, 6, 1))
    recognize(D(2026, 6, 30))
    m = apply(
        contract,
        D(2026, 7, 1),
        {"kind": Kind.CHANGE_QUANTITY, "line": line, "quantity": Decimal(15)},
    )
    with django_capture_on_commit_callbacks(execute=True):
        m = modification_apply(modification=m, by="t")
    assert m.treatment == "prospective"
    # Prospective: nothing is posted for the months before the effective date, not even an
    # entry reversed later.
    assert not RevenueScheduleEntry.objects.filter(
        contract_id=contract.pk, status="recognized", catch_up=True
    ).exists()
    [po] = contract.obligations.all()
    reason = Allocation.objects.filter(contract=contract).latest().reason
    assert "Modification A-7 effective 2026-07-01, prospective" in reason
    bill(D(2026, 12, 1))
    recognize(D(2026, 12, 31))
    months = by_month(po)
    assert [months[D(2026, m, 1)] for m in range(1, 7)] == [
        usd(a) for a in ["1019.18", "920.54", "1019.18", "986.30", "1019.18", "986.30"]
    ]
    assert months[D(2026, 7, 1)] == usd("1524.62")
    assert sum(months.values(), usd("0")) == usd("15000")
    p = position_of(contract=contract, as_of=D(2026, 12, 31))
    assert p.revenue == p.billed == usd("15000")


@pytest.mark.parametrize("treatment", ["catch_up", "prospective"])
def test_termination_real(
    treatment,
    product_factory,
    contract_factory,
    contract_line_factory,
    activate,
    bill,
    recognize,
    django_capture_on_commit_callbacks,
):
    contract = contract_factory()
    product = product_factory(name="Platform", ssp=usd("12000"), revenue_policy="ratable")
    contract_line_factory(
        contract=contract, product=product, interval_months=12, unit_price=usd("12000")
    )
    activate(contract)
    bill(D(2026, 1, 1))
    recognize(D(2026, 5, 31))
    m = apply(
        contract,
        D(2026, 6, 1),
        {"kind": Kind.TERMINATE},
        refund_on_termination=True,
        treatment=treatment,
        treatment_reason="test",
    )
    with django_capture_on_commit_callbacks(execute=True):
        m = modification_apply(modification=m, by="t")
    recognize(D(2026, 12, 31))
    [po] = contract.obligations.all()
    months = by_month(po)
    p = position_of(contract=contract, as_of=D(2026, 12, 31))
    # Billing credits the unused days (214 of 365 of 12,000 = 7,035.62): the customer owes
    # 4,964.38, which is the revenue over the contract's life, all of it by 31 May.
    assert sum(months.values(), usd("0")) == p.billed == usd("4964.38")
    assert max(months) == D(2026, 5, 1)
    assert not po.schedule.filter(status="planned").exists()
