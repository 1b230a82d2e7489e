"""Monthly recurring revenue and its movements, over plain values (no ORM, no clock).

A customer's MRR at a month end is what its subscriptions would bill in a month then; the
movement of a month compares each customer's MRR at the end of the month before with its own:

- **new**: from nothing to something;
- **expansion**: up, from something;
- **contraction**: down, to something;
- **churn**: from something to nothing (the whole of what it was).

So ``opening + new + expansion - contraction - churn = closing`` holds for every month, by
construction, whatever the customers do. ``docs/dashboard.md`` states the definitions.
"""

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

ZERO = Decimal(0)
MONTHS_PER_YEAR = 12


@dataclass(frozen=True)
class MrrMonth:
    """One month of MRR: where it started, each movement (all positive), where it ended."""

    period: date
    opening: Decimal
    new: Decimal
    expansion: Decimal
    contraction: Decimal
    churn: Decimal
    closing: Decimal

    @property
    def arr(self) -> Decimal:
        """Return the annual run rate: the closing MRR for a year."""
        return self.closing * MONTHS_PER_YEAR

    @property
    def net_change(self) -> Decimal:
        return self.new + self.expansion - self.contraction - self.churn


def monthly_amount(*, per_interval: Decimal, interval_months: int) -> Decimal:
    """Return what bills ``per_interval`` every ``interval_months`` comes to a month, unrounded.

    A line bills quantity x unit price per interval, so a 1,200.00 annual line is 100.00 a month
    and a 300.00 quarterly line of 2 seats is 200.00.
    """
    return per_interval / interval_months


def mrr_movements(
    series: Mapping[Hashable, Sequence[Decimal]], months: Sequence[date]
) -> list[MrrMonth]:
    """Return each month's MRR movements from every customer's MRR at the month ends.

    ``series`` maps a customer to ``len(months) + 1`` figures: its MRR at the end of the month
    before ``months[0]``, then at the end of each month. Figures are taken as given (already
    rounded), so the movements add up exactly.
    """
    result = []
    for index, period in enumerate(months):
        new = expansion = contraction = churn = opening = closing = ZERO
        for figures in series.values():
            before, after = figures[index], figures[index + 1]
            opening += before
            closing += after
            if before == after:
                continue
            if not before:
                new += after
            elif not after:
                churn += before
            elif after > before:
                expansion += after - before
            else:
                contraction += before - after
        result.append(
            MrrMonth(
                period=period,
                opening=opening,
                new=new,
                expansion=expansion,
                contraction=contraction,
                churn=churn,
                closing=closing,
            )
        )
    return result
