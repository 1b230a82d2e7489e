"""Bulk data for the bill-run benchmark: customers with one monthly subscription each.

Everything is written with ``bulk_create`` and the schedules are materialized by the real
``schedule_refresh``, in batches, so generating 10,000 contracts takes seconds. Nothing here is
timed by the benchmark.
"""

from datetime import date
from decimal import Decimal

from django.db import transaction
from djmoney.money import Money

from billing.schedules import schedule_refresh
from contracts.models import (
    BillDayMode,
    BillingModel,
    BillTiming,
    Contract,
    ContractLine,
    Customer,
    PaymentTerms,
    Product,
    RevenuePolicy,
)

START = date(2026, 1, 1)
PRICE = Money(Decimal("49.00"), "USD")
TAX_RATE = Decimal("10")
# Rows per INSERT statement and lines per schedule_refresh call: large enough to be quick, small
# enough to keep one statement's parameters and one batch's events comfortably in memory.
INSERT_BATCH = 2_000
SCHEDULE_BATCH = 2_000


def reference_rows() -> tuple[PaymentTerms, Product]:
    """Return the payment terms and product that every generated contract uses."""
    terms, _ = PaymentTerms.objects.get_or_create(basis="net", days=30, defaults={"name": "Net 30"})
    product, _ = Product.objects.get_or_create(
        sku="BENCH-SUB",
        defaults={
            "name": "Bench subscription",
            "ssp": PRICE,
            "default_billing_model": BillingModel.SUBSCRIPTION,
            "revenue_policy": RevenuePolicy.RATABLE,
        },
    )
    return terms, product


def generate(*, contracts: int, prefix: str) -> list[int]:
    """Create ``contracts`` customers, each with one active evergreen contract and one line.

    The line bills USD 49.00 monthly in advance from 1 Jan 2026 on the anniversary of its start;
    its events are materialized as a bill run would (12 months ahead of 1 Jan 2026). Returns the
    new customers' ids. ``prefix`` keeps the account and contract numbers of separate batches
    apart.
    """
    terms, product = reference_rows()
    with transaction.atomic():
        customers = Customer.objects.bulk_create(
            (
                Customer(
                    number=f"{prefix}-{n:06d}",
                    legal_name=f"Bench customer {prefix} {n:06d} Ltd",
                    currency="USD",
                    payment_terms=terms,
                    tax_rate=TAX_RATE,
                    address_line1=f"{n} Market Street",
                    city="Springfield",
                    postal_code="12345",
                    country="US",
                )
                for n in range(contracts)
            ),
            batch_size=INSERT_BATCH,
        )
        contract_rows = Contract.objects.bulk_create(
            (
                Contract(
                    number=f"{prefix}-K-{n:06d}",
                    customer=customer,
                    currency="USD",
                    start_date=START,
                    evergreen=True,
                    status=Contract.Status.ACTIVE,
                )
                for n, customer in enumerate(customers)
            ),
            batch_size=INSERT_BATCH,
        )
        ContractLine.objects.bulk_create(
            (
                ContractLine(
                    contract=contract,
                    sequence=1,
                    product=product,
                    billing_model=BillingModel.SUBSCRIPTION,
                    quantity=Decimal(1),
                    unit_price=PRICE,
                    service_start=START,
                    interval_months=1,
                    bill_timing=BillTiming.ADVANCE,
                    bill_day_mode=BillDayMode.ANNIVERSARY,
                )
                for contract in contract_rows
            ),
            batch_size=INSERT_BATCH,
        )
    line_ids = list(
        ContractLine.objects.filter(contract__number__startswith=f"{prefix}-K-")
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for start in range(0, len(line_ids), SCHEDULE_BATCH):
        batch = ContractLine.objects.filter(
            pk__in=line_ids[start : start + SCHEDULE_BATCH]
        ).select_related("contract", "product")
        schedule_refresh(lines=batch, as_of=START)
    return [customer.pk for customer in customers]
