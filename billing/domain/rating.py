"""Rating: what a usage line charges for one billing period's total quantity, tier by tier.

Pure: a plan and a quantity in, a charge with its breakdown out. Each breakdown row is rounded
once, half-up to the currency's minor unit, and the charge is the sum of its rows, so an invoice
that prints the breakdown adds up to the cent. A minimum commitment is a separate true-up (its
own invoice line); a maximum caps the usage charge with a row saying so.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from moneyed import Money

from rms.money import round_money


class PlanKind(StrEnum):
    """The rate plan kinds; the values are ``billing.models.RatePlan.Kind``'s."""

    PER_UNIT = "per_unit"
    VOLUME = "volume"
    GRADUATED = "graduated"
    PACKAGE = "package"
    OVERAGE = "overage"


@dataclass(frozen=True)
class Tier:
    """Units above the previous tier's bound, up to ``up_to`` inclusive (None: no bound)."""

    up_to: Decimal | None
    unit_price: Decimal
    flat_fee: Decimal = Decimal(0)


@dataclass(frozen=True)
class Plan:
    """A rate plan as plain values; amounts are per billing period in ``currency``."""

    kind: PlanKind
    currency: str
    unit_price: Decimal | None = None
    tiers: Sequence[Tier] = ()
    package_size: Decimal | None = None
    package_price: Decimal | None = None
    included_quantity: Decimal | None = None
    base_fee: Decimal | None = None
    minimum: Decimal | None = None
    maximum: Decimal | None = None


@dataclass(frozen=True)
class Row:
    """One line of the tier math, as an invoice shows it."""

    description: str
    quantity: Decimal
    unit_price: Decimal
    amount: Money

    def as_dict(self) -> dict[str, str]:
        """Return the row as stored on a billing event: decimals as strings, never floats."""
        return {
            "description": self.description,
            "quantity": f"{self.quantity.normalize():f}",
            "unit_price": f"{self.unit_price.normalize():f}",
            "amount": f"{self.amount.amount}",
        }


@dataclass(frozen=True)
class Rating:
    """The period's usage charge (sum of its rows) and the minimum-commitment true-up."""

    quantity: Decimal
    charge: Money
    rows: list[Row] = field(default_factory=list)
    true_up: Money | None = None


class PlanError(ValueError):
    """A plan that cannot rate anything; the message names what to fix."""


def tier_errors(tiers: Sequence[Tier]) -> list[str]:
    """Return what is wrong with a tier table: bounds must ascend and the last be open-ended.

    Tiers are contiguous by construction (each starts where the previous one ends), so the
    checks are: at least one tier, every bound but the last set and strictly ascending from
    above zero, the last unbounded, and no negative price or fee.
    """
    if not tiers:
        return ["A tiered plan needs at least one tier."]
    errors = []
    previous = Decimal(0)
    for number, tier in enumerate(tiers, start=1):
        last = number == len(tiers)
        if tier.unit_price < 0 or tier.flat_fee < 0:
            errors.append(f"Tier {number}: prices and fees cannot be negative.")
        if last:
            if tier.up_to is not None:
                errors.append(f"Tier {number} is the last: leave its upper bound empty.")
        elif tier.up_to is None:
            errors.append(f"Tier {number}: only the last tier can be open-ended.")
        elif tier.up_to <= previous:
            errors.append(
                f"Tier {number}: its upper bound {tier.up_to.normalize():f} must be above "
                f"{previous.normalize():f}."
            )
        else:
            previous = tier.up_to
    return errors


def _row(description: str, quantity: Decimal, unit_price: Decimal, currency: str) -> Row:
    return Row(description, quantity, unit_price, round_money(quantity * unit_price, currency))


def _fee(description: str, fee: Decimal, currency: str) -> Row:
    return Row(description, Decimal(1), fee, round_money(fee, currency))


def _span(low: Decimal, high: Decimal | None) -> str:
    top = "and above" if high is None else f"to {high.normalize():f}"
    return f"{(low).normalize():f} {top}"


def _graduated(plan: Plan, quantity: Decimal) -> list[Row]:
    rows, low = [], Decimal(0)
    for number, tier in enumerate(plan.tiers, start=1):
        top = quantity if tier.up_to is None else min(quantity, tier.up_to)
        units = max(top - low, Decimal(0))
        label = f"Tier {number} ({_span(low, tier.up_to)})"
        rows.append(_row(label, units, tier.unit_price, plan.currency))
        if tier.flat_fee:
            rows.append(_fee(f"Tier {number} flat fee", tier.flat_fee, plan.currency))
        if tier.up_to is None or quantity <= tier.up_to:
            break
        low = tier.up_to
    return rows


def _volume(plan: Plan, quantity: Decimal) -> list[Row]:
    low = Decimal(0)
    for number, tier in enumerate(plan.tiers, start=1):
        if tier.up_to is None or quantity <= tier.up_to:
            label = f"All units at tier {number} ({_span(low, tier.up_to)})"
            rows = [_row(label, quantity, tier.unit_price, plan.currency)]
            if tier.flat_fee:
                rows.append(_fee(f"Tier {number} flat fee", tier.flat_fee, plan.currency))
            return rows
        low = tier.up_to
    raise PlanError("The last tier must be open-ended.")


def _package(plan: Plan, quantity: Decimal) -> list[Row]:
    blocks = Decimal(math.ceil(quantity / plan.package_size))
    label = f"{blocks.normalize():f} package(s) of {plan.package_size.normalize():f}"
    return [_row(label, blocks, plan.package_price, plan.currency)]


def _overage(plan: Plan, quantity: Decimal) -> list[Row]:
    rows = []
    if plan.base_fee:
        label = f"Base fee, {plan.included_quantity.normalize():f} units included"
        rows.append(_fee(label, plan.base_fee, plan.currency))
    over = max(quantity - plan.included_quantity, Decimal(0))
    label = f"Overage beyond {plan.included_quantity.normalize():f} included"
    rows.append(_row(label, over, plan.unit_price, plan.currency))
    return rows


def check_plan(plan: Plan) -> None:
    """Raise ``PlanError`` unless ``plan`` can rate: valid tiers, its kind's terms, a sane cap."""
    kind = plan.kind
    if kind in (PlanKind.VOLUME, PlanKind.GRADUATED):
        errors = tier_errors(plan.tiers)
        if errors:
            raise PlanError(" ".join(errors))
    required = {
        PlanKind.PER_UNIT: ("unit_price",),
        PlanKind.PACKAGE: ("package_size", "package_price"),
        PlanKind.OVERAGE: ("included_quantity", "unit_price"),
    }.get(kind, ())
    missing = [name for name in required if getattr(plan, name) is None]
    if missing:
        raise PlanError(f"A {kind} plan needs {', '.join(missing)}.")
    if kind == PlanKind.PACKAGE and plan.package_size <= 0:
        raise PlanError("A package must hold more than zero units.")
    if plan.minimum is not None and plan.maximum is not None and plan.maximum < plan.minimum:
        raise PlanError("The maximum cannot be below the minimum.")


def _per_unit(plan: Plan, quantity: Decimal) -> list[Row]:
    return [_row("Usage", quantity, plan.unit_price, plan.currency)]


RATERS = {
    PlanKind.PER_UNIT: _per_unit,
    PlanKind.VOLUME: _volume,
    PlanKind.GRADUATED: _graduated,
    PlanKind.PACKAGE: _package,
    PlanKind.OVERAGE: _overage,
}


def rate(plan: Plan, quantity: Decimal) -> Rating:
    """Rate a period's total ``quantity`` under ``plan``.

    The charge is the sum of the rounded rows. With a maximum, a row takes the excess back so
    the charge equals the cap. With a minimum, ``true_up`` is what tops a lower charge up to it
    (None when the charge reaches it), so the period never bills less than the commitment.
    """
    if not isinstance(quantity, Decimal) or not quantity.is_finite():
        raise TypeError(f"The quantity is a finite Decimal, not {quantity!r}.")
    if quantity < 0:
        raise ValueError(f"A period's quantity cannot be negative ({quantity}).")
    check_plan(plan)
    currency = plan.currency
    rows = RATERS[plan.kind](plan, quantity)
    charge = sum((row.amount for row in rows), Money(0, currency))
    if plan.maximum is not None and charge > round_money(plan.maximum, currency):
        cap = round_money(plan.maximum, currency)
        rows.append(
            Row("Cap on the period's charge", Decimal(1), cap.amount - charge.amount, cap - charge)
        )
        charge = cap
    true_up = None
    if plan.minimum is not None and charge < round_money(plan.minimum, currency):
        true_up = round_money(plan.minimum, currency) - charge
    return Rating(quantity=quantity, charge=charge, rows=rows, true_up=true_up)
