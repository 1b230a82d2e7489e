"""Books the workspace tests read, built through the engine as the report tests build theirs.

The worklists' book holds one row of every kind waiting, beside rows that must stay off the
lists; its dates are relative to today, as the worklists' are ("due" is today or earlier).
"""

from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone
from djmoney.money import Money

from billing.milestones import milestone_achieve
from billing.models import DeliveryAttempt, Invoice
from contracts.models import Contract, Customer, Milestone
from imports.models import ImportJob
from tests.billing.conftest import activate, bill, issued_invoice  # noqa: F401  (shared fixtures)
from tests.reports.conftest import annual_deal  # noqa: F401
from tests.revenue.conftest import close, recognize  # noqa: F401


def usd(amount) -> Money:
    return Money(amount, "USD")


@dataclass
class Book:
    project: Contract
    approval: Contract
    draft: Invoice
    undelivered: Invoice
    delivered: Invoice
    held_customer: Customer
    held_contract: Contract


def _plan(line, plans) -> None:
    for sequence, (name, planned, amount) in enumerate(plans, start=1):
        Milestone.objects.create(
            line=line, sequence=sequence, name=name, planned_date=planned, amount=usd(amount)
        )


def _attempt(invoice: Invoice, status: str, error: str = "") -> DeliveryAttempt:
    return DeliveryAttempt.objects.create(
        invoice=invoice,
        status=status,
        trigger="issue",
        recipients="Accounts Payable <ap@example.com>",
        error=error,
        finished_at=timezone.now(),
    )


@pytest.fixture
def today():
    return timezone.localdate()


@pytest.fixture
def milestone_contract(contract_factory, contract_line_factory, today):
    """Return a function making a 100,000.00 USD milestone project over the year around today."""

    def make(number: str, plans, **fields) -> Contract:
        contract = contract_factory(
            number=number,
            start_date=today - timedelta(days=120),
            end_date=today + timedelta(days=245),
            **fields,
        )
        line = contract_line_factory(
            contract=contract, sequence=1, milestone=True, unit_price=usd(100_000)
        )
        _plan(line, plans)
        return contract

    return make


@pytest.fixture
def book(
    settings,
    milestone_contract,
    activate,  # noqa: F811
    issued_invoice,  # noqa: F811
    bill,  # noqa: F811
    customer_factory,
    contract_factory,
    contract_line_factory,
    billing_contact_factory,
    today,
) -> Book:
    """Design (overdue) and Build (due today) to achieve, Go-live not yet due; one milestone
    awaiting approval; a draft; a failed delivery beside a delivered one; a customer and a
    contract on hold; import jobs with and without errors."""
    settings.RMS_AUTO_DELIVERY = False  # the deliveries below are written by hand
    day = timedelta(days=1)
    project = milestone_contract(
        "K-WL-1",
        [
            ("Design", today - 30 * day, 30_000),
            ("Build", today, 40_000),
            ("Go-live", today + 20 * day, 30_000),
        ],
        customer=customer_factory(legal_name="Fabrikam Ltd"),
    )
    approval = milestone_contract(
        "K-WL-2", [("Kick-off", today - 10 * day, 100_000)], milestone_approval=True
    )
    # A draft contract's due milestone is not to be achieved: the contract is not active.
    milestone_contract("K-WL-3", [("Not active", today - 5 * day, 100_000)])
    activate(project, approval)
    milestone_achieve(
        milestone=Milestone.objects.get(name="Kick-off"),
        achieved_on=today - day,
        achieved_by="pm",
        reference="PSA-7",
    )

    reviewed = customer_factory(legal_name="Northwind Traders", invoice_review="review")
    draft_contract = contract_factory(
        number="K-WL-4", customer=reviewed, start_date=today, end_date=today + 364 * day
    )
    contract_line_factory(contract=draft_contract, one_time=True, unit_price=usd("1200.00"))
    activate(draft_contract)
    draft = bill(today).invoices.get(customer=reviewed)

    undelivered = issued_invoice("500.00", issued_on=today - 3 * day)
    billing_contact_factory(customer=undelivered.customer, email="ap@example.com")
    _attempt(undelivered, DeliveryAttempt.Status.FAILED, "SMTPServerDisconnected: gone")
    delivered = issued_invoice("700.00", issued_on=today - 3 * day)
    _attempt(delivered, DeliveryAttempt.Status.FAILED, "SMTPServerDisconnected: gone")
    _attempt(delivered, DeliveryAttempt.Status.SENT)

    held_customer = customer_factory(
        legal_name="Blue Yonder Airlines", billing_hold=True, hold_reason="Credit review"
    )
    held_contract = contract_factory(
        number="K-WL-5", delivery_hold=True, hold_reason="Waiting for the ERP cut-over"
    )

    ImportJob.objects.create(
        layout="customers", file_name="customers-march.csv", status="failed", summary="Bad header"
    )
    with_errors = ImportJob.objects.create(
        layout="usage",
        file_name="usage-feb.csv",
        status="succeeded",
        error_rows=2,
        mode="keep_good_rows",
        problems="Row 3: quantity: not a number",
    )
    with_errors.errors_file.save("usage-feb-errors.csv", ContentFile(b"row,error\n3,bad\n"))
    ImportJob.objects.create(layout="usage", file_name="usage-clean.csv", status="succeeded")
    ImportJob.objects.create(
        layout="usage", file_name="usage-preview.csv", status="failed", dry_run=True
    )
    old = ImportJob.objects.create(layout="usage", file_name="usage-2025.csv", status="failed")
    ImportJob.objects.filter(pk=old.pk).update(created_at=timezone.now() - 40 * day)
    return Book(project, approval, draft, undelivered, delivered, held_customer, held_contract)
