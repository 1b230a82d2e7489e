"""Variable consideration on contracts: record, re-assess, resolve; and what the price includes.

A finance user records each uncertain amount (a bonus, a penalty, a rebate, usage above a
minimum) once, assesses it every period (scenarios estimated by the pure
``revenue.domain.variable_consideration``, then constrained with a reason) and enters the actual
when the outcome is known. The amount that counts for a revenue run dated D is the actual once
the item is resolved in D's month or before, else the constrained amount of the latest
assessment for a month on or before D, else nothing. ``revenue.obligations`` adds it to the
transaction price; a change re-allocates and the run posts the cumulative catch-up in the open
period, as for any other change of price.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Prefetch
from django.utils import timezone
from djmoney.money import Money

from contracts.models import Contract, RevenuePolicy
from revenue.domain import variable_consideration as domain
from revenue.domain.recognition import month_start
from revenue.journal import first_open_period
from revenue.models import (
    ContractRevenue,
    PerformanceObligation,
    RevenueScheduleEntry,
    VariableAssessment,
    VariableConsideration,
)
from rms.money import money_text, round_money

Kind = VariableConsideration.Kind

# Kinds that can only lower the price, and kinds that can only raise it.
REDUCTIONS = {Kind.PENALTY, Kind.VOLUME_REBATE}
INCREASES = {Kind.PERFORMANCE_BONUS, Kind.USAGE_COMMITMENT}


# Reading: what the transaction price includes ----------------------------------------------------


@dataclass(frozen=True)
class Included:
    """What one item adds to the transaction price as of a date, and where that comes from."""

    item: VariableConsideration
    amount: Money
    assessment: VariableAssessment | None

    def explain(self, before: Money) -> str:
        """Say why the price moved from ``before``: for the Allocation's reason."""
        label = self.item.get_kind_display()
        change = f"{money_text(before).rsplit(' ', 1)[0]} -> {money_text(self.amount)}"
        if self.item.resolved and self.assessment is None:
            return f"True-up of {label} to its actual outcome: {change}"
        if self.assessment is None:
            return f"{label} no longer assessed: {change}"
        verb = "Re-estimate" if self.item.assessments.all()[0] != self.assessment else "Estimate"
        why = self.assessment.reason or f"estimate {money_text(self.assessment.estimate)}"
        return f"{verb} of {label} for {self.assessment.period:%b %Y}: {change} ({why})"


def variable_items(contract_ids: Sequence[int]) -> dict[int, list[VariableConsideration]]:
    """Load the contracts' variable consideration with its assessments, by contract: 2 queries."""
    items = (
        VariableConsideration.objects.filter(contract_id__in=contract_ids)
        .select_related("contract")
        .prefetch_related(
            Prefetch("assessments", queryset=VariableAssessment.objects.order_by("period", "id"))
        )
    )
    result: dict[int, list[VariableConsideration]] = {cid: [] for cid in contract_ids}
    for item in items.order_by("contract_id", "id"):
        result[item.contract_id].append(item)
    return result


def included_as_of(item: VariableConsideration, as_of: date) -> Included:
    """Return what ``item`` adds to the price for a run dated ``as_of``.

    The actual once it is resolved in ``as_of``'s month or before; else the latest assessment
    of a month on or before it (a later assessment of the same month supersedes); else zero.
    """
    if item.resolved and item.resolved_period <= as_of:
        return Included(item=item, amount=round_money(item.actual), assessment=None)
    counting = [a for a in item.assessments.all() if a.period <= as_of]
    if not counting:
        return Included(item=item, amount=Money(0, item.contract.currency), assessment=None)
    latest = counting[-1]
    return Included(item=item, amount=round_money(latest.constrained), assessment=latest)


def pricing_date(contract: Contract) -> date:
    """Return the date a re-plan of ``contract`` prices at: its last run's date, else today.

    The same date the revenue run recognizes through when given none, so that planning and
    recognizing agree on which assessment counts.
    """
    state = ContractRevenue.objects.filter(contract=contract).first()
    return state.recognized_through if state else timezone.localdate()


def variable_section(contract_id: int) -> dict:
    """Return the revenue page's variable consideration: items with history, and the catch-ups.

    Three queries whatever the number of items, assessments and entries.
    """
    items = list(
        VariableConsideration.objects.filter(contract_id=contract_id)
        .select_related("obligation")
        .prefetch_related("assessments")
        .order_by("id")
    )
    catch_ups = (
        RevenueScheduleEntry.objects.filter(
            contract_id=contract_id,
            status=RevenueScheduleEntry.Status.RECOGNIZED,
            catch_up=True,
        )
        .select_related("obligation")
        .order_by("-period", "-id")
        if items
        else []
    )
    return {"variable_items": items, "variable_catch_ups": list(catch_ups)}


# Writing ---------------------------------------------------------------------------------------


def _replan(contract_id: int) -> None:
    """Re-allocate and re-plan the contract; post at once what its last run date now earns."""
    from revenue.runs import contracts_recognize  # runs builds on obligations, which reads this

    contracts_recognize(contract_ids=[contract_id], as_of=None)


def _open_period(day: date, field: str) -> date:
    """Return ``day``'s month if it is open; a closed month is refused, naming ``field``."""
    period = month_start(day)
    first_open = first_open_period()
    if first_open is not None and period < first_open:
        raise ValidationError(
            {
                field: f"{period:%B %Y} is closed; a closed period is never changed. Assess in "
                f"the first open period, {first_open:%B %Y}, and the change posts there."
            }
        )
    return period


def _check_sign(kind: str, amounts: Sequence[Money], field: str) -> None:
    """Refuse a penalty or rebate above zero, or a bonus below it: a sign typed wrong."""
    label = Kind(kind).label
    if kind in REDUCTIONS and any(a.amount > 0 for a in amounts):
        raise ValidationError(
            {field: f"A {label.lower()} reduces the price: enter its amounts as negative numbers."}
        )
    if kind in INCREASES and any(a.amount < 0 for a in amounts):
        raise ValidationError(
            {field: f"{label} adds to the price: its amounts cannot be negative."}
        )


def _check_currency(contract: Contract, amount: Money, field: str) -> None:
    if amount.currency.code != str(contract.currency):
        raise ValidationError(
            {
                field: f"{money_text(amount)} is in {amount.currency.code}; contract "
                f"{contract.number} is in {contract.currency}."
            }
        )


def parse_scenarios(text: str, currency: str) -> list[domain.Scenario]:
    """Read scenarios typed one a line as ``amount @ probability`` ("12000 @ 0.6") in ``currency``.

    A line that does not read so is refused with its number.
    """
    scenarios = []
    for number, raw in enumerate(filter(None, (row.strip() for row in text.splitlines())), 1):
        amount, sep, probability = raw.partition("@")
        try:
            if not sep:
                raise InvalidOperation
            scenarios.append(
                domain.Scenario(
                    amount=Money(Decimal(amount.strip().replace(",", "")), currency),
                    probability=Decimal(probability.strip()),
                )
            )
        except InvalidOperation:
            raise ValidationError(
                {"scenarios": f"Line {number} ({raw!r}) is not 'amount @ probability'."}
            ) from None
    return scenarios


def obligation_check(*, contract: Contract, obligation: PerformanceObligation | None) -> None:
    """Refuse tying an item to another contract's obligation, or to a usage obligation.

    Usage is recognized as it is billed (the right-to-invoice expedient), so an amount tied to
    it would never be earned: the usage charges are already its variable consideration.
    """
    if obligation is None:
        return
    if obligation.contract_id != contract.pk:
        raise ValidationError(
            {"obligation": f"{obligation} is not an obligation of contract {contract.number}."}
        )
    if obligation.pattern == RevenuePolicy.AS_CONSUMED:
        raise ValidationError(
            {
                "obligation": f"{obligation.name} is recognized as its usage is billed; its "
                "variable consideration is that usage. Tie the item to another obligation."
            }
        )


@transaction.atomic
def variable_consideration_create(
    *,
    contract: Contract,
    kind: str,
    description: str,
    method: str,
    obligation: PerformanceObligation | None = None,
    created_by: str = "",
) -> VariableConsideration:
    """Record an uncertain amount of ``contract``'s price; it counts once it is assessed."""
    obligation_check(contract=contract, obligation=obligation)
    item = VariableConsideration(
        contract=contract,
        kind=kind,
        description=description.strip(),
        method=method,
        obligation=obligation,
        included=Money(0, contract.currency),
        created_by=created_by,
    )
    item.full_clean()
    item.save()
    return item


@transaction.atomic
def variable_consideration_assess(
    *,
    item: VariableConsideration,
    period: date,
    scenarios: Sequence[domain.Scenario],
    constrained: Money | None = None,
    reason: str = "",
    assessed_by: str = "",
) -> VariableAssessment:
    """Assess ``item`` for ``period``'s month: estimate, constrain, and re-plan the contract.

    ``constrained`` None includes the whole estimate. An amount below the estimate (the
    constraint of ASC 606-10-32-11) needs a ``reason``, which is disclosed; an amount above it
    is refused, since the constraint only ever limits what enters the price. Refused too: a
    resolved item (its actual replaces every estimate) and a closed month.
    """
    item = (
        VariableConsideration.objects.select_for_update().select_related("contract").get(pk=item.pk)
    )
    contract = item.contract
    if item.resolved:
        raise ValidationError(
            {
                "item": f"{item} was resolved at {money_text(item.actual)}; the actual replaces "
                "every estimate, so it is not re-assessed."
            }
        )
    period = _open_period(period, "period")
    for scenario in scenarios:
        _check_currency(contract, scenario.amount, "scenarios")
    _check_sign(item.kind, [s.amount for s in scenarios], "scenarios")
    try:
        estimate = domain.estimate_variable(scenarios=scenarios, method=item.method).estimate
    except (ValueError, TypeError) as error:
        raise ValidationError({"scenarios": str(error)}) from error
    reason = reason.strip()
    if constrained is None:
        included = estimate
    else:
        _check_currency(contract, constrained, "constrained")
        included = round_money(constrained)
        if included.amount > estimate.amount:
            raise ValidationError(
                {
                    "constrained": f"{money_text(included)} is more than the estimate "
                    f"{money_text(estimate)}; the constraint only limits what enters the price."
                }
            )
        if included != estimate and not reason:
            raise ValidationError(
                {
                    "reason": f"Say why {money_text(included)} rather than the estimate "
                    f"{money_text(estimate)} is included: the constraint is a judgement that "
                    "must be documented (ASC 606-10-32-12)."
                }
            )
        if included != estimate and included.amount >= 0:
            # The domain's constraint: the lower of the estimate and the highly probable floor.
            included = domain.constrain(
                estimate=estimate, highly_probable_floor=included, reason=reason
            )
    assessment = VariableAssessment.objects.create(
        item=item,
        period=period,
        method=item.method,
        scenarios=[
            {"amount": str(s.amount.amount), "probability": str(s.probability)} for s in scenarios
        ],
        estimate=estimate,
        constrained=included,
        reason=reason,
        assessed_by=assessed_by,
    )
    _replan(contract.pk)
    return assessment


@transaction.atomic
def variable_consideration_resolve(
    *,
    item: VariableConsideration,
    actual: Money,
    period: date,
    note: str = "",
    resolved_by: str = "",
) -> VariableConsideration:
    """Enter the known outcome of ``item`` in ``period``'s month: it replaces the estimate.

    The item is closed; the difference from what the price included posts as a catch-up in
    the open period when the contract is next recognized (at once for what is already earned).
    """
    item = (
        VariableConsideration.objects.select_for_update().select_related("contract").get(pk=item.pk)
    )
    if item.resolved:
        raise ValidationError(
            {"item": f"{item} was already resolved at {money_text(item.actual)}."}
        )
    _check_currency(item.contract, actual, "actual")
    _check_sign(item.kind, [actual], "actual")
    item.resolved_period = _open_period(period, "period")
    item.actual = round_money(actual)
    item.resolution_note = note.strip()
    item.resolved_by = resolved_by
    item.resolved_at = timezone.now()
    item.save()
    _replan(item.contract_id)
    return item
