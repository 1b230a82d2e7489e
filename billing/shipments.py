"""Shipments of one-time lines: partial deliveries, backorders, and what each shipment bills."""

from datetime import date
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Sum

from billing.domain.subscriptions import one_time_charge
from billing.models import BillingEvent, Shipment
from billing.schedules import event_from_charge, lock_customers
from billing.signals import obligations_satisfied
from contracts.models import BillingModel, Contract, ContractLine, OneTimeTrigger


def shipped_quantity(line: ContractLine) -> Decimal:
    """Return the units of a line shipped so far."""
    return line.shipments.aggregate(total=Sum("quantity", default=Decimal(0)))["total"]


def backordered_quantity(line: ContractLine) -> Decimal:
    """Return the units ordered on a line and not shipped yet."""
    return line.quantity - shipped_quantity(line)


def shipment_check(*, line: ContractLine, shipped_on: date, quantity: Decimal) -> Decimal:
    """Refuse a shipment the line cannot take, naming the field; return the units left."""
    if line.billing_model != BillingModel.ONE_TIME:
        raise ValidationError({"line": "Only one-time lines are shipped."})
    if line.contract.status != Contract.Status.ACTIVE:
        raise ValidationError(
            {"line": f"Contract {line.contract.number} is {line.contract.status}, not active."}
        )
    if quantity <= 0:
        raise ValidationError({"quantity": "Ship more than zero units."})
    if shipped_on < line.service_start:
        raise ValidationError(
            {
                "shipped_on": f"The line's service starts on {line.service_start}; "
                "a shipment cannot be earlier."
            }
        )
    left = backordered_quantity(line)
    if quantity > left:
        raise ValidationError(
            {
                "quantity": f"Only {left.normalize():f} of {line.quantity.normalize():f} units "
                f"are left to ship on this line; {quantity.normalize():f} is more than that."
            }
        )
    return left


@transaction.atomic
def shipment_record(
    *, line: ContractLine, shipped_on: date, quantity: Decimal, reference: str = ""
) -> Shipment:
    """Record units of a one-time line shipped; a line billed on shipment bills them.

    Partial shipments leave the rest backordered, billed when it ships; shipping more than is
    left is refused. Runs under the customer's lock, as bill runs do, so two shipments recorded
    at once cannot together exceed the order.
    """
    lock_customers([line.contract.customer_id])
    line = ContractLine.objects.select_related("contract__customer", "product").get(pk=line.pk)
    left = shipment_check(line=line, shipped_on=shipped_on, quantity=quantity)
    shipment = Shipment.objects.create(
        line=line, shipped_on=shipped_on, quantity=quantity, reference=reference
    )
    if line.one_time_trigger == OneTimeTrigger.ON_SHIPMENT:
        shipped_after = line.quantity - left + quantity
        charge = one_time_charge(
            bill_date=shipped_on,
            quantity=quantity,
            unit_price=line.unit_price.amount,
            currency=line.contract.currency,
            description=(
                f"{line.description or line.product.name}: shipped {quantity.normalize():f} "
                f"({shipped_after.normalize():f} of {line.quantity.normalize():f})"
            ),
        )
        event_from_charge(
            line, BillingEvent.Kind.SHIPMENT, f"shipment:{shipment.pk}", charge
        ).save()
    obligations_satisfied.send(sender=Shipment, contract_ids=[line.contract_id], on=shipped_on)
    return shipment
