"""Where a contract's milestone lines and budget stand, as its admin page shows them.

Read-only: each milestone line's progress (what is invoiced, achieved, awaiting approval and
planned, what is overdue, what comes next) and the budget panel (the cap with its approved change
orders, what is scheduled and billed, what the cap stops). The figures come from
``billing.milestone_billing`` and ``billing.budgets``; nothing here decides a billing state.
"""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db.models import Count, Sum
from djmoney.money import Money

from billing.budgets import Budget, budgets_of
from billing.milestone_billing import BillingState, MilestoneBilling, milestones_billing
from billing.models import BillingEvent
from contracts.milestones import line_value
from contracts.models import BillingModel, Contract, ContractLine, Milestone
from rms.money import round_money

Status = Milestone.Status

# Achieved and cleared, yet not invoiced: why, in a word (the reason itself shows on hover).
KEPT_BACK = {BillingState.HELD: "on hold", BillingState.BLOCKED: "stopped by the cap"}

# The tallies of a line, in the widget's order: (key, label, what the count means). The key is
# a milestone's status, or "awaiting" for an achieved one waiting for approval; "achieved" ones
# are cleared but kept back (a hold or the cap) or left to the next bill run.
TALLY_LABELS = [
    ("invoiced", "Invoiced", ""),
    ("achieved", "Achieved", "not invoiced yet"),
    ("awaiting", "Awaiting approval", ""),
    ("planned", "Planned", ""),
]


def percent_text(percent: Decimal | None) -> str:
    """Write a milestone's percent as typed: 30, not 30.0000 (nor 3E+1, normalize()'s own)."""
    return "" if percent is None else f"{percent.normalize():f}"


@dataclass(frozen=True)
class Tally:
    """Milestones of one state: how many and how much."""

    key: str
    label: str
    count: int
    amount: Money
    note: str = ""


@dataclass(frozen=True)
class MilestoneRow:
    """One milestone in its line's table, with its billing state."""

    milestone: Milestone
    overdue: bool
    billing: MilestoneBilling

    @property
    def kept_back(self) -> str:
        """Why an achieved, cleared milestone is not invoiced yet, in a word ("" if it is not)."""
        return KEPT_BACK.get(self.billing.state, "")

    @property
    def percent(self) -> str:
        """The milestone's percent of the line's value, as typed ("" for a fixed amount)."""
        return percent_text(self.milestone.percent)


@dataclass(frozen=True)
class LineProgress:
    """Where one milestone line's schedule stands, for its widget on the contract page."""

    line: ContractLine
    value: Money
    scheduled: Money  # every milestone but the cancelled ones
    tallies: list[Tally]  # invoiced, achieved, awaiting approval, planned
    rows: list[MilestoneRow]
    next_due: Milestone | None
    overdue: Tally
    cancelled: int

    @property
    def mismatched(self) -> bool:
        """Whether the milestones sum to other than the line's value (the schedule needs work)."""
        return self.scheduled != self.value

    @property
    def bar(self) -> list[tuple[Tally, str]]:
        """The progress bar's segments: each state's share of the line's value, as CSS widths."""
        if not self.value.amount:
            return []
        return [
            (tally, f"{min(tally.amount.amount / self.value.amount * 100, Decimal(100)):.2f}")
            for tally in self.tallies
            if tally.key != "planned" and tally.amount.amount > 0
        ]

    @property
    def done_percent(self) -> int:
        """How much of the value is achieved (invoiced or not), in whole percent."""
        if not self.value.amount:
            return 0
        done = sum(t.amount.amount for t in self.tallies if t.key != "planned")
        return int(done / self.value.amount * 100)


def _tally_key(milestone: Milestone) -> str:
    return "awaiting" if milestone.awaiting_approval else milestone.status


def _line_progress(
    line: ContractLine,
    milestones: list[Milestone],
    billing: dict[int, MilestoneBilling],
    today: date,
) -> LineProgress:
    zero = Money(0, line.contract.currency)
    counted = [m for m in milestones if m.status != Status.CANCELLED]
    tallies = []
    for key, label, note in TALLY_LABELS:
        of_state = [m for m in counted if _tally_key(m) == key]
        amount = sum((m.amount for m in of_state), zero)
        tallies.append(Tally(key, label, len(of_state), amount, note))
    planned = [m for m in counted if m.status == Status.PLANNED]
    overdue = [m for m in planned if m.planned_date < today]
    rows = [
        MilestoneRow(milestone=m, overdue=m in overdue, billing=billing[m.pk]) for m in milestones
    ]
    return LineProgress(
        line=line,
        value=line_value(line),
        scheduled=sum((m.amount for m in counted), zero),
        tallies=tallies,
        rows=rows,
        next_due=min(planned, key=lambda m: (m.planned_date, m.sequence), default=None),
        overdue=Tally("overdue", "Overdue", len(overdue), sum((m.amount for m in overdue), zero)),
        cancelled=len(milestones) - len(counted),
    )


def milestone_progress(contract: Contract, today: date) -> list[LineProgress]:
    """Return the progress of each of the contract's milestone lines, in a few queries."""
    lines = list(
        contract.lines.filter(billing_model=BillingModel.MILESTONE)
        .select_related("product")
        .order_by("sequence")
    )
    if not lines:
        return []
    by_line: dict[int, list[Milestone]] = {line.pk: [] for line in lines}
    for milestone in Milestone.objects.filter(line__in=lines).order_by("sequence"):
        by_line[milestone.line_id].append(milestone)
    for line in lines:
        line.contract = contract  # the value and the billing states need it: no query per line
        for milestone in by_line[line.pk]:
            milestone.line = line
    billing = milestones_billing([m for milestones in by_line.values() for m in milestones])
    return [_line_progress(line, by_line[line.pk], billing, today) for line in lines]


@dataclass(frozen=True)
class BudgetPanel:
    """A contract's budget as the contract page shows it."""

    budget: Budget
    raised_by: Money | None  # what approved change orders added to the not-to-exceed
    over_by: Money | None  # how far the scheduled value exceeds the cap
    change_orders_waiting: int
    blocked_count: int  # due charges the cap stops
    blocked_amount: Money


def budget_panel(contract: Contract) -> BudgetPanel:
    """Gather a contract's budget position, the change orders waiting and what the cap stops."""
    budget = budgets_of([contract])[contract.pk]
    base = contract.not_to_exceed
    raised_by = (
        budget.not_to_exceed - base if base is not None and budget.not_to_exceed != base else None
    )
    blocked = (
        BillingEvent.objects.filter(contract=contract, status=BillingEvent.Status.PENDING)
        .exclude(blocked_reason="")
        .aggregate(count=Count("pk"), total=Sum("amount"))
    )
    return BudgetPanel(
        budget=budget,
        raised_by=raised_by,
        over_by=budget.scheduled - budget.not_to_exceed if budget.over_budget else None,
        change_orders_waiting=contract.change_orders.filter(approved_at__isnull=True).count(),
        blocked_count=blocked["count"],
        blocked_amount=round_money(blocked["total"] or Decimal(0), contract.currency),
    )
