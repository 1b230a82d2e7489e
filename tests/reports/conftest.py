"""Books the report tests read: contracts activated, billed and recognized through the engine.

The main one is the brief's hand-worked example: a USD 12,000.00 annual subscription over 2026,
billed yearly in advance on 1 January and recognized ratably by days.
"""

from datetime import date

import pytest
from djmoney.money import Money

from contracts.models import Contract
from tests.billing.conftest import activate, bill  # noqa: F401  (fixtures shared with billing)
from tests.reports.books import credited_hardware  # noqa: F401
from tests.revenue.conftest import close, recognize  # noqa: F401


@pytest.fixture
def annual_deal(contract_factory, contract_line_factory, product_factory, customer_factory):
    """Return a function making an annual in-advance subscription of ``price`` over 2026."""

    def annual_deal(
        price: str,
        currency: str = "USD",
        customer=None,
        signed: date | None = date(2025, 12, 15),
        interval_months: int = 12,
    ) -> Contract:
        customer = customer or customer_factory(currency=currency)
        contract = contract_factory(customer=customer, signed_date=signed)
        # The line's price is per billing interval: the year's price over its intervals.
        per_interval = Money(price, currency) * interval_months / 12
        contract_line_factory(
            contract=contract,
            description="Platform subscription",
            interval_months=interval_months,
            unit_price=per_interval,
            product=product_factory(ssp=Money(price, currency)),
        )
        return contract

    return annual_deal
