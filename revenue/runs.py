"""Revenue runs and period close: post what each obligation has earned, then close the month.

A run reads each obligation's earning curve at the end of every open month up to its date and
posts the difference from what is already recognized (a recognized schedule entry with its
journal entry), then rebuilds the planned entries from the forecast. Because it posts
differences, a run repeated, run concurrently (contracts are locked) or rerun after a crash
posts nothing twice; and a change that belongs to a closed month lands in the first open one.
"""

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Min, Q, Sum
from django.utils import timezone
from djmoney.money import Money

from billing.schedules import lock_customers
from billing.selectors import (
    billed_periods,
    cancelled_milestones,
    credits_by_line,
    deliveries,
    milestone_facts,
)
from billing.usage_rating import usage_rate_due
from contracts.models import Contract, ContractLine, Customer
from revenue.curves import Facts, curves
from revenue.domain.earning import months_between, postings
from revenue.domain.prospective import Prospective
from revenue.domain.recognition import ONE_DAY, month_end, month_start
from revenue.journal import (
    first_open_period,
    journal_catch_up,
    ledger_accounts,
    recognition_entry,
)
from revenue.models import (
    ContractRevenue,
    JournalEntry,
    JournalLine,
    PerformanceObligation,
    ProgressEntry,
    RevenuePeriod,
    RevenueRun,
    RevenueScheduleEntry,
    VariableConsideration,
)
from revenue.modifications import awaiting_sync, prospective_of
from revenue.obligations import (
    PriceFacts,
    allocation_refresh,
    lines_of,
    obligations_of,
    obligations_sync,
)
from revenue.variable_consideration import variable_items
from rms.money import round_money

logger = logging.getLogger(__name__)

# Contracts recognized per transaction: each costs about a dozen reads for the whole chunk and
# a few bulk writes, and a chunk holds its contracts' row locks only for its own duration.
RECOGNITION_CHUNK_SIZE = 200

# Draft contracts are not yet contracts (ASC 606 step 1 needs approval). A terminated one is
# recognized up to its termination: its lines end on the termination date and its price is what
# the customer owes after any credit, so its revenue over its life comes to exactly that.
RECOGNIZED_STATUSES = [
    Contract.Status.ACTIVE,
    Contract.Status.COMPLETED,
    Contract.Status.TERMINATED,
]

Status = RevenueScheduleEntry.Status


def curve_facts(
    obligations: Sequence[PerformanceObligation], lines: Sequence[ContractLine] | None = None
) -> Facts:
    """Load what billing knows of the obligations' lines (or of ``lines``), and their progress."""
    if lines is None:
        lines = [line for o in obligations for line in lines_of(o)]
    line_ids = [line.pk for line in lines]
    progress: dict[int, list[tuple[date, Fraction]]] = defaultdict(list)
    for obligation_id, measured_on, incurred, estimated in ProgressEntry.objects.filter(
        obligation__in=obligations
    ).values_list("obligation_id", "measured_on", "incurred", "estimated_total"):
        progress[obligation_id].append((measured_on, Fraction(incurred) / Fraction(estimated)))
    return Facts(
        billed=billed_periods(line_ids),
        credited=credits_by_line(line_ids),
        shipped=deliveries(line_ids),
        milestones=milestone_facts(line_ids),
        cancelled=cancelled_milestones(line_ids),
        progress=progress,
    )


@dataclass
class _Recognized:
    """What an obligation has recognized so far: by period, and how many entries."""

    by_period: dict[date, Money] = field(default_factory=dict)
    caught_up: dict[date, Money] = field(default_factory=dict)
    count: int = 0

    def total(self, currency: str) -> Money:
        return sum(self.by_period.values(), Money(0, currency))


def _recognized(obligations: Sequence[PerformanceObligation]) -> dict[int, _Recognized]:
    """Return what each obligation has recognized, by obligation id."""
    rows = (
        RevenueScheduleEntry.objects.filter(obligation__in=obligations, status=Status.RECOGNIZED)
        .values("obligation_id", "period", "amount_currency")
        .annotate(
            total=Sum("amount"),
            caught_up=Sum("amount", filter=Q(catch_up=True), default=0),
            count=Count("id"),
        )
        .order_by()
    )
    result: dict[int, _Recognized] = defaultdict(_Recognized)
    for row in rows:
        recognized = result[row["obligation_id"]]
        # Every posting sits on the minor unit, so rounding only removes SQLite's float noise.
        currency = row["amount_currency"]
        recognized.by_period[row["period"]] = round_money(row["total"], currency)
        recognized.caught_up[row["period"]] = round_money(row["caught_up"], currency)
        recognized.count += row["count"]
    return result


def _describe(obligation: PerformanceObligation, period: date, catch_up: bool, because: str) -> str:
    """Describe a posting; ``because`` names what moved it (a contract modification)."""
    if catch_up:
        text = f"{obligation.name}: catch-up for closed periods, posted in {period:%b %Y}"
    else:
        text = f"{obligation.name}: revenue for {period:%b %Y}"
    return f"{text} ({because})"[:255] if because else text


@dataclass
class _Writes:
    """What a chunk posts and plans, written in bulk at its end."""

    entries: list[JournalEntry] = field(default_factory=list)
    lines: list[JournalLine] = field(default_factory=list)
    recognized: list[RevenueScheduleEntry] = field(default_factory=list)
    planned: list[RevenueScheduleEntry] = field(default_factory=list)

    def extend(self, other: "_Writes") -> None:
        self.entries += other.entries
        self.lines += other.lines
        self.recognized += other.recognized
        self.planned += other.planned

    def save(self, obligations: Sequence[PerformanceObligation]) -> None:
        JournalEntry.objects.bulk_create(self.entries)
        for line in self.lines:
            line.entry_id = line.entry.pk
        JournalLine.objects.bulk_create(self.lines)
        for entry in self.recognized:
            entry.journal_entry_id = entry.journal_entry.pk
        RevenueScheduleEntry.objects.filter(
            obligation__in=obligations, status=Status.PLANNED
        ).delete()
        RevenueScheduleEntry.objects.bulk_create(self.recognized + self.planned)


@dataclass(frozen=True)
class _Context:
    first_open: date | None
    accounts: dict
    facts: Facts
    recognized: dict[int, _Recognized]
    prospective: dict[int, Prospective]
    because: str = ""
    variable: dict[int, list[VariableConsideration]] = field(default_factory=dict)


def _post(
    obligation: PerformanceObligation,
    actual: list,
    *,
    through: date,
    context: _Context,
    writes: _Writes,
) -> None:
    """Post the obligation's growth in each open month through ``through``.

    What is posted is added to ``context.recognized``, which the plan then starts from.
    """
    contract = obligation.contract
    currency = contract.currency
    recognized = context.recognized[obligation.pk]
    first_open = context.first_open
    start = min([step.on for step in actual] + [obligation.service_start])
    first = max(filter(None, [first_open, month_start(start)]))
    due = postings(
        curve=actual,
        # At least the first open month, which takes a catch-up even when ``through`` is in a
        # closed one (terms changed after a close).
        months=months_between(first, max(first, through)),
        recognized=recognized.by_period,
        currency=currency,
        as_of=through,
        caught_up=recognized.caught_up.get(first),
    )
    for index, posting in enumerate(due, start=recognized.count + 1):
        description = _describe(obligation, posting.period, posting.catch_up, context.because)
        entry, entry_lines = recognition_entry(
            accounts=context.accounts,
            contract_id=contract.pk,
            currency=contract.currency,
            day=posting.on,
            period=posting.period,
            amount=posting.amount.amount,
            source_key=f"recognition:{obligation.pk}:{index}",
            description=description,
        )
        writes.entries.append(entry)
        writes.lines += entry_lines
        writes.recognized.append(
            RevenueScheduleEntry(
                obligation=obligation,
                contract_id=contract.pk,
                period=posting.period,
                amount=posting.amount,
                status=Status.RECOGNIZED,
                recognized_on=posting.on,
                catch_up=posting.catch_up,
                description=description,
                journal_entry=entry,
            )
        )
        recognized.by_period[posting.period] = (
            recognized.by_period.get(posting.period, Money(0, currency)) + posting.amount
        )
        if posting.catch_up:
            recognized.caught_up[posting.period] = (
                recognized.caught_up.get(posting.period, Money(0, currency)) + posting.amount
            )
    recognized.count += len(due)


def _plan(
    obligation: PerformanceObligation,
    forecast: list,
    *,
    recognized: _Recognized,
    plan_from: date,
    writes: _Writes,
) -> None:
    """Plan the forecast's growth beyond what is recognized, month by month from ``plan_from``."""
    last = max((step.on for step in forecast), default=None)
    if last is None or last < plan_from:
        return
    for posting in postings(
        curve=forecast,
        months=months_between(plan_from, last),
        recognized=recognized.by_period,
        currency=obligation.contract.currency,
        as_of=date.max,
        caught_up=recognized.caught_up.get(plan_from),
    ):
        writes.planned.append(
            RevenueScheduleEntry(
                obligation=obligation,
                contract_id=obligation.contract_id,
                period=posting.period,
                amount=posting.amount,
                status=Status.PLANNED,
                catch_up=posting.catch_up,
                description=f"{obligation.name}: planned for {posting.period:%b %Y}",
            )
        )


@transaction.atomic
def contracts_recognize(
    *,
    contract_ids: Iterable[int],
    as_of: date | None,
    failures: list[str] | None = None,
    because: str = "",
) -> int:
    """Recognize the contracts' revenue through ``as_of`` and re-plan the rest; return postings.

    A contract that fails is skipped, logged and described in ``failures`` when given.

    ``as_of`` never moves a contract back: a run for an earlier date than its last one
    recognizes through the last one's date (posting nothing new). With ``as_of`` None only the
    plan (and any catch-up through the last run's date) is refreshed, which is what a change of
    terms needs; it leaves out a contract whose lines have moved since its obligations were
    synced (a modification committed with a credit note posted inside it): the change of terms
    announced on commit syncs and re-plans it, and re-planning it on the stale dates first
    would post a catch-up that the sync then reverses. ``because`` is added to the
    descriptions of what is posted (a modification that moved the revenue).
    """
    ids = list(
        Contract.objects.select_for_update()
        .filter(pk__in=list(contract_ids), status__in=RECOGNIZED_STATUSES)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if not ids:
        return 0
    states = ContractRevenue.objects.in_bulk(ids, field_name="contract_id")
    by_contract = obligations_of(ids)
    if as_of is None:
        for contract_id in awaiting_sync(by_contract):
            by_contract[contract_id] = []
    obligations = [o for group in by_contract.values() for o in group]
    facts = curve_facts(obligations)
    context = _Context(
        first_open_period(),
        ledger_accounts(),
        facts,
        _recognized(obligations),
        prospective_of(ids),
        because,
        variable_items(ids),
    )
    writes, done = _Writes(), []
    new_states, moved_states = [], []
    for contract_id, group in by_contract.items():
        if not group:
            continue
        state = states.get(contract_id)
        last = state.recognized_through if state else None
        through = max(filter(None, [as_of, last]), default=None)
        own = _Writes()
        try:
            # A savepoint per contract: one whose facts cannot be recognized (a line cut below
            # what shipped) is reported and left as it was, and the others go on.
            with transaction.atomic():
                _recognize_contract(group, through=through, context=context, writes=own)
        except Exception as error:
            logger.exception("Revenue of contract %s not recognized", contract_id)
            if failures is not None:
                failures.append(f"{group[0].contract.number}: {type(error).__name__}: {error}")
            continue
        writes.extend(own)
        done += group
        if state is None and through is not None:
            new_states.append(ContractRevenue(contract_id=contract_id, recognized_through=through))
        elif state is not None and last != through:
            state.recognized_through = through
            moved_states.append(state)
    writes.save(done)
    ContractRevenue.objects.bulk_create(new_states)
    ContractRevenue.objects.bulk_update(moved_states, ["recognized_through"])
    return len(writes.recognized)


def _recognize_contract(
    group: list[PerformanceObligation], *, through: date | None, context: _Context, writes: _Writes
) -> None:
    """Re-allocate one contract, post what its obligations earned through ``through``, re-plan."""
    facts = context.facts
    allocation_refresh(
        contract=group[0].contract,
        obligations=group,
        reason="Revenue run",
        facts=PriceFacts(
            billed=facts.billed,
            credited=facts.credited,
            cancelled=facts.cancelled,
            variable=context.variable,
        ),
        as_of=through,
        prospective=context.prospective,
    )
    prospective = context.prospective.get(group[0].contract_id)
    for obligation in group:
        lines = lines_of(obligation)
        actual, forecast = curves(
            obligation, lines, facts, as_of=through or date.min, prospective=prospective
        )
        if through is not None:
            _post(obligation, actual, through=through, context=context, writes=writes)
        plan_from = max(
            filter(None, [context.first_open, month_start(through) if through else None]),
            default=month_start(obligation.service_start),
        )
        _plan(
            obligation,
            forecast,
            recognized=context.recognized[obligation.pk],
            plan_from=plan_from,
            writes=writes,
        )


def recognizable_contract_ids() -> list[int]:
    """Return the ids of the contracts a run recognizes, in id order."""
    return list(
        Contract.objects.filter(status__in=RECOGNIZED_STATUSES)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def revenue_recognize(*, as_of: date, triggered_by: str = "") -> RevenueRun:
    """Recognize every contract's revenue through ``as_of``, chunk by chunk.

    Each chunk commits on its own, so a crash loses at most the chunk in flight, and the next
    run (which posts differences) finishes it. Invoices issued before the journal existed are
    posted first, so that the ledger holds every billing the positions net against.
    """
    run = RevenueRun.objects.create(as_of=as_of, triggered_by=triggered_by)
    journal_catch_up()
    # Contracts activated before the revenue engine existed have no obligations yet.
    for contract in Contract.objects.filter(
        status__in=RECOGNIZED_STATUSES, obligations__isnull=True
    ).prefetch_related("lines"):
        obligations_sync(contract=contract)
    ids = recognizable_contract_ids()
    posted, failures = 0, []
    for start in range(0, len(ids), RECOGNITION_CHUNK_SIZE):
        posted += contracts_recognize(
            contract_ids=ids[start : start + RECOGNITION_CHUNK_SIZE],
            as_of=as_of,
            failures=failures,
        )
    run.contracts = len(ids)
    run.entries_posted = posted
    run.errors = failures
    run.finished_at = timezone.now()
    run.save(update_fields=["contracts", "entries_posted", "errors", "finished_at"])
    return run


def period_close(*, through: date, closed_by: str = "") -> list[RevenuePeriod]:
    """Recognize everything through the end of ``through``'s month, then close every month to it.

    Closing is in order: every earlier month still open is closed too. A closed month takes no
    further postings; what later changes about it posts into the first open month. Closing an
    already closed month is refused.
    """
    month = month_start(through)
    if month_end(month) >= timezone.localdate():
        # Closing a month before it has ended would recognize revenue not yet earned.
        raise ValidationError(
            {"through": f"{month:%B %Y} has not ended yet; a month is closed after its last day."}
        )
    first_open = first_open_period()
    if first_open is not None and month < first_open:
        raise ValidationError(
            {
                "through": f"{month:%B %Y} is already closed; the first open period is "
                f"{first_open:%B %Y}."
            }
        )
    # Usage of the month is revenue of the month: rate any period ended by then first, which a
    # close before that day's bill run would otherwise leave to a catch-up.
    usage_rate_due(as_of=month_end(month) + ONE_DAY)
    run = revenue_recognize(as_of=month_end(month), triggered_by=closed_by or "period close")
    with transaction.atomic():
        # Wait for anything still posting, so that nothing lands in a month after it is closed:
        # bill runs and credit notes post under their customers' locks, recognition under its
        # contracts'. Customers first, as a shipment (customer, then contract) takes them.
        lock_customers(Customer.objects.values_list("pk", flat=True))
        list(Contract.objects.select_for_update().values_list("pk", flat=True))
        earliest = JournalEntry.objects.aggregate(first=Min("period"))["first"] or month
        start = first_open or min(earliest, month)
        now = timezone.now()
        closed = []
        for period_start in months_between(start, month):
            period, _ = RevenuePeriod.objects.select_for_update().get_or_create(start=period_start)
            if period.status != RevenuePeriod.Status.CLOSED:
                period.status = RevenuePeriod.Status.CLOSED
                period.closed_at = now
                period.closed_by = closed_by
                period.save()
            closed.append(period)
    run.close_through = month
    run.save(update_fields=["close_through"])
    return closed
