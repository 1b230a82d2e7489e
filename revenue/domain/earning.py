"""How much of an obligation's allocated price is earned by a date: one curve per pattern.

Every recognition pattern reduces to the same shape, a *curve*: dated steps of cumulative revenue,
non-decreasing for a delivery and ending at the allocated price once the obligation is satisfied.
A revenue run reads the curve at each open period's end and posts the difference from what is
already recognized, so that

- a run repeated for the same date posts nothing (the difference is zero),
- a change of facts (a re-allocation, a late shipment, a lowered estimate) posts its whole
  effect in the open period as a cumulative catch-up, never rewriting a closed one,
- over the obligation's life the postings sum exactly to the curve's last value, the allocated
  price.

Each builder rounds once per step through ``rms.money`` so that the final step is exactly the
allocated price. Pure: dates, ``Fraction`` and ``Money`` in, steps out.
"""

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from fractions import Fraction

from moneyed import Money

from revenue.domain.recognition import ONE_DAY, month_end, month_start, ratable_schedule
from rms.money import allocate, require_money, round_fraction


@dataclass(frozen=True)
class Step:
    """From ``on`` onwards, ``cumulative`` of the allocated price is earned."""

    on: date
    cumulative: Money


@dataclass(frozen=True)
class Segment:
    """A stretch of service (inclusive dates) carrying ``weight`` of a ratable price."""

    start: date
    end: date
    weight: Fraction


def _cumulate(allocated: Money, dated_amounts: Iterable[tuple[date, Money]]) -> list[Step]:
    """Turn dated amounts into cumulative steps, merging amounts that fall on the same date."""
    total = Money(0, allocated.currency)
    steps: list[Step] = []
    for on, amount in sorted(dated_amounts, key=lambda pair: pair[0]):
        total += amount
        if steps and steps[-1].on == on:
            steps[-1] = Step(on=on, cumulative=total)
        else:
            steps.append(Step(on=on, cumulative=total))
    return steps


def ratable_curve(*, allocated: Money, segments: Sequence[Segment]) -> list[Step]:
    """Earn a ratable price by days, each calendar month's share on the month's last day.

    A fixed-term obligation has one segment, its service period. An evergreen subscription has
    one per billing period, weighted by what that period charges: each period is its own
    enforceable term, so its revenue is spread over its own days. Shares between segments and
    then between months are split by the largest-remainder rule, so the steps end exactly at
    ``allocated``. Recognizing a month at its end (not day by day) is how a ledger closes: a
    run in mid-March recognizes February in full and March at March's end.
    """
    require_money("allocated", allocated)
    if not segments:
        return []
    weights = [segment.weight for segment in segments]
    if any(weight < 0 for weight in weights):
        raise ValueError("A ratable segment's weight cannot be negative.")
    if sum(weights) == 0:
        shares = [Money(0, allocated.currency)] * len(segments)
    else:
        # Fractions to integers over a common denominator, as rms.money.allocate takes.
        denominator = math.lcm(*(weight.denominator for weight in weights))
        shares = allocate(allocated, [int(weight * denominator) for weight in weights])
    dated = []
    for segment, share in zip(segments, shares, strict=True):
        for entry in ratable_schedule(
            allocated=share, service_start=segment.start, service_end=segment.end
        ):
            dated.append((entry.period_end, entry.amount))
    return _cumulate(allocated, dated)


def delivery_curve(*, allocated: Money, deliveries: Sequence[tuple[date, Fraction]]) -> list[Step]:
    """Earn a point-in-time price as control passes: ``deliveries`` are (date, fraction) pairs.

    Each fraction is the part of the obligation delivered on that date (units shipped / units
    ordered, weighted across the obligation's lines). The cumulative fraction is rounded once per
    step, so a backorder shipped in three parts still ends exactly at ``allocated``; delivering
    more than the whole is refused.
    """
    require_money("allocated", allocated)
    delivered = Fraction(0)
    steps: list[Step] = []
    for on, fraction in sorted(deliveries, key=lambda pair: pair[0]):
        if fraction < 0:
            raise ValueError(f"A delivery on {on} is negative ({fraction}).")
        delivered += fraction
        if delivered > 1:
            raise ValueError(f"Deliveries through {on} add up to {delivered}, more than the whole.")
        cumulative = round_fraction(Fraction(allocated.amount) * delivered, allocated.currency.code)
        if steps and steps[-1].on == on:
            steps[-1] = Step(on=on, cumulative=cumulative)
        else:
            steps.append(Step(on=on, cumulative=cumulative))
    return steps


def milestone_curve(
    *, allocated: Money, values: Sequence[Money], achieved_on: Sequence[date | None]
) -> list[Step]:
    """Earn each achieved milestone's share of the *allocated* price on its achievement date.

    Shares are computed for all milestones together (largest remainder), so a milestone earns the
    same amount whichever others are achieved, and all of them together earn ``allocated``.
    """
    require_money("allocated", allocated)
    if len(values) != len(achieved_on):
        raise ValueError("Give one achievement date (or None) per milestone value.")
    if not values:
        return []
    weights = [value.amount for value in values]
    if sum(weights) == 0:
        return []
    shares = allocate(allocated, weights)
    return _cumulate(
        allocated, ((on, share) for on, share in zip(achieved_on, shares, strict=True) if on)
    )


def progress_curve(*, allocated: Money, progress: Sequence[tuple[date, Fraction]]) -> list[Step]:
    """Earn ``allocated x progress`` (input method) from each progress measurement's date.

    Progress may fall (the estimate of total cost rose): the curve then steps down and the run
    posts a negative catch-up, as ASC 606 requires for a change in estimate.
    """
    require_money("allocated", allocated)
    steps: list[Step] = []
    for on, ratio in sorted(progress, key=lambda pair: pair[0]):
        if not 0 <= ratio <= 1:
            raise ValueError(f"Progress on {on} is {ratio}; it must be between 0 and 1.")
        cumulative = round_fraction(Fraction(allocated.amount) * ratio, allocated.currency.code)
        if steps and steps[-1].on == on:
            steps[-1] = Step(on=on, cumulative=cumulative)
        else:
            steps.append(Step(on=on, cumulative=cumulative))
    return steps


def consumption_curve(*, currency: str, consumed: Sequence[tuple[date, Money]]) -> list[Step]:
    """Earn usage as it is consumed: the amount billed for it, at the end of its usage period.

    This is ASC 606's "right to invoice" practical expedient (606-10-55-18): revenue equals what
    the customer is billed for the usage, in the period the usage occurred.
    """
    return _cumulate(Money(0, currency), consumed)


def earned_through(curve: Sequence[Step], day: date, *, currency: str) -> Money:
    """Return the cumulative revenue the curve has earned on ``day`` (inclusive)."""
    earned = Money(0, currency)
    for step in curve:
        if step.on > day:
            break
        earned = step.cumulative
    return earned


def months_between(first: date, last: date) -> list[date]:
    """Return the first day of every month from ``first``'s to ``last``'s, inclusive."""
    months = []
    cursor = month_start(first)
    while cursor <= last:
        months.append(cursor)
        cursor = next_month(cursor)
    return months


def next_month(day: date) -> date:
    """Return the first day of the month after ``day``'s."""
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


@dataclass(frozen=True)
class Posting:
    """Revenue to post in one open month: the curve's growth since what is already recognized.

    A ``catch_up`` posting settles closed months: revenue they earned (or lost) after they were
    closed, posted on the first day of the first open month.
    """

    period: date
    on: date
    amount: Money
    catch_up: bool = False


def postings(
    *,
    curve: Sequence[Step],
    months: Sequence[date],
    recognized: Mapping[date, Money],
    currency: str,
    as_of: date,
    caught_up: Money | None = None,
) -> list[Posting]:
    """Return what to post in each open month so revenue catches up with the curve.

    ``months`` are the open periods (first days) up to ``as_of``'s, in order; ``recognized``
    is what is posted so far, by period, closed periods included. Each month is read at its
    last day (or at ``as_of`` for the current one) and posts the curve's value there minus all
    that is recognized in it and before it, so a rerun posts nothing.

    The first month also settles the months before it, which are closed: what the curve earned
    before the month, less what those months recognized and less the catch-ups already posted
    in it (``caught_up``), is posted apart as a catch-up. That keeps the month's own revenue
    readable, and it is posted even when ``as_of`` falls in a closed month (a change of terms
    after a close). Zero postings are left out.
    """
    for amount in recognized.values():
        require_money("recognized", amount)
    zero = Money(0, currency)
    if not months:
        return []
    first = months[0]
    closed = sum((a for period, a in recognized.items() if period < first), zero)
    caught_up = caught_up if caught_up is not None else zero
    before_first = earned_through(curve, min(first - ONE_DAY, as_of), currency=currency)
    result = []
    catch_up = before_first - closed - caught_up
    if catch_up.amount:
        result.append(Posting(period=first, on=first, amount=catch_up, catch_up=True))
    total = closed + recognized.get(first, zero) + catch_up
    for month in months:
        reading = min(month_end(month), as_of)
        if reading < month:
            break
        if month != first:
            total += recognized.get(month, zero)
        target = earned_through(curve, reading, currency=currency)
        if target != total:
            result.append(Posting(period=month, on=reading, amount=target - total))
            total = target
    return result
