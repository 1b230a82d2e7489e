"""Prospective accounting for a contract modification (ASC 606-10-25-13(a)), over plain values.

When the goods still to come are distinct from those already transferred, a modification is
accounted for as if the old contract ended and a new one began on the effective date: what was
earned before the date stays, and the *remaining consideration* is allocated to what remains.
ASC 606-10-25-13(a) defines it as the consideration promised by the customer (in the transaction
price) not yet recognized as revenue, plus the consideration promised by the modification. Over
the whole contract that is

    remaining = transaction price after the modification - revenue earned before the date,

split over the remaining obligations (and remaining parts of those satisfied over time) by their
relative standalone selling prices *of what remains*. ASC 606-10-55-111 to 55-116 (Example 5,
Case A) and IFRS 15 IE Example 7 work it the same way: IE 7 re-prices the third year of a
three-year service contract, and the reduced price (plus the unrecognized part of the old one) is
recognized over the remaining year only, with no adjustment to the first two years.

So each obligation's earning curve becomes its frozen steps before the date, then its base (what
it earned before the date) plus its part of the remaining consideration, earned over what
remains from the date. Allocations still sum to the transaction price (the bases plus the parts
of the remainder), and over its life each obligation still recognizes exactly its allocation.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from fractions import Fraction

from moneyed import Money

from revenue.domain.allocation import (
    RELATIVE_SSP,
    Allocation,
    Obligation,
    _variable_own,
    transaction_price,
)
from revenue.domain.earning import Segment, Step, earned_through, ratable_curve
from revenue.domain.recognition import ONE_DAY
from rms.money import allocate, round_fraction


@dataclass(frozen=True)
class Base:
    """What one obligation earned before a prospective modification took effect.

    ``earned`` is its revenue up to the day before the effective date, ``steps`` its earning
    curve before that date (kept as it was, so closed and open months before it never move),
    ``allocated`` what it was allocated just before the modification.
    """

    earned: Money
    steps: tuple[Step, ...]
    allocated: Money


@dataclass(frozen=True)
class Prospective:
    """A contract's latest prospective modification, as allocation and the curves use it."""

    label: str
    effective: date
    bases: Mapping[int, Base]

    def describe(self) -> str:
        return f"Modification {self.label} effective {self.effective:%Y-%m-%d}, prospective"


def allocate_remaining(
    obligations: Sequence[Obligation],
    *,
    earned: Mapping[str, Money],
    remaining_ssp: Mapping[str, Money],
) -> tuple[list[Allocation], Money]:
    """Allocate the transaction price so that only the remaining consideration moves.

    Each pooled obligation keeps what it ``earned`` before the effective date and receives a part
    of ``transaction price - everything earned``, in proportion to the SSP of what remains of it
    (``remaining_ssp``). If nothing remains anywhere (every obligation finished before the date)
    the remainder follows the whole SSPs, then the prices, so that it is still recognized and the
    parts still sum to the price. Variable obligations keep their own consideration, as in
    ``allocate_relative_ssp``. Returns the allocations, in input order, and the remainder.
    """
    price = transaction_price(obligations)
    currency = price.currency.code
    zero = Money(0, currency)
    pool = [o for o in obligations if not o.variable]
    remaining = price - sum((earned.get(o.key, zero) for o in pool), zero)
    weights = [remaining_ssp.get(o.key, zero).amount for o in pool]
    for fallback in ([o.ssp.amount for o in pool], [o.fixed_price.amount for o in pool]):
        if sum(weights) > 0:
            break
        weights = fallback
    if pool and sum(weights) <= 0:
        weights = [1] * len(pool)
    parts = iter(allocate(remaining, weights) if pool else [])
    total_weight = Fraction(sum(weights)) if pool else Fraction(1)
    shares = iter(Fraction(weight) / total_weight for weight in weights)
    allocations = []
    for obligation in obligations:
        if obligation.variable:
            allocations.append(_variable_own(obligation))
            continue
        allocations.append(
            Allocation(
                key=obligation.key,
                ssp=obligation.ssp,
                allocated=earned.get(obligation.key, zero) + next(parts),
                share=next(shares),
                method=RELATIVE_SSP,
            )
        )
    return allocations, remaining


def ratable_rest(*, part: Money, effective: date, start: date, end: date) -> list[Step]:
    """Earn ``part`` by days over what remains of a ratable term from ``effective``.

    A term that ended before the date (a termination effective the day after the last day
    served) has nothing left to serve: its part, a remainder that can go nowhere else (what the
    customer owes after a credit, less what was earned), is earned on its last day, so that
    nothing is recognized after the service ended.
    """
    first = max(effective, start)
    if end < first:
        return [Step(end, part)] if part.amount else []
    return ratable_curve(allocated=part, segments=[Segment(first, end, Fraction(1))])


def progress_rest(
    curve: Sequence[Step], *, part: Money, effective: date, whole: Money
) -> list[Step]:
    """Earn ``part`` as the obligation progresses from ``effective`` along its own ``curve``.

    ``curve`` is the obligation's usual curve (deliveries, milestones, progress) for ``whole``;
    the progress made from the date, as a fraction of the progress left on the date, earns that
    fraction of ``part``. With no progress left, ``part`` is earned on the date.
    """
    currency = part.currency.code
    done = earned_through(curve, effective - ONE_DAY, currency=currency)
    left = whole - done
    if left.amount == 0:
        return [Step(effective, part)] if part.amount else []
    steps = []
    for step in curve:
        if step.on < effective:
            continue
        ratio = (Fraction(step.cumulative.amount) - Fraction(done.amount)) / Fraction(left.amount)
        steps.append(Step(step.on, round_fraction(Fraction(part.amount) * ratio, currency)))
    return steps


def continued(*, base: Base | None, rest: Sequence[Step], currency: str) -> list[Step]:
    """Return the whole curve: the frozen steps before the date, then the base plus the rest."""
    earned = base.earned if base is not None else Money(0, currency)
    before = list(base.steps) if base is not None else []
    after = [Step(step.on, earned + step.cumulative) for step in rest]
    # A remainder earned on a term's last day can fall on a frozen step's date: it replaces it.
    return [step for step in before if not after or step.on < after[0].on] + after


def partial_month(
    *, month_amount: Money, month_first: date, month_last: date, effective: date
) -> Money:
    """Return the part of a ratable month's revenue earned on its days before ``effective``.

    ``month_first`` and ``month_last`` are the month's served days (a term may start or end in
    it); a ratable curve recognizes a month at its end, so a date inside the month splits it.
    """
    served = (month_last - month_first).days + 1
    before = max(0, min((effective - month_first).days, served))
    exact = Fraction(month_amount.amount) * before / served
    return round_fraction(exact, month_amount.currency.code)
