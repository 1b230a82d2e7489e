"""What a continuing line's periods already billed under the line(s) it continues.

A contract modification ends a line the day before its effective date and starts a successor
(``ContractLine.continues``) with the new terms. Where the old line was already invoiced for
days on or after that date (a period billed in advance, an arrears period invoiced before the
modification was entered), the successor's period covering those days bills only the
difference: a seat increase from the 16th bills the added seats' remainder, not the whole new
quantity again. What was billed beyond what the new terms charge is credited by
``billing.modifications`` instead.

The share of an invoiced event that falls on given days is its amount x those days / the days
it covers: the event's amount is already prorated for its own days, so the share is exact.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date
from fractions import Fraction

from billing.domain.subscriptions import Charge
from billing.models import BillingEvent
from contracts.models import ContractLine
from rms.money import money_text, round_fraction


@dataclass(frozen=True)
class BilledSpan:
    """An invoiced subscription event: the days it billed (inclusive) and its amount."""

    event_id: int
    line_id: int
    first_day: date
    last_day: date
    amount: Fraction

    def share(self, first_day: date, last_day: date) -> Fraction:
        """Return the part of the amount that billed the days ``first_day``..``last_day``."""
        overlap = (min(self.last_day, last_day) - max(self.first_day, first_day)).days + 1
        if overlap <= 0:
            return Fraction(0)
        return self.amount * overlap / ((self.last_day - self.first_day).days + 1)


def ancestors(line_ids: Iterable[int]) -> dict[int, list[int]]:
    """Return, per line, the lines it continues (its predecessor, theirs, ...), nearest first.

    One query per generation of continuation: a line is rarely modified more than a few times.
    """
    parent: dict[int, int | None] = {}
    frontier = set(line_ids)
    while frontier:
        rows = ContractLine.objects.filter(pk__in=frontier).values_list("pk", "continues_id")
        parent.update(rows)
        frontier = {p for p in parent.values() if p is not None and p not in parent}
    chains: dict[int, list[int]] = {}
    for line_id in line_ids:
        chain, current = [], parent.get(line_id)
        while current is not None:
            chain.append(current)
            current = parent.get(current)
        chains[line_id] = chain
    return chains


def billed_spans(line_ids: Iterable[int]) -> dict[int, list[BilledSpan]]:
    """Return the invoiced subscription events of ``line_ids``, by line, in one query."""
    spans: dict[int, list[BilledSpan]] = defaultdict(list)
    events = BillingEvent.objects.filter(
        line_id__in=set(line_ids),
        kind=BillingEvent.Kind.SUBSCRIPTION,
        status=BillingEvent.Status.INVOICED,
    ).values_list("pk", "line_id", "period_start", "period_end", "amount")
    for pk, line_id, first, last, amount in events:
        spans[line_id].append(BilledSpan(pk, line_id, first, last, Fraction(amount)))
    return spans


def prior_spans(lines: Iterable[ContractLine]) -> dict[int, list[BilledSpan]]:
    """Return, per continuing line, what the lines it continues were invoiced for."""
    continuing = [line.pk for line in lines if line.continues_id is not None]
    if not continuing:
        return {}
    chains = ancestors(continuing)
    spans = billed_spans({a for chain in chains.values() for a in chain})
    return {
        line_id: [span for a in chain for span in spans.get(a, [])]
        for line_id, chain in chains.items()
    }


def prior_share(prior: list[BilledSpan], first_day: date, last_day: date) -> Fraction:
    """Return what ``prior`` already billed for the days ``first_day``..``last_day``."""
    return sum((span.share(first_day, last_day) for span in prior), Fraction(0))


def exact_amount(charge: Charge) -> Fraction:
    """Return a subscription charge before rounding: quantity x price x days / full days."""
    period = charge.period
    return Fraction(charge.quantity) * Fraction(charge.unit_price) * period.days / period.full_days


def net_of_prior(charge: Charge, prior: list[BilledSpan]) -> Charge | None:
    """Reduce a continuing line's charge by what its predecessors billed for the same days.

    The difference is taken exactly and rounded once. Return ``None`` when they billed as much
    or more: nothing is left to bill for the period (the excess is credited by the
    modification's billing follow-up).
    """
    already = prior_share(prior, charge.period.start, charge.period.last_day)
    if already == 0:
        return charge
    currency = charge.amount.currency.code
    net = exact_amount(charge) - already
    if net <= 0:
        return None
    billed = money_text(round_fraction(already, currency))
    return replace(
        charge,
        amount=round_fraction(net, currency),
        description=f"{charge.description}, less {billed} billed before the change",
    )


def charges_net_of_prior(
    charges: dict[str, tuple[str, Charge]], prior: list[BilledSpan]
) -> dict[str, tuple[str, Charge]]:
    """Apply ``net_of_prior`` to a line's subscription charges, keyed as the schedule keys them."""
    if not prior:
        return charges
    netted = {}
    for key, (kind, charge) in charges.items():
        if kind == BillingEvent.Kind.SUBSCRIPTION:
            charge = net_of_prior(charge, prior)
        if charge is not None:
            netted[key] = (kind, charge)
    return netted
