"""Early termination and modifications that are separate contracts, in revenue.

A terminated contract is recognized up to its termination: its lines end on the termination
date, its transaction price is what the customer owes after any credit, and over its life its
revenue equals that price, with nothing planned after. A modification that adds distinct goods
at their SSP is a separate contract: the original's revenue does not move.
"""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from djmoney.money import Money

from billing.credit_notes import credit_note_create, credit_note_issue
from billing.models import Invoice
from contracts.models import Contract
from revenue.models import Allocation, RevenueScheduleEntry
from revenue.selectors import position_of
from tests.revenue.test_modification_prospective import (
    assert_balanced,
    by_month,
    journal_before,
    modify,
)

pytestmark = pytest.mark.django_db

D = date
Status = RevenueScheduleEntry.Status


def usd(amount) -> Money:
    return Money(Decimal(amount), "USD")


@pytest.fixture
def annual(product_factory, contract_factory, contract_line_factory, activate, bill):
    """12,000 for 2026, invoiced up front on 1 January, recognized ratably by days."""
    contract = contract_factory()
    product = product_factory(name="Platform", ssp=usd("12000"), revenue_policy="ratable")
    line = contract_line_factory(
        contract=contract, product=product, interval_months=12, unit_price=usd("12000")
    )
    activate(contract)
    bill(D(2026, 1, 1))
    return line


def terminate(line, *, effective: date, credit: str, django_capture_on_commit_callbacks) -> None:
    """Do what MODIFICATIONS and its billing follow-up do to terminate from ``effective``.

    The lines end the day before, the contract is terminated, and the unused prepaid part is
    credited on the effective date.
    """
    contract = line.contract
    line.service_end = effective - timedelta(days=1)
    line.save(update_fields=["service_end"])
    Contract.objects.filter(pk=contract.pk).update(status=Contract.Status.TERMINATED)
    contract.refresh_from_db()
    invoice = Invoice.objects.get(customer=contract.customer)
    with django_capture_on_commit_callbacks(execute=True):
        credit_note_issue(
            credit_note=credit_note_create(
                invoice=invoice,
                reason="Early termination: the prepaid rest of the year",
                lines=[(invoice.lines.get(), usd(credit))],
            ),
            issue_date=effective,
        )


def test_terminated_after_five_months_with_the_rest_credited_earns_5000_in_all(
    annual, recognize, close, django_capture_on_commit_callbacks
):
    contract = annual.contract
    recognize(D(2026, 5, 31))
    close(D(2026, 4, 30))
    [po] = contract.obligations.all()
    # 12,000 by days: Jan 1,019.18 Feb 920.54 Mar 1,019.18 Apr 986.30 (closed: 3,945.20),
    # May 1,019.18 (open): 4,964.38.
    assert sum(by_month(po).values(), usd("0")) == usd("4964.38")
    closed = journal_before(D(2026, 5, 1))

    # Terminated from 1 June (31 May is the last day served); the prepaid June-December, 7,000,
    # is credited on 1 June. The customer owes 12,000 - 7,000 = 5,000: the transaction price.
    terminate(
        annual,
        effective=D(2026, 6, 1),
        credit="7000",
        django_capture_on_commit_callbacks=django_capture_on_commit_callbacks,
    )
    modify(contract, modification_id=9, effective=D(2026, 6, 1), treatment="catch_up")

    po.refresh_from_db()
    assert (po.allocated, po.service_end) == (usd("5000"), D(2026, 5, 31))
    # 5,000 over the 151 days of January to May: by 30 April 500,000 x 120 / 151 cents =
    # 3,973.51 (largest remainder: Jan 1,026.49 Feb 927.15 Mar 1,026.49 Apr 993.38), 28.31 more
    # than the closed months' 3,945.20: a catch-up on 1 May. May then comes to 5,000 - 3,973.51
    # = 1,026.49, of which 1,019.18 is posted: 7.31 more.
    may = po.schedule.filter(status=Status.RECOGNIZED, period=D(2026, 5, 1)).order_by("id")
    assert [(e.amount, e.catch_up) for e in may] == [
        (usd("1019.18"), False),
        (usd("28.31"), True),
        (usd("7.31"), False),
    ]
    # Later runs find nothing more to earn and nothing is planned after the termination.
    recognize(D(2026, 12, 31))
    assert sum(by_month(po).values(), usd("0")) == usd("5000")
    assert not po.schedule.filter(status=Status.PLANNED).exists()
    final = position_of(contract=contract, as_of=D(2026, 12, 31))
    assert (final.revenue, final.billed, final.net) == (usd("5000"), usd("5000"), usd("0"))
    assert journal_before(D(2026, 5, 1)) == closed
    assert_balanced()


def test_a_termination_treated_prospectively_also_earns_what_is_owed(
    annual, recognize, django_capture_on_commit_callbacks
):
    contract = annual.contract
    recognize(D(2026, 5, 31))
    terminate(
        annual,
        effective=D(2026, 6, 1),
        credit="7000",
        django_capture_on_commit_callbacks=django_capture_on_commit_callbacks,
    )
    modify(contract, modification_id=10, effective=D(2026, 6, 1), treatment="prospective")
    recognize(D(2026, 12, 31))
    [po] = contract.obligations.all()
    # Frozen before 1 June: January to May on the old terms, 4,964.38. The remaining
    # consideration, 5,000 - 4,964.38 = 35.62, has no service left to spread over: it is earned
    # on the last day served, 31 May, so May comes to 1,019.18 + 35.62 = 1,054.80.
    months = by_month(po)
    assert months[D(2026, 5, 1)] == usd("1054.80")
    assert max(months) == D(2026, 5, 1)
    assert sum(months.values(), usd("0")) == usd("5000")
    assert not po.schedule.filter(status=Status.PLANNED).exists()


def test_a_separate_contract_leaves_the_original_alone_and_is_recognized_on_its_own(
    annual, product_factory, contract_factory, contract_line_factory, activate, recognize
):
    original = annual.contract
    recognize(D(2026, 6, 30))
    [po] = original.obligations.all()
    before = (
        list(Allocation.objects.filter(contract=original).values_list("pk", "reason")),
        list(po.schedule.values_list("period", "amount", "status")),
    )
    # From 1 July an add-on at its SSP (distinct): MODIFICATIONS makes it a contract of its
    # own, activated as any contract is, and announces the original's modification.
    add_on = contract_factory(customer=original.customer, start_date=D(2026, 7, 1))
    contract_line_factory(
        contract=add_on,
        product=product_factory(name="Analytics", ssp=usd("500"), revenue_policy="ratable"),
        unit_price=usd("500"),
    )
    activate(add_on)
    modify(original, modification_id=11, effective=D(2026, 7, 1), treatment="separate_contract")

    assert (
        list(Allocation.objects.filter(contract=original).values_list("pk", "reason")),
        list(po.schedule.values_list("period", "amount", "status")),
    ) == before
    # The add-on: 6 x 500 = 3,000 over July to December, recognized by the runs on its own.
    recognize(D(2026, 12, 31))
    [add_on_po] = add_on.obligations.all()
    assert add_on_po.allocated == usd("3000")
    assert sum(by_month(add_on_po).values(), usd("0")) == usd("3000")
