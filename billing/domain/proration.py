"""Proration: what a full or partial billing period costs.

A partial period costs ``price * days_used / days_in_that_period``, counting the actual calendar
days of that period so that February and leap years come out right. Intermediates are exact
fractions and each charge is rounded once, half-up, by ``rms.money.round_money``: rounding a
daily rate first and multiplying it out would drift by cents over a long period.
"""

from collections.abc import Sequence
from decimal import Decimal
from fractions import Fraction

from moneyed import Money

from billing.domain.periods import Period
from rms.money import allocate, round_fraction


def prorated_amount(full_amount: Decimal, *, days_used: int, days_in_period: int) -> Fraction:
    """Return ``full_amount * days_used / days_in_period`` exactly, without rounding.

    The result stays a ``Fraction`` so a caller can add prorated pieces and round the sum once;
    the pieces of one period then add up to its full amount exactly.
    """
    if not isinstance(full_amount, Decimal):
        raise TypeError(f"Amounts are Decimal, not {type(full_amount).__name__}.")
    if days_in_period <= 0:
        raise ValueError(f"A period has at least one day, not {days_in_period}.")
    if days_used < 0:
        raise ValueError(f"Days used cannot be negative ({days_used}).")
    if days_used > days_in_period:
        raise ValueError(
            f"Days used ({days_used}) cannot exceed the days in the period ({days_in_period})."
        )
    return Fraction(full_amount) * days_used / days_in_period


def period_charge(
    *, unit_price: Decimal, quantity: Decimal, period: Period, currency: str
) -> Money:
    """Return what ``quantity`` units cost for ``period``, prorated by days and rounded once.

    ``unit_price`` is per unit per full billing period; a flat fee is quantity 1, per-seat pricing
    is quantity = seats. A full period costs exactly ``quantity * unit_price`` rounded; a partial
    one costs ``period.days / period.full_days`` of that.
    """
    for name, value in (("unit_price", unit_price), ("quantity", quantity)):
        if not isinstance(value, Decimal):
            raise TypeError(f"{name} is Decimal, not {type(value).__name__}.")
    full_amount = Fraction(quantity) * Fraction(unit_price)
    return round_fraction(full_amount * period.days / period.full_days, currency)


def split_by_days(amount: Money, days: Sequence[int]) -> list[Money]:
    """Split one period's charge into consecutive parts by their day counts.

    Use it when a period is divided (a mid-period quantity change, a revenue schedule by day):
    the parts come from ``rms.money.allocate``, so each is within one minor unit of its exact
    share and together they sum exactly to ``amount``, with no penny gained or lost.
    """
    for position, count in enumerate(days):
        if isinstance(count, bool) or not isinstance(count, int):
            raise TypeError(f"Day count {position} is {type(count).__name__}, not int.")
    if days and sum(days) == 0:
        raise ValueError("At least one part must have a day; all day counts are zero.")
    return allocate(amount, days)
