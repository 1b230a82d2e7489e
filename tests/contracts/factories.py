"""factory_boy factories for the contracts app: valid rows by default; tests override the rest."""

from datetime import date
from decimal import Decimal

import factory
from djmoney.money import Money

from contracts.models import (
    BillDayMode,
    BillingContact,
    BillingModel,
    BillTiming,
    Contract,
    ContractLine,
    Customer,
    OneTimeTrigger,
    PaymentTerms,
    Product,
    RevenuePolicy,
)


class PaymentTermsFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PaymentTerms
        django_get_or_create = ["basis", "days"]

    name = factory.LazyAttribute(lambda t: f"Net {t.days}")
    basis = "net"
    days = 30


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    number = factory.Sequence(lambda n: f"CUST-{n:05d}")
    legal_name = factory.Sequence(lambda n: f"Customer {n} Ltd")
    currency = "USD"
    payment_terms = factory.SubFactory(PaymentTermsFactory)
    address_line1 = "1 Market Street"
    city = "Springfield"
    postal_code = "12345"
    country = "US"


class BillingContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BillingContact

    customer = factory.SubFactory(CustomerFactory)
    name = "Accounts Payable"
    email = factory.Sequence(lambda n: f"ap{n}@example.com")


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    sku = factory.Sequence(lambda n: f"SKU-{n:04d}")
    name = factory.Sequence(lambda n: f"Product {n}")
    ssp = Money("100.00", "USD")
    default_billing_model = BillingModel.SUBSCRIPTION
    revenue_policy = RevenuePolicy.RATABLE


class ContractFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contract

    number = factory.Sequence(lambda n: f"K-{n:05d}")
    customer = factory.SubFactory(CustomerFactory)
    currency = factory.SelfAttribute("customer.currency")
    start_date = date(2026, 1, 1)
    end_date = date(2026, 12, 31)


class ContractLineFactory(factory.django.DjangoModelFactory):
    """A monthly in-advance subscription line; the traits give the other billing models."""

    class Meta:
        model = ContractLine

    contract = factory.SubFactory(ContractFactory)
    sequence = factory.Sequence(lambda n: n + 1)
    product = factory.SubFactory(ProductFactory)
    billing_model = BillingModel.SUBSCRIPTION
    quantity = Decimal(1)
    unit_price = factory.LazyAttribute(lambda line: Money("100.00", line.contract.currency))
    service_start = factory.SelfAttribute("contract.start_date")
    service_end = factory.SelfAttribute("contract.end_date")
    interval_months = 1
    bill_timing = BillTiming.ADVANCE
    bill_day_mode = BillDayMode.ANNIVERSARY

    class Params:
        one_time = factory.Trait(
            billing_model=BillingModel.ONE_TIME,
            one_time_trigger=OneTimeTrigger.ON_ORDER,
            interval_months=None,
            bill_timing="",
            bill_day_mode="",
        )
        milestone = factory.Trait(
            billing_model=BillingModel.MILESTONE,
            interval_months=None,
            bill_timing="",
            bill_day_mode="",
        )
        usage = factory.Trait(
            billing_model=BillingModel.USAGE,
            unit_price=None,
            interval_months=None,
            bill_timing="",
            bill_day_mode="",
        )
