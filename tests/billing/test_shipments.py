"""Shipments: partial deliveries bill what shipped, the rest waits as a backorder."""

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from billing.models import BillingEvent, Invoice, InvoiceLine, Shipment
from billing.shipments import backordered_quantity, shipment_record, shipped_quantity
from tests.billing.conftest import assert_invoiced_events_billed_once, usd

pytestmark = pytest.mark.django_db


@pytest.fixture
def routers(contract_line_factory, activate):
    """10 routers at 15.00 each on an active contract, billed as they ship."""
    line = contract_line_factory(
        one_time=True,
        one_time_trigger="on_shipment",
        description="Router",
        quantity=Decimal(10),
        unit_price=usd("15.00"),
    )
    activate(line.contract)
    return line


def test_a_partial_shipment_bills_what_shipped_and_backorders_the_rest(routers, bill):
    shipment_record(line=routers, shipped_on=date(2026, 1, 10), quantity=Decimal(6))

    assert shipped_quantity(routers) == Decimal(6)
    assert backordered_quantity(routers) == Decimal(4)
    [event] = routers.billing_events.all()
    # 6 x 15.00 = 90.00
    assert (event.kind, event.quantity, event.amount, event.bill_date) == (
        BillingEvent.Kind.SHIPMENT,
        Decimal(6),
        usd("90.00"),
        date(2026, 1, 10),
    )

    january = bill(date(2026, 1, 31))

    [line] = InvoiceLine.objects.filter(invoice__bill_run=january)
    assert (line.event_id, line.quantity, line.amount, line.description) == (
        event.pk,
        Decimal(6),
        usd("90.00"),
        "Router: shipped 6 (6 of 10)",
    )

    # The 4 backordered ship on 10 Feb and are billed by the next run, and only they.
    shipment_record(line=routers, shipped_on=date(2026, 2, 10), quantity=Decimal(4))
    assert backordered_quantity(routers) == Decimal(0)
    february = bill(date(2026, 2, 28))

    [line] = InvoiceLine.objects.filter(invoice__bill_run=february)
    # 4 x 15.00 = 60.00; over both invoices 90.00 + 60.00 = 150.00 = 10 x 15.00.
    assert (line.quantity, line.amount, line.description) == (
        Decimal(4),
        usd("60.00"),
        "Router: shipped 4 (10 of 10)",
    )
    assert sum((i.amount for i in InvoiceLine.objects.all()), usd("0")) == usd("150.00")
    assert_invoiced_events_billed_once()


def test_a_full_backorder_bills_nothing(routers, bill):
    run = bill(date(2026, 6, 30))

    assert backordered_quantity(routers) == Decimal(10)
    assert (run.invoices_created, run.events_invoiced) == (0, 0)
    assert not Invoice.objects.exists()
    assert not routers.billing_events.exists()


def test_a_shipment_is_billed_only_once_its_ship_date_is_reached(routers, bill):
    shipment_record(line=routers, shipped_on=date(2026, 3, 2), quantity=Decimal(1))

    assert bill(date(2026, 3, 1)).invoices_created == 0
    assert bill(date(2026, 3, 2)).invoices.get().total == usd("15.00")


def test_shipping_more_than_is_left_is_refused_and_nothing_is_written(routers):
    shipment_record(line=routers, shipped_on=date(2026, 1, 10), quantity=Decimal(6))
    before = (Shipment.objects.count(), BillingEvent.objects.count())

    with pytest.raises(ValidationError) as refused:
        shipment_record(line=routers, shipped_on=date(2026, 1, 12), quantity=Decimal(5))

    assert refused.value.message_dict == {
        "quantity": ["Only 4 of 10 units are left to ship on this line; 5 is more than that."]
    }
    assert (Shipment.objects.count(), BillingEvent.objects.count()) == before
    assert backordered_quantity(routers) == Decimal(4)


@pytest.fixture
def draft_routers(contract_line_factory):
    return contract_line_factory(
        one_time=True, one_time_trigger="on_shipment", quantity=Decimal(10)
    )


@pytest.mark.parametrize(
    ("case", "field", "message"),
    [
        ("draft contract", "line", "is draft, not active."),
        ("subscription line", "line", "Only one-time lines are shipped."),
        ("zero quantity", "quantity", "Ship more than zero units."),
        ("negative quantity", "quantity", "Ship more than zero units."),
        (
            "before service start",
            "shipped_on",
            "The line's service starts on 2026-01-01; a shipment cannot be earlier.",
        ),
    ],
)
def test_a_shipment_the_line_cannot_take_is_refused_naming_the_field(
    case, field, message, contract_line_factory, draft_routers, routers
):
    line, shipped_on, quantity = routers, date(2026, 1, 10), Decimal(1)
    if case == "draft contract":
        line = draft_routers
    elif case == "subscription line":
        line = contract_line_factory(contract=routers.contract)
    elif case == "zero quantity":
        quantity = Decimal(0)
    elif case == "negative quantity":
        quantity = Decimal(-2)
    elif case == "before service start":
        shipped_on = date(2025, 12, 31)

    with pytest.raises(ValidationError) as refused:
        shipment_record(line=line, shipped_on=shipped_on, quantity=quantity)

    assert list(refused.value.message_dict) == [field]
    assert refused.value.message_dict[field][0].endswith(message)
    assert not Shipment.objects.exists()
    assert not BillingEvent.objects.filter(kind=BillingEvent.Kind.SHIPMENT).exists()


def test_an_on_order_line_records_shipments_but_bills_only_its_order(
    contract_line_factory, activate, bill
):
    line = contract_line_factory(
        one_time=True, description="Kit", quantity=Decimal(3), unit_price=usd("40.00")
    )
    activate(line.contract)

    shipment = shipment_record(line=line, shipped_on=date(2026, 1, 20), quantity=Decimal(3))

    assert shipment.pk is not None and backordered_quantity(line) == Decimal(0)
    [order] = line.billing_events.all()
    assert order.kind == BillingEvent.Kind.ONE_TIME
    run = bill(date(2026, 1, 31))
    # Billed once, on order: 3 x 40.00 = 120.00, and nothing for the shipment.
    assert (run.events_invoiced, run.invoices.get().total) == (1, usd("120.00"))
