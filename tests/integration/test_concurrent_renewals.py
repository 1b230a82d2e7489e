"""Two clerks clicking Renew at once, and the daily renewals run twice at once, on PostgreSQL.

Each thread has its own connection, so the contract's row lock is PostgreSQL's: whatever the
interleaving, the term is renewed once.
"""

from datetime import date
from decimal import Decimal

import pytest
from djmoney.money import Money

from contracts.models import Contract, Renewal, RenewalTerms
from contracts.renewals import contract_renew, renewals_renew_due
from tests.contracts.factories import ContractFactory, ContractLineFactory
from tests.integration.support import run_together

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def contract() -> Contract:
    contract = ContractFactory(status=Contract.Status.ACTIVE)
    ContractLineFactory(contract=contract, unit_price=Money("1200.00", "USD"), interval_months=12)
    RenewalTerms.objects.create(contract=contract, auto_renew=True, uplift_percent=Decimal("3.5"))
    return contract


def assert_renewed_once(contract: Contract) -> None:
    [renewal] = Renewal.objects.all()
    assert (renewal.from_end, renewal.to_end) == (date(2026, 12, 31), date(2027, 12, 31))
    contract.refresh_from_db()
    assert contract.end_date == date(2027, 12, 31)
    prices = sorted(line.unit_price.amount for line in contract.lines.all())
    assert prices == [Decimal("1200.00"), Decimal("1242.00")]  # 1,200.00 x 1.035


def test_four_renew_clicks_at_once_renew_once(contract):
    def click():
        stale = Contract.objects.get(pk=contract.pk)  # each read the page before any renewal
        return contract_renew(contract=stale, by="clerk")[1]

    made = run_together(*[click] * 4)

    assert sorted(made) == [False, False, False, True]
    assert_renewed_once(contract)


def test_the_daily_renewals_run_twice_at_once_renew_once(contract):
    def run():
        return renewals_renew_due(contract_ids=[contract.pk], as_of=date(2026, 12, 31)).renewed

    assert sorted(run_together(run, run)) == [0, 1]
    assert_renewed_once(contract)
