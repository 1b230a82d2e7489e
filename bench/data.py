"""Bulk data for the bill-run benchmark: customers with a monthly subscription and API usage.

Everything is written with ``bulk_create`` and the schedules are materialized by the real
``schedule_refresh``, in batches, so generating 10,000 contracts takes seconds. Nothing here is
timed by the benchmark.
"""

from datetime import UTC, date, datetime
from decimal import Decimal

from django.db import transaction
from djmoney.money import Money

from billing.models import RatePlan, UsageRecord
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
# The API plan: 1,000 calls included a month, 0.01 USD per call beyond; customer i (from 1)
# makes 1,000 + i calls in January, metered as one record in mid-month.
INCLUDED_CALLS = Decimal(1000)
OVERAGE_RATE = Decimal("0.01")
JANUARY_USAGE_AT = datetime(2026, 1, 15, 12, tzinfo=UTC)
# Rows per INSERT statement and lines per schedule_refresh call: large enough to be quick, small
# enough to keep one statement's parameters and one batch's events comfortably in memory.
INSERT_BATCH = 2_000
SCHEDULE_BATCH = 2_000


def reference_rows() -> tuple[PaymentTerms, Product, Product]:
    """Return the payment terms and the two products that every generated contract uses."""
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
    api, _ = Product.objects.get_or_create(
        sku="BENCH-API",
        defaults={
            "name": "API calls",
            "ssp": Money(OVERAGE_RATE, "USD"),
            "default_billing_model": BillingModel.USAGE,
            "revenue_policy": RevenuePolicy.AS_CONSUMED,
        },
    )
    return terms, product, api


def generate(*, contracts: int, prefix: str) -> list[int]:
    """Create ``contracts`` customers, each with one active evergreen contract and two lines.

    The subscription line bills USD 49.00 monthly in advance from 1 Jan 2026 on the anniversary
    of its start; its events are materialized as a bill run would (12 months ahead of 1 Jan
    2026). The usage line bills API calls monthly in arrears on the overage plan, with January's
    calls recorded (see ``INCLUDED_CALLS``). Returns the new customers' ids. ``prefix`` keeps the
    account and contract numbers of separate batches apart.
    """
    terms, product, api = reference_rows()
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
        usage_lines = ContractLine.objects.bulk_create(
            (
                ContractLine(
                    contract=contract,
                    sequence=2,
                    product=api,
                    billing_model=BillingModel.USAGE,
                    service_start=START,
                    interval_months=1,
                )
                for contract in contract_rows
            ),
            batch_size=INSERT_BATCH,
        )
        RatePlan.objects.bulk_create(
            (
                RatePlan(
                    line=line,
                    kind=RatePlan.Kind.OVERAGE,
                    included_quantity=INCLUDED_CALLS,
                    unit_price=OVERAGE_RATE,
                )
                for line in usage_lines
            ),
            batch_size=INSERT_BATCH,
        )
        UsageRecord.objects.bulk_create(
            (
                UsageRecord(
                    line=line,
                    customer=customer,
                    quantity=INCLUDED_CALLS + number,
                    occurred_at=JANUARY_USAGE_AT,
                    idempotency_key=f"{prefix}-2026-01-{number}",
                    payload_hash="0" * 64,
                )
                for number, (line, customer) in enumerate(
                    zip(usage_lines, customers, strict=True), start=1
                )
            ),
            batch_size=INSERT_BATCH,
        )
    # Every line, as activating a contract refreshes its lines' schedules: the usage line has no
    # events to materialize but gets its ``scheduled_through``, so that the first bill run does
    # not extend it (which is no run's work once contracts are activated through the service).
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
