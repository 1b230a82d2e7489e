"""The contract revenue page: how a contract's price was allocated to its obligations, what each
has recognized, the schedule month by obligation, billing against revenue over time, the
contract's position and its remaining performance obligations (RPO), all as of a date.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from djmoney.money import Money

from contracts.models import Contract
from revenue.domain.position import CONTRACT_ASSET, CONTRACT_LIABILITY, NO_POSITION
from revenue.models import (
    Allocation,
    ObligationAllocation,
    PerformanceObligation,
    RevenueScheduleEntry,
)
from revenue.modifications import modification_rows
from revenue.pages.over_time import POSITION_LABELS, billing_against_revenue, history_chart
from revenue.pages.shared import admin_page, date_input, figure
from revenue.selectors import position_of, rpo_of
from revenue.variable_consideration import variable_section
from rms.money import round_money

Status = RevenueScheduleEntry.Status

METHOD_LABELS = dict(PerformanceObligation.AllocationMethod.choices)
POSITION_NOTES = {
    CONTRACT_ASSET: "earned, not yet billed",
    CONTRACT_LIABILITY: "billed, not yet earned",
    NO_POSITION: "billed = recognized",
}


class AsOfForm(forms.Form):
    as_of = forms.DateField(required=False, label="As of", widget=date_input())


def contract_revenue_view(
    model_admin: admin.ModelAdmin, request: HttpRequest, contract_id: int
) -> HttpResponse:
    """Show how a contract's price was allocated, earned and billed, and where it stands."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    contract = get_object_or_404(Contract.objects.select_related("customer"), pk=contract_id)
    form = AsOfForm(request.GET or None)
    as_of = form.cleaned_data["as_of"] if form.is_valid() else None
    as_of = as_of or timezone.localdate()
    return admin_page(
        request,
        model_admin,
        "revenue/contract_revenue.html",
        title=f"Revenue of {contract.number}",
        subtitle=contract.customer.legal_name,
        contract=contract,
        contract_url=reverse("admin:contracts_contract_change", args=[contract.pk]),
        journal_url=reverse("admin:revenue_journalentry_changelist")
        + f"?contract__id__exact={contract.pk}",
        form=form,
        as_of=as_of,
        **contract_revenue(contract, as_of),
        **variable_section(contract.pk),
    )


@dataclass(frozen=True)
class ObligationRow:
    """An obligation with its latest allocation inputs and what it has recognized to date."""

    obligation: PerformanceObligation
    share: ObligationAllocation | None
    recognized: Money

    @property
    def figures(self) -> dict[str, str]:
        o = self.obligation
        return {
            "ssp": figure(o.ssp),
            "price": figure(o.fixed_price),
            "allocated": figure(o.allocated),
            "recognized": figure(self.recognized),
            "remaining": figure(o.allocated - self.recognized),
        }


@dataclass(frozen=True)
class ScheduleCell:
    """Revenue of a month (or of a whole column): recognized and planned kept apart."""

    recognized: Money | None
    planned: Money | None

    @property
    def recognized_figure(self) -> str:
        return figure(self.recognized) if self.recognized is not None else ""

    @property
    def planned_figure(self) -> str:
        return figure(self.planned) if self.planned is not None else ""


@dataclass(frozen=True)
class ScheduleRow:
    period: date
    cells: list[ScheduleCell]
    total: ScheduleCell


@dataclass(frozen=True)
class Schedule:
    """A contract's revenue schedule laid out month by obligation, with totals both ways."""

    rows: list[ScheduleRow]
    totals: list[ScheduleCell]
    grand_total: ScheduleCell


def revenue_schedule(contract: Contract, obligation_ids: list[int]) -> Schedule:
    """Sum the contract's schedule by month, obligation and status in the database."""
    currency = contract.currency
    parts: dict[tuple[date, int], dict[str, Money]] = defaultdict(dict)
    for period, obligation_id, status, total in (
        RevenueScheduleEntry.objects.filter(contract=contract)
        .values("period", "obligation_id", "status")
        .annotate(total=Sum("amount"))
        .order_by()
        .values_list("period", "obligation_id", "status", "total")
    ):
        parts[period, obligation_id][status] = round_money(total, currency)
    months = sorted({period for period, _ in parts})

    def cell(keys: Iterable[tuple[date, int]]) -> ScheduleCell:
        found = [parts[key] for key in keys if key in parts]
        sums = {
            status: sum(amounts, Money(0, currency))
            for status in Status.values
            if (amounts := [part[status] for part in found if status in part])
        }
        return ScheduleCell(sums.get(Status.RECOGNIZED), sums.get(Status.PLANNED))

    rows = [
        ScheduleRow(
            period=month,
            cells=[cell([(month, pk)]) for pk in obligation_ids],
            total=cell((month, pk) for pk in obligation_ids),
        )
        for month in months
    ]
    return Schedule(
        rows=rows,
        totals=[cell((month, pk) for month in months) for pk in obligation_ids],
        grand_total=cell(parts),
    )


def allocation_inputs(allocation: Allocation) -> dict:
    """Describe an allocation with the inputs and result of each obligation's share."""
    return {
        "computed_at": allocation.computed_at,
        "reason": allocation.reason,
        "method": METHOD_LABELS.get(allocation.method, allocation.method),
        "transaction_price": figure(allocation.transaction_price),
        "shares": [
            {
                "share": share,
                "method": METHOD_LABELS.get(share.method, share.method),
                "ssp": figure(share.ssp),
                "price": figure(share.fixed_price),
                "allocated": figure(share.allocated),
            }
            for share in allocation.shares.all()
        ],
    }


def contract_revenue(contract: Contract, as_of: date) -> dict:
    """Gather the figures of the contract revenue page: through the selectors, or summed in
    the database."""
    currency = contract.currency
    zero = Money(0, currency)
    obligations = list(contract.obligations.order_by("sequence"))
    allocation = contract.allocations.prefetch_related("shares__obligation").first()
    shares = {share.obligation_id: share for share in allocation.shares.all()} if allocation else {}
    recognized = {
        obligation_id: round_money(total, currency)
        for obligation_id, total in RevenueScheduleEntry.objects.filter(
            contract=contract, status=Status.RECOGNIZED, journal_entry__date__lte=as_of
        )
        .values("obligation_id")
        .annotate(total=Sum("amount"))
        .order_by()
        .values_list("obligation_id", "total")
    }
    rows = [ObligationRow(o, shares.get(o.pk), recognized.get(o.pk, zero)) for o in obligations]
    allocated = sum((o.allocated for o in obligations), zero)
    recognized_total = sum((row.recognized for row in rows), zero)
    schedule = revenue_schedule(contract, [o.pk for o in obligations])
    planned = {
        row.period: row.total.planned for row in schedule.rows if row.total.planned is not None
    }
    history = billing_against_revenue(contract, planned)
    position = position_of(contract=contract, as_of=as_of)
    rpo = rpo_of(contract_ids=[contract.pk], as_of=as_of).get(contract.pk)
    return {
        "currency": currency,
        "obligation_rows": rows,
        "totals": {
            "ssp": figure(sum((o.ssp for o in obligations), zero)),
            "price": figure(sum((o.fixed_price for o in obligations), zero)),
            "allocated": figure(allocated),
            "recognized": figure(recognized_total),
            "remaining": figure(allocated - recognized_total),
        },
        "allocation": allocation_inputs(allocation) if allocation else None,
        "allocation_count": contract.allocations.count(),
        "modifications": modification_rows(contract),
        "allocations_url": reverse("admin:revenue_allocation_changelist")
        + f"?contract__id__exact={contract.pk}",
        "position": position,
        "position_label": POSITION_LABELS[position.kind],
        "position_note": POSITION_NOTES[position.kind],
        "position_figures": {
            "net": figure(abs(position.net)),
            "revenue": figure(position.revenue),
            "billed": figure(position.billed),
        },
        "rpo_figures": {
            name: figure(getattr(rpo, name) if rpo else zero)
            for name in ["total", "within_12_months", "later"]
        },
        "schedule": schedule,
        "schedule_columns": obligations,
        "history": [month for month in history if month.position is not None],
        "chart": history_chart(history),
    }
