"""Contract modifications: checking an amendment, applying it from its effective date, and the
contract as of any date.

Applying never rewrites what happened before the effective date. A quantity or price change on
a subscription line *splits* it: the line ends the day before the effective date and a new line
(next sequence, ``continues`` the old one, keeping its billing cycle through ``billing_anchor``)
carries the new terms. A one-time or milestone line has no periods to split, so its quantity or
value changes in place (what is invoiced stays as billed; milestones follow the value). A term
change moves the end of the contract and of the lines that ran to it; an early termination ends
every line the day before the effective date (the first day without service) and cancels lines
that had not started. Lines added as a separate contract go to a new contract, numbered after
the original (``C-0001-M1``).

After the change, billing hears of the new terms (``contract_terms_announce``) and, on commit,
``contract_modified`` tells revenue the treatment and effective date.
"""

from dataclasses import dataclass
from datetime import date, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max, ProtectedError, Q
from django.dispatch import Signal
from django.utils import timezone

from contracts.domain.modifications import ChangeFacts, propose_treatment
from contracts.models import (
    BillingModel,
    Contract,
    ContractLine,
    Milestone,
    Modification,
    ModificationChange,
    ModificationTreatment,
)
from contracts.services import contract_activate, contract_terms_announce
from contracts.signals import contract_modified

ONE_DAY = timedelta(days=1)
Kind = ModificationChange.Kind
LINE_CHANGES = (Kind.CHANGE_QUANTITY, Kind.CHANGE_PRICE)
CONTRACT_CHANGES = (Kind.CHANGE_TERM, Kind.TERMINATE)

# Sent inside a preview's rolled-back transaction, after the modification was applied there,
# so that billing can say what it would bill and credit without contracts importing billing.
# Arguments: ``modification`` (applied, not yet committed). Receivers return a list of
# ``(heading, rows)`` sections, each row a string.
modification_previewing = Signal()


# --- The treatment rule -------------------------------------------------------------------------


def _live_lines(contract: Contract, on: date) -> list[ContractLine]:
    """Return the contract's lines still in service on ``on`` (or starting later)."""
    remaining = Q(service_end__isnull=True) | Q(service_end__gte=on)
    return list(contract.lines.filter(remaining).select_related("product"))


def _facts(modification: Modification, changes: list[ModificationChange]) -> list[ChangeFacts]:
    contract = modification.contract
    remaining = None
    facts = []
    for change in changes:
        if change.kind == Kind.ADD_LINE:
            ssp = change.product.ssp if change.product_id else None
            at_ssp = (
                ssp is not None
                and change.unit_price is not None
                and ssp.currency == change.unit_price.currency
                and ssp.amount == change.unit_price.amount
            )
            facts.append(ChangeFacts(adds_line=True, at_ssp=at_ssp, policies=frozenset()))
        elif change.kind in LINE_CHANGES:
            policies = frozenset({change.line.revenue_policy}) if change.line_id else frozenset()
            facts.append(ChangeFacts(adds_line=False, at_ssp=False, policies=policies))
        else:
            if remaining is None:
                remaining = frozenset(
                    line.revenue_policy
                    for line in _live_lines(contract, modification.effective_date)
                )
            facts.append(ChangeFacts(adds_line=False, at_ssp=False, policies=remaining))
    return facts


def modification_proposed_treatment(*, modification: Modification) -> tuple[str, str]:
    """Return the treatment the rule proposes for a modification, and why."""
    changes = list(modification.changes.select_related("line__product", "product"))
    if not changes:
        raise ValidationError({"changes": "Add at least one change."})
    return propose_treatment(_facts(modification, changes))


# --- Checks -------------------------------------------------------------------------------------


def change_errors(change: ModificationChange, contract: Contract) -> dict[str, str]:
    """Return what is wrong with one change, by field, in words a finance user can act on."""
    errors: dict[str, str] = {}
    currency = contract.currency
    if change.unit_price is not None and change.unit_price.currency.code != currency:
        errors["unit_price"] = (
            f"This contract is in {currency}; enter the price in {currency}, "
            f"not {change.unit_price.currency.code}."
        )
    if change.quantity is not None and change.quantity <= 0:
        errors["quantity"] = "The quantity must be greater than zero."
    if change.kind == Kind.ADD_LINE:
        if change.product_id is None:
            errors["product"] = "Choose the product to add."
        if change.quantity is None:
            errors.setdefault("quantity", "Give the quantity of the added line.")
        if change.billing_model == BillingModel.USAGE:
            errors["billing_model"] = (
                "A usage line needs a rate plan: add it on the contract page instead."
            )
    elif change.kind in LINE_CHANGES:
        if change.line_id is None:
            errors["line"] = "Choose the line to change."
        elif change.line.contract_id != contract.pk:
            errors["line"] = f"This line is not on contract {contract.number}."
        elif change.line.billing_model == BillingModel.USAGE:
            errors["line"] = "A usage line is priced by its rate plan; change the rate plan."
        if change.kind == Kind.CHANGE_QUANTITY and change.quantity is None:
            errors.setdefault("quantity", "Give the new quantity.")
        if change.kind == Kind.CHANGE_PRICE and change.unit_price is None:
            errors.setdefault("unit_price", "Give the new unit price.")
    elif change.kind == Kind.CHANGE_TERM and change.new_end_date is None:
        errors["new_end_date"] = "Give the term's new last day."
    return errors


def _line_in_service_errors(change: ModificationChange, effective: date) -> dict[str, str]:
    line = change.line
    if line.continued_by.exists():
        successor = line.continued_by.get()
        return {
            "line": f"Line {line.sequence} ended on {line.service_end} and continues as line "
            f"{successor.sequence}; change that line."
        }
    if line.service_start > effective or (line.service_end and line.service_end < effective):
        return {
            "line": f"Line {line.sequence} is not in service on {effective} (it runs "
            f"{line.service_start} to {line.service_end or 'open-ended'})."
        }
    return {}


def modification_validate(
    *, modification: Modification, changes: list[ModificationChange] | None = None
) -> None:
    """Raise ``ValidationError`` naming the field at fault if the modification cannot apply.

    Per-change errors are keyed ``changes`` with the change's position and field, so a form
    can show them; nothing is changed.
    """
    contract = modification.contract
    if changes is None:
        changes = list(modification.changes.select_related("line__product", "product"))
    errors: dict[str, list[str]] = {}

    def add(field_name: str, message: str) -> None:
        errors.setdefault(field_name, []).append(message)

    if modification.is_applied:
        add("status", f"Modification {modification.reference} is applied; it is history.")
    if contract.status != Contract.Status.ACTIVE:
        add(
            "contract",
            f"Contract {contract.number} is {contract.get_status_display().lower()}; only an "
            "active contract is modified (edit a draft directly).",
        )
    effective = modification.effective_date
    if effective is None:
        add("effective_date", "Give the date the modification takes effect.")
    elif effective < contract.start_date or (contract.end_date and effective > contract.end_date):
        add(
            "effective_date",
            f"The effective date must fall within the contract's term ({contract.start_date} "
            f"to {contract.end_date or 'open-ended'}).",
        )
    if not changes:
        add("changes", "Add at least one change.")
    kinds = [change.kind for change in changes]
    if Kind.TERMINATE in kinds and len(kinds) > 1:
        add("changes", "An early termination ends the whole contract; it goes alone.")
    if kinds.count(Kind.CHANGE_TERM) > 1:
        add("changes", "Change the term once per modification.")
    if errors or effective is None:
        raise ValidationError(errors)

    seen_lines: dict[tuple[int, str], int] = {}
    for position, change in enumerate(changes, start=1):
        for field_name, message in change_errors(change, contract).items():
            add(field_name, f"Change {position}: {message}")
        if change.kind in LINE_CHANGES and change.line_id and "line" not in errors:
            key = (change.line_id, change.kind)
            if key in seen_lines:
                add("line", f"Change {position}: change {seen_lines[key]} already changes this.")
            seen_lines[key] = position
            for field_name, message in _line_in_service_errors(change, effective).items():
                add(field_name, f"Change {position}: {message}")
        if change.kind == Kind.CHANGE_TERM and change.new_end_date:
            if change.new_end_date < effective:
                add(
                    "new_end_date",
                    f"Change {position}: the new end cannot be before the effective date "
                    f"({effective}); to end the contract earlier, terminate it.",
                )
            elif change.new_end_date == contract.end_date:
                add("new_end_date", f"Change {position}: the contract already ends then.")
        if change.kind == Kind.TERMINATE and effective <= contract.start_date:
            add(
                "effective_date",
                "A termination takes effect after the contract starts; the first day without "
                "service cannot be its first day.",
            )
    if modification.treatment == ModificationTreatment.SEPARATE_CONTRACT and any(
        kind != Kind.ADD_LINE for kind in kinds
    ):
        add("treatment", "Only added lines can form a separate contract.")
    if not errors and modification.treatment:
        proposed, _ = propose_treatment(_facts(modification, changes))
        if modification.treatment != proposed and not modification.treatment_reason.strip():
            add(
                "treatment_reason",
                f"The rule proposes {ModificationTreatment(proposed).label.lower()}; say why "
                "this modification is treated otherwise.",
            )
    if errors:
        raise ValidationError(errors)


# --- Applying -----------------------------------------------------------------------------------


def _next_sequence(contract: Contract) -> int:
    return (contract.lines.aggregate(top=Max("sequence"))["top"] or 0) + 1


def _clean_line(line: ContractLine) -> None:
    """Run the line's own checks, naming the change's fields (they share the line's names)."""
    try:
        line.full_clean(exclude=["contract", "sequence"])
    except ValidationError as error:
        raise ValidationError(
            {name: [f"The resulting line: {m}" for m in msgs] for name, msgs in error}
        ) from error


def _split(line: ContractLine, effective: date, changes: list[ModificationChange]) -> ContractLine:
    """End ``line`` the day before ``effective`` and start its successor with the new terms."""
    successor = ContractLine(
        contract=line.contract,
        sequence=_next_sequence(line.contract),
        product=line.product,
        description=line.description,
        billing_model=line.billing_model,
        quantity=line.quantity,
        unit_price=line.unit_price,
        service_start=effective,
        service_end=line.service_end,
        ssp_override=line.ssp_override,
        revenue_policy_override=line.revenue_policy_override,
        interval_months=line.interval_months,
        bill_timing=line.bill_timing,
        bill_day_mode=line.bill_day_mode,
        bill_day=line.bill_day,
        one_time_trigger=line.one_time_trigger,
        continues=line,
        billing_anchor=line.billing_anchor or line.service_start,
    )
    _set_terms(successor, changes)
    _clean_line(successor)
    line.service_end = effective - ONE_DAY
    line.save(update_fields=["service_end"])
    successor.save()
    return successor


def _set_terms(line: ContractLine, changes: list[ModificationChange]) -> None:
    for change in changes:
        if change.kind == Kind.CHANGE_QUANTITY:
            line.quantity = change.quantity
        else:
            line.unit_price = change.unit_price


def _change_line(line: ContractLine, effective: date, changes: list[ModificationChange]) -> None:
    """Apply quantity and price changes of one line: a split, or in place where nothing is
    periodic (one-time and milestone lines) or the line starts on the effective date."""
    if line.billing_model == BillingModel.SUBSCRIPTION and line.service_start < effective:
        successor = _split(line, effective, changes)
    else:
        if line.billing_model != BillingModel.MILESTONE and line.invoice_lines.exists():
            # Nothing to split, and what was invoiced would silently disagree with the line.
            raise ValidationError(
                {
                    "line": f"Line {line.sequence} is already invoiced from its start and has "
                    "no later period to change: credit the invoice and add a line instead."
                }
            )
        _set_terms(line, changes)
        _clean_line(line)
        line.save()
        successor = line
    for change in changes:
        change.result_line = successor
        change.save(update_fields=["result_line"])


def _added_line(change: ModificationChange, contract: Contract, start: date) -> ContractLine:
    product = change.product
    billing_model = change.billing_model or product.default_billing_model
    line = ContractLine(
        contract=contract,
        sequence=_next_sequence(contract),
        product=product,
        description=change.description,
        billing_model=billing_model,
        quantity=change.quantity,
        unit_price=change.unit_price,
        service_start=start,
        service_end=contract.end_date,
        interval_months=change.interval_months,
        bill_timing=change.bill_timing,
        bill_day_mode=change.bill_day_mode,
        bill_day=change.bill_day,
        one_time_trigger=change.one_time_trigger,
    )
    if billing_model == BillingModel.SUBSCRIPTION and start > contract.start_date:
        # Co-termed: the added line bills with the contract's cycle, its first period prorated.
        line.billing_anchor = contract.start_date
    _clean_line(line)
    line.save()
    change.result_line = line
    change.save(update_fields=["result_line"])
    return line


def _separate_contract(modification: Modification, contract: Contract) -> Contract:
    """Create the contract the added lines form, numbered after the original, and activate it."""
    count = Modification.objects.filter(contract=contract, separate_contract__isnull=False).count()
    number = f"{contract.number}-M{count + 1}"
    while Contract.objects.filter(number=number).exists():  # taken by hand: the next one
        count += 1
        number = f"{contract.number}-M{count + 1}"
    if len(number) > Contract._meta.get_field("number").max_length:
        raise ValidationError(
            {"treatment": f"Contract number {number} would be too long for a separate contract."}
        )
    return Contract.objects.create(
        number=number,
        customer=contract.customer,
        title=f"{contract.title or contract.number}: modification {modification.reference}"[:255],
        currency=contract.currency,
        signed_date=modification.effective_date,
        start_date=modification.effective_date,
        end_date=contract.end_date,
        evergreen=contract.evergreen,
        finance_owner=contract.finance_owner,
        project_manager=contract.project_manager,
    )


def _cancel_line(line: ContractLine) -> None:
    """Remove a line that had not started when the contract ended before it (audit keeps it)."""
    if line.invoice_lines.exists():
        raise ValidationError(
            {
                "effective_date": f"Line {line.sequence} has not started but is already invoiced; "
                "credit the invoice first or choose a later date."
            }
        )
    try:
        line.delete()
    except ProtectedError as error:
        raise ValidationError(
            {
                "effective_date": f"Line {line.sequence} has not started but has billing records "
                "(shipments, usage, other modifications); it cannot be cancelled."
            }
        ) from error


def _end_lines(contract: Contract, last_day: date, *, old_end: date | None) -> None:
    """Move the end of the lines that ran to ``old_end`` (or past ``last_day``) to ``last_day``.

    Lines that start after ``last_day`` are cancelled.
    """
    ends_with_term = Q(service_end=old_end) if old_end else Q(pk__in=[])
    moving = Q(service_end__isnull=True) | Q(service_end__gt=last_day) | ends_with_term
    for line in contract.lines.filter(moving):
        if line.service_start > last_day:
            _cancel_line(line)
        elif line.service_end is None or line.service_end > last_day or line.service_end == old_end:
            line.service_end = last_day
            line.save(update_fields=["service_end"])


def _change_term(contract: Contract, change: ModificationChange) -> None:
    old_end = contract.end_date
    change.previous_end_date = old_end
    change.save(update_fields=["previous_end_date"])
    contract.end_date = change.new_end_date
    contract.evergreen = False
    contract.save(update_fields=["end_date", "evergreen", "updated_at"])
    _end_lines(contract, change.new_end_date, old_end=old_end)


def _terminate(contract: Contract, change: ModificationChange, effective: date) -> None:
    last_day = effective - ONE_DAY
    change.previous_end_date = contract.end_date
    change.save(update_fields=["previous_end_date"])
    # Planned milestones of the ended project lines will not be reached.
    Milestone.objects.filter(
        line__contract=contract, status=Milestone.Status.PLANNED, planned_date__gte=effective
    ).update(status=Milestone.Status.CANCELLED)
    contract.end_date = last_day
    contract.evergreen = False
    contract.status = Contract.Status.TERMINATED
    contract.terminated_on = effective
    contract.save(update_fields=["end_date", "evergreen", "status", "terminated_on", "updated_at"])
    _end_lines(contract, last_day, old_end=None)


def _apply_changes(
    modification: Modification, contract: Contract, changes: list[ModificationChange]
) -> Contract | None:
    """Change the contract's lines; return the separate contract created, if any."""
    effective = modification.effective_date
    if modification.treatment == ModificationTreatment.SEPARATE_CONTRACT:
        separate = _separate_contract(modification, contract)
        for change in changes:
            _added_line(change, separate, effective)
        return separate
    by_line: dict[int, list[ModificationChange]] = {}
    for change in changes:
        if change.kind in LINE_CHANGES:
            by_line.setdefault(change.line_id, []).append(change)
    for line_changes in by_line.values():
        _change_line(line_changes[0].line, effective, line_changes)
    for change in changes:
        if change.kind == Kind.ADD_LINE:
            _added_line(change, contract, effective)
        elif change.kind == Kind.CHANGE_TERM:
            _change_term(contract, change)
        elif change.kind == Kind.TERMINATE:
            _terminate(contract, change, effective)
    return None


def _apply_locked(modification: Modification, *, by: str) -> tuple[Modification, bool]:
    """Apply under the modification's and the contract's row locks, in the caller's transaction.

    Return the row and whether this call applied it (False: it was applied already).
    """
    row = Modification.objects.select_for_update().get(pk=modification.pk)
    if row.is_applied:
        return row, False
    row.contract = Contract.objects.select_for_update().get(pk=row.contract_id)
    changes = list(row.changes.select_related("line__product", "line__contract", "product"))
    modification_validate(modification=row, changes=changes)
    if not row.treatment:
        row.treatment, _ = propose_treatment(_facts(row, changes))
    row.separate_contract = _apply_changes(row, row.contract, changes)
    row.status = Modification.Status.APPLIED
    row.applied_by = by
    row.applied_at = timezone.now()
    row.save()
    return row, True


@transaction.atomic
def modification_apply(*, modification: Modification, by: str = "") -> Modification:
    """Apply a draft modification to its contract from its effective date.

    Idempotent: under the modification's row lock an applied one is returned as it is, so
    applying twice or concurrently applies once. Raises ``ValidationError`` (changing nothing)
    when the modification cannot apply. After commit, billing refreshes the contract's schedule
    and ``contract_modified`` announces the treatment to revenue.
    """
    row, applied_now = _apply_locked(modification, by=by)
    if not applied_now:
        return row
    contract = row.contract
    contract_terms_announce(contract=contract)
    if row.separate_contract is not None:
        contract_activate(contract=row.separate_contract)
    transaction.on_commit(
        lambda: contract_modified.send(
            sender=Contract,
            contract=contract,
            modification_id=row.pk,
            effective_date=row.effective_date,
            treatment=row.treatment,
        )
    )
    return row


# --- Preview ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModificationPreview:
    """What applying a modification would do, for the user to check before applying it."""

    treatment: str
    proposed_treatment: str
    proposal_reason: str
    ending: list[str]
    starting: list[str]
    changed: list[str]
    contract_terms: list[str]
    billing: list[tuple[str, list[str]]]


class _Rollback(Exception):
    """Raised to undo a preview's trial application."""


def _describe_line(line: ContractLine) -> str:
    price = line.unit_price or "no price"
    return (
        f"Line {line.sequence} {line.product.name}: {line.quantity.normalize():f} x {price}, "
        f"{line.service_start} to {line.service_end or 'open-ended'}"
    )


def modification_preview(*, modification: Modification) -> ModificationPreview:
    """Apply a draft modification in a transaction that is rolled back, and report what changed.

    The lines that would end, start or change, the contract's new terms, and what billing says
    it would charge or credit (``modification_previewing``). Raises the ``ValidationError`` the
    application would raise.
    """
    proposed, why = modification_proposed_treatment(modification=modification)
    contract = modification.contract
    before = {line.pk: line for line in contract.lines.select_related("product")}
    try:
        with transaction.atomic():
            row, _ = _apply_locked(modification, by="preview")
            after = {line.pk: line for line in contract.lines.select_related("product")}
            if row.separate_contract is not None:
                after.update(
                    {
                        line.pk: line
                        for line in row.separate_contract.lines.select_related("product")
                    }
                )
            ending, starting, changed = [], [], []
            for pk, line in after.items():
                old = before.get(pk)
                if old is None:
                    where = (
                        "" if line.contract_id == contract.pk else f" (on {line.contract.number})"
                    )
                    starting.append(_describe_line(line) + where)
                elif old.service_end != line.service_end:
                    ending.append(
                        f"Line {line.sequence} {line.product.name} now ends {line.service_end}"
                    )
                elif (old.quantity, old.unit_price) != (line.quantity, line.unit_price):
                    changed.append(_describe_line(line))
            ending += [
                f"Line {line.sequence} {line.product.name} is cancelled (not started)"
                for pk, line in before.items()
                if pk not in after
            ]
            updated = row.contract
            terms = [
                f"Status: {updated.get_status_display()}",
                f"End: {updated.end_date or 'evergreen'}",
            ]
            if row.separate_contract is not None:
                terms.append(
                    f"New contract {row.separate_contract.number} from {row.effective_date}"
                )
            billing = [
                section
                for _, sections in modification_previewing.send(
                    sender=Modification, modification=row
                )
                for section in sections
            ]
            preview = ModificationPreview(
                treatment=row.treatment,
                proposed_treatment=proposed,
                proposal_reason=why,
                ending=ending,
                starting=starting,
                changed=changed,
                contract_terms=terms,
                billing=billing,
            )
            raise _Rollback
    except _Rollback:
        pass
    return preview


# --- The contract as of a date ------------------------------------------------------------------


@dataclass(frozen=True)
class ContractAsOf:
    """A contract's terms in effect on a date, and the modifications effective by then."""

    contract: Contract
    on: date
    status: str
    end_date: date | None
    lines: list[ContractLine]
    modifications: list[Modification]
    later_modifications: list[Modification]


def contract_as_of(*, contract: Contract, on: date) -> ContractAsOf:
    """Return the contract as it stood on ``on``, by effective dating.

    A modification never rewrites a line's past: the lines in service on a date carry the terms
    in effect then (a split line's predecessor before the effective date, its successor from
    it). A term change or termination effective later records the end it replaced, which is the
    end in effect before it. Three queries whatever the number of lines.
    """
    applied = list(
        contract.modifications.filter(status=Modification.Status.APPLIED)
        .prefetch_related("changes")
        .order_by("effective_date", "pk")
    )
    effective = [m for m in applied if m.effective_date <= on]
    later = [m for m in applied if m.effective_date > on]
    end_date = contract.end_date
    for modification in later:
        moved = [c for c in modification.changes.all() if c.kind in CONTRACT_CHANGES]
        if moved:
            end_date = moved[0].previous_end_date
            break
    if on < contract.start_date:
        status = "Not started"
    elif contract.terminated_on and on >= contract.terminated_on:
        status = "Terminated"
    elif end_date and on > end_date:
        status = "Ended"
    else:
        status = "In effect"
    lines = list(
        contract.lines.filter(service_start__lte=on)
        .filter(Q(service_end__isnull=True) | Q(service_end__gte=on))
        .select_related("product", "continues")
    )
    return ContractAsOf(
        contract=contract,
        on=on,
        status=status,
        end_date=end_date,
        lines=lines,
        modifications=effective,
        later_modifications=later,
    )
