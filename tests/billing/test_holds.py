"""Holds: a billing hold keeps invoices back, a delivery hold lets them be made but not sent.

What came due during a hold is not lost: the first run after release bills it, once.
"""

from datetime import date

import pytest

from billing.invoicing import invoice_issue
from billing.models import BillingEvent, Invoice
from contracts.services import HoldKind, hold_set
from tests.admin_urls import admin_url
from tests.billing.conftest import assert_invoiced_events_billed_once, usd

pytestmark = pytest.mark.django_db


def test_a_customer_billing_hold_keeps_every_due_event_back_until_released(
    contract_factory, contract_line_factory, activate, bill
):
    held_line = contract_line_factory(unit_price=usd("100.00"))
    customer = held_line.contract.customer
    # A second contract of the same customer, and another customer who is never held.
    other_contract = contract_factory(customer=customer)
    second_line = contract_line_factory(contract=other_contract, unit_price=usd("10.00"))
    free_line = contract_line_factory(unit_price=usd("1.00"))
    activate(held_line.contract, other_contract, free_line.contract)
    assert bill(date(2026, 1, 1)).invoices_created == 2  # January, before the hold

    hold_set(target=customer, kind=HoldKind.BILLING, on=True, reason="Credit review")
    runs = [bill(date(2026, month, 1)) for month in (2, 3, 4)]

    # Each month one more event of each of the customer's two lines is held back.
    assert [run.events_held for run in runs] == [2, 4, 6]
    assert [run.invoices_created for run in runs] == [1, 1, 1]  # only the free customer
    assert not Invoice.objects.filter(customer=customer, invoice_date__gt=date(2026, 1, 1))

    hold_set(target=customer, kind=HoldKind.BILLING, on=False)
    released = bill(date(2026, 4, 1))

    # Feb, Mar and Apr of both lines, on one invoice: 3 x 100.00 + 3 x 10.00 = 330.00.
    [invoice] = released.invoices.all()
    assert invoice.customer_id == customer.pk
    assert [
        (il.contract_line_id, il.period_start) for il in invoice.lines.order_by("position")
    ] == [
        (held_line.pk, date(2026, 2, 1)),
        (held_line.pk, date(2026, 3, 1)),
        (held_line.pk, date(2026, 4, 1)),
        (second_line.pk, date(2026, 2, 1)),
        (second_line.pk, date(2026, 3, 1)),
        (second_line.pk, date(2026, 4, 1)),
    ]
    assert invoice.total == usd("330.00")
    assert (released.events_held, released.events_invoiced) == (0, 6)
    assert bill(date(2026, 4, 1)).invoices_created == 0
    assert_invoiced_events_billed_once()


def test_a_contract_billing_hold_keeps_back_only_that_contract(
    contract_factory, contract_line_factory, activate, bill
):
    held = contract_line_factory(unit_price=usd("100.00"), contract__number="K-HELD")
    customer = held.contract.customer
    billed = contract_line_factory(
        contract=contract_factory(customer=customer, number="K-BILLED"), unit_price=usd("25.00")
    )
    activate(held.contract, billed.contract)
    hold_set(target=held.contract, kind=HoldKind.BILLING, on=True, reason="Disputed scope")

    run = bill(date(2026, 3, 1))

    # Jan-Mar of K-BILLED: 3 x 25.00 = 75.00; K-HELD's three months wait.
    [invoice] = run.invoices.all()
    assert set(invoice.lines.values_list("contract_line_id", flat=True)) == {billed.pk}
    assert invoice.total == usd("75.00")
    assert run.events_held == 3

    hold_set(target=held.contract, kind=HoldKind.BILLING, on=False)
    release = bill(date(2026, 3, 1))
    # The three held months, 3 x 100.00 = 300.00, once.
    assert release.invoices.get().total == usd("300.00")
    assert release.events_invoiced == 3
    assert_invoiced_events_billed_once()


def test_a_delivery_hold_issues_invoices_marked_not_to_send(
    customer_factory, contract_line_factory, activate, bill
):
    contract_held = contract_line_factory(contract__delivery_hold=True)
    customer_held = contract_line_factory(contract__customer=customer_factory(delivery_hold=True))
    free = contract_line_factory()
    activate(contract_held.contract, customer_held.contract, free.contract)

    run = bill(date(2026, 1, 1))

    assert (run.invoices_created, run.invoices_issued, run.events_held) == (3, 3, 0)
    flags = {i.customer_id: (i.status, bool(i.number), i.delivery_held) for i in run.invoices.all()}
    assert flags == {
        contract_held.contract.customer_id: ("issued", True, True),
        customer_held.contract.customer_id: ("issued", True, True),
        free.contract.customer_id: ("issued", True, False),
    }


def test_a_contract_delivery_hold_placed_on_a_draft_marks_it_when_issued(
    customer_factory, contract_line_factory, activate, bill
):
    line = contract_line_factory(contract__customer=customer_factory(invoice_review="review"))
    activate(line.contract)
    draft = bill(date(2026, 1, 1)).invoices.get()
    hold_set(target=line.contract, kind=HoldKind.DELIVERY, on=True, reason="Address unknown")

    issued = invoice_issue(invoice=draft, issue_date=date(2026, 1, 5))

    # Issued (a delivery hold does not stop that), but not to be sent while the hold is on,
    # exactly as for a hold on the customer.
    assert (issued.status, issued.number) == ("issued", "INV-2026-000001")
    assert issued.delivery_held is True


def test_a_customer_delivery_hold_placed_on_a_draft_marks_it_when_issued(
    customer_factory, contract_line_factory, activate, bill
):
    customer = customer_factory(invoice_review="review")
    activate(contract_line_factory(contract__customer=customer).contract)
    draft = bill(date(2026, 1, 1)).invoices.get()
    hold_set(target=customer, kind=HoldKind.DELIVERY, on=True, reason="Address unknown")

    issued = invoice_issue(invoice=draft, issue_date=date(2026, 1, 5))

    assert (issued.status, issued.delivery_held) == ("issued", True)


def test_the_event_list_shows_what_a_hold_keeps_back_and_why(
    customer_factory, contract_line_factory, activate, bill, staff_client
):
    contract_hold = contract_line_factory(contract__number="K-DISPUTE")
    customer_hold = contract_line_factory(contract__customer=customer_factory())
    free = contract_line_factory()
    activate(contract_hold.contract, customer_hold.contract, free.contract)
    bill(date(2026, 1, 1))  # January of every line is invoiced before the holds
    hold_set(target=contract_hold.contract, kind=HoldKind.BILLING, on=True, reason="Disputed")
    hold_set(
        target=customer_hold.contract.customer,
        kind=HoldKind.BILLING,
        on=True,
        reason="Credit review",
    )

    url = admin_url(BillingEvent, "changelist") + "?held=yes&status__exact=pending"
    response = staff_client.get(url)

    assert response.status_code == 200
    listed = {event.pk for event in response.context["cl"].queryset}
    # Feb-Dec of the two held lines; nothing of the free line, nothing already invoiced.
    expected = set(
        BillingEvent.objects.filter(
            line__in=[contract_hold, customer_hold], status="pending"
        ).values_list("pk", flat=True)
    )
    assert listed == expected
    assert len(listed) == 22
    page = response.content.decode()
    assert "contract: Disputed" in page
    assert "customer: Credit review" in page
