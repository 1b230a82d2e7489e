"""``bulk_insert`` writes exactly what ``bulk_create`` writes (PostgreSQL's COPY path included)."""

from datetime import date
from decimal import Decimal

import pytest
from django.forms.models import model_to_dict
from djmoney.money import Money

from contracts.models import Contract, ContractLine
from rms.bulk import bulk_insert, rows_insert

pytestmark = pytest.mark.django_db


def stored(model, pk) -> dict:
    row = model_to_dict(model.objects.get(pk=pk))
    row.pop("id")
    return row


def test_rows_inserted_in_bulk_read_back_as_bulk_create_writes_them(contract, product):
    def lines(first_sequence: int) -> list[ContractLine]:
        return [
            ContractLine(
                contract=contract,
                sequence=first_sequence,
                product=product,
                description='Seats, "named" — ünïcode\ttab\\backslash',
                billing_model="subscription",
                quantity=Decimal("12.5"),
                unit_price=Money("40.1234", "USD"),
                service_start=date(2026, 1, 1),
                service_end=None,
                interval_months=1,
                bill_timing="advance",
                bill_day_mode="anniversary",
                subscription_key=None,
            ),
            ContractLine(
                contract=contract,
                sequence=first_sequence + 1,
                product=product,
                billing_model="one_time",
                unit_price=Money(0, "USD"),
                ssp_override=None,
                service_start=date(2026, 2, 1),
                one_time_trigger="on_order",
                subscription_key=f"KEY-{first_sequence}",
            ),
        ]

    copied, created = lines(1), lines(11)
    bulk_insert(ContractLine, copied)
    ContractLine.objects.bulk_create(created)

    assert all(line.pk and not line._state.adding for line in copied)
    for ours, django in zip(copied, created, strict=True):
        mine, theirs = stored(ContractLine, ours.pk), stored(ContractLine, django.pk)
        assert mine.pop("sequence") - theirs.pop("sequence") == -10
        assert mine.pop("subscription_key") in (None, "KEY-1")
        theirs.pop("subscription_key")
        assert mine == theirs


def test_automatic_timestamps_are_set(customer):
    contract = Contract(
        number="K-BULK",
        customer=customer,
        currency="USD",
        start_date=date(2026, 1, 1),
        evergreen=True,
    )

    bulk_insert(Contract, [contract])

    row = Contract.objects.get(pk=contract.pk)
    assert row.created_at is not None and row.updated_at is not None
    assert row.number == "K-BULK"


def test_rows_read_back_as_bulk_create_writes_the_instances(contract, product):
    """Rows given as constructor arguments: a ``Money`` gives its currency, defaults fill in."""
    row = {
        "contract_id": contract.pk,
        "product_id": product.pk,
        "description": 'Seats, "named" — ünïcode\ttab\\backslash',
        "billing_model": "subscription",
        "quantity": Decimal("12.5"),
        "unit_price": Money("40.1234", "USD"),
        "service_start": date(2026, 1, 1),
        "interval_months": 1,
        "bill_timing": "advance",
        "bill_day_mode": "anniversary",
    }
    django = ContractLine.objects.bulk_create([ContractLine(sequence=1, **row)])[0]

    rows_insert(ContractLine, [{"sequence": 2, **row}])

    ours = ContractLine.objects.get(contract=contract, sequence=2)
    mine, theirs = stored(ContractLine, ours.pk), stored(ContractLine, django.pk)
    assert (mine.pop("sequence"), theirs.pop("sequence")) == (2, 1)
    assert mine == theirs
    assert ours.unit_price == Money("40.1234", "USD")


def test_rows_naming_an_unknown_field_are_refused(contract):
    with pytest.raises(ValueError, match="no field"):
        rows_insert(ContractLine, [{"contract": contract, "sequence": 1}])
