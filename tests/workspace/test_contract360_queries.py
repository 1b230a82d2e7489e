"""Contract 360 reads each section in a fixed number of queries, however big the contract.

A small contract (a subscription line and a one-milestone project, one invoice) and a big one
(seven lines of every billing model, milestones, three invoices, a credit note and payments)
take the same number of queries: no section reads row by row.
"""

from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from djmoney.money import Money

from billing.credit_notes import credit_note_create, credit_note_issue
from billing.models import Invoice
from billing.payments import payment_record
from contracts.models import Milestone

pytestmark = pytest.mark.django_db


def usd(amount: str) -> Money:
    return Money(amount, "USD")


def queries_to_open(client, contract) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(reverse("admin:workspace_contract360", args=[contract.pk]))
    assert response.status_code == 200
    return len(captured)


@pytest.fixture
def small(contract_line_factory, activate, bill, recognize):
    """One subscription line and a one-milestone project: every section has something."""
    line = contract_line_factory()
    project = contract_line_factory(contract=line.contract, milestone=True, unit_price=usd("900"))
    project.milestones.create(
        sequence=1, name="Go-live", planned_date=date(2026, 6, 1), amount=usd("900")
    )
    activate(line.contract)
    bill(date(2026, 1, 1))
    recognize(date(2026, 1, 31))
    return line.contract


@pytest.fixture
def big(contract_factory, contract_line_factory, activate, bill, recognize):
    contract = contract_factory()
    for _ in range(3):
        contract_line_factory(contract=contract)
    for price in ("500", "750"):
        contract_line_factory(contract=contract, one_time=True, unit_price=usd(price))
    project = contract_line_factory(contract=contract, milestone=True, unit_price=usd("9000"))
    for sequence, day in enumerate([date(2026, 1, 15), date(2026, 6, 1), date(2026, 9, 1)], 1):
        project.milestones.create(
            sequence=sequence, name=f"Phase {sequence}", planned_date=day, amount=usd("3000")
        )
    contract_line_factory(contract=contract, usage=True)
    activate(contract)
    for month in (1, 2, 3):
        bill(date(2026, month, 1))
    recognize(date(2026, 3, 31))
    invoices = list(Invoice.objects.filter(customer=contract.customer).order_by("pk"))
    assert len(invoices) == 3
    first = invoices[0]
    credit_note_issue(
        credit_note=credit_note_create(
            invoice=first, reason="Goodwill", lines=[(first.lines.first(), usd("50"))]
        ),
        issue_date=date(2026, 2, 10),
    )
    payment_record(
        customer=contract.customer,
        amount=usd("400"),
        received_on=date(2026, 3, 5),
        method="bank_transfer",
        invoices=invoices[1:],
    )
    assert project.milestones.filter(status=Milestone.Status.PLANNED).count() == 3
    return contract


def test_query_count_does_not_grow_with_lines_invoices_and_payments(staff_client, small, big):
    assert big.lines.count() == 7 and small.lines.count() == 2

    assert queries_to_open(staff_client, big) == queries_to_open(staff_client, small)
