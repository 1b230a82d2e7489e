"""Schedules: activating a contract materializes what each line will bill, and when.

A finance user reads a contract's coming billing from these events, and a bill run invoices
exactly them, so the dates, periods and amounts are checked one by one.
"""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django import forms
from django.utils import timezone
from djmoney.money import Money

from billing.models import BillingEvent
from billing.shipments import shipment_record
from billing.tasks import schedules_top_up_task
from contracts.models import Contract
from contracts.services import contract_terms_announce
from tests.admin_urls import admin_url
from tests.billing.conftest import assert_invoiced_events_billed_once, usd

pytestmark = pytest.mark.django_db

MONTH_ENDS_2026 = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]


def events_of(line) -> list[BillingEvent]:
    return list(line.billing_events.order_by("bill_date"))


def test_a_monthly_advance_subscription_for_2026_gets_twelve_events_on_the_first(
    contract_line_factory, activate
):
    # 3 seats at USD 45.50 a month, 1 Jan - 31 Dec 2026, billed in advance on the anniversary.
    line = contract_line_factory(quantity=Decimal(3), unit_price=usd("45.50"))
    assert not BillingEvent.objects.exists()

    activate(line.contract)

    events = events_of(line)
    assert [e.bill_date for e in events] == [date(2026, m, 1) for m in range(1, 13)]
    assert [(e.period_start, e.period_end) for e in events] == [
        (date(2026, m, 1), date(2026, m, MONTH_ENDS_2026[m - 1])) for m in range(1, 13)
    ]
    # Each month: 3 x 45.50 = 136.50; the year: 12 x 136.50 = 1,638.00.
    assert [e.amount for e in events] == [usd("136.50")] * 12
    assert sum((e.amount for e in events), usd("0")) == usd("1638.00")
    assert {(e.quantity, e.unit_price) for e in events} == {(Decimal(3), usd("45.50"))}
    assert {e.kind for e in events} == {BillingEvent.Kind.SUBSCRIPTION}
    assert {e.status for e in events} == {BillingEvent.Status.PENDING}
    assert {(e.contract_id, e.customer_id) for e in events} == {
        (line.contract_id, line.contract.customer_id)
    }
    # Named by the line (its product here), so two subscriptions on one invoice differ.
    assert events[0].description == f"{line.product.name}: 1 Jan 2026 \u2013 31 Jan 2026"


def test_an_arrears_line_bills_the_day_after_each_period_ends(contract_line_factory, activate):
    line = contract_line_factory(bill_timing="arrears", unit_price=usd("100.00"))
    activate(line.contract)

    events = events_of(line)
    assert len(events) == 12
    # January (1-31 Jan) is billed on 1 Feb, ..., December (1-31 Dec) on 1 Jan 2027.
    assert [e.bill_date for e in events] == [date(2026, m, 1) for m in range(2, 13)] + [
        date(2027, 1, 1)
    ]
    assert all(e.bill_date == e.period_end + timedelta(days=1) for e in events)
    assert [e.period_start for e in events] == [date(2026, m, 1) for m in range(1, 13)]
    assert {e.amount for e in events} == {usd("100.00")}


def test_a_one_time_on_order_line_gets_one_event_on_its_service_start(
    contract_line_factory, activate
):
    line = contract_line_factory(
        one_time=True,
        description="Setup",
        quantity=Decimal(2),
        unit_price=usd("250.00"),
        service_start=date(2026, 3, 15),
    )
    activate(line.contract)

    [event] = events_of(line)
    assert event.kind == BillingEvent.Kind.ONE_TIME
    assert (event.bill_date, event.period_start, event.period_end) == (
        date(2026, 3, 15),
        date(2026, 3, 15),
        date(2026, 3, 15),
    )
    # 2 x 250.00 = 500.00
    assert (event.quantity, event.amount, event.description) == (
        Decimal(2),
        usd("500.00"),
        "Setup",
    )


def test_an_on_shipment_line_gets_events_only_when_something_ships(contract_line_factory, activate):
    line = contract_line_factory(
        one_time=True,
        one_time_trigger="on_shipment",
        quantity=Decimal(10),
        unit_price=usd("15.00"),
    )
    activate(line.contract)
    assert events_of(line) == []

    shipment_record(line=line, shipped_on=date(2026, 2, 3), quantity=Decimal(3))

    [event] = events_of(line)
    # 3 x 15.00 = 45.00, billed on the shipping day.
    assert (event.kind, event.bill_date, event.quantity, event.amount) == (
        BillingEvent.Kind.SHIPMENT,
        date(2026, 2, 3),
        Decimal(3),
        usd("45.00"),
    )


def test_a_draft_contract_has_no_schedule_even_when_its_terms_are_announced(
    contract_line_factory, django_capture_on_commit_callbacks
):
    line = contract_line_factory()
    contract_line_factory(contract=line.contract, one_time=True)
    with django_capture_on_commit_callbacks(execute=True):
        contract_terms_announce(contract=line.contract)

    assert line.contract.status == Contract.Status.DRAFT
    assert not BillingEvent.objects.exists()


def change_page_post_data(response) -> dict:
    """Return what the contract's change page posts back when saved unchanged."""
    data = {}

    def add(form):
        for name, field in form.fields.items():
            key, value = form.add_prefix(name), form[name].value()
            if isinstance(field, forms.BooleanField):
                if value:
                    data[key] = "on"
            elif value is None:
                data[key] = ""
            elif isinstance(value, list | tuple):
                data[key] = [str(v) for v in value]
            else:
                data[key] = str(value)

    add(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        for name, value in formset.management_form.initial.items():
            data[formset.management_form.add_prefix(name)] = str(value)
        for form in formset.forms:
            add(form)
    return data


def test_a_price_and_quantity_change_in_the_admin_reprices_only_what_is_not_billed(
    contract_line_factory, activate, bill, staff_client, django_capture_on_commit_callbacks
):
    line = contract_line_factory(unit_price=usd("100.00"))
    activate(line.contract)
    first_quarter = bill(date(2026, 3, 1))  # invoices Jan, Feb and Mar at 1 x 100.00
    assert first_quarter.events_invoiced == 3

    url = admin_url(Contract, "change", line.contract.pk)
    data = change_page_post_data(staff_client.get(url))
    assert data["lines-0-unit_price"] == "100.00"
    data["lines-0-unit_price"] = "120.00"
    data["lines-0-quantity"] = "2"
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(url, data)
    assert response.status_code == 302, response.context["errors"]

    events = events_of(line)
    assert len(events) == 12
    invoiced, pending = events[:3], events[3:]
    # Billed history stays as billed: 1 x 100.00 for Jan-Mar, on its invoice lines too.
    assert {(e.status, e.quantity, e.amount) for e in invoiced} == {
        (BillingEvent.Status.INVOICED, Decimal(1), usd("100.00"))
    }
    assert {il.amount for e in invoiced for il in e.invoice_lines.all()} == {usd("100.00")}
    # What is still to bill follows the new terms: 2 x 120.00 = 240.00 for Apr-Dec.
    assert [e.period_start for e in pending] == [date(2026, m, 1) for m in range(4, 13)]
    assert {(e.status, e.quantity, e.unit_price, e.amount) for e in pending} == {
        (BillingEvent.Status.PENDING, Decimal(2), usd("120.00"), usd("240.00"))
    }

    april = bill(date(2026, 4, 1))
    [invoice] = april.invoices.all()
    assert invoice.total == usd("240.00")
    assert_invoiced_events_billed_once()


def test_a_contract_terminated_in_the_admin_is_billed_no_further(
    contract_line_factory, activate, bill, staff_client, django_capture_on_commit_callbacks
):
    line = contract_line_factory(unit_price=usd("100.00"))
    activate(line.contract)
    bill(date(2026, 1, 1))  # January, while the contract is active

    url = admin_url(Contract, "change", line.contract.pk)
    data = change_page_post_data(staff_client.get(url))
    data["status"] = Contract.Status.TERMINATED
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(url, data)
    assert response.status_code == 302, response.context["errors"]

    run = bill(date(2026, 3, 1))

    # Terminated in January: February and March are not billed.
    assert (run.invoices_created, run.events_invoiced) == (0, 0)


def test_announced_changes_reschedule_pending_events_and_keep_invoiced_ones(
    contract_line_factory, activate, bill, django_capture_on_commit_callbacks
):
    line = contract_line_factory(unit_price=usd("100.00"))
    contract = line.contract
    activate(contract)
    bill(date(2026, 2, 1))  # invoices Jan and Feb

    # The customer cuts to 5 seats at 80.00 and ends the service at the end of June.
    line.quantity = Decimal(5)
    line.unit_price = usd("80.00")
    line.service_end = date(2026, 6, 30)
    line.save()
    contract.end_date = date(2026, 6, 30)
    contract.save()
    with django_capture_on_commit_callbacks(execute=True):
        contract_terms_announce(contract=contract)

    events = events_of(line)
    # Jan and Feb keep their billed 100.00; Mar-Jun become 5 x 80.00 = 400.00; Jul-Dec, no
    # longer in the term and never billed, are gone.
    assert [(e.period_start.month, e.status, e.amount) for e in events] == [
        (1, "invoiced", usd("100.00")),
        (2, "invoiced", usd("100.00")),
        (3, "pending", usd("400.00")),
        (4, "pending", usd("400.00")),
        (5, "pending", usd("400.00")),
        (6, "pending", usd("400.00")),
    ]


@pytest.fixture
def evergreen_line(contract_factory, contract_line_factory, activate, monkeypatch):
    """A USD 100.00 monthly evergreen line, activated on 1 Jan 2026."""
    # Activation schedules from "today"; pin today to 1 Jan 2026.
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: date(2026, 1, 1))
    contract = contract_factory(evergreen=True, end_date=None)
    line = contract_line_factory(contract=contract, unit_price=usd("100.00"))
    assert line.service_end is None
    activate(contract)
    return line


def test_an_evergreen_line_is_scheduled_a_year_ahead_and_billed_without_gaps(evergreen_line, bill):
    # Twelve months ahead of 1 Jan 2026: bill dates 1 Jan .. 1 Dec 2026 (1 Jan 2027 excluded).
    assert [e.bill_date for e in events_of(evergreen_line)] == [
        date(2026, m, 1) for m in range(1, 13)
    ]

    assert bill(date(2026, 6, 15)).events_invoiced == 6  # Jan-Jun
    new_year = bill(date(2027, 1, 1))

    # The run on 1 Jan 2027 reaches past the first horizon: it schedules 1 Jan 2027 and bills
    # it with Jul-Dec 2026, 7 x 100.00 = 700.00.
    assert new_year.events_invoiced == 7
    assert new_year.invoices.get().total == usd("700.00")
    events = events_of(evergreen_line)
    assert [e.bill_date for e in events if e.status == "invoiced"] == [
        date(2026, m, 1) for m in range(1, 13)
    ] + [date(2027, 1, 1)]
    # And the schedule reaches twelve months past that run: 1 Dec 2027 is the last bill date.
    assert events[-1].bill_date == date(2027, 12, 1)
    assert_invoiced_events_billed_once()


def test_the_daily_top_up_keeps_an_evergreen_schedule_a_year_ahead(evergreen_line, bill):
    bill(date(2026, 6, 15))
    # The run only extends what it must bill: the schedule still ends with 1 Dec 2026.
    assert events_of(evergreen_line)[-1].bill_date == date(2026, 12, 1)

    # The daily top-up (its own beat task) extends lines with under 11 months left.
    # Twelve months past 15 Jun 2026 is 15 Jun 2027: bill dates 1 Jan 2026 .. 1 Jun 2027.
    assert schedules_top_up_task.delay("2026-06-15").get() == 6
    assert [e.bill_date for e in events_of(evergreen_line)] == [
        date(2026, m, 1) for m in range(1, 13)
    ] + [date(2027, m, 1) for m in range(1, 7)]


def test_money_on_events_is_in_the_contract_currency(contract_line_factory, activate):
    line = contract_line_factory(
        contract__customer__currency="EUR", unit_price=Money("99.99", "EUR")
    )
    activate(line.contract)
    assert {(e.amount, e.unit_price) for e in events_of(line)} == {
        (Money("99.99", "EUR"), Money("99.99", "EUR"))
    }
