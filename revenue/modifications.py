"""Revenue's side of a contract modification: its treatment, recorded when it takes effect.

MODIFICATIONS (contracts) applies an amendment to the contract's lines and then announces
``contract_modified`` with one of three treatments (ASC 606-10-25-10 to 25-13):

- **separate contract** (25-12: distinct goods added at their SSP): the added goods are a new
  contract, recognized on its own when it is activated; the original's revenue is untouched.
- **cumulative catch-up** (25-13(b): what remains is not distinct): the engine's default. The
  whole contract is re-allocated and the difference from what is recognized posts in the first
  open period.
- **prospective** (25-13(a): what remains is distinct): what each obligation earned before the
  effective date is frozen here (``ModificationTreatment.bases``) and only the remaining
  consideration is re-allocated, to what remains from the date (``revenue.domain.prospective``).

A quantity or price change splits a line at the effective date (the old line ends the day
before, a new line with the new terms starts on it, same product). For both re-allocating
treatments the new line continues the old line's obligation: one promise, re-measured, not a
new one (so a catch-up re-measures it as a whole, and prospective treatment spreads what remains
of it over its remaining days).
"""

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction

from django.db import transaction
from django.db.models import Max, Q
from djmoney.money import Money

from billing.selectors import line_term_value
from contracts.models import Contract, ContractLine, Modification, RevenuePolicy
from revenue.curves import curves
from revenue.domain import allocation as domain
from revenue.domain.earning import Step, earned_through
from revenue.domain.prospective import Base, Prospective, allocate_remaining, partial_month
from revenue.domain.recognition import ONE_DAY, month_end, month_start
from revenue.models import (
    Allocation,
    ModificationTreatment,
    ObligationLine,
    ObligationSnapshot,
    PerformanceObligation,
    RevenueScheduleEntry,
)
from revenue.obligations import lines_of, obligations_of, obligations_sync, own_priced, service_span
from rms.money import round_fraction

Treatment = ModificationTreatment.Treatment


def prospective_of(contract_ids: Sequence[int]) -> dict[int, Prospective]:
    """Return each contract's latest prospective modification (by effective date), if any.

    Only the latest counts: it was recorded on the curves the earlier ones had already shaped,
    so its bases carry them. One query for any number of contracts.
    """
    found: dict[int, Prospective] = {}
    for record in ModificationTreatment.objects.filter(
        contract_id__in=contract_ids, treatment=Treatment.PROSPECTIVE
    ).order_by("contract_id", "effective_date", "pk"):
        found[record.contract_id] = _prospective(record)
    return found


def _prospective(record: ModificationTreatment) -> Prospective:
    bases = {}
    for key, stored in record.bases.items():
        code = stored["currency"]
        bases[int(key)] = Base(
            earned=Money(Decimal(stored["earned"]), code),
            steps=tuple(
                Step(date.fromisoformat(on), Money(Decimal(amount), code))
                for on, amount in stored["steps"]
            ),
            allocated=Money(Decimal(stored["allocated"]), code),
        )
    return Prospective(label=record.label, effective=record.effective_date, bases=bases)


def reallocate_remaining(
    prospective: Prospective,
    obligations: Sequence[PerformanceObligation],
    inputs: list[domain.Obligation],
) -> tuple[str, list[domain.Allocation], str]:
    """Allocate a contract under a prospective modification, with the note that explains it.

    Each obligation keeps its base and shares the remaining consideration by the SSP of what
    remains of it from the effective date (``remaining_ssp``).
    """
    by_key = {str(o.pk): o for o in obligations}
    currency = obligations[0].contract.currency
    zero = Money(0, currency)
    earned = {
        key: base.earned for key in by_key if (base := prospective.bases.get(int(key))) is not None
    }
    remaining_ssps = {
        item.key: _remaining_ssp(by_key[item.key], item.ssp, prospective)
        for item in inputs
        if not item.variable
    }
    results, remaining = allocate_remaining(inputs, earned=earned, remaining_ssp=remaining_ssps)
    parts = ", ".join(
        f"{by_key[result.key].name} {(result.allocated - earned.get(result.key, zero)).amount:,}"
        for result in results
        if result.method == domain.RELATIVE_SSP
    )
    kept = sum(earned.values(), zero)
    note = (
        f"; {prospective.describe()}: remaining {remaining.amount:,} allocated to {parts}; "
        f"{kept.amount:,} earned before it kept"
    )
    return PerformanceObligation.AllocationMethod.RELATIVE_SSP, results, note


def _remaining_ssp(
    obligation: PerformanceObligation, ssp: Money, prospective: Prospective
) -> Money:
    """Return the SSP of what remains of an obligation from the effective date.

    A ratable obligation's lines count for their days from the date (a line that ended before
    it counts nothing, one that starts after it counts whole). Any other obligation counts the
    part of its SSP not yet transferred: one minus what it earned before the date over what it
    was then allocated.
    """
    effective = prospective.effective
    currency = obligation.contract.currency
    if obligation.pattern == RevenuePolicy.RATABLE:
        total = Fraction(0)
        for line in lines_of(obligation):
            days = (line.service_end - line.service_start).days + 1
            left = (line.service_end - max(line.service_start, effective)).days + 1
            if days > 0 and left > 0:
                total += Fraction(_line_ssp(line).amount) * left / days
        return round_fraction(total, currency)
    base = prospective.bases.get(obligation.pk)
    if base is None or base.allocated.amount == 0:
        return ssp
    done = Fraction(base.earned.amount) / Fraction(base.allocated.amount)
    done = min(Fraction(1), max(Fraction(0), done))
    return round_fraction(Fraction(ssp.amount) * (1 - done), currency)


def _line_ssp(line: ContractLine) -> Money:
    """A line's SSP over its term (its price when it has no unit price to price the SSP on)."""
    if line.unit_price is None:
        return Money(0, line.contract.currency)
    return line_term_value(line, unit_price=line.ssp.amount)


@transaction.atomic
def modification_account(
    *, contract: Contract, modification_id: int, effective_date: date, treatment: str
) -> ModificationTreatment:
    """Record how revenue treats a modification, then re-allocate and re-plan the contract.

    Recorded once: the same modification announced again changes nothing. For a prospective
    treatment each obligation's base is taken from its curve on the old terms: the obligations
    as they are when the lines' change has not been synced yet, else as they were before the
    sync that followed it (``ObligationSnapshot``).
    """
    from revenue.runs import contracts_recognize, curve_facts  # runs builds on this module

    Contract.objects.select_for_update().filter(pk=contract.pk).first()
    existing = ModificationTreatment.objects.filter(
        contract=contract, modification_id=modification_id
    ).first()
    if existing is not None:
        return existing
    if treatment not in Treatment.values:
        raise ValueError(f"{treatment!r} is not a modification treatment.")
    record = ModificationTreatment(
        contract=contract,
        modification_id=modification_id,
        reference=Modification.objects.filter(pk=modification_id)
        .values_list("reference", flat=True)
        .first()
        or "",
        effective_date=effective_date,
        treatment=treatment,
    )
    if treatment == Treatment.SEPARATE_CONTRACT:
        # The added goods are their own contract; the original is as it was.
        record.save()
        return record
    obligations = obligations_of([contract.pk])[contract.pk]
    if treatment == Treatment.PROSPECTIVE:
        earlier = prospective_of([contract.pk]).get(contract.pk)
        before = _obligations_before(contract, obligations)
        facts = curve_facts(
            [o for o, _ in before], lines=[line for _, lines in before for line in lines]
        )
        record.bases = _bases(before, facts, effective_date, earlier)
    record.save()
    _continue_split_lines(contract, obligations, effective_date)
    last_allocation = Allocation.objects.filter(contract=contract).aggregate(last=Max("pk"))
    because = f"Modification {record.label} effective {effective_date:%Y-%m-%d}, " + (
        "prospective" if treatment == Treatment.PROSPECTIVE else "cumulative catch-up"
    )
    obligations_sync(contract=contract)
    # The re-allocation just stored is this modification's: say so where users read it.
    for allocation in Allocation.objects.filter(
        contract=contract, pk__gt=last_allocation["last"] or 0
    ):
        if because not in allocation.reason:
            allocation.reason = f"{because}: {allocation.reason}"[:255]
            allocation.save(update_fields=["reason"])
    contracts_recognize(contract_ids=[contract.pk], as_of=None, because=because)
    return record


def _bases(
    obligations: Sequence[tuple[PerformanceObligation, list[ContractLine]]],
    facts,
    effective: date,
    earlier: Prospective | None,
) -> dict[str, dict]:
    """Freeze what each obligation earned before ``effective``, on its curve as it stands.

    A ratable curve recognizes a month at its end, so when the date falls inside a month the
    days before it are added at that month's rate (they were served on the old terms).
    """
    bases = {}
    day_before = effective - ONE_DAY
    for obligation, lines in obligations:
        if own_priced(obligation):
            continue
        currency = obligation.contract.currency
        actual, forecast = curves(obligation, lines, facts, as_of=day_before, prospective=earlier)
        earned = earned_through(actual, day_before, currency=currency)
        start, end = obligation.service_start, obligation.service_end
        if (
            obligation.pattern == RevenuePolicy.RATABLE
            and start < effective <= end
            and effective != month_start(effective)
        ):
            first = max(month_start(effective), start)
            month_amount = earned_through(
                forecast, month_end(effective), currency=currency
            ) - earned_through(forecast, month_start(effective) - ONE_DAY, currency=currency)
            earned += partial_month(
                month_amount=month_amount,
                month_first=first,
                month_last=min(month_end(effective), end),
                effective=effective,
            )
        bases[str(obligation.pk)] = {
            "currency": currency,
            "earned": str(earned.amount),
            "allocated": str(obligation.allocated.amount),
            "steps": [
                [step.on.isoformat(), str(step.cumulative.amount)]
                for step in actual
                if step.on < effective
            ],
        }
    return bases


def awaiting_sync(by_contract: dict[int, list[PerformanceObligation]]) -> set[int]:
    """Return the contracts whose lines are not what their obligations were last synced to."""
    waiting = set(
        ContractLine.objects.filter(contract_id__in=list(by_contract), obligation_link__isnull=True)
        .values_list("contract_id", flat=True)
        .distinct()
    )
    for contract_id, group in by_contract.items():
        for obligation in group:
            lines = lines_of(obligation)
            if lines and service_span(lines) != (obligation.service_start, obligation.service_end):
                waiting.add(contract_id)
    return waiting


def _lines_fingerprint(contract_id: int) -> str:
    """Return a digest of the contract's lines' terms, to recognize the lines a sync saw."""
    rows = (
        ContractLine.objects.filter(contract_id=contract_id)
        .order_by("pk")
        .values_list("pk", "service_start", "service_end", "quantity", "unit_price", "product_id")
    )
    return hashlib.sha256(repr([tuple(map(str, row)) for row in rows]).encode()).hexdigest()


def obligations_remember(*, contract: Contract) -> None:
    """Keep the contract's obligations as they are, before a change of terms is synced."""
    obligations = obligations_of([contract.pk])[contract.pk]
    ObligationSnapshot.objects.update_or_create(
        contract=contract,
        defaults={
            "lines_after": _lines_fingerprint(contract.pk),
            "obligations": [
                {
                    "id": o.pk,
                    "sequence": o.sequence,
                    "name": o.name,
                    "pattern": o.pattern,
                    "service_start": o.service_start.isoformat(),
                    "service_end": o.service_end.isoformat() if o.service_end else None,
                    "allocated": str(o.allocated.amount),
                    "lines": [line.pk for line in lines_of(o)],
                }
                for o in obligations
            ],
        },
    )


def _obligations_before(
    contract: Contract, obligations: list[PerformanceObligation]
) -> list[tuple[PerformanceObligation, list[ContractLine]]]:
    """Return the obligations (with their lines) on the terms before the modification.

    Not synced yet: they are the live ones. Already synced to these very lines (contracts
    announced the terms first): the snapshot that sync kept, rebuilt unsaved.
    """
    snapshot = ObligationSnapshot.objects.filter(contract=contract).first()
    if (
        snapshot is None
        or awaiting_sync({contract.pk: obligations})
        or snapshot.lines_after != _lines_fingerprint(contract.pk)
    ):
        return [(o, lines_of(o)) for o in obligations]
    ids = [line_id for row in snapshot.obligations for line_id in row["lines"]]
    lines = ContractLine.objects.select_related("product", "contract").in_bulk(ids)
    return [
        (
            PerformanceObligation(
                pk=row["id"],
                contract=contract,
                sequence=row["sequence"],
                name=row["name"],
                pattern=row["pattern"],
                service_start=date.fromisoformat(row["service_start"]),
                service_end=date.fromisoformat(row["service_end"]) if row["service_end"] else None,
                allocated=Money(Decimal(row["allocated"]), contract.currency),
            ),
            [lines[line_id] for line_id in row["lines"] if line_id in lines],
        )
        for row in snapshot.obligations
    ]


def _continue_split_lines(
    contract: Contract, obligations: Sequence[PerformanceObligation], effective: date
) -> None:
    """Put each line split off at ``effective`` into the obligation of the line it continues.

    The continued line is the one the new line says it ``continues`` (a line added by the
    modification continues none). If a change of terms already gave the new line an obligation
    of its own, the link moves (the emptied obligation is then removed by the sync, or kept with
    its history if it recognized any).
    """
    owner = {
        line.pk: obligation
        for obligation in obligations
        for line in lines_of(obligation)
        if line.service_end == effective - ONE_DAY
    }
    split = ContractLine.objects.filter(
        contract=contract, service_start=effective, continues__isnull=False
    )
    links = ObligationLine.objects.in_bulk([line.pk for line in split], field_name="line_id")
    for line in split:
        obligation = owner.get(line.continues_id)
        if obligation is None:
            continue
        link = links.get(line.pk)
        if link is None:
            ObligationLine.objects.create(obligation=obligation, line=line)
        elif link.obligation_id != obligation.pk:
            link.obligation = obligation
            link.save(update_fields=["obligation"])


@dataclass(frozen=True)
class ModificationRow:
    """One modification on the contract revenue page: its treatment and what it moved."""

    record: ModificationTreatment
    explanation: str
    postings: list[RevenueScheduleEntry]

    @property
    def posted(self) -> Money:
        return sum((e.amount for e in self.postings), Money(0, self.record.contract.currency))


def modification_rows(contract: Contract) -> list[ModificationRow]:
    """Return the contract's modifications with their allocation note and postings, 3 queries.

    The allocation that a modification caused names it in its reason, and the postings it
    caused name it in their descriptions: both are found by the modification's reference.
    """
    records = list(
        ModificationTreatment.objects.filter(contract=contract).order_by("effective_date", "pk")
    )
    if not records:
        return []
    named = Q()
    for record in records:
        named |= Q(description__contains=f"Modification {record.label} ")
    postings = list(
        RevenueScheduleEntry.objects.filter(
            named, contract=contract, status=RevenueScheduleEntry.Status.RECOGNIZED
        )
        .select_related("obligation")
        .order_by("pk")
    )
    reasons = list(
        contract.allocations.filter(reason__contains="Modification M-")
        .order_by("-computed_at", "-pk")
        .values_list("reason", flat=True)
    )
    rows = []
    for record in records:
        tag = f"Modification {record.label} "
        rows.append(
            ModificationRow(
                record=record,
                explanation=next((reason for reason in reasons if tag in reason), ""),
                postings=[entry for entry in postings if tag in entry.description],
            )
        )
    return rows
