"""The rules a contract must obey, each checked where a finance user meets it (the message names
the field) and, where a row can check it alone, where every other entry point meets it (the
database refuses it)."""

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from djmoney.money import Money

from contracts.models import BillingModel, Contract, ContractLine

pytestmark = pytest.mark.django_db


def errors_of(obj) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        obj.full_clean()
    return caught.value.message_dict


def refused_by_database(obj) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        obj.save()


class TestContract:
    def test_end_before_start(self, customer):
        contract = Contract(
            number="K-1",
            customer=customer,
            currency="USD",
            start_date=date(2026, 6, 1),
            end_date=date(2026, 5, 31),
        )
        assert "The end date cannot be before the start date." in str(errors_of(contract))
        refused_by_database(contract)

    def test_needs_an_end_unless_evergreen(self, customer):
        contract = Contract(
            number="K-1", customer=customer, currency="USD", start_date=date(2026, 1, 1)
        )
        assert "mark the contract evergreen" in str(errors_of(contract))
        refused_by_database(contract)
        contract.evergreen = True
        contract.full_clean()

    def test_evergreen_has_no_end(self, customer):
        contract = Contract(
            number="K-1",
            customer=customer,
            currency="USD",
            start_date=date(2026, 1, 1),
            end_date=date(2026, 12, 31),
            evergreen=True,
        )
        assert "leave the end empty" in str(errors_of(contract))

    def test_budget_in_another_currency(self, customer):
        contract = Contract(
            number="K-1",
            customer=customer,
            currency="EUR",
            start_date=date(2026, 1, 1),
            end_date=date(2026, 12, 31),
            not_to_exceed=Money("50000", "USD"),
        )
        assert errors_of(contract) == {
            "not_to_exceed": ["This contract is in EUR; enter the amount in EUR, not USD."]
        }
        refused_by_database(contract)

    def test_negative_budget(self, customer):
        contract = Contract(
            number="K-1",
            customer=customer,
            currency="USD",
            start_date=date(2026, 1, 1),
            end_date=date(2026, 12, 31),
            cost_budget=Money("-1", "USD"),
        )
        assert list(errors_of(contract)) == ["cost_budget"]
        refused_by_database(contract)

    def test_contract_number_is_unique(self, contract_factory):
        first = contract_factory(number="K-7")
        duplicate = contract_factory.build(number="K-7", customer=first.customer)
        assert errors_of(duplicate) == {"number": ["Contract with this Number already exists."]}
        refused_by_database(duplicate)


class TestContractLine:
    def test_valid_lines_of_every_model_pass(self, contract_line_factory):
        for trait in ({}, {"one_time": True}, {"milestone": True}, {"usage": True}):
            line = contract_line_factory(**trait)
            line.full_clean()
        assert {line.billing_model for line in ContractLine.objects.all()} == set(
            BillingModel.values
        )

    def test_price_in_another_currency_than_the_contract(self, contract_factory, product):
        contract = contract_factory(currency="EUR")
        line = ContractLine(
            contract=contract,
            product=product,
            billing_model=BillingModel.ONE_TIME,
            one_time_trigger="on_order",
            unit_price=Money("10", "USD"),
            ssp_override=Money("10", "EUR"),
        )
        assert errors_of(line) == {
            "unit_price": ["This contract is in EUR; enter the amount in EUR, not USD."]
        }

    def test_product_ssp_in_another_currency_needs_an_override(self, contract_factory, product):
        contract = contract_factory(currency="GBP")
        line = ContractLine(
            contract=contract,
            product=product,
            billing_model=BillingModel.ONE_TIME,
            one_time_trigger="on_order",
            unit_price=Money("10", "GBP"),
        )
        assert errors_of(line) == {
            "ssp_override": [
                "The product's SSP is in USD but this contract is in GBP: enter an SSP "
                "override in GBP."
            ]
        }
        line.ssp_override = Money("8", "GBP")
        line.full_clean()
        assert line.ssp == Money("8", "GBP")

    def test_milestone_line_without_a_value(self, contract, product):
        for price in (None, Money("0", "USD")):
            line = ContractLine(
                contract=contract,
                product=product,
                billing_model=BillingModel.MILESTONE,
                unit_price=price,
            )
            assert errors_of(line)["unit_price"] == [
                "A milestone line needs a value greater than zero."
            ]
            refused_by_database(line)

    def test_subscription_line_needs_its_terms(self, contract, product):
        line = ContractLine(
            contract=contract,
            product=product,
            billing_model=BillingModel.SUBSCRIPTION,
            unit_price=Money("10", "USD"),
        )
        errors = errors_of(line)
        for field in ("interval_months", "bill_timing", "bill_day_mode"):
            assert errors[field] == ["Required for a subscription line."]
        refused_by_database(line)

    def test_calendar_billing_needs_a_day_within_the_month(self, contract_line_factory):
        line = contract_line_factory(bill_day_mode="calendar_day", bill_day=15)
        line.bill_day = None
        assert errors_of(line)["bill_day"] == ["Calendar-day billing needs a bill day (1-31)."]
        line.bill_day = 32
        assert "bill_day" in errors_of(line)
        line.bill_day = None
        refused_by_database(line)
        line.bill_day = 31
        line.full_clean()

    def test_one_time_line_needs_a_trigger(self, contract, product):
        line = ContractLine(
            contract=contract,
            product=product,
            billing_model=BillingModel.ONE_TIME,
            unit_price=Money("10", "USD"),
        )
        assert errors_of(line)["one_time_trigger"] == [
            "Choose whether this line bills on order or shipment."
        ]
        refused_by_database(line)

    def test_negative_money_and_quantity(self, contract_line_factory):
        line = contract_line_factory()
        line.unit_price = Money("-5", "USD")
        assert "unit_price" in errors_of(line)
        refused_by_database(line)
        line = contract_line_factory()
        line.quantity = Decimal(0)
        with pytest.raises(ValidationError, match="greater than zero"):
            line.full_clean()
        refused_by_database(line)

    def test_service_dates_default_to_the_contract_term(self, contract, product):
        line = ContractLine(
            contract=contract,
            product=product,
            billing_model=BillingModel.MILESTONE,
            unit_price=Money("1000", "USD"),
        )
        line.full_clean()
        assert (line.service_start, line.service_end) == (contract.start_date, contract.end_date)

    def test_service_outside_the_contract_term(self, contract_line_factory):
        line = contract_line_factory()
        line.service_start = date(2025, 12, 1)
        line.service_end = date(2027, 1, 31)
        assert errors_of(line) == {
            "service_start": ["The service cannot start before the contract does (2026-01-01)."],
            "service_end": ["The service cannot end after the contract does (2026-12-31)."],
        }

    def test_service_end_before_start(self, contract_line_factory):
        line = contract_line_factory()
        line.service_start, line.service_end = date(2026, 6, 1), date(2026, 5, 1)
        assert errors_of(line)["service_end"] == [
            "The service end cannot be before the service start."
        ]
        refused_by_database(line)

    def test_line_sequence_is_unique_within_a_contract(self, contract_line_factory):
        first = contract_line_factory(sequence=1)
        with pytest.raises(ValidationError, match="Another line of this contract"):
            contract_line_factory.build(contract=first.contract, sequence=1).full_clean()

    def test_extended_amount_is_rounded_half_up_in_the_currency(self, contract_line_factory):
        line = contract_line_factory(
            quantity=Decimal("3"), unit_price=Money("0.0035", "USD")
        )  # 0.0105 -> 0.01
        assert line.extended_amount == Money("0.01", "USD")
        line.quantity = Decimal("7")  # 0.0245 -> 0.02 with half-up on the third place: 0.02
        assert line.extended_amount == Money("0.02", "USD")
        line.quantity = Decimal("10")  # 0.035 -> 0.04 (banker's rounding would give 0.04 too)
        line.unit_price = Money("0.0125", "USD")  # 0.125 -> 0.13 (banker's would give 0.12)
        assert line.extended_amount == Money("0.13", "USD")

    def test_line_revenue_policy_and_ssp_default_to_the_product(self, contract_line_factory):
        line = contract_line_factory()
        assert line.revenue_policy == line.product.revenue_policy
        assert line.ssp == line.product.ssp
        line.revenue_policy_override = "point_in_time"
        assert line.revenue_policy == "point_in_time"


class TestCustomer:
    def test_country_must_be_a_two_letter_code(self, customer):
        customer.country = "Germany"
        assert "Use the two-letter ISO code, e.g. US or DE." in errors_of(customer)["country"]
        customer.country = "d1"
        assert errors_of(customer) == {"country": ["Use the two-letter ISO code, e.g. US or DE."]}
        customer.country = "de"
        customer.full_clean()
        assert customer.country == "DE"

    def test_billing_address_lines(self, customer_factory):
        customer = customer_factory(
            address_line1="Hauptstr. 1",
            address_line2="",
            postal_code="10115",
            city="Berlin",
            region="",
            country="DE",
        )
        assert customer.billing_address == "Hauptstr. 1\n10115 Berlin\nDE"

    def test_holds_of_the_customer_apply_to_its_contracts(self, contract):
        assert not contract.is_billing_held
        contract.customer.billing_hold = True
        assert contract.is_billing_held
        assert not contract.is_delivery_held
        contract.delivery_hold = True
        assert contract.is_delivery_held
