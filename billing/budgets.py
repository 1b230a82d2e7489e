"""Contract budgets: the not-to-exceed cap that stops billing, change orders that raise it.

A contract's cap is its ``not_to_exceed`` plus its approved change orders. Billing is measured
net of tax: invoiced (drafts and issued, not void) less what issued credit notes took back. A
due event that would take billing past the cap is not invoiced: it stays pending with its reason
until a change order covers it, and the events after it on that contract wait behind it, so the
contract bills in date order. Nothing here writes an invoice; bill runs and immediate invoicing
ask ``budget_blocked`` which events to leave out.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Q, QuerySet, Sum
from djmoney.money import Money

from billing.models import BillingEvent, CreditNote, CreditNoteLine, Invoice, InvoiceLine
from contracts.models import ChangeOrder, Contract, Milestone
from rms.money import money_text, round_money


@dataclass(frozen=True)
class Budget:
    """Where a contract stands against its budget, net of tax, in the contract's currency."""

    contract_id: int
    not_to_exceed: Money | None  # with approved change orders
    cost_budget: Money | None  # with approved change orders
    billed: Money  # invoiced less credited
    scheduled: Money  # billed + everything still to bill (pending events, open milestones)

    @property
    def remaining(self) -> Money | None:
        """What may still be billed under the cap (negative once past it), or None uncapped."""
        return None if self.not_to_exceed is None else self.not_to_exceed - self.billed

    @property
    def over_budget(self) -> bool:
        """Whether what the contract is scheduled to bill exceeds its cap (scope creep)."""
        return self.not_to_exceed is not None and self.scheduled > self.not_to_exceed


def _sum_by_contract(rows: Iterable[dict], key: str, total: str) -> dict[int, Decimal]:
    result: dict[int, Decimal] = defaultdict(Decimal)
    for row in rows:
        result[row[key]] += row[total] or 0
    return result


def billed_by_contract(contract_ids: Iterable[int]) -> dict[int, Decimal]:
    """Return each contract's billing net of tax (live invoices less issued credits)."""
    ids = list(contract_ids)
    invoiced = (
        InvoiceLine.objects.filter(contract_line__contract_id__in=ids)
        .exclude(invoice__status=Invoice.Status.VOID)
        .values("contract_line__contract_id")
        .annotate(total=Sum("amount"))
    )
    credited = (
        CreditNoteLine.objects.filter(
            invoice_line__contract_line__contract_id__in=ids,
            credit_note__status=CreditNote.Status.ISSUED,
        )
        .values("invoice_line__contract_line__contract_id")
        .annotate(total=Sum("amount"))
    )
    billed = _sum_by_contract(invoiced, "contract_line__contract_id", "total")
    for contract_id, amount in _sum_by_contract(
        credited, "invoice_line__contract_line__contract_id", "total"
    ).items():
        billed[contract_id] -= amount
    return billed


def _increases(contract_ids: list[int]) -> dict[int, dict[str, object]]:
    """Return the approved change orders' increases of each contract's cap and cost budget."""
    rows = (
        ChangeOrder.objects.filter(contract_id__in=contract_ids, approved_at__isnull=False)
        .values("contract_id")
        .annotate(nte=Sum("not_to_exceed_increase"), cost=Sum("cost_budget_increase"))
    )
    return {row["contract_id"]: row for row in rows}


def _raised(base: Money | None, increase) -> Money | None:
    return None if base is None else round_money(base.amount + (increase or 0), base.currency)


def budgets_of(contracts: Iterable[Contract]) -> dict[int, Budget]:
    """Return the budget position of each contract, in a fixed number of queries."""
    contracts = list(contracts)
    ids = [contract.pk for contract in contracts]
    increases = _increases(ids)
    billed = billed_by_contract(ids)
    pending = _sum_by_contract(
        BillingEvent.objects.filter(contract_id__in=ids, status=BillingEvent.Status.PENDING)
        .exclude(kind=BillingEvent.Kind.USAGE, amount__lte=0)
        .values("contract_id")
        .annotate(total=Sum("amount")),
        "contract_id",
        "total",
    )
    # Planned milestones, and achieved ones still waiting for approval: no event bills them yet.
    unbilled_milestones = _sum_by_contract(
        Milestone.objects.filter(line__contract_id__in=ids)
        .filter(
            Q(status=Milestone.Status.PLANNED)
            | Q(status=Milestone.Status.ACHIEVED, approved_at__isnull=True)
        )
        .values("line__contract_id")
        .annotate(total=Sum("amount")),
        "line__contract_id",
        "total",
    )
    result = {}
    for contract in contracts:
        extra = increases.get(contract.pk, {})
        billed_amount = round_money(Decimal(billed.get(contract.pk, 0)), contract.currency)
        to_bill = Decimal(pending.get(contract.pk, 0)) + unbilled_milestones.get(contract.pk, 0)
        result[contract.pk] = Budget(
            contract_id=contract.pk,
            not_to_exceed=_raised(contract.not_to_exceed, extra.get("nte")),
            cost_budget=_raised(contract.cost_budget, extra.get("cost")),
            billed=billed_amount,
            scheduled=round_money(billed_amount.amount + to_bill, contract.currency),
        )
    return result


def contracts_over_budget() -> list[int]:
    """Return the ids of active contracts scheduled to bill more than their cap."""
    capped = Contract.objects.filter(
        not_to_exceed__isnull=False, status=Contract.Status.ACTIVE
    ).only(
        "currency", "not_to_exceed", "not_to_exceed_currency", "cost_budget", "cost_budget_currency"
    )
    return [pk for pk, budget in budgets_of(capped).items() if budget.over_budget]


def budget_blocked(*, events: QuerySet[BillingEvent], record: bool = True) -> set[int]:
    """Return the ids among ``events`` (due, about to be invoiced) that their cap stops.

    Each capped contract's events are taken in date order; the first that would take billing
    past the cap is stopped with its reason, and so is every later one of that contract. With
    ``record`` the reasons are written on the events (and cleared from the ones now let
    through), so the schedule shows why a charge waits. Uncapped contracts cost one query.
    """
    rows = list(
        events.filter(contract__not_to_exceed__isnull=False)
        .order_by("contract_id", "bill_date", "period_start", "pk")
        .values_list("pk", "contract_id", "contract__number", "amount", "blocked_reason")
    )
    if not rows:
        return set()
    contract_ids = sorted({row[1] for row in rows})
    increases = _increases(contract_ids)
    caps = {
        contract.pk: _raised(contract.not_to_exceed, increases.get(contract.pk, {}).get("nte"))
        for contract in Contract.objects.filter(pk__in=contract_ids)
    }
    billed = billed_by_contract(contract_ids)
    reasons: dict[int, str] = {}
    stopped: dict[int, str] = {}
    running = {pk: Decimal(billed.get(pk, 0)) for pk in contract_ids}
    stored: dict[int, str] = {}
    for pk, contract_id, number, amount, blocked_reason in rows:
        stored[pk] = blocked_reason
        cap = caps[contract_id]
        if contract_id in stopped:
            reasons[pk] = stopped[contract_id]
            continue
        after = running[contract_id] + amount
        if after <= cap.amount:
            running[contract_id] = after
            continue
        currency = cap.currency.code
        reasons[pk] = (
            f"Stopped by contract {number}'s not-to-exceed of {money_text(cap)}: "
            f"{money_text(Money(running[contract_id], currency))} is billed and this charge of "
            f"{money_text(Money(amount, currency))} would bring it to "
            f"{money_text(Money(after, currency))}. A change order raising the cap by at least "
            f"{money_text(Money(after - cap.amount, currency))} lets it bill."
        )
        stopped[contract_id] = (
            f"Waits behind an earlier charge of contract {number} stopped by its not-to-exceed "
            f"of {money_text(cap)}."
        )
    if record:
        changed = [
            BillingEvent(pk=pk, blocked_reason=reasons.get(pk, ""))
            for pk, reason in stored.items()
            if reason != reasons.get(pk, "")
        ]
        BillingEvent.objects.bulk_update(changed, ["blocked_reason"])
    return set(reasons)
