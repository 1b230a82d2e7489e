"""The roll-forward holds on any book: opening + billings - revenue = closing, exactly.

Random journals (invoices, voids, credit notes, recognitions and negative catch-ups across two
currencies and three contracts) are posted as the journal posts them, and every month of the
roll-forward is checked against figures read independently: the book position at the month's
end (revenue off the revenue account) and the trial balance of the month. The same checks then
run on the demo book, billed and recognized by the real engines.
"""

from datetime import date
from decimal import Decimal
from itertools import pairwise

import pytest
from django.db import transaction
from django.utils import timezone
from djmoney.money import Money
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.runs import bill_run_start
from contracts.demo import demo_book_seed
from reports.selectors import billings_by_month, deferred_revenue_rollforward, month_range
from revenue.domain.recognition import month_end
from revenue.journal import ledger_accounts
from revenue.models import JournalEntry, JournalLine, LedgerAccount
from revenue.runs import revenue_recognize
from revenue.selectors import book_position, trial_balance

pytestmark = pytest.mark.django_db

Kind = JournalEntry.Kind
Role = LedgerAccount.Role
FIRST, LAST = date(2026, 1, 1), date(2026, 6, 1)

posting = st.tuples(
    st.integers(0, 2),  # which contract
    st.sampled_from([Kind.INVOICE, Kind.INVOICE_VOID, Kind.CREDIT_NOTE, Kind.RECOGNITION]),
    st.dates(date(2025, 11, 1), date(2026, 6, 30)),
    st.integers(1, 5_000_000),  # minor units
    st.booleans(),  # a recognition's catch-up may be negative
)


def _post(contracts, accounts, postings) -> None:
    """Post balanced entries as revenue.journal does: billings credit the contract account,
    voids and credit notes debit it back, recognitions debit it (a negative one credits it)."""
    for number, (which, kind, day, units, negative) in enumerate(postings):
        contract = contracts[which]
        amount = Decimal(units) / 100
        entry = JournalEntry.objects.create(
            kind=kind,
            date=day,
            period=day.replace(day=1),
            currency=contract.currency,
            source_key=f"test:{number}",
            contract=contract,
            description=f"{kind} {number}",
        )
        if kind == Kind.RECOGNITION:
            signed = -amount if negative else amount  # debit on the contract account
            other = accounts[Role.REVENUE]
        else:
            signed = -amount if kind == Kind.INVOICE else amount
            other = accounts[Role.RECEIVABLE]
        for account, value in ((accounts[Role.CONTRACT], signed), (other, -signed)):
            JournalLine.objects.create(
                entry=entry,
                account=account,
                contract=contract,
                date=day,
                kind=kind,
                currency=contract.currency,
                debit=max(value, Decimal(0)),
                credit=max(-value, Decimal(0)),
            )


def assert_roll_forward_agrees_with_the_ledger(first: date, last: date) -> None:
    """Check every month of every currency's roll-forward against the ledger read otherwise."""
    rolled = deferred_revenue_rollforward(first=first, last=last)
    billed = billings_by_month(first=first, last=last)
    revenue_account = ledger_accounts()[Role.REVENUE]
    for code, months in rolled.items():
        assert [m.period for m in months] == month_range(first, last)
        for month in months:
            # The identity, exactly, and the closing's two sides.
            assert month.opening + month.billings - month.revenue == month.closing
            assert month.closing == month.deferred - month.unbilled
            # The balance at the month's end, from the position selector (revenue - billed).
            totals = book_position(as_of=month_end(month.period)).totals.get(code)
            zero = Money(0, code)
            assert month.closing == -(totals["net"] if totals else zero)
            assert month.deferred == (totals["liability"] if totals else zero)
            assert month.unbilled == (totals["asset"] if totals else zero)
            # The month's revenue is what the revenue account was credited with in it.
            credited = sum(
                (
                    Money(row.credit - row.debit, code)
                    for row in trial_balance(period=month.period)
                    if row.account == revenue_account and row.currency == code
                ),
                zero,
            )
            assert month.revenue == credited
        for before, after in pairwise(months):
            assert after.opening == before.closing
        # The billings report lists a currency only where something was billed in the range.
        nothing = [Money(0, code)] * len(months)
        expected = [m.net for m in billed[code]] if code in billed else nothing
        assert [m.billings for m in months] == expected


@pytest.fixture
def contracts(contract_factory, customer_factory):
    return [
        contract_factory(customer=customer_factory(currency="USD")),
        contract_factory(customer=customer_factory(currency="USD")),
        contract_factory(customer=customer_factory(currency="EUR")),
    ]


# Each example posts a book and runs every selector over six months: fewer examples than the
# pure-function properties, so the database suite stays quick.
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(postings=st.lists(posting, max_size=25), first=st.sampled_from(month_range(FIRST, LAST)))
def test_roll_forward_identity_holds_on_random_books(contracts, postings, first):
    accounts = ledger_accounts()
    with transaction.atomic():
        _post(contracts, accounts, postings)
        assert_roll_forward_agrees_with_the_ledger(first, LAST)
        transaction.set_rollback(True)


def test_roll_forward_identity_holds_on_the_demo_book(settings, django_capture_on_commit_callbacks):
    settings.RMS_AUTO_DELIVERY = False  # no PDFs to render: the books are what is checked
    today = timezone.localdate()
    with django_capture_on_commit_callbacks(execute=True):
        demo_book_seed()
    with django_capture_on_commit_callbacks(execute=True):
        bill_run_start(as_of=today, triggered_by="tests")
    revenue_recognize(as_of=today, triggered_by="tests")
    assert JournalEntry.objects.filter(kind=Kind.RECOGNITION).exists()
    assert JournalEntry.objects.filter(kind=Kind.INVOICE).exists()

    first = date(today.year - 2, today.month, 1)
    assert_roll_forward_agrees_with_the_ledger(first, today)
    assert {"EUR", "GBP", "USD"} <= set(deferred_revenue_rollforward(first=first, last=today))
