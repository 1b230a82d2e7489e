"""What a chain of continuing lines has billed, and is worth, in each period of its cycle.

A contract modification ends a line the day before its effective date and starts a successor
(``ContractLine.continues``) with the new terms, on the same billing cycle. Within one period of
that cycle the chain's lines share the days: the old terms up to the effective date, the new
ones from it. What the period costs is the sum of each line's *worth* (its exact charge for its
own days), rounded once; what it has been billed is each invoiced event's amount less what
modifications credited on it (``ModificationCredit``), and each pending event's amount.

Walking a period's lines from the first to the last, the *carry* is what was billed beyond the
worth so far: a period billed in advance before a seat increase carries the old seats' days
after the effective date into the new line, which then bills only the difference (the added
seats' remainder). A carry left after the last line is what the new terms leave unused: a
credit (``billing.modifications``). The same walk serves the schedule (a continuing line's
pending event bills its worth less the carry) and the credits, so the two never disagree, and
a later modification in the same period starts from what is actually billed and credited.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import replace
from datetime import date, timedelta
from fractions import Fraction

from django.db.models import Sum

from billing.domain.periods import billing_periods
from billing.domain.subscriptions import Charge
from billing.models import BillingEvent, ModificationCredit
from contracts.models import BillDayMode, BillingModel, ContractLine
from rms.money import money_text, round_fraction

ONE_DAY = timedelta(days=1)


def _first_period(line: ContractLine, start: date):
    periods = billing_periods(
        service_start=start,
        service_end=line.service_end,
        interval_months=line.interval_months,
        bill_day=line.bill_day if line.bill_day_mode == BillDayMode.CALENDAR_DAY else None,
        through=start + ONE_DAY,
        anchor=line.billing_anchor or line.service_start,
    )
    return periods[0] if periods else None


def cycle_of(line: ContractLine, day: date) -> date:
    """Return the first day of the period of the line's billing cycle that contains ``day``."""
    period = billing_periods(
        service_start=day,
        service_end=day,
        interval_months=line.interval_months,
        bill_day=line.bill_day if line.bill_day_mode == BillDayMode.CALENDAR_DAY else None,
        anchor=line.billing_anchor or line.service_start,
    )[0]
    return period.full_start


def worth(line: ContractLine, cycle: date) -> Fraction:
    """Return the exact charge of the line's own days in the cycle period starting ``cycle``."""
    start = max(line.service_start, cycle)
    if line.service_end is not None and start > line.service_end:
        return Fraction(0)
    period = _first_period(line, start)
    if period is None or period.full_start != cycle:
        return Fraction(0)
    rate = Fraction(line.quantity) * Fraction(line.unit_price.amount)
    return rate * period.days / period.full_days


def exact_amount(charge: Charge) -> Fraction:
    """Return a subscription charge before rounding: quantity x price x days / full days."""
    period = charge.period
    return Fraction(charge.quantity) * Fraction(charge.unit_price) * period.days / period.full_days


class Chains:
    """The chains of continuing lines, with what each line was invoiced per cycle period.

    Loaded for a set of lines in a fixed number of queries: one per generation of continuation
    for the ancestors, one for their rows, one for invoiced events and one for credits.
    """

    def __init__(self, lines: Iterable[ContractLine]):
        lines = [line for line in lines if line.billing_model == BillingModel.SUBSCRIPTION]
        self.lines: dict[int, ContractLine] = {line.pk: line for line in lines}
        self._load_ancestors()
        self.invoiced: dict[tuple[int, date], list[tuple[int, Fraction]]] = defaultdict(list)
        self._load_invoiced()

    def _load_ancestors(self) -> None:
        parent = {pk: line.continues_id for pk, line in self.lines.items()}
        missing = {p for p in parent.values() if p is not None and p not in self.lines}
        while missing:
            rows = list(
                ContractLine.objects.filter(pk__in=missing).select_related("contract", "product")
            )
            for row in rows:
                self.lines[row.pk] = row
                parent[row.pk] = row.continues_id
            missing = {p for p in parent.values() if p is not None and p not in self.lines}
        self.parent = parent

    def _load_invoiced(self) -> None:
        events = list(
            BillingEvent.objects.filter(
                line_id__in=self.lines,
                kind=BillingEvent.Kind.SUBSCRIPTION,
                status=BillingEvent.Status.INVOICED,
            ).values_list("pk", "line_id", "period_start", "amount")
        )
        credited = dict(
            ModificationCredit.objects.filter(invoice_line__event_id__in=[e[0] for e in events])
            .values("invoice_line__event_id")
            .annotate(total=Sum("amount"))
            .values_list("invoice_line__event_id", "total")
        )
        for pk, line_id, period_start, amount in events:
            line = self.lines[line_id]
            net = Fraction(amount) - Fraction(credited.get(pk, 0))
            self.invoiced[(line_id, cycle_of(line, period_start))].append((pk, net))

    def chain(self, line: ContractLine) -> list[ContractLine]:
        """Return the line's chain from its first line to itself."""
        chain, current = [], line.pk
        while current is not None:
            chain.append(self.lines[current])
            current = self.parent.get(current)
        return chain[::-1]

    def walk(self, lines: list[ContractLine], cycle: date) -> tuple[Fraction, Fraction]:
        """Walk ``lines`` (first to last) through one cycle period: return (carry, billed).

        A line with an invoiced event counts what it was billed, net of modification credits;
        one without counts what its pending event bills: its worth less the carry, if positive.
        """
        carry, billed_total = Fraction(0), Fraction(0)
        for line in lines:
            value = worth(line, cycle)
            invoiced = self.invoiced.get((line.pk, cycle))
            if invoiced:
                billed = sum((net for _, net in invoiced), Fraction(0))
            else:
                due = value - carry
                billed = Fraction(round_fraction(due, line.contract.currency).amount)
                billed = max(billed, Fraction(0))
            carry += billed - value
            billed_total += billed
        return carry, billed_total

    def carry_before(self, line: ContractLine, cycle: date) -> Fraction:
        """Return what the lines ``line`` continues billed beyond their worth in ``cycle``."""
        return self.walk(self.chain(line)[:-1], cycle)[0]


def net_of_prior(charge: Charge, carry: Fraction) -> Charge | None:
    """Reduce a continuing line's charge by what the lines it continues billed beyond their
    worth in the same cycle period, rounded once; ``None`` when nothing is left to bill."""
    if carry == 0:
        return charge
    currency = charge.amount.currency.code
    net = exact_amount(charge) - carry
    if net <= 0:
        return None
    amount = round_fraction(net, currency)
    if carry < 0:
        return replace(charge, amount=amount)
    billed = money_text(round_fraction(carry, currency))
    return replace(
        charge,
        amount=amount,
        description=f"{charge.description}, less {billed} billed before the change",
    )


def charges_net_of_prior(
    charges: dict[str, tuple[str, Charge]], line: ContractLine, chains: Chains | None
) -> dict[str, tuple[str, Charge]]:
    """Apply ``net_of_prior`` to a continuing line's subscription charges, keyed as the
    schedule keys them; other lines' charges are returned as they are."""
    if chains is None or line.continues_id is None:
        return charges
    netted = {}
    for key, (kind, charge) in charges.items():
        if kind == BillingEvent.Kind.SUBSCRIPTION:
            charge = net_of_prior(charge, chains.carry_before(line, charge.period.full_start))
        if charge is not None:
            netted[key] = (kind, charge)
    return netted


def chains_for(lines: Iterable[ContractLine]) -> Chains | None:
    """Load the chains of the continuing lines among ``lines``; ``None`` (no query) if none."""
    continuing = [line for line in lines if line.continues_id is not None]
    return Chains(continuing) if continuing else None
