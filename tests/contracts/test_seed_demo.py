"""``manage.py seed_demo``: what the demo book holds, and that running it again changes nothing."""

import dataclasses
import io
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from djmoney.money import Money

from contracts import demo
from contracts.models import (
    BillingContact,
    BillingModel,
    Contract,
    ContractLine,
    Customer,
    PaymentTerms,
    Product,
)

SEEDED_MODELS = [PaymentTerms, Customer, BillingContact, Product, Contract, ContractLine]


def seed() -> str:
    """Run the command as an operator would and return what it printed."""
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def snapshot(exclude: frozenset[str] | set[str] = frozenset()) -> dict[str, list[tuple]]:
    """Return the stored columns of every seeded table, keys and timestamps included."""
    return {
        model.__name__: list(
            model.objects.order_by("pk").values_list(
                *[f.attname for f in model._meta.concrete_fields if f.attname not in exclude]
            )
        )
        for model in SEEDED_MODELS
    }


def contracts_using(billing_model: str) -> int:
    return Contract.objects.filter(lines__billing_model=billing_model).distinct().count()


@pytest.mark.django_db
def test_book_has_customers_in_several_currencies_and_contracts_on_every_billing_model():
    seed()

    assert Customer.objects.count() >= 18
    assert Customer.objects.values("currency").distinct().count() >= 2
    assert Contract.objects.count() >= 45
    for billing_model in BillingModel.values:
        assert contracts_using(billing_model) >= 1, billing_model
    assert not Contract.objects.filter(lines__isnull=True).exists()
    assert Customer.objects.filter(billing_hold=True).exclude(hold_reason="").exists()
    assert Contract.objects.filter(billing_hold=True).exclude(hold_reason="").exists()
    assert Contract.objects.filter(delivery_hold=True).exclude(hold_reason="").exists()
    assert Customer.objects.filter(delivery_method=Customer.DeliveryMethod.NONE).exists()
    assert Contract.objects.filter(evergreen=True, end_date__isnull=True).exists()
    assert Contract.objects.filter(not_to_exceed__isnull=False).exists()
    assert set(Contract.objects.values_list("status", flat=True)) == set(Contract.Status.values)
    assert set(PaymentTerms.objects.values_list("name", flat=True)) == {
        "Net 30",
        "Net 45",
        "Due on receipt",
        "End of month + 15",
    }


@pytest.mark.django_db
def test_second_run_changes_nothing():
    seed()
    before = snapshot()

    output = seed()

    assert snapshot() == before
    assert "0 rows created, 0 updated" in output


@pytest.mark.django_db
def test_a_rerun_puts_edited_rows_back_without_duplicating_them():
    seed()
    before = snapshot(exclude={"updated_at"})
    contract = Contract.objects.get(number="DEMO-K0001")
    # update() bypasses the models, as a stray SQL edit would.
    Contract.objects.filter(pk=contract.pk).update(title="Renamed by hand")
    contract.lines.filter(sequence=1).update(unit_price=Decimal("1.00"))
    Customer.objects.filter(pk=contract.customer_id).update(legal_name="Someone Else")
    assert snapshot(exclude={"updated_at"}) != before

    output = seed()

    # Same rows under the same keys, every value as the book has it.
    assert snapshot(exclude={"updated_at"}) == before
    assert "0 rows created, 3 updated" in output


@pytest.mark.django_db
def test_every_seeded_row_passes_model_validation_when_reloaded():
    seed()

    for model in SEEDED_MODELS:
        for row in model.objects.all():
            try:
                row.full_clean()
            except ValidationError as error:  # pragma: no cover - the message names the row
                pytest.fail(f"{model.__name__} {row}: {error.message_dict}")


@pytest.mark.django_db
def test_prices_are_in_the_contract_currency_with_a_local_ssp():
    seed()

    lines = ContractLine.objects.select_related("contract", "product")
    for line in lines:
        assert line.unit_price.currency.code == line.contract.currency, line
        if line.contract.currency != "USD":
            assert line.ssp_override is not None, line
            assert line.ssp_override.currency.code == line.contract.currency, line
    yen = [line for line in lines if line.contract.currency == "JPY"]
    assert yen
    for line in yen:
        # The yen has no minor unit: a fractional yen price could never be invoiced.
        assert line.unit_price.amount == line.unit_price.amount.to_integral_value(), line
        assert line.ssp_override.amount == line.ssp_override.amount.to_integral_value(), line


@pytest.mark.django_db
def test_summary_names_the_counts():
    output = seed()

    contracts = Contract.objects.all()
    on_hold = contracts.filter(billing_hold=True) | contracts.filter(delivery_hold=True)
    assert f"Customers: {Customer.objects.count()} (" in output
    assert f"Products: {Product.objects.count()}" in output
    assert f"Contracts: {contracts.count()} (" in output
    model_counts = ", ".join(
        f"{model} {contracts_using(model)}" for model in sorted(BillingModel.values)
    )
    assert f"Contracts per billing model: {model_counts}" in output
    assert (
        f"Contracts on hold: {on_hold.count()} "
        f"(billing hold {contracts.filter(billing_hold=True).count()}, "
        f"delivery hold {contracts.filter(delivery_hold=True).count()})"
    ) in output
    for currency in Customer.objects.values_list("currency", flat=True).distinct():
        count = Customer.objects.filter(currency=currency).count()
        assert f"{currency} {count}" in output


@pytest.mark.django_db
def test_an_invalid_row_rolls_the_whole_book_back(monkeypatch):
    """The build validates every row and runs in one transaction: nothing half-built remains."""
    plans = demo.demo_book_plan()
    last = plans[-1]
    bad_line = dataclasses.replace(
        last.lines[0], values={**last.lines[0].values, "unit_price": Money("10.00", "JPY")}
    )
    plans[-1] = dataclasses.replace(last, lines=(bad_line, *last.lines[1:]))
    monkeypatch.setattr(demo, "demo_book_plan", lambda *, seed: plans)

    with pytest.raises(ValidationError, match="unit_price"):
        seed()

    assert {name: rows for name, rows in snapshot().items() if rows} == {}


def test_plan_is_the_same_every_time_and_reads_as_of_the_book_date():
    plans = demo.demo_book_plan()

    assert plans == demo.demo_book_plan()
    assert plans != demo.demo_book_plan(seed=demo.SEED + 1)
    assert len({plan.number for plan in plans}) == len(plans)
    for plan in plans:
        values, status = plan.values, plan.values["status"]
        start, end = values["start_date"], values["end_date"]
        assert (end is None) == values["evergreen"], plan.number
        if status == Contract.Status.DRAFT:
            assert start > demo.BOOK_DATE and values["signed_date"] is None, plan.number
        elif status == Contract.Status.ACTIVE:
            assert start <= demo.BOOK_DATE and (end is None or end >= demo.BOOK_DATE), plan.number
        else:
            assert end < demo.BOOK_DATE, plan.number
