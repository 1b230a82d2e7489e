"""The revenue back office: obligations and how they were allocated, the revenue schedule, the
journal, period close and progress measurements; and two finance pages, a contract's revenue
(allocation, schedule, billing against revenue, position, RPO) and the trial balance.

What was recognized, posted or closed is history, so those screens are read-only: changes go
through the services (grouping, the residual approach, a progress measurement, a close), which
post whatever follows from them.
"""

import csv
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from itertools import chain

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet, Sum
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from djmoney.money import Money

from billing.admin import ReadOnlyInline, plain_decimal
from contracts.models import Contract, RevenuePolicy
from revenue.curves import ONE_DAY
from revenue.domain.earning import months_between
from revenue.domain.position import CONTRACT_ASSET, CONTRACT_LIABILITY, NO_POSITION, Position
from revenue.domain.recognition import month_end, month_start
from revenue.journal import first_open_period
from revenue.models import (
    Allocation,
    JournalEntry,
    JournalLine,
    LedgerAccount,
    ObligationAllocation,
    ObligationLine,
    PerformanceObligation,
    ProgressEntry,
    RevenuePeriod,
    RevenueRun,
    RevenueScheduleEntry,
)
from revenue.obligations import obligation_set_residual, obligations_group
from revenue.runs import contracts_recognize, period_close
from revenue.selectors import (
    JOURNAL_CSV_HEADER,
    contract_history,
    journal_csv_rows,
    position_of,
    rpo_of,
    trial_balance,
)
from rms.money import round_money

Status = RevenueScheduleEntry.Status


def figure(money: Money) -> str:
    """Format an amount for a finance table: grouped, on the currency's minor unit, no symbol.

    The currency is stated once per page or column, as statements do, so that columns of
    figures line up.
    """
    return f"{round_money(money).amount:,}"


def long_date(day: date) -> str:
    """Format a date as statements head their columns: 31 March 2026."""
    return f"{day.day} {day:%B %Y}"


def _date_input() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class _Echo:
    """A file that hands back what is written, so csv.writer can feed a streaming response."""

    def write(self, value: str) -> str:
        return value


def csv_response(filename: str, header: list[str], rows: Iterable[list[str]]) -> HttpResponse:
    """Stream ``rows`` under ``header`` as a CSV download: a whole journal never sits in memory."""
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in chain([header], rows)), content_type="text/csv"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class ReadOnlyAdmin(admin.ModelAdmin):
    """History: viewed, never added, changed or deleted through the app."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class ToolsMixin:
    """Buttons beside "Add" on a changelist, to the pages and downloads that go with it."""

    change_list_template = "revenue/change_list.html"

    def changelist_tools(self, request: HttpRequest) -> list[tuple[str, str]]:
        """Return the (url, label) of each button the user may follow."""
        return []

    def changelist_view(self, request: HttpRequest, extra_context=None):
        extra_context = {**(extra_context or {}), "tools": self.changelist_tools(request)}
        return super().changelist_view(request, extra_context)


class AccountingPeriodFilter(admin.SimpleListFilter):
    """Filter by accounting month (the ``period`` a posting went to), newest first."""

    title = "accounting period"
    parameter_name = "period"

    def lookups(self, request, model_admin):
        months = model_admin.model._default_manager.dates("period", "month", order="DESC")
        return [(month.isoformat(), f"{month:%B %Y}") for month in months]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(period=self.value())
        return queryset


# Ledger accounts -------------------------------------------------------------------------------


@admin.register(LedgerAccount)
class LedgerAccountAdmin(ToolsMixin, admin.ModelAdmin):
    """The accounts the journal posts to: finance sets their codes and names, not their roles."""

    list_display = ["code", "name", "role"]
    fields = ["role", "code", "name"]
    readonly_fields = ["role"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # one account per role, created with the database

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # the journal posts to every one of them

    def changelist_tools(self, request: HttpRequest) -> list[tuple[str, str]]:
        return [(reverse("admin:revenue_trial_balance"), "Trial balance")]


# Performance obligations -----------------------------------------------------------------------


class ObligationLineInline(ReadOnlyInline):
    model = ObligationLine
    verbose_name_plural = "Contract lines in this obligation"
    fields = ["line", "billing_model", "unit_price", "service"]
    readonly_fields = ["billing_model", "unit_price", "service"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("line__product", "line__contract")

    @admin.display(description="Billing model")
    def billing_model(self, link: ObligationLine) -> str:
        return link.line.get_billing_model_display()

    @admin.display(description="Unit price")
    def unit_price(self, link: ObligationLine) -> str:
        return str(link.line.unit_price) if link.line.unit_price is not None else "—"

    @admin.display(description="Service period")
    def service(self, link: ObligationLine) -> str:
        return f"{link.line.service_start} to {link.line.service_end or 'evergreen'}"


class AllocationHistoryInline(ReadOnlyInline):
    model = ObligationAllocation
    verbose_name_plural = "Allocation history (newest first)"
    fields = ["computed_at", "reason", "ssp", "fixed_price", "allocated", "method", "share"]
    readonly_fields = ["computed_at", "reason"]
    ordering = ["-allocation__computed_at", "-allocation_id"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("allocation")

    @admin.display(description="Allocated at")
    def computed_at(self, share: ObligationAllocation):
        return share.allocation.computed_at

    @admin.display(description="Reason")
    def reason(self, share: ObligationAllocation) -> str:
        return share.allocation.reason


class ScheduleInline(ReadOnlyInline):
    model = RevenueScheduleEntry
    verbose_name_plural = "Revenue schedule (recognized and planned)"
    fields = ["period", "amount", "status", "recognized_on", "journal_entry", "description"]
    ordering = ["period", "id"]


class ObligationActionForm(ActionForm):
    group_name = forms.CharField(required=False, label="Name (to group)")
    group_pattern = forms.ChoiceField(
        required=False,
        label="Pattern (to group)",
        choices=[("", "the first one's pattern"), *RevenuePolicy.choices],
    )


def replan(contract_id: int) -> None:
    """Recognize any catch-up and rebuild the plan after a change to a contract's obligations.

    Grouping and the residual approach re-allocate the contract but leave the schedule to the
    next run; the pages would show the old plan until then.
    """
    contracts_recognize(contract_ids=[contract_id], as_of=None)


@admin.register(PerformanceObligation)
class PerformanceObligationAdmin(admin.ModelAdmin):
    """Obligations come from contract lines; finance groups them or names the residual one."""

    list_display = [
        "contract",
        "sequence",
        "name",
        "pattern",
        "ssp",
        "allocated",
        "allocation_method",
        "residual",
        "revenue_page",
    ]
    list_display_links = ["sequence", "name"]
    list_filter = ["pattern", "allocation_method"]
    search_fields = ["contract__number"]
    list_select_related = ["contract"]
    action_form = ObligationActionForm
    actions = ["group", "use_residual"]
    inlines = [ObligationLineInline, AllocationHistoryInline, ScheduleInline]
    fieldsets = [
        (None, {"fields": ["contract", "revenue_page", "sequence", "name"]}),
        (
            "Recognition",
            {"fields": ["pattern", ("service_start", "service_end")]},
        ),
        (
            "Allocation (latest)",
            {"fields": ["ssp", "fixed_price", "allocated", "allocation_method", "residual"]},
        ),
    ]
    # Only the name is a label finance may change; the rest follows from the lines and the
    # actions, which re-allocate and re-plan.
    readonly_fields = [
        "contract",
        "revenue_page",
        "sequence",
        "pattern",
        "service_start",
        "service_end",
        "ssp",
        "fixed_price",
        "allocated",
        "allocation_method",
        "residual",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # every contract line becomes an obligation on its own

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # a line's obligation goes with the line

    @admin.display(description="Revenue")
    def revenue_page(self, obligation: PerformanceObligation) -> str:
        url = reverse("admin:revenue_contract", args=[obligation.contract_id])
        return format_html('<a href="{}">Contract revenue page</a>', url)

    @admin.action(description="Group selected obligations (same contract)", permissions=["change"])
    def group(self, request: HttpRequest, queryset: QuerySet) -> None:
        obligations = list(queryset.select_related("contract"))
        try:
            kept = obligations_group(
                obligations=obligations,
                name=request.POST.get("group_name", "").strip(),
                pattern=request.POST.get("group_pattern", ""),
            )
        except ValidationError as error:
            self.message_user(request, " ".join(error.messages), messages.ERROR)
            return
        replan(kept.contract_id)
        self.message_user(
            request,
            f"Grouped {len(obligations)} obligations into {kept}; the contract was re-allocated.",
            messages.SUCCESS,
        )

    @admin.action(description="Use residual approach with this obligation", permissions=["change"])
    def use_residual(self, request: HttpRequest, queryset: QuerySet) -> None:
        if queryset.count() != 1:
            self.message_user(
                request, "Choose one obligation: the one that takes the residual.", messages.ERROR
            )
            return
        try:
            obligation = obligation_set_residual(obligation=queryset.get())
        except ValidationError as error:
            self.message_user(request, " ".join(error.messages), messages.ERROR)
            return
        replan(obligation.contract_id)
        self.message_user(
            request,
            f"{obligation} takes the residual: allocated {obligation.allocated}.",
            messages.SUCCESS,
        )

    def get_urls(self):
        contract_page = path(
            "contract/<int:contract_id>/",
            self.admin_site.admin_view(self.contract_revenue_view),
            name="revenue_contract",
        )
        return [contract_page, *super().get_urls()]

    def contract_revenue_view(self, request: HttpRequest, contract_id: int) -> HttpResponse:
        """Show how a contract's price was allocated, earned and billed, and where it stands."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        contract = get_object_or_404(Contract.objects.select_related("customer"), pk=contract_id)
        form = AsOfForm(request.GET or None)
        as_of = form.cleaned_data["as_of"] if form.is_valid() else None
        as_of = as_of or timezone.localdate()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Revenue of {contract.number}",
            "subtitle": contract.customer.legal_name,
            "contract": contract,
            "contract_url": reverse("admin:contracts_contract_change", args=[contract.pk]),
            "journal_url": reverse("admin:revenue_journalentry_changelist")
            + f"?contract__id__exact={contract.pk}",
            "form": form,
            "as_of": as_of,
            **contract_revenue(contract, as_of),
        }
        return TemplateResponse(request, "revenue/contract_revenue.html", context)


class AsOfForm(forms.Form):
    as_of = forms.DateField(required=False, label="As of", widget=_date_input())


# The contract revenue page ---------------------------------------------------------------------


METHOD_LABELS = dict(PerformanceObligation.AllocationMethod.choices)
POSITION_LABELS = {
    CONTRACT_ASSET: "Contract asset",
    CONTRACT_LIABILITY: "Contract liability",
    NO_POSITION: "No position",
}
POSITION_NOTES = {
    CONTRACT_ASSET: "earned, not yet billed",
    CONTRACT_LIABILITY: "billed, not yet earned",
    NO_POSITION: "billed = recognized",
}


def side(position: Position) -> str:
    """Name the side of the balance sheet a position sits on, for a table cell."""
    return {CONTRACT_ASSET: "asset", CONTRACT_LIABILITY: "liability"}.get(position.kind, "")


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


@dataclass(frozen=True)
class HistoryMonth:
    """A month of billing against revenue; ``position`` is None for months not yet posted."""

    period: date
    billed: Money
    revenue: Money
    planned: Money
    position: Position | None

    @property
    def figures(self) -> dict[str, str]:
        figures = {"billed": figure(self.billed), "revenue": figure(self.revenue)}
        if self.position is not None:
            figures |= {
                "billed_to_date": figure(self.position.billed),
                "revenue_to_date": figure(self.position.revenue),
                "position": figure(abs(self.position.net)),
                "side": side(self.position),
            }
        return figures


def billing_against_revenue(contract: Contract, planned: dict[date, Money]) -> list[HistoryMonth]:
    """Merge the posted history with the planned revenue into one run of calendar months.

    Months without postings between two that have them carry the position forward; months
    after the last posting show only what is planned.
    """
    posted = {month.period: month for month in contract_history(contract=contract)}
    known = [*posted, *planned]
    if not known:
        return []
    zero = Money(0, contract.currency)
    last_posted = max(posted, default=None)
    months, position = [], None
    for period in months_between(min(known), max(known)):
        figures = posted.get(period)
        if figures is not None:
            position = figures.position
        months.append(
            HistoryMonth(
                period=period,
                billed=figures.billed if figures else zero,
                revenue=figures.revenue if figures else zero,
                planned=planned.get(period, zero),
                position=position if last_posted and period <= last_posted else None,
            )
        )
    return months


# Chart geometry in SVG user units; the SVG scales to the page's width.
CHART_WIDTH, CHART_HEIGHT = 880, 280
CHART_LEFT, CHART_RIGHT, CHART_TOP, CHART_BOTTOM = 84, 12, 14, 34
# At most this many month labels under the axis, so they never overlap.
CHART_MAX_LABELS = 12


@dataclass(frozen=True)
class Bar:
    x: str
    y: str
    width: str
    height: str
    css: str
    title: str


@dataclass(frozen=True)
class Chart:
    """An SVG bar chart of billed and recognized revenue per month, with the position line."""

    width: int
    height: int
    left: int
    right: int
    bars: list[Bar]
    line: str
    dots: list[tuple[str, str, str]]
    ticks: list[tuple[str, str, bool]]
    labels: list[tuple[str, str]]


def _coordinate(value: Decimal) -> str:
    return f"{value:.1f}"


def _nice_step(span: Decimal) -> Decimal:
    """Return a round tick step (1, 2 or 5 times a power of ten) giving about four ticks."""
    raw = span / 4
    magnitude = Decimal(10) ** raw.adjusted()
    return next(factor * magnitude for factor in (1, 2, 5, 10) if raw <= factor * magnitude)


def history_chart(months: list[HistoryMonth]) -> Chart | None:
    """Lay out the bars, the position line and the axes; None when there is nothing to draw."""
    if not months:
        return None
    values = [Decimal(0)]
    for month in months:
        values += [month.billed.amount, month.revenue.amount + month.planned.amount]
        if month.position is not None:
            values.append(month.position.net.amount)
    step = _nice_step((max(values) - min(values)) or Decimal(1))
    low = (min(values) / step).to_integral_value(rounding=ROUND_FLOOR) * step
    # A contract of nothing but zeros still gets an axis one step high.
    high = max((max(values) / step).to_integral_value(rounding=ROUND_CEILING) * step, low + step)
    plot_width = Decimal(CHART_WIDTH - CHART_LEFT - CHART_RIGHT)
    plot_height = Decimal(CHART_HEIGHT - CHART_TOP - CHART_BOTTOM)

    def y(value: Decimal) -> Decimal:
        return CHART_TOP + (high - value) * plot_height / (high - low)

    def bar(x: Decimal, width: Decimal, bottom: Decimal, top: Decimal, css: str, title: str):
        upper, lower = y(max(bottom, top)), y(min(bottom, top))
        return Bar(*map(_coordinate, (x, upper, width, lower - upper)), css, title)

    slot = plot_width / len(months)
    width = slot * Decimal("0.34")
    every = -(-len(months) // CHART_MAX_LABELS)
    bars, points, dots, labels = [], [], [], []
    for index, month in enumerate(months):
        x = CHART_LEFT + slot * index
        name = f"{month.period:%b %Y}"
        revenue, revenue_x = month.revenue.amount, x + slot * Decimal("0.52")
        for left, bottom, top, css, amount in [
            (x + slot * Decimal("0.14"), 0, month.billed.amount, "billed", month.billed),
            (revenue_x, 0, revenue, "recognized", month.revenue),
            (revenue_x, revenue, revenue + month.planned.amount, "planned", month.planned),
        ]:
            if amount:
                bars.append(bar(left, width, bottom, top, css, f"{name} {css} {figure(amount)}"))
        if month.position is not None:
            centre = _coordinate(x + slot / 2)
            point = _coordinate(y(month.position.net.amount))
            points.append(f"{centre},{point}")
            note = POSITION_LABELS[month.position.kind].lower()
            dots.append((centre, point, f"{name} {note} {figure(abs(month.position.net))}"))
        if index % every == 0:
            labels.append((_coordinate(x + slot / 2), f"{month.period:%b %Y}"))
    ticks = []
    value = low
    while value <= high:
        ticks.append((_coordinate(y(value)), f"{value.normalize():,f}", value == 0))
        value += step
    return Chart(
        width=CHART_WIDTH,
        height=CHART_HEIGHT,
        left=CHART_LEFT,
        right=CHART_WIDTH - CHART_RIGHT,
        bars=bars,
        line=" ".join(points),
        dots=dots,
        ticks=ticks,
        labels=labels,
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


# The schedule and the journal ------------------------------------------------------------------


@admin.register(RevenueScheduleEntry)
class RevenueScheduleEntryAdmin(ReadOnlyAdmin):
    """Every obligation's revenue by month: what was recognized (posted) and what is planned."""

    list_display = [
        "period_month",
        "contract",
        "obligation",
        "pattern",
        "amount",
        "status",
        "recognized_on",
        "journal_entry",
    ]
    list_filter = ["status", "obligation__pattern"]
    search_fields = ["contract__number"]
    list_select_related = ["contract", "obligation__contract", "journal_entry"]
    date_hierarchy = "period"

    @admin.display(description="Period", ordering="period")
    def period_month(self, entry: RevenueScheduleEntry) -> str:
        return f"{entry.period:%b %Y}"

    @admin.display(description="Pattern", ordering="obligation__pattern")
    def pattern(self, entry: RevenueScheduleEntry) -> str:
        return entry.obligation.get_pattern_display()


class JournalLineInline(ReadOnlyInline):
    model = JournalLine
    fields = ["account", "contract", "debit_amount", "credit_amount", "currency"]
    readonly_fields = ["debit_amount", "credit_amount"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("account", "contract")

    @admin.display(description="Debit")
    def debit_amount(self, line: JournalLine) -> str:
        return figure(Money(line.debit, line.currency)) if line.debit else ""

    @admin.display(description="Credit")
    def credit_amount(self, line: JournalLine) -> str:
        return figure(Money(line.credit, line.currency)) if line.credit else ""


@admin.register(JournalEntry)
class JournalEntryAdmin(ToolsMixin, ReadOnlyAdmin):
    """The general-ledger journal: read, filtered and exported; never edited or deleted."""

    list_display = [
        "entry_number",
        "date",
        "period_month",
        "kind",
        "description",
        "contract",
        "invoice",
        "amount",
    ]
    list_filter = ["kind", AccountingPeriodFilter, "currency"]
    search_fields = ["contract__number", "invoice__number", "description", "source_key"]
    list_select_related = ["contract", "invoice"]
    date_hierarchy = "date"
    inlines = [JournalLineInline]
    actions = ["export_csv"]
    fields = [
        "kind",
        ("date", "period"),
        "description",
        ("contract", "invoice"),
        ("currency", "total"),
        "source_key",
        "created_at",
    ]
    readonly_fields = ["total"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(_total=Sum("lines__debit"))

    @admin.display(description="Entry", ordering="pk")
    def entry_number(self, entry: JournalEntry) -> str:
        return f"JE{entry.pk}"

    @admin.display(description="Period", ordering="period")
    def period_month(self, entry: JournalEntry) -> str:
        return f"{entry.period:%b %Y}"

    @admin.display(description="Amount (debits)", ordering="_total")
    def amount(self, entry: JournalEntry) -> str:
        return f"{figure(Money(entry._total or 0, entry.currency))} {entry.currency}"

    @admin.display(description="Total debits = credits")
    def total(self, entry: JournalEntry) -> str:
        return self.amount(entry)

    @admin.action(description="Export selected entries as CSV")
    def export_csv(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse:
        return self._csv(queryset)

    def _csv(self, entries: QuerySet) -> HttpResponse:
        stamp = timezone.localdate().isoformat()
        return csv_response(
            f"journal-{stamp}.csv", JOURNAL_CSV_HEADER, journal_csv_rows(entries.order_by())
        )

    def export_view(self, request: HttpRequest) -> HttpResponse:
        """Export every entry the changelist shows under its current filters and search."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        return self._csv(self.get_changelist_instance(request).get_queryset(request))

    def changelist_tools(self, request: HttpRequest) -> list[tuple[str, str]]:
        query = request.GET.urlencode()
        export = reverse("admin:revenue_journal_export") + (f"?{query}" if query else "")
        return [(export, "Export CSV"), (reverse("admin:revenue_trial_balance"), "Trial balance")]

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("export/", view(self.export_view), name="revenue_journal_export"),
            path("trial-balance/", view(self.trial_balance_view), name="revenue_trial_balance"),
            *super().get_urls(),
        ]

    def trial_balance_view(self, request: HttpRequest) -> HttpResponse:
        """Show (or download) debits and credits per account: of one month, or to a date."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = TrialBalanceForm(request.GET)
        form.is_valid()
        period = form.cleaned_data.get("period")
        through = form.cleaned_data.get("through")
        if period is None and through is None:
            through = timezone.localdate()
        lines = [
            BalanceLine(
                row.account, Money(row.debit, row.currency), Money(row.credit, row.currency)
            )
            for row in trial_balance(period=period, through=through)
        ]
        scope = f"{period:%Y-%m}" if period else f"through-{through.isoformat()}"
        if request.GET.get("download") == "csv":
            return csv_response(
                f"trial-balance-{scope}.csv",
                TRIAL_BALANCE_CSV_HEADER,
                (line.csv_row() for line in lines),
            )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Trial balance",
            "subtitle": f"{period:%B %Y}" if period else f"Cumulative through {long_date(through)}",
            "form": form,
            "period": period,
            "through": through,
            "currencies": balance_by_currency(lines),
            "csv_url": f"?{_with_download(request)}",
            "accounts_url": reverse("admin:revenue_ledgeraccount_changelist"),
        }
        return TemplateResponse(request, "revenue/trial_balance.html", context)


def _with_download(request: HttpRequest) -> str:
    query = request.GET.copy()
    query["download"] = "csv"
    return query.urlencode()


class TrialBalanceForm(forms.Form):
    """One month (``period``, as YYYY-MM) or everything through a date; today by default."""

    period = forms.DateField(
        required=False,
        label="One month",
        input_formats=["%Y-%m"],
        widget=forms.DateInput(attrs={"type": "month"}, format="%Y-%m"),
    )
    through = forms.DateField(required=False, label="Cumulative through", widget=_date_input())

    def clean(self) -> dict:
        cleaned = super().clean()
        if cleaned.get("period") and cleaned.get("through"):
            raise ValidationError("Choose one month or a date to run through, not both.")
        return cleaned


TRIAL_BALANCE_CSV_HEADER = ["account", "account_name", "currency", "debit", "credit", "balance"]


@dataclass(frozen=True)
class BalanceLine:
    """An account's debits and credits in one currency, and its balance (debit positive)."""

    account: LedgerAccount
    debit: Money
    credit: Money

    @property
    def currency(self) -> str:
        return self.debit.currency.code

    @property
    def figures(self) -> dict[str, str]:
        balance = self.debit - self.credit
        sides = {1: "Dr", -1: "Cr", 0: ""}
        return {
            "debit": figure(self.debit),
            "credit": figure(self.credit),
            "balance": figure(abs(balance)),
            "side": sides[(balance.amount > 0) - (balance.amount < 0)],
        }

    def csv_row(self) -> list[str]:
        return [
            self.account.code,
            self.account.name,
            self.currency,
            f"{round_money(self.debit).amount}",
            f"{round_money(self.credit).amount}",
            f"{round_money(self.debit - self.credit).amount}",
        ]


@dataclass(frozen=True)
class CurrencyBalance:
    """One currency's part of the trial balance: its lines and their totals."""

    currency: str
    lines: list[BalanceLine]
    debit: Money
    credit: Money

    @property
    def balanced(self) -> bool:
        return self.debit == self.credit

    @property
    def figures(self) -> dict[str, str]:
        return {"debit": figure(self.debit), "credit": figure(self.credit)}


def balance_by_currency(lines: list[BalanceLine]) -> list[CurrencyBalance]:
    """Total the lines per currency: debits and credits are only ever added within one."""
    grouped: dict[str, list[BalanceLine]] = defaultdict(list)
    for line in lines:
        grouped[line.currency].append(line)
    return [
        CurrencyBalance(
            currency=currency,
            lines=group,
            debit=sum((line.debit for line in group), Money(0, currency)),
            credit=sum((line.credit for line in group), Money(0, currency)),
        )
        for currency, group in sorted(grouped.items())
    ]


# Periods, runs, progress and allocations -------------------------------------------------------


class PeriodCloseForm(forms.Form):
    through = forms.DateField(
        label="Close through",
        widget=_date_input(),
        help_text="Every open month up to and including this date's month is closed.",
    )


@admin.register(RevenuePeriod)
class RevenuePeriodAdmin(ToolsMixin, ReadOnlyAdmin):
    """Closed accounting months. A month is closed through the close page, never by hand."""

    list_display = ["month", "status", "closed_at", "closed_by"]
    list_filter = ["status"]

    @admin.display(description="Month", ordering="start")
    def month(self, period: RevenuePeriod) -> str:
        return f"{period.start:%B %Y}"

    def may_close(self, request: HttpRequest) -> bool:
        opts = self.model._meta
        return request.user.has_perm(f"{opts.app_label}.{get_permission_codename('change', opts)}")

    def changelist_tools(self, request: HttpRequest) -> list[tuple[str, str]]:
        if not self.may_close(request):
            return []
        return [(reverse("admin:revenue_period_close"), "Close periods…")]

    def get_urls(self):
        close = path(
            "close/", self.admin_site.admin_view(self.close_view), name="revenue_period_close"
        )
        return [close, *super().get_urls()]

    def close_view(self, request: HttpRequest) -> HttpResponse:
        """Ask for a month, show what closing it means, and close on confirmation."""
        if not self.may_close(request):
            raise PermissionDenied
        first_open = first_open_period()
        today = timezone.localdate()
        form = PeriodCloseForm(
            request.POST or None, initial={"through": month_start(today) - ONE_DAY}
        )
        to_close: list[date] = []
        if request.method == "POST" and form.is_valid():
            month = month_start(form.cleaned_data["through"])
            if "confirm" in request.POST:
                try:
                    closed = period_close(through=month, closed_by=request.user.get_username())
                except ValidationError as error:
                    form.add_error("through", error.messages)
                else:
                    self.message_user(
                        request,
                        f"Closed {len(closed)} period(s) through {month:%B %Y}; revenue was "
                        f"recognized through {long_date(month_end(month))} first.",
                        messages.SUCCESS,
                    )
                    return HttpResponseRedirect(reverse("admin:revenue_revenueperiod_changelist"))
            else:
                start = first_open or min(earliest_posting() or month, month)
                to_close = months_between(start, month) if start <= month else []
                if not to_close:
                    form.add_error(
                        "through",
                        f"{month:%B %Y} is already closed; the first open period is "
                        f"{first_open:%B %Y}.",
                    )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Close revenue periods",
            "form": form,
            "first_open": first_open,
            "to_close": to_close,
            "through": to_close[-1] if to_close else None,
            "recognize_through": month_end(to_close[-1]) if to_close else None,
        }
        return TemplateResponse(request, "revenue/period_close.html", context)


def earliest_posting() -> date | None:
    """Return the first accounting month the journal has postings in."""
    return JournalEntry.objects.order_by("period").values_list("period", flat=True).first()


@admin.register(RevenueRun)
class RevenueRunAdmin(ReadOnlyAdmin):
    list_display = [
        "__str__",
        "as_of",
        "close_through",
        "triggered_by",
        "started_at",
        "finished_at",
        "contracts",
        "entries_posted",
    ]
    list_filter = ["triggered_by"]
    date_hierarchy = "as_of"


class ProgressEntryForm(forms.ModelForm):
    class Meta:
        model = ProgressEntry
        fields = ["obligation", "measured_on", "incurred", "estimated_total", "note"]
        widgets = {"measured_on": _date_input()}


@admin.register(ProgressEntry)
class ProgressEntryAdmin(admin.ModelAdmin):
    """Progress of percent-complete obligations; recognition follows each measurement at once."""

    form = ProgressEntryForm
    list_display = [
        "measured_on",
        "obligation",
        "incurred_figure",
        "estimated_figure",
        "progress",
        "recorded_by",
        "note",
    ]
    list_select_related = ["obligation__contract"]
    search_fields = ["obligation__contract__number", "obligation__name", "note"]
    date_hierarchy = "measured_on"

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return obj is None  # a measurement is history: record a new one to correct it

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "obligation":
            kwargs["queryset"] = PerformanceObligation.objects.filter(
                pattern=RevenuePolicy.PERCENT_COMPLETE
            ).select_related("contract")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description="Incurred", ordering="incurred")
    def incurred_figure(self, entry: ProgressEntry) -> str:
        return plain_decimal(entry.incurred)

    @admin.display(description="Estimated total", ordering="estimated_total")
    def estimated_figure(self, entry: ProgressEntry) -> str:
        return plain_decimal(entry.estimated_total)

    @admin.display(description="Progress")
    def progress(self, entry: ProgressEntry) -> str:
        percent = entry.incurred * 100 / entry.estimated_total
        return f"{percent.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP)} %"

    def save_model(self, request: HttpRequest, obj: ProgressEntry, form, change: bool) -> None:
        obj.recorded_by = request.user.get_username()
        super().save_model(request, obj, form, change)
        # A measurement dated ahead is earned only once its day comes.
        contracts_recognize(
            contract_ids=[obj.obligation.contract_id],
            as_of=min(obj.measured_on, timezone.localdate()),
        )


class ShareInline(ReadOnlyInline):
    model = ObligationAllocation
    fields = ["obligation", "ssp", "fixed_price", "allocated", "method", "share", "share_percent"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("obligation__contract")


@admin.register(Allocation)
class AllocationAdmin(ReadOnlyAdmin):
    """Each allocation of a contract's price, with the inputs and result per obligation."""

    list_display = ["contract", "computed_at", "method", "transaction_price", "reason"]
    list_filter = ["method"]
    search_fields = ["contract__number"]
    list_select_related = ["contract"]
    date_hierarchy = "computed_at"
    inlines = [ShareInline]
