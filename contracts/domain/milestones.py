"""Spreading a milestone line's value over a schedule of percentages (a milestone template)."""

from collections.abc import Sequence
from decimal import Decimal

from moneyed import Money

from rms.money import allocate, require_money, round_money


def spread(value: Money, percents: Sequence[Decimal]) -> list[Money]:
    """Split ``value`` by ``percents`` (summing to 100); the last milestone takes the remainder.

    See ``spread_shares``: the schedule sums exactly to the value, as the contract promises.
    """
    require_money("value", value)
    if not percents:
        raise ValueError("A milestone schedule needs at least one milestone.")
    if any(not isinstance(p, Decimal) or p < 0 for p in percents):
        raise ValueError("Milestone percents are non-negative Decimals.")
    if sum(percents) != 100:
        raise ValueError(f"Milestone percents sum to {sum(percents)}, not 100.")
    return spread_shares(round_money(value), percents)


def spread_shares(total: Money, weights: Sequence[Decimal]) -> list[Money]:
    """Split ``total`` (on its minor unit) in proportion to ``weights``, summing exactly to it.

    Each part but the last is its share rounded half-up to the currency's minor unit; the last
    is what is left, at most a few minor units from its own share. Only when rounding up the
    others would leave the last negative (three shares of 1.1066 rounding to 1.11 out of 3.32
    leave -0.01) are the parts split by the largest-remainder rule instead, each within one
    minor unit of its share.
    """
    whole = sum(weights, Decimal(0))
    amounts = [round_money(total.amount * w / whole, total.currency) for w in weights[:-1]]
    last = total - sum(amounts, Money(0, total.currency))
    if last.amount < 0:
        return allocate(total, list(weights))
    return [*amounts, last]
