"""Invoice assembly: from due charges to proposed invoices, with no database and no clock.

One invoice per customer and currency combines every due charge of every billing model. Tax is
computed per line (rounded once per line) and the invoice's tax is the sum of its lines, so that
lines always sum to the invoice. A safety bound refuses output no finance team would want sent.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from moneyed import Money

from rms.money import round_money

# A run that would put more lines than this on one invoice is almost certainly a schedule bug
# (a line materialized thousands of periods); stop and report it rather than bill it.
MAX_LINES_PER_INVOICE = 1_000


@dataclass(frozen=True)
class DueCharge:
    """One billing event that is due, as the assembler needs it."""

    event_id: int
    customer_id: int
    contract_line_id: int
    sort_key: tuple
    description: str
    period_start: date
    period_end: date
    quantity: Decimal
    unit_price: Money
    amount: Money
    tax_rate: Decimal  # percent, e.g. Decimal("19")
    delivery_held: bool = False
    # How a usage charge was reached, row by row (``BillingEvent.breakdown``), for the line.
    breakdown: tuple[dict[str, str], ...] = ()


@dataclass(frozen=True)
class ProposedLine:
    charge: DueCharge
    tax_amount: Money


@dataclass(frozen=True)
class ProposedInvoice:
    customer_id: int
    currency: str
    lines: tuple[ProposedLine, ...]
    subtotal: Money
    tax_total: Money
    total: Money
    delivery_held: bool


class AssemblyError(ValueError):
    """Raised when the proposed invoices fail the safety bound."""


def line_tax(amount: Money, rate_percent: Decimal) -> Money:
    """Return the tax on one line: amount x rate, rounded half-up once."""
    return round_money(amount.amount * rate_percent / Decimal(100), amount.currency)


def assemble(charges: list[DueCharge]) -> list[ProposedInvoice]:
    """Group due charges into one proposed invoice per customer and currency.

    Lines keep the order of each charge's ``sort_key`` (contract, line, period); invoices come
    out ordered by customer and currency so that numbering follows a stable order.
    """
    groups: dict[tuple[int, str], list[DueCharge]] = defaultdict(list)
    for charge in charges:
        if charge.amount.currency != charge.unit_price.currency:
            raise AssemblyError(f"Event {charge.event_id} mixes currencies.")
        groups[(charge.customer_id, charge.amount.currency.code)].append(charge)
    invoices = []
    for (customer_id, currency), group in sorted(groups.items()):
        if len(group) > MAX_LINES_PER_INVOICE:
            raise AssemblyError(
                f"Customer {customer_id} would get {len(group)} lines in {currency} on one "
                f"invoice (more than {MAX_LINES_PER_INVOICE}); check its schedules."
            )
        lines = tuple(
            ProposedLine(charge=c, tax_amount=line_tax(c.amount, c.tax_rate))
            for c in sorted(group, key=lambda c: c.sort_key)
        )
        subtotal = sum((line.charge.amount for line in lines), Money(0, currency))
        tax_total = sum((line.tax_amount for line in lines), Money(0, currency))
        invoices.append(
            ProposedInvoice(
                customer_id=customer_id,
                currency=currency,
                lines=lines,
                subtotal=subtotal,
                tax_total=tax_total,
                total=subtotal + tax_total,
                delivery_held=any(line.charge.delivery_held for line in lines),
            )
        )
    return invoices


def format_invoice_number(*, series: str, year: int, sequence_number: int) -> str:
    """Return the printed number, e.g. INV-2026-000042."""
    return f"{series}-{year}-{sequence_number:06d}"
