"""Spreading a milestone line's value over a schedule of percentages (a milestone template)."""

from collections.abc import Sequence
from decimal import Decimal

from moneyed import Money

from rms.money import require_money, round_money


def spread(value: Money, percents: Sequence[Decimal]) -> list[Money]:
    """Split ``value`` by ``percents`` (summing to 100); the last milestone takes the remainder.

    Each milestone but the last is its percent of the value rounded half-up to the currency's
    minor unit; the last is what is left, so the schedule sums exactly to the value, as the
    contract promises, and the difference from its own percent is at most a few minor units.
    """
    require_money("value", value)
    if not percents:
        raise ValueError("A milestone schedule needs at least one milestone.")
    if any(not isinstance(p, Decimal) or p < 0 for p in percents):
        raise ValueError("Milestone percents are non-negative Decimals.")
    if sum(percents) != 100:
        raise ValueError(f"Milestone percents sum to {sum(percents)}, not 100.")
    value = round_money(value)
    amounts = [round_money(value.amount * p / 100, value.currency) for p in percents[:-1]]
    return [*amounts, value - sum(amounts, Money(0, value.currency))]
