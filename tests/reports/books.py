"""A book with a credit note, shared by the selector and page tests (through conftest)."""

from datetime import date

import pytest
from djmoney.money import Money

from billing.credit_notes import credit_note_create, credit_note_issue
from billing.models import Invoice
from contracts.models import RevenuePolicy


@pytest.fixture
def credited_hardware(contract_line_factory, product_factory, activate, bill, recognize, close):
    """1,000.00 of hardware billed and recognized in January (then closed), 200.00 credited on
    10 February."""
    line = contract_line_factory(
        one_time=True,
        unit_price=Money("1000", "USD"),
        product=product_factory(
            ssp=Money("1000", "USD"), revenue_policy=RevenuePolicy.POINT_IN_TIME
        ),
    )
    activate(line.contract)
    bill(date(2026, 1, 1))
    recognize(date(2026, 1, 31))
    close(date(2026, 1, 31))
    invoice = Invoice.objects.get()
    credit_note_issue(
        credit_note=credit_note_create(
            invoice=invoice,
            reason="Damaged in transit",
            lines=[(invoice.lines.get(), Money("200", "USD"))],
        ),
        issue_date=date(2026, 2, 10),
    )
    return line.contract
