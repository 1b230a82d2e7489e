"""A PSA retrying its "milestone achieved" call while the first is still running, on PostgreSQL.

Each thread has its own connection, so the customer and milestone row locks are PostgreSQL's.
Whatever the interleaving, the milestone is invoiced once.
"""

from datetime import date

import pytest
from djmoney.money import Money

from billing.milestones import milestone_achieve
from billing.models import BillingEvent, Invoice
from contracts.models import Milestone
from contracts.services import contract_activate
from tests.contracts.factories import ContractFactory, ContractLineFactory
from tests.integration.support import run_together

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def milestone() -> Milestone:
    contract = ContractFactory()
    line = ContractLineFactory(contract=contract, milestone=True, unit_price=Money(90, "USD"))
    design = Milestone.objects.create(
        line=line, sequence=1, name="Design", planned_date=date(2026, 3, 1), amount=line.unit_price
    )
    contract_activate(contract=contract)
    return design


def test_the_same_achievement_sent_four_times_at_once_invoices_once(milestone):
    def achieve():
        return milestone_achieve(
            milestone=milestone, achieved_on=date(2026, 3, 2), achieved_by="psa", reference="T-7"
        ).status

    statuses = run_together(*[achieve] * 4)

    assert statuses == [Milestone.Status.INVOICED] * 4
    assert BillingEvent.objects.filter(kind=BillingEvent.Kind.MILESTONE).count() == 1
    [invoice] = Invoice.objects.all()
    assert (invoice.status, invoice.total) == (Invoice.Status.ISSUED, Money(90, "USD"))
