"""Credit notes in revenue: billings taken back in the journal, and the revenue they reverse."""

from datetime import date

import pytest
from djmoney.money import Money

from billing.credit_notes import credit_note_create, credit_note_issue
from billing.models import Invoice
from contracts.models import RevenuePolicy
from revenue.models import JournalEntry, JournalLine, RevenueScheduleEntry
from revenue.selectors import position_of, trial_balance

pytestmark = pytest.mark.django_db


def usd(amount: str) -> Money:
    return Money(amount, "USD")


@pytest.fixture
def delivered_hardware(contract_line_factory, product_factory, activate, bill, recognize):
    """1,000.00 of hardware billed on order and delivered on 1 Jan 2026, recognized in January."""
    line = contract_line_factory(
        one_time=True,
        unit_price=usd("1000"),
        product=product_factory(ssp=usd("1000"), revenue_policy=RevenuePolicy.POINT_IN_TIME),
    )
    activate(line.contract)
    bill(date(2026, 1, 1))
    recognize(date(2026, 1, 31))
    return line.contract


def test_a_credit_note_takes_back_billings_and_reverses_the_revenue_it_no_longer_supports(
    delivered_hardware, close, django_capture_on_commit_callbacks
):
    contract = delivered_hardware
    assert position_of(contract=contract, as_of=date(2026, 1, 31)).revenue == usd("1000.00")
    close(date(2026, 1, 31))
    invoice = Invoice.objects.get()

    # A 200.00 price concession on 10 Feb: the customer owes 800.00 and the transaction price
    # falls to 800.00, so 200.00 of January's revenue reverses. January is closed, so the
    # reversal posts as a catch-up on 1 February, the first open month.
    with django_capture_on_commit_callbacks(execute=True):
        note = credit_note_issue(
            credit_note=credit_note_create(
                invoice=invoice,
                reason="Damaged in transit",
                lines=[(invoice.lines.get(), usd("200"))],
            ),
            issue_date=date(2026, 2, 10),
        )

    posted = JournalEntry.objects.get(kind=JournalEntry.Kind.CREDIT_NOTE)
    assert (posted.date, posted.credit_note_id) == (date(2026, 2, 10), note.pk)
    assert sorted((line.account.role, line.debit, line.credit) for line in posted.lines.all()) == [
        ("contract", 200, 0),
        ("receivable", 0, 200),
    ]
    [reversal] = RevenueScheduleEntry.objects.filter(status="recognized", period=date(2026, 2, 1))
    assert (reversal.amount, reversal.catch_up) == (usd("-200.00"), True)

    january = position_of(contract=contract, as_of=date(2026, 1, 31))
    february = position_of(contract=contract, as_of=date(2026, 2, 28))
    assert (january.revenue, january.billed) == (usd("1000.00"), usd("1000.00"))
    assert (february.revenue, february.billed, february.net) == (
        usd("800.00"),
        usd("800.00"),
        usd("0.00"),
    )
    # The ledger still balances, and the closed month is untouched.
    assert sum(line.debit - line.credit for line in JournalLine.objects.all()) == 0
    assert {
        (row.account.role, row.debit, row.credit) for row in trial_balance(period=date(2026, 1, 1))
    } == {("receivable", 1000, 0), ("contract", 1000, 1000), ("revenue", 0, 1000)}
