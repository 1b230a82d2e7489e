"""Milestone schedules of milestone lines: one row per milestone, a line's rows next to each other.

A milestone is found by ``contract_number``, ``line_sequence`` (a milestone line of that
contract) and ``milestone_sequence``; a row updates the milestone it finds and creates a
planned one when it finds none. Each milestone is worth either a ``percent`` of the line's value
(quantity x unit price) or a fixed ``amount`` in the contract's currency: a row fills exactly
one of the two. A file with neither column keeps each stored milestone's terms.

Only planned milestones change. Achieved and invoiced ones are history (a credit note reverses
them) and cancelled ones are the record of what was dropped: a row naming one is unchanged
when it matches what is stored, and refused otherwise.

A line's schedule must sum exactly to the line's value, as the admin's schedule page requires
(``contracts.milestones``): achieved and invoiced milestones count by their amount, planned
ones by their fixed amount or their percent of the value, and the last planned percent
milestone absorbs the rounding remainder, so 33.3333%, 33.3333% and 33.3334% of 1,000.00 are
333.33, 333.33 and 333.34. The check covers the whole line, so the planned milestones of a line
that the file does not list are left as they are but count towards the sum (their amounts
follow the remainder when it moves to a new last percent milestone). A schedule that does not
sum is refused with both figures; milestones are never deleted by an import.

The rows of one line are checked together, so they must be next to each other in the file;
rows of a line met again further down are refused, naming the row where the line first came.
"""

from collections import defaultdict
from collections.abc import Iterator

from django.db import models, transaction
from djmoney.money import Money

from contracts.milestones import HISTORY, line_value, schedule_amounts
from contracts.models import BillingModel, Contract, ContractLine, Milestone
from contracts.validation import row_errors
from imports import cells
from imports.engine import Column, Layout, Row, Status
from imports.objects import Changes, assign, cell, changed_fields, snapshot
from rms.money import money_text, round_money

# Columns read into the field of the same name (percent and amount are read as terms).
MILESTONE_FIELDS = ("name", "description", "planned_date", "external_reference")
COLUMN_OF_MILESTONE = {
    "sequence": "milestone_sequence",
    "percent": "percent",
    "amount": "amount",
    **{name: name for name in MILESTONE_FIELDS},
}
# A description is free text; this bounds a cell pasted by mistake, not a real one.
DESCRIPTION_MAX_LENGTH = 10_000
PROTECTED = "only planned milestones change by import"

LineKey = tuple[str, int]


class MilestonesLayout(Layout):
    name = "milestones"
    title = "Milestone schedules"
    model = Milestone
    key = ("contract_number", "line_sequence", "milestone_sequence")
    group = ("contract_number", "line_sequence")
    group_label = "line's schedule"
    whole_groups = True
    columns = (
        Column("contract_number", cells.text(32), required=True, help="The contract's number."),
        Column(
            "line_sequence",
            cells.integer(low=1, high=32767),
            required=True,
            help="The milestone line of the contract.",
        ),
        Column(
            "milestone_sequence",
            cells.integer(low=1, high=32767),
            required=True,
            help="1, 2, 3… within the line: the order the milestones come in.",
        ),
        Column("name", cells.text(255), required=True, help="e.g. Design sign-off."),
        Column("description", cells.text(DESCRIPTION_MAX_LENGTH)),
        Column("planned_date", cells.iso_date, required=True, help="YYYY-MM-DD."),
        Column(
            "percent",
            cells.decimal(not_negative=True),
            help="Share of the line's value, e.g. 25; or give an amount instead.",
        ),
        Column(
            "amount",
            cells.decimal(not_negative=True),
            help="A fixed amount in the contract's currency; or give a percent instead.",
        ),
        Column("external_reference", cells.text(128), help="e.g. the PSA's task id."),
    )

    def __init__(self) -> None:
        super().__init__()
        # The first row of each line's schedule, to refuse its rows met again further down.
        self._first_rows: dict[LineKey, int] = {}

    # --- Import ------------------------------------------------------------------------

    def write(self, rows: list[Row]) -> None:
        schedules = self._schedules(rows)
        found = _Lookups(schedules)
        changes = Changes()
        for (number, sequence), group in schedules.items():
            line = found.lines.get((number, sequence))
            if line is None or line.billing_model != BillingModel.MILESTONE:
                for row in group:
                    _refuse_line(row, line, found)
                continue
            _Schedule(line, found.milestones[line.pk]).apply(group, changes)
        with transaction.atomic():
            changes.write(Milestone)

    def _schedules(self, rows: list[Row]) -> dict[LineKey, list[Row]]:
        """Group the rows by line, refusing a line's rows that come after another line's."""
        runs: list[tuple[LineKey, list[Row]]] = []
        for row in rows:
            key = (row.values["contract_number"], row.values["line_sequence"])
            if runs and runs[-1][0] == key:
                runs[-1][1].append(row)
            else:
                runs.append((key, [row]))
        schedules = {}
        for key, group in runs:
            first = self._first_rows.setdefault(key, group[0].number)
            if first == group[0].number:
                schedules[key] = group
                continue
            for row in group:
                row.refuse(
                    "line_sequence",
                    "rows of one line's schedule must be next to each other; line "
                    f"{key[1]} of {key[0]} was first seen on row {first}.",
                )
        return schedules

    # --- Export ------------------------------------------------------------------------

    def export_rows(self, queryset: models.QuerySet) -> Iterator[dict[str, str]]:
        milestones = queryset.select_related("line__contract").order_by(
            "line__contract__number", "line__sequence", "sequence"
        )
        for milestone in milestones.iterator(chunk_size=2000):
            yield {
                "contract_number": milestone.line.contract.number,
                "line_sequence": str(milestone.line.sequence),
                "milestone_sequence": str(milestone.sequence),
                **{name: cell(getattr(milestone, name)) for name in MILESTONE_FIELDS},
                "percent": cell(milestone.percent),
                "amount": "" if milestone.percent is not None else cell(milestone.amount),
            }


def _refuse_line(row: Row, line: ContractLine | None, found: "_Lookups") -> None:
    number, sequence = row.values["contract_number"], row.values["line_sequence"]
    if number not in found.contracts:
        row.refuse("contract_number", f"no contract has the number {number}.")
    elif line is None:
        row.refuse("line_sequence", f"contract {number} has no line {sequence}.")
    else:
        billed_by = line.get_billing_model_display().lower()
        row.refuse(
            "line_sequence",
            f"line {sequence} of {number} is billed by {billed_by}, not by milestones; only "
            "milestone lines have a milestone schedule.",
        )


class _Schedule:
    """One line's milestones as stored, changed by the file's rows for that line."""

    def __init__(self, line: ContractLine, stored: list[Milestone]) -> None:
        self.line = line
        self.currency = line.contract.currency
        self.milestones = {milestone.sequence: milestone for milestone in stored}
        self.amounts = {milestone.sequence: milestone.amount for milestone in stored}

    def apply(self, rows: list[Row], changes: Changes) -> None:
        """Check the rows against the line, then write them if the schedule still sums."""
        edited: list[tuple[Row, Milestone, dict, bool]] = []
        for row in rows:
            sequence = row.values["milestone_sequence"]
            milestone = self.milestones.get(sequence)
            new = milestone is None
            milestone = milestone or Milestone(line=self.line, sequence=sequence)
            before = snapshot(milestone)
            self._set(row, milestone, new=new)
            if milestone.status == Milestone.Status.PLANNED:
                self.milestones[sequence] = milestone
                edited.append((row, milestone, before, new))
            else:
                _refuse_changes(row, milestone, before)
        bad = next((row.number for row in rows if row.errors), None)
        bad = bad or next((row.blocked_by for row in rows if row.blocked_by), None)
        if bad is None:
            bad = self._check_sum(rows[0])
        if bad is not None:
            for row in rows:
                if not row.errors:
                    row.refuse("", f"not imported: this line's schedule has errors on row {bad}.")
            return
        for row, milestone, before, new in edited:
            changes.add(milestone, row, new=new, changed=changed_fields(milestone, before))
            row.status = changes.status_of(row)
        for row in rows:
            row.status = row.status or Status.UNCHANGED  # history that matches the file
        listed = {milestone.sequence for _, milestone, _, _ in edited}
        for sequence, milestone in self.milestones.items():
            if sequence not in listed and milestone.amount != self.amounts[sequence]:
                changes.updated.append(milestone)
                changes.fields.add("amount")

    def _set(self, row: Row, milestone: Milestone, *, new: bool) -> None:
        """Set the milestone's fields from the row; a planned percent's amount comes later."""
        for name in MILESTONE_FIELDS:
            if row.present(name):
                assign(milestone, name, row.values[name], new=new)
        percent, amount = row.values.get("percent"), row.values.get("amount")
        if not (row.present("percent") or row.present("amount")):
            if new:
                row.refuse("percent", "is missing: a new milestone needs a percent or an amount.")
        elif (percent is None) == (amount is None):
            what = "both are filled" if percent is not None else "both are empty"
            row.refuse("percent", f"give a percent or an amount, exactly one ({what}).")
        elif percent is not None:
            milestone.percent = percent
        elif round_money(amount, self.currency).amount != amount:
            row.refuse("amount", f"{amount} has more decimals than {self.currency} has.")
        else:
            milestone.percent = None
            milestone.amount = Money(amount, self.currency)
        # A new percent milestone is priced with its schedule (_check_sum), so has no amount yet.
        exclude = {"line"} if milestone.amount is not None else {"line", "amount"}
        row.refuse_all(row_errors(milestone, exclude=exclude, unique=False), COLUMN_OF_MILESTONE)

    def _check_sum(self, first: Row) -> int | None:
        """Price the planned milestones; return ``first``'s number if the schedule does not sum.

        The pricing is the admin's (``contracts.milestones``): see the module docstring.
        """
        value = line_value(self.line)
        counted = sorted(
            (m for m in self.milestones.values() if m.status != Milestone.Status.CANCELLED),
            key=lambda m: m.sequence,
        )
        history = [m for m in counted if m.status in HISTORY]
        planned = [m for m in counted if m.status == Milestone.Status.PLANNED]
        amounts = schedule_amounts(
            value,
            [(m.amount, m.percent) for m in history],
            [(None if m.percent is not None else m.amount, m.percent) for m in planned],
        )
        used = sum((m.amount for m in history), Money(0, self.currency))
        total = used + sum(amounts, Money(0, self.currency))
        if total != value:
            already = f" (of which {money_text(used)} already achieved)" if used else ""
            first.refuse(
                "percent" if first.values.get("percent") is not None else "amount",
                f"the milestones of line {self.line.sequence} of {self.line.contract.number} "
                f"sum to {money_text(total)}{already} but the line's value is "
                f"{money_text(value)}; they must sum exactly to it.",
            )
            return first.number
        for milestone, amount in zip(planned, amounts, strict=True):
            milestone.amount = amount
        return None


def _refuse_changes(row: Row, milestone: Milestone, before: dict) -> None:
    """Refuse each column in which the row would change a milestone that is not planned."""
    for name in changed_fields(milestone, before):
        stored = cell(before[milestone._meta.get_field(name).attname]) or "(empty)"
        sent = cell(getattr(milestone, name)) or "(empty)"
        row.refuse(
            COLUMN_OF_MILESTONE.get(name, ""),
            f"milestone {milestone.sequence} is {milestone.status}; {PROTECTED} (it has "
            f"{stored}, the file {sent}).",
        )


class _Lookups:
    """The lines a chunk's schedules belong to and their milestones, one query per kind."""

    def __init__(self, schedules: dict[LineKey, list[Row]]) -> None:
        numbers = {number for number, _ in schedules}
        self.contracts = set(
            Contract.objects.filter(number__in=numbers).values_list("number", flat=True)
        )
        self.lines = {
            (line.contract.number, line.sequence): line
            for line in ContractLine.objects.filter(
                contract__number__in=numbers, sequence__in={seq for _, seq in schedules}
            ).select_related("contract")
        }
        by_pk = {line.pk: line for line in self.lines.values()}
        self.milestones: dict[int, list[Milestone]] = defaultdict(list)
        for milestone in Milestone.objects.filter(line__in=by_pk):
            milestone.line = by_pk[milestone.line_id]  # checking it needs the line: no query
            self.milestones[milestone.line_id].append(milestone)
