"""Milestone schedules: laid down by a template (policy) or passed in, kept in step with the line.

A schedule must sum exactly to its line's value (quantity x unit price, the project value). A
template's percents are spread with the last milestone absorbing the rounding remainder; a
passed-in schedule that does not sum is refused with both figures. Only planned milestones are
ever rewritten: achieved and invoiced ones are history (reversed by a credit note), cancelled
ones are kept as the record of what was dropped and no longer count.
"""

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from djmoney.money import Money

from contracts.domain.milestones import spread
from contracts.models import BillingModel, ContractLine, Milestone, MilestoneTemplate
from rms.audit import history_record_bulk
from rms.money import allocate, money_text, round_money

# Achieved, invoiced: what the schedule has already used of the line's value.
HISTORY = (Milestone.Status.ACHIEVED, Milestone.Status.INVOICED)


@dataclass(frozen=True)
class MilestonePlan:
    """One milestone of a passed-in schedule: a fixed ``amount`` or a ``percent`` of the value."""

    name: str
    planned_date: date
    amount: Money | None = None
    percent: Decimal | None = None
    description: str = ""
    external_reference: str = ""


def line_value(line: ContractLine) -> Money:
    """Return a milestone line's value: quantity x unit price, to the currency's minor unit."""
    return round_money(line.unit_price.amount * line.quantity, line.contract.currency)


def _locked_milestone_line(line: ContractLine) -> tuple[ContractLine, list[Milestone]]:
    """Lock the line (so two editors of one schedule queue) and return its milestones."""
    line = ContractLine.objects.select_for_update().select_related("contract").get(pk=line.pk)
    if line.billing_model != BillingModel.MILESTONE:
        raise ValidationError({"line": "Only milestone lines have a milestone schedule."})
    if line.unit_price is None:
        raise ValidationError({"line": "Give the line its value (unit price) first."})
    return line, list(line.milestones.order_by("sequence"))


def schedule_history(milestones: list[Milestone], currency: str) -> tuple[list[Milestone], Money]:
    """Split off the milestones a new schedule keeps (all but the planned ones) and their sum.

    Cancelled milestones are kept as a record but no longer count towards the value.
    """
    kept = [m for m in milestones if m.status != Milestone.Status.PLANNED]
    used = sum((m.amount for m in kept if m.status in HISTORY), Money(0, currency))
    return kept, used


def _replace_planned(
    line: ContractLine, milestones: list[Milestone], new: list[Milestone]
) -> list[Milestone]:
    """Delete the planned milestones and append ``new`` after what is kept, in order."""
    kept = [m for m in milestones if m.status != Milestone.Status.PLANNED]
    Milestone.objects.filter(line=line, status=Milestone.Status.PLANNED).delete()
    next_sequence = max((m.sequence for m in kept), default=0) + 1
    for offset, milestone in enumerate(new):
        milestone.line = line
        milestone.sequence = next_sequence + offset
        milestone.full_clean(exclude=["line"])
    created = Milestone.objects.bulk_create(new)
    history_record_bulk(Milestone, created, history_type="+")
    return created


@transaction.atomic
def milestone_schedule_apply_template(
    *, line: ContractLine, template: MilestoneTemplate
) -> list[Milestone]:
    """Lay a template over a line with no achieved milestones yet: its percents of the value.

    Planned dates are the template's days after the line's service start. The planned schedule
    the line had, if any, is replaced.
    """
    line, milestones = _locked_milestone_line(line)
    steps = list(template.steps.order_by("sequence"))
    if not steps:
        raise ValidationError({"template": f"Template {template.name!r} has no milestones."})
    percents = [step.percent for step in steps]
    if sum(percents) != 100:
        raise ValidationError(
            {
                "template": f"Template {template.name!r} sums to "
                f"{sum(percents).normalize():f}%, not 100%."
            }
        )
    _, used = schedule_history(milestones, line.contract.currency)
    if used:
        raise ValidationError(
            {
                "template": f"Line {line.sequence} has achieved milestones; a template spreads "
                "a whole value, so edit the remaining schedule instead."
            }
        )
    amounts = spread(line_value(line), percents)
    return _replace_planned(
        line,
        milestones,
        [
            Milestone(
                name=step.name,
                planned_date=line.service_start + timedelta(days=step.days_after_start),
                percent=step.percent,
                amount=amount,
            )
            for step, amount in zip(steps, amounts, strict=True)
        ],
    )


@transaction.atomic
def milestone_schedule_set(*, line: ContractLine, plans: list[MilestonePlan]) -> list[Milestone]:
    """Replace a line's planned milestones by ``plans``, which must complete its value exactly.

    Achieved and invoiced milestones stay; together with the plans they must sum to the line's
    value, or nothing changes and the error shows both figures. Percent plans are that share of
    the value, the last of them absorbing the rounding remainder.
    """
    line, milestones = _locked_milestone_line(line)
    if not plans:
        raise ValidationError({"milestones": "A schedule needs at least one milestone."})
    value = line_value(line)
    errors = {}
    # Keys index the list from 0, as the API's field paths do; messages count from 1, as people do.
    for number, plan in enumerate(plans, start=1):
        if (plan.amount is None) == (plan.percent is None):
            errors[f"milestones[{number - 1}]"] = (
                f"Milestone {number} ({plan.name!r}): give an amount or a percent, not both."
            )
        elif plan.amount is not None and plan.amount.currency.code != value.currency.code:
            errors[f"milestones[{number - 1}]"] = (
                f"Milestone {number} ({plan.name!r}) is in {plan.amount.currency.code}; this "
                f"contract is in {value.currency.code}."
            )
        elif plan.amount is not None and round_money(plan.amount) != plan.amount:
            errors[f"milestones[{number - 1}]"] = (
                f"Milestone {number} ({plan.name!r}): {plan.amount.amount} has more decimals "
                f"than {value.currency.code} has."
            )
    if errors:
        raise ValidationError(errors)
    kept, used = schedule_history(milestones, value.currency.code)
    history = [(m.amount, m.percent) for m in kept if m.status in HISTORY]
    amounts = schedule_amounts(value, history, [(p.amount, p.percent) for p in plans])
    total = used + sum(amounts, Money(0, value.currency))
    if total != value:
        already = f" (of which {money_text(used)} already achieved)" if used else ""
        raise ValidationError(
            {
                "milestones": f"The milestones sum to {money_text(total)}{already} but the "
                f"line's value is {money_text(value)}; they must sum exactly to it."
            }
        )
    return _replace_planned(
        line,
        milestones,
        [
            Milestone(
                name=plan.name,
                description=plan.description,
                planned_date=plan.planned_date,
                percent=plan.percent,
                amount=amount,
                external_reference=plan.external_reference,
            )
            for plan, amount in zip(plans, amounts, strict=True)
        ],
    )


def schedule_amounts(
    value: Money,
    history: list[tuple[Money, Decimal | None]],
    terms: list[tuple[Money | None, Decimal | None]],
) -> list[Money]:
    """Price each (amount, percent) pair of a new schedule of a line worth ``value``.

    Percent milestones are their share of the value rounded half-up. When the whole schedule
    makes the value exactly before rounding (``history``, the achieved milestones, counted by
    their percent where they have one, and the new terms), the last percent milestone absorbs
    the rounding remainder (or, should that leave it negative, what is left is split by the
    largest-remainder rule, as ``spread_shares`` does), so that it is exact after rounding too:
    30% achieved plus 40% and 30% planned is a whole. Otherwise the shares stay as they are and
    the caller reports the difference.
    """
    currency = value.currency.code

    def share(percent: Decimal) -> Decimal:
        return value.amount * percent / 100

    amounts = [
        amount if amount is not None else round_money(share(percent), currency)
        for amount, percent in terms
    ]
    exact = sum(
        (
            share(percent) if percent is not None else amount.amount
            for amount, percent in [*history, *terms]
        ),
        Decimal(0),
    )
    shares = [i for i, (_, percent) in enumerate(terms) if percent is not None]
    if shares and exact == value.amount:
        fixed = [amount for amount, _ in history] + [a for a, _ in terms if a is not None]
        left = value - sum(fixed, Money(0, currency))
        last = shares[-1]
        amounts[last] = left - sum((amounts[i] for i in shares[:-1]), Money(0, currency))
        if amounts[last].amount < 0:  # rounding up the others overshot: see spread_shares
            for i, amount in zip(
                shares, allocate(left, [terms[i][1] for i in shares]), strict=True
            ):
                amounts[i] = amount
    return amounts


@transaction.atomic
def milestones_respread(*, line: ContractLine) -> int:
    """Re-price the planned percent milestones after the line's value changed.

    Each is its percent of the new value, the last absorbing what the schedule (achieved,
    invoiced and fixed-amount milestones included) leaves of it; achieved and invoiced ones are
    never touched. Returns how many milestones changed.
    """
    line = ContractLine.objects.select_for_update().select_related("contract").get(pk=line.pk)
    if line.billing_model != BillingModel.MILESTONE or line.unit_price is None:
        return 0
    milestones = list(line.milestones.exclude(status=Milestone.Status.CANCELLED))
    planned = [m for m in milestones if m.status == Milestone.Status.PLANNED and m.percent]
    if not planned:
        return 0
    value = line_value(line)
    fixed = sum((m.amount for m in milestones if m not in planned), Money(0, value.currency))
    amounts = [round_money(value.amount * m.percent / 100, value.currency) for m in planned]
    amounts[-1] = value - fixed - sum(amounts[:-1], Money(0, value.currency))
    if amounts[-1].amount < 0:
        raise ValidationError(
            {
                "unit_price": f"Line {line.sequence}'s milestones already achieved or fixed "
                f"total {money_text(fixed)}, more than its new value {money_text(value)}."
            }
        )
    changed = [m for m, amount in zip(planned, amounts, strict=True) if m.amount != amount]
    for milestone, amount in zip(planned, amounts, strict=True):
        milestone.amount = amount
    Milestone.objects.bulk_update(changed, ["amount"])
    history_record_bulk(Milestone, changed)
    return len(changed)
