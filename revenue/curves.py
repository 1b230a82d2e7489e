"""The earning curve of each obligation, from the billing facts that satisfy it.

Two curves per obligation: the *actual* one (what has happened: months served, shipments,
milestones achieved, progress measured, usage billed) and the *forecast* (the actual one plus
what is still expected: undelivered goods on their expected date, planned milestones on their
planned date, the rest of a percent-complete project spread to its end). The revenue run posts
the actual curve and plans the forecast.
"""

from dataclasses import dataclass, field
from datetime import date, timedelta
from fractions import Fraction

from django.utils import timezone
from djmoney.money import Money

from billing.selectors import BilledPeriod, Delivery, MilestoneFact, enforceable
from contracts.models import ContractLine, OneTimeTrigger, RevenuePolicy
from revenue.domain.earning import (
    Segment,
    Step,
    consumption_curve,
    delivery_curve,
    earned_through,
    milestone_curve,
    progress_curve,
    ratable_curve,
)
from revenue.domain.prospective import Prospective, continued, progress_rest, ratable_rest
from revenue.models import PerformanceObligation
from revenue.obligations import own_priced

ONE_DAY = timedelta(days=1)


@dataclass
class Facts:
    """What the selectors found for a set of lines, by line id (progress by obligation id)."""

    billed: dict[int, list[BilledPeriod]] = field(default_factory=dict)
    credited: dict[int, list[tuple[date, Money]]] = field(default_factory=dict)
    shipped: dict[int, list[Delivery]] = field(default_factory=dict)
    milestones: dict[int, list[MilestoneFact]] = field(default_factory=dict)
    cancelled: dict[int, Money] = field(default_factory=dict)
    progress: dict[int, list[tuple[date, Fraction]]] = field(default_factory=dict)


def _line_weight(line: ContractLine) -> Fraction:
    """Weigh a line within a point-in-time obligation by its SSP (or price) times quantity."""
    for unit in (line.ssp, line.unit_price):
        if unit is not None and unit.amount > 0:
            return Fraction(unit.amount) * Fraction(line.quantity)
    return Fraction(line.quantity)


def _ships(line: ContractLine, facts: Facts) -> bool:
    return line.one_time_trigger == OneTimeTrigger.ON_SHIPMENT or bool(facts.shipped.get(line.pk))


def _deliveries(
    lines: list[ContractLine], facts: Facts, *, expect_rest_on: date | None
) -> list[tuple[date, Fraction]]:
    """Return (date, fraction of the obligation) delivered; with ``expect_rest_on``, the rest too.

    Goods shipped count as they ship (a partial shipment for its share of the line); a line
    that is not shipped (a setup fee, a licence key) is delivered on its service start.
    """
    weights = [_line_weight(line) for line in lines]
    total = sum(weights)
    result = []
    for line, weight in zip(lines, weights, strict=True):
        share = weight / total
        if _ships(line, facts):
            done = Fraction(0)
            for delivery in facts.shipped.get(line.pk, []):
                part = Fraction(delivery.quantity) / Fraction(line.quantity)
                done += part
                result.append((delivery.shipped_on, share * part))
            if expect_rest_on is not None and done < 1:
                result.append((max(line.service_start, expect_rest_on), share * (1 - done)))
        else:
            result.append((line.service_start, share))
    return result


def _ratable_segments(
    obligation: PerformanceObligation, lines: list[ContractLine], facts: Facts
) -> list[Segment]:
    if obligation.service_end is not None:
        return [Segment(obligation.service_start, obligation.service_end, Fraction(1))]
    # Evergreen: each period the customer is committed to is its own term, weighted by its
    # charge (the same periods the allocation counts).
    today = timezone.localdate()
    return [
        Segment(period.period_start, period.period_end, Fraction(period.amount.amount))
        for line in lines
        for period in enforceable(facts.billed.get(line.pk, []), today=today)
    ]


def _milestones(lines: list[ContractLine], facts: Facts) -> list[MilestoneFact]:
    return [fact for line in lines for fact in facts.milestones.get(line.pk, [])]


def curves(
    obligation: PerformanceObligation,
    lines: list[ContractLine],
    facts: Facts,
    *,
    as_of: date,
    prospective: Prospective | None = None,
) -> tuple[list[Step], list[Step]]:
    """Return the (actual, forecast) earning curves of an obligation as known on ``as_of``.

    After a prospective modification (``prospective``) the curves keep their steps before its
    effective date and earn the rest of the allocation over what remains from it.
    """
    actual, forecast = _usual_curves(obligation, lines, facts, as_of=as_of)
    # Usage and evergreen obligations keep their own price: no remainder is shared with them.
    if prospective is None or own_priced(obligation):
        return actual, forecast
    return _continued(obligation, lines, actual, forecast, prospective)


def _continued(
    obligation: PerformanceObligation,
    lines: list[ContractLine],
    actual: list[Step],
    forecast: list[Step],
    prospective: Prospective,
) -> tuple[list[Step], list[Step]]:
    """Return the curves after a prospective modification: frozen base, then the rest."""
    allocated = obligation.allocated
    currency = allocated.currency.code
    effective = prospective.effective
    base = prospective.bases.get(obligation.pk)
    part = allocated - (base.earned if base is not None else Money(0, currency))
    if not lines:
        # Emptied by the modification but kept for its history: what it keeps is its base.
        rest = [Step(effective, part)] if part.amount else []
        curve = continued(base=base, rest=rest, currency=currency)
        return curve, curve
    if obligation.pattern == RevenuePolicy.RATABLE:
        rest = ratable_rest(
            part=part,
            effective=effective,
            start=obligation.service_start,
            end=obligation.service_end,
        )
        curve = continued(base=base, rest=rest, currency=currency)
        return curve, curve
    return tuple(
        continued(
            base=base,
            rest=progress_rest(curve, part=part, effective=effective, whole=allocated),
            currency=currency,
        )
        for curve in (actual, forecast)
    )


def _usual_curves(
    obligation: PerformanceObligation, lines: list[ContractLine], facts: Facts, *, as_of: date
) -> tuple[list[Step], list[Step]]:
    """Return the curves of an obligation accounted for as one contract from its start."""
    allocated = obligation.allocated
    currency = allocated.currency.code
    tomorrow = as_of + ONE_DAY
    pattern = obligation.pattern
    if not lines:
        return [], []
    if pattern == RevenuePolicy.RATABLE:
        curve = ratable_curve(
            allocated=allocated, segments=_ratable_segments(obligation, lines, facts)
        )
        return curve, curve
    if pattern == RevenuePolicy.AS_CONSUMED:
        consumed = [
            (period.period_end, period.amount)
            for line in lines
            for period in facts.billed.get(line.pk, [])
        ]
        # A credit note takes usage revenue back on the day it is issued, as it takes the
        # billing back, so that over the line's life revenue equals what it finally bills.
        consumed += [
            (on, -amount) for line in lines for on, amount in facts.credited.get(line.pk, [])
        ]
        curve = consumption_curve(currency=currency, consumed=consumed)
        return curve, curve
    if pattern == RevenuePolicy.MILESTONE:
        milestones = _milestones(lines, facts)
        values = [m.amount for m in milestones]
        actual = milestone_curve(
            allocated=allocated, values=values, achieved_on=[m.achieved_on for m in milestones]
        )
        if not milestones:
            end = max(obligation.service_end or obligation.service_start, tomorrow)
            return actual, [Step(end, allocated)]
        expected = [m.achieved_on or max(m.planned_date, tomorrow) for m in milestones]
        return actual, milestone_curve(allocated=allocated, values=values, achieved_on=expected)
    if pattern == RevenuePolicy.PERCENT_COMPLETE:
        actual = progress_curve(allocated=allocated, progress=facts.progress.get(obligation.pk, []))
        earned = earned_through(actual, as_of, currency=currency)
        end = max(obligation.service_end or tomorrow, tomorrow)
        rest = ratable_curve(
            allocated=allocated - earned, segments=[Segment(tomorrow, end, Fraction(1))]
        )
        done = [step for step in actual if step.on <= as_of]
        return actual, done + [Step(step.on, earned + step.cumulative) for step in rest]
    # Point in time.
    actual = delivery_curve(
        allocated=allocated, deliveries=_deliveries(lines, facts, expect_rest_on=None)
    )
    forecast = delivery_curve(
        allocated=allocated, deliveries=_deliveries(lines, facts, expect_rest_on=tomorrow)
    )
    return actual, forecast
