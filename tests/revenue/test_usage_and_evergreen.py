"""Revenue of usage (as consumed, less credit notes) and of evergreen subscriptions."""

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from djmoney.money import Money

from billing.credit_notes import credit_note_create, credit_note_issue
from billing.models import InvoiceLine, RatePlan, UsageRecord
from contracts.models import RevenuePolicy
from revenue.selectors import position_of

pytestmark = pytest.mark.django_db


def usd(amount: str) -> Money:
    return Money(amount, "USD")


def test_a_credit_note_on_usage_takes_its_revenue_back(
    contract_line_factory, activate, bill, recognize, django_capture_on_commit_callbacks
):
    line = contract_line_factory(
        usage=True, product__revenue_policy=RevenuePolicy.AS_CONSUMED, description="API calls"
    )
    RatePlan.objects.create(line=line, kind=RatePlan.Kind.PER_UNIT, unit_price=Decimal("0.10"))
    activate(line.contract)
    UsageRecord.objects.create(
        line=line,
        customer=line.contract.customer,
        quantity=Decimal(1000),
        occurred_at=datetime(2026, 1, 15, tzinfo=ZoneInfo("UTC")),
        idempotency_key="jan",
        payload_hash="0" * 64,
    )
    bill(date(2026, 2, 1))  # January's 1,000 calls x 0.10 = 100.00
    recognize(date(2026, 2, 28))
    assert position_of(contract=line.contract, as_of=date(2026, 2, 28)).revenue == usd("100.00")

    invoice_line = InvoiceLine.objects.get(contract_line=line)
    with django_capture_on_commit_callbacks(execute=True):
        credit_note_issue(
            credit_note=credit_note_create(
                invoice=invoice_line.invoice, reason="Outage", lines=[(invoice_line, usd("40"))]
            ),
            issue_date=date(2026, 3, 5),
        )
    recognize(date(2026, 3, 31))

    march = position_of(contract=line.contract, as_of=date(2026, 3, 31))
    # Billed 100.00 - 40.00 = 60.00, earned the same: no asset is left behind.
    assert (march.revenue, march.billed, march.net) == (usd("60.00"), usd("60.00"), usd("0.00"))


def test_an_evergreen_subscription_counts_only_the_periods_the_customer_is_committed_to(
    contract_factory, contract_line_factory, activate, bill, recognize, settings
):
    contract = contract_factory(end_date=None, evergreen=True)
    line = contract_line_factory(contract=contract, unit_price=usd("100"), service_end=None)
    activate(contract)
    bill(date(2026, 1, 1))  # schedules a year ahead; January invoiced

    recognize(date(2026, 1, 31))

    [obligation] = contract.obligations.all()
    # Every period started by today is committed (today is after 2026 began), none later:
    # the schedule a year ahead is a forecast, not consideration.
    started = line.billing_events.filter(period_start__lte=date.today()).count()
    assert obligation.allocated == usd("100") * started
    january = position_of(contract=contract, as_of=date(2026, 1, 31))
    assert (january.revenue, january.billed) == (usd("100.00"), usd("100.00"))
