"""Fixtures of the billing engine tests: activate contracts, run billing, check the books.

Activation announces the contract's terms on commit and a bill run queues its chunks on commit;
pytest-django wraps each test in a transaction that never commits, so both are run through
``django_capture_on_commit_callbacks(execute=True)``, as the eager Celery of the settings would
run them after a real commit.
"""

from collections import Counter
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.apps import apps
from djmoney.money import Money

from billing.invoicing import invoice_issue
from billing.models import BillingEvent, BillRun, Invoice, InvoiceLine, InvoiceSequence
from billing.runs import bill_run_start
from contracts.models import ContractLine, Milestone
from contracts.services import contract_activate


def usd(amount: str) -> Money:
    return Money(amount, "USD")


@pytest.fixture
def activate(django_capture_on_commit_callbacks):
    """Activate draft contracts and let billing materialize their schedules."""

    def activate(*contracts):
        for contract in contracts:
            with django_capture_on_commit_callbacks(execute=True):
                contract_activate(contract=contract)
            contract.refresh_from_db()

    return activate


@pytest.fixture
def bill(django_capture_on_commit_callbacks):
    """Run billing for ``as_of``, chunks included, and return the finished run."""

    def bill(as_of: date) -> BillRun:
        with django_capture_on_commit_callbacks(execute=True):
            run = bill_run_start(as_of=as_of, triggered_by="tests")
        run.refresh_from_db()
        return run

    return bill


def live_lines_per_event() -> Counter:
    """Count, per event, the invoice lines that bill it on an invoice that is not void."""
    return Counter(
        InvoiceLine.objects.filter(voided=False)
        .exclude(invoice__status=Invoice.Status.VOID)
        .values_list("event_id", flat=True)
    )


def assert_invoiced_events_billed_once() -> None:
    """Every invoiced event is on exactly one live invoice line; every pending one on none."""
    live = live_lines_per_event()
    for event in BillingEvent.objects.all():
        expected = 1 if event.status == BillingEvent.Status.INVOICED else 0
        assert live[event.pk] == expected, (event, event.status, live[event.pk])
    # And no line bills an event the books do not know.
    assert set(live) <= set(BillingEvent.objects.values_list("pk", flat=True))


def assert_numbers_gapless(year: int = 2026) -> list[str]:
    """Return the year's invoice numbers, checking they run 1..N with no gap and no repeat."""
    numbered = Invoice.objects.filter(year=year, sequence_number__isnull=False).order_by(
        "sequence_number"
    )
    sequence = list(numbered.values_list("sequence_number", flat=True))
    assert sequence == list(range(1, len(sequence) + 1))
    last = InvoiceSequence.objects.filter(series="INV", year=year).values_list(
        "last_number", flat=True
    )
    assert list(last) == ([len(sequence)] if sequence else [])
    return list(numbered.values_list("number", flat=True))


def billing_row_counts() -> dict[str, object]:
    """Count the rows of every billing table, and the lines' schedule watermarks."""
    counts: dict[str, object] = {
        model._meta.label: model.objects.count()
        for model in apps.get_app_config("billing").get_models()
    }
    counts["scheduled_through"] = sorted(
        ContractLine.objects.values_list("pk", "scheduled_through"), key=lambda row: row[0]
    )
    return counts


@pytest.fixture
def issued_invoice(customer_factory, contract_factory, contract_line_factory, activate, bill):
    """Return a function that bills one-time lines at ``prices`` and issues the invoice.

    The customer reviews its invoices, so the bill run leaves a draft and the invoice is issued
    here, on ``issued_on``, with Net 30 terms (due 30 days later).
    """

    def make(*prices, customer=None, issued_on=date(2026, 1, 1), tax_rate="0") -> Invoice:
        if customer is None:
            customer = customer_factory(invoice_review="review", tax_rate=Decimal(tax_rate))
        contract = contract_factory(
            customer=customer, start_date=issued_on, end_date=issued_on + timedelta(days=365)
        )
        for price in prices:
            contract_line_factory(
                contract=contract, one_time=True, unit_price=Money(price, customer.currency)
            )
        activate(contract)
        draft = bill(issued_on).invoices.get(customer=customer)
        return invoice_issue(invoice=draft, issue_date=issued_on)

    return make


# The project the milestone tests share: 100,000 USD, 30/40/30, planned in March, June, September.
PROJECT_MILESTONES = [("Design", 30_000), ("Build", 40_000), ("Go-live", 30_000)]
PROJECT_PLANNED = (date(2026, 3, 1), date(2026, 6, 1), date(2026, 9, 1))


@pytest.fixture
def milestone_project(contract_factory, contract_line_factory, activate):
    """Build an active 100,000 USD project with a 30/40/30 schedule; return its milestones.

    ``planned`` gives the three planned dates; other keywords go to the contract.
    """

    def build(*, planned=PROJECT_PLANNED, **contract_fields) -> list[Milestone]:
        contract = contract_factory(**contract_fields)
        line = contract_line_factory(contract=contract, milestone=True, unit_price=usd(100_000))
        milestones = [
            Milestone.objects.create(
                line=line, sequence=n, name=name, planned_date=day, amount=usd(amount)
            )
            for n, ((name, amount), day) in enumerate(
                zip(PROJECT_MILESTONES, planned, strict=True), start=1
            )
        ]
        activate(contract)
        return milestones

    return build
