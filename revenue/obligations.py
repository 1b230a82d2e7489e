"""Performance obligations from contract lines (step 2) and their allocations (steps 3 and 4).

Each line starts as its own obligation; a user may group lines that are not distinct. The
transaction price is the fixed consideration of the lines over their terms, allocated by
relative SSP (or by the residual approach when a contract names a residual obligation). Two
kinds of obligation keep their own consideration out of that pool:

- usage (as consumed): variable consideration that relates entirely to it (ASC 606-10-32-40);
- evergreen subscriptions: the enforceable term is one billing period at a time, so each
  period's charge is that period's price and nothing is known of later periods to pool.

Variable consideration (``revenue.variable_consideration``) joins the price at the amount that
counts on the pricing date: tied to one obligation it goes to that one alone (ASC 606-10-32-40),
otherwise it is spread over the pooled obligations by relative SSP, as the fixed price is.

Every allocation that changes anything is stored with its inputs (``Allocation`` and
``ObligationAllocation``) so a user can see how each figure was reached.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Prefetch
from django.utils import timezone
from djmoney.money import Money

from billing.selectors import (
    BilledPeriod,
    billed_periods,
    cancelled_milestones,
    credits_by_line,
    enforceable,
    line_term_value,
)
from contracts.models import BillingModel, Contract, ContractLine, RevenuePolicy
from revenue.domain import allocation as domain
from revenue.domain.prospective import Prospective
from revenue.models import (
    Allocation,
    ObligationAllocation,
    ObligationLine,
    PerformanceObligation,
    RevenueScheduleEntry,
    VariableConsideration,
)
from revenue.variable_consideration import Included, included_as_of, pricing_date, variable_items
from rms.audit import history_record_bulk
from rms.money import allocate

Method = PerformanceObligation.AllocationMethod


def obligations_of(contract_ids: Sequence[int]) -> dict[int, list[PerformanceObligation]]:
    """Load the contracts' obligations with their lines (and the lines' products), by contract."""
    lines = ContractLine.objects.select_related("product", "contract")
    obligations = (
        PerformanceObligation.objects.filter(contract_id__in=contract_ids)
        .select_related("contract")
        .prefetch_related(
            Prefetch("obligation_lines__line", queryset=lines),
        )
        .order_by("contract_id", "sequence")
    )
    result: dict[int, list[PerformanceObligation]] = {cid: [] for cid in contract_ids}
    for obligation in obligations:
        result[obligation.contract_id].append(obligation)
    return result


def lines_of(obligation: PerformanceObligation) -> list[ContractLine]:
    """Return an obligation's lines from its prefetched links."""
    return [link.line for link in obligation.obligation_lines.all()]


def service_span(lines: Sequence[ContractLine]) -> tuple:
    """Return the service period covering ``lines``; open-ended when any line is evergreen."""
    start = min(line.service_start for line in lines)
    ends = [line.service_end for line in lines]
    return start, None if any(end is None for end in ends) else max(ends)


@transaction.atomic
def obligations_sync(*, contract: Contract) -> list[PerformanceObligation]:
    """Give every line of the contract an obligation and keep single-line ones in step.

    A new line becomes its own obligation with its product's (or override's) revenue policy. An
    obligation of one line follows that line's policy and dates; a grouped one keeps the pattern
    chosen when it was grouped. An obligation left without lines is removed unless revenue was
    already recognized on it (that history stays, and its allocation drops to zero so a
    catch-up reverses it). Then the contract is re-allocated.
    """
    Contract.objects.select_for_update().filter(pk=contract.pk).first()
    obligations = obligations_of([contract.pk])[contract.pk]
    linked = {link.line_id for o in obligations for link in o.obligation_lines.all()}
    next_sequence = max((o.sequence for o in obligations), default=0) + 1
    zero = Money(0, contract.currency)
    for line in contract.lines.select_related("product").order_by("sequence", "pk"):
        if line.pk in linked:
            continue
        obligation = PerformanceObligation.objects.create(
            contract=contract,
            sequence=next_sequence,
            name=(line.description or line.product.name)[:255],
            pattern=line.revenue_policy,
            service_start=line.service_start,
            service_end=line.service_end,
            ssp=zero,
            fixed_price=zero,
            allocated=zero,
            allocation_method=Method.RELATIVE_SSP,
        )
        ObligationLine.objects.create(obligation=obligation, line=line)
        next_sequence += 1
    obligations = obligations_of([contract.pk])[contract.pk]
    kept = []
    for obligation in obligations:
        lines = lines_of(obligation)
        if not lines:
            if obligation.schedule.filter(status=RevenueScheduleEntry.Status.RECOGNIZED).exists():
                kept.append(obligation)
            else:
                obligation.delete()
            continue
        start, end = service_span(lines)
        pattern = lines[0].revenue_policy if len(lines) == 1 else obligation.pattern
        if (obligation.service_start, obligation.service_end, obligation.pattern) != (
            start,
            end,
            pattern,
        ):
            obligation.service_start, obligation.service_end = start, end
            obligation.pattern = pattern
            obligation.save(update_fields=["service_start", "service_end", "pattern"])
        kept.append(obligation)
    allocation_refresh(contract=contract, obligations=kept, reason="Contract terms changed")
    return kept


@transaction.atomic
def obligations_group(
    *, obligations: Sequence[PerformanceObligation], name: str = "", pattern: str = ""
) -> PerformanceObligation:
    """Merge obligations of one contract into the first: their lines are one promise.

    Used when a line is not distinct (an activation fee that only enables the subscription).
    The merged obligation takes ``pattern`` or the first one's. Obligations that already have
    recognized revenue cannot be merged away: their history would lose its obligation.
    """
    if len(obligations) < 2:
        raise ValidationError("Choose at least two obligations to group.")
    contract_ids = {o.contract_id for o in obligations}
    if len(contract_ids) != 1:
        raise ValidationError("Only obligations of the same contract can be grouped.")
    if pattern and pattern not in RevenuePolicy.values:
        raise ValidationError({"pattern": f"{pattern!r} is not a recognition pattern."})
    keep, *others = sorted(obligations, key=lambda o: o.sequence)
    recognized = RevenueScheduleEntry.objects.filter(
        obligation__in=others, status=RevenueScheduleEntry.Status.RECOGNIZED
    )
    if recognized.exists():
        raise ValidationError(
            f"{recognized.first().obligation} already has recognized revenue; group obligations "
            "before recognizing them."
        )
    ObligationLine.objects.filter(obligation__in=others).update(obligation=keep)
    PerformanceObligation.objects.filter(pk__in=[o.pk for o in others]).delete()
    keep.name = name or keep.name
    keep.pattern = pattern or keep.pattern
    keep.residual = keep.residual or any(o.residual for o in others)
    keep.save(update_fields=["name", "pattern", "residual"])
    return _resync(contract_id=keep.contract_id, obligation_id=keep.pk)


@transaction.atomic
def obligation_set_residual(*, obligation: PerformanceObligation) -> PerformanceObligation:
    """Allocate the contract by the residual approach, with ``obligation`` taking the residual.

    Refused, with the figures, when the other obligations' SSPs already exceed the price.
    """
    siblings = obligations_of([obligation.contract_id])[obligation.contract_id]
    inputs = _inputs(siblings, PriceFacts.of(_line_ids(siblings)))
    try:
        domain.allocate_residual(inputs, residual_key=str(obligation.pk))
    except ValueError as error:
        raise ValidationError({"residual": str(error)}) from error
    PerformanceObligation.objects.filter(contract_id=obligation.contract_id).update(residual=False)
    PerformanceObligation.objects.filter(pk=obligation.pk).update(residual=True)
    return _resync(contract_id=obligation.contract_id, obligation_id=obligation.pk)


def _resync(*, contract_id: int, obligation_id: int) -> PerformanceObligation:
    """Re-allocate a contract whose obligations changed, re-plan it, and return one of them."""
    from revenue.runs import contracts_recognize  # runs builds on this module

    synced = obligations_sync(contract=Contract.objects.get(pk=contract_id))
    contracts_recognize(contract_ids=[contract_id], as_of=None)
    return next(o for o in synced if o.pk == obligation_id)


def _line_ids(obligations: Sequence[PerformanceObligation]) -> list[int]:
    return [line.pk for o in obligations for line in lines_of(o)]


def own_priced(obligation: PerformanceObligation) -> bool:
    """Whether the obligation keeps its own consideration out of the SSP pool (usage, evergreen)."""
    return obligation.pattern == RevenuePolicy.AS_CONSUMED or obligation.service_end is None


@dataclass(frozen=True)
class PriceFacts:
    """What billing knows of the lines' consideration: live billed periods, credits and
    cancelled milestones."""

    billed: dict[int, list[BilledPeriod]]
    credited: dict[int, list[tuple[date, Money]]]
    cancelled: dict[int, Money] = field(default_factory=dict)
    # Variable consideration by contract id, when the caller loaded it for many contracts.
    variable: dict[int, list[VariableConsideration]] | None = None

    @classmethod
    def of(cls, line_ids: Sequence[int]) -> "PriceFacts":
        return cls(
            billed=billed_periods(line_ids),
            credited=credits_by_line(line_ids),
            cancelled=cancelled_milestones(line_ids),
        )

    def credited_on(self, line: ContractLine) -> Money:
        """Return everything credit notes took back from ``line``."""
        credits = self.credited.get(line.pk, [])
        return sum((amount for _, amount in credits), Money(0, line.contract.currency))


def _line_price(line: ContractLine, facts: PriceFacts) -> Money:
    """Return the consideration a line charges: its term value, or what it billed when open.

    Credit notes reduce it: a credit is a price concession, so the transaction price falls and
    the re-allocation reverses the revenue it no longer supports. So do cancelled milestones:
    the project no longer includes them.
    """
    zero = Money(0, line.contract.currency)
    credited = facts.credited_on(line) + facts.cancelled.get(line.pk, zero)
    billed = facts.billed.get(line.pk, [])
    if line.billing_model == BillingModel.SUBSCRIPTION and line.service_end is None:
        billed = enforceable(billed, today=timezone.localdate())
        return sum((period.amount for period in billed), zero) - credited
    if line.billing_model == BillingModel.USAGE or line.unit_price is None:
        return sum((period.amount for period in billed), zero) - credited
    value = line_term_value(
        line, unit_price=line.unit_price.amount, billed=billed, net_of_prior_lines=True
    )
    return value - credited


def _line_ssp(line: ContractLine, price: Money) -> Money:
    """Return a fixed-term line's SSP over its term: its unit SSP priced on the same periods."""
    if line.unit_price is None:
        return price
    return line_term_value(line, unit_price=line.ssp.amount)


def _inputs(
    obligations: Sequence[PerformanceObligation], facts: PriceFacts
) -> list[domain.Obligation]:
    inputs = []
    for obligation in obligations:
        lines = lines_of(obligation)
        currency = obligation.contract.currency
        price = ssp = Money(0, currency)
        for line in lines:
            line_price = _line_price(line, facts)
            price += line_price
            ssp += line_price if own_priced(obligation) else _line_ssp(line, line_price)
        inputs.append(
            domain.Obligation(
                key=str(obligation.pk),
                ssp=ssp,
                fixed_price=price,
                variable=own_priced(obligation),
            )
        )
    return inputs


def _allocate(
    obligations: Sequence[PerformanceObligation], inputs: list[domain.Obligation]
) -> tuple[str, list[domain.Allocation], str]:
    """Allocate by the contract's method; fall back to relative SSP (saying why) if it can't."""
    residual = next((o for o in obligations if o.residual), None)
    note = ""
    if residual is not None:
        try:
            return (
                Method.RESIDUAL,
                domain.allocate_residual(inputs, residual_key=str(residual.pk)),
                note,
            )
        except ValueError as error:
            note = f"; residual approach not applicable ({error}), relative SSP used"
    pool = [i for i in inputs if not i.variable]
    if pool and sum(i.ssp.amount for i in pool) == 0:
        # No SSP set on any line: allocate as priced rather than refuse to recognize anything.
        inputs = [
            domain.Obligation(i.key, i.fixed_price, i.fixed_price, i.variable) for i in inputs
        ]
        note += "; no SSP on any line, allocated as priced"
    return Method.RELATIVE_SSP, domain.allocate_relative_ssp(inputs), note


def _with_variable(
    obligations: Sequence[PerformanceObligation],
    results: list[domain.Allocation],
    included: Sequence[Included],
) -> list[domain.Allocation]:
    """Add each variable amount to the allocation: to its own obligation, or by relative SSP.

    The pool's shares are weighted by SSP (by price when no pooled obligation has one, evenly
    when none has either), so a pooled bonus follows the fixed price's split; each amount is
    split by the largest-remainder rule and so adds exactly to the price.
    """
    extra = {result.key: Money(0, result.allocated.currency) for result in results}
    by_key = {str(o.pk): o for o in obligations}
    # Usage earns what it bills and would never earn an amount given to it.
    carriers = [r for r in results if by_key[r.key].pattern != RevenuePolicy.AS_CONSUMED]
    pool = [r for r in carriers if r.method != domain.VARIABLE_OWN] or carriers
    for part in included:
        if not part.amount.amount:
            continue
        own = part.item.obligation_id
        if own is not None and any(r.key == str(own) for r in carriers):
            extra[str(own)] += part.amount
            continue
        if not pool:
            raise ValueError(
                f"{part.item} has no obligation to carry it: every obligation is usage."
            )
        weights = [r.ssp.amount for r in pool]
        if not any(weights):
            weights = [by_key[r.key].fixed_price.amount for r in pool]
        if not any(weights):
            weights = [1] * len(pool)
        for result, share in zip(pool, allocate(part.amount, weights), strict=True):
            extra[result.key] += share
    return [replace(r, allocated=r.allocated + extra[r.key]) for r in results]


def _variable_changes(included: Sequence[Included]) -> list[str]:
    """Describe, and remember on each item, the variable amounts that moved since last time."""
    changes, moved = [], []
    for part in included:
        if part.amount != part.item.included:
            changes.append(part.explain(part.item.included))
            part.item.included = part.amount
            moved.append(part.item)
    if moved:
        VariableConsideration.objects.bulk_update(moved, ["included_currency", "included"])
        history_record_bulk(VariableConsideration, moved)
    return changes


def allocation_refresh(
    *,
    contract: Contract,
    obligations: Sequence[PerformanceObligation],
    reason: str,
    facts: PriceFacts | None = None,
    as_of: date | None = None,
    prospective: Mapping[int, Prospective] | None = None,
) -> Allocation | None:
    """Allocate the contract's transaction price and store it when anything changed.

    Variable consideration counts as it stands on ``as_of`` (by default the date the contract
    was last recognized through, else today). After a prospective modification only the
    remaining consideration is re-allocated (``prospective``: the contracts' latest, looked up
    when not given). Returns the new ``Allocation``, or None when the result equals the current
    one, so that calling this on every revenue run costs no writes.
    """
    from revenue.modifications import prospective_of, reallocate_remaining  # builds on this

    if not obligations:
        return None
    facts = facts if facts is not None else PriceFacts.of(_line_ids(obligations))
    inputs = _inputs(obligations, facts)
    if prospective is None:
        prospective = prospective_of([contract.pk])
    if contract.pk in prospective:
        method, results, note = reallocate_remaining(prospective[contract.pk], obligations, inputs)
    else:
        method, results, note = _allocate(obligations, inputs)
    items = (
        facts.variable.get(contract.pk, [])
        if facts.variable is not None
        else variable_items([contract.pk])[contract.pk]
    )
    if items:
        as_of = as_of or pricing_date(contract)
        included = [included_as_of(item, as_of) for item in items]
        results = _with_variable(obligations, results, included)
        reason = "; ".join([*_variable_changes(included), reason])
    by_key = {o.pk: o for o in obligations}
    methods: dict[int, str] = {}
    shares: dict[int, Fraction] = {}
    changed = []
    for item, result in zip(inputs, results, strict=True):
        obligation = by_key[int(item.key)]
        methods[obligation.pk] = (
            Method.EVERGREEN_OWN
            if obligation.service_end is None and result.method == domain.VARIABLE_OWN
            else result.method
        )
        shares[obligation.pk] = result.share
        fresh = (item.ssp, item.fixed_price, result.allocated, methods[obligation.pk])
        if fresh != (
            obligation.ssp,
            obligation.fixed_price,
            obligation.allocated,
            obligation.allocation_method,
        ):
            (
                obligation.ssp,
                obligation.fixed_price,
                obligation.allocated,
                obligation.allocation_method,
            ) = fresh
            changed.append(obligation)
    if not changed:
        return None
    PerformanceObligation.objects.bulk_update(
        changed, ["ssp", "fixed_price", "allocated", "allocation_method"]
    )
    price = sum((r.allocated for r in results), Money(0, contract.currency))
    allocation = Allocation.objects.create(
        contract=contract, method=method, transaction_price=price, reason=(reason + note)[:255]
    )
    ObligationAllocation.objects.bulk_create(
        ObligationAllocation(
            allocation=allocation,
            obligation=obligation,
            ssp=obligation.ssp,
            fixed_price=obligation.fixed_price,
            allocated=obligation.allocated,
            method=methods[obligation.pk],
            share=f"{shares[obligation.pk]}",
            share_percent=_percent(shares[obligation.pk]),
        )
        for obligation in obligations
    )
    return allocation


def _percent(share: Fraction) -> Decimal:
    """Return a share as a percentage on four places, for display beside the exact fraction."""
    exact = Decimal(share.numerator) * 100 / Decimal(share.denominator)
    return exact.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
