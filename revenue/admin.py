"""The revenue back office: obligations and how they were allocated, the revenue schedule, the
journal, periods and progress measurements, and a link from each contract to its revenue. The
finance pages beside these lists (a contract's revenue, the trial balance, the period close) are
built in ``revenue.pages``; their URLs are wired here, so they share the admin's login and frame.

What was recognized, posted or closed is history, so those screens are read-only: changes go
through the services (grouping, the residual approach, a progress measurement, a close), which
post whatever follows from them.
"""

from decimal import ROUND_HALF_UP, Decimal
from functools import partial

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet, Sum
from django.http import HttpRequest, HttpResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from djmoney.money import Money

from billing.admin import ContractWithBillingAdmin, ReadOnlyInline, plain_decimal
from contracts.models import Contract, RevenuePolicy
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
from revenue.pages.contract_revenue import contract_revenue_view
from revenue.pages.period_close import may_close, period_close_view
from revenue.pages.shared import csv_response, date_input, figure
from revenue.pages.trial_balance import trial_balance_view
from revenue.runs import contracts_recognize
from revenue.selectors import JOURNAL_CSV_HEADER, journal_csv_rows
from rms.admin_audit import AuditHistoryAdmin


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


def contract_revenue_link(contract_id: int, text: str) -> str:
    """Link to a contract's revenue page (allocation, schedule, position) from another page."""
    url = reverse("admin:revenue_contract", args=[contract_id])
    return format_html('<a href="{}">{}</a>', url, text)


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
        return contract_revenue_link(obligation.contract_id, "Contract revenue page")

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
        self.message_user(
            request,
            f"{obligation} takes the residual: allocated {obligation.allocated}.",
            messages.SUCCESS,
        )

    def get_urls(self):
        contract_page = path(
            "contract/<int:contract_id>/",
            self.admin_site.admin_view(partial(contract_revenue_view, self)),
            name="revenue_contract",
        )
        return [contract_page, *super().get_urls()]


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
            path(
                "trial-balance/",
                view(partial(trial_balance_view, self)),
                name="revenue_trial_balance",
            ),
            *super().get_urls(),
        ]


# Periods, runs, progress and allocations -------------------------------------------------------


@admin.register(RevenuePeriod)
class RevenuePeriodAdmin(ToolsMixin, AuditHistoryAdmin, ReadOnlyAdmin):
    """Closed accounting months. A month is closed through the close page, never by hand."""

    list_display = ["month", "status", "closed_at", "closed_by"]
    list_filter = ["status"]

    @admin.display(description="Month", ordering="start")
    def month(self, period: RevenuePeriod) -> str:
        return f"{period.start:%B %Y}"

    def changelist_tools(self, request: HttpRequest) -> list[tuple[str, str]]:
        if not may_close(request):
            return []
        return [(reverse("admin:revenue_period_close"), "Close periods…")]

    def get_urls(self):
        close = path(
            "close/",
            self.admin_site.admin_view(partial(period_close_view, self)),
            name="revenue_period_close",
        )
        return [close, *super().get_urls()]


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
        widgets = {"measured_on": date_input()}


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


# Contracts -------------------------------------------------------------------------------------


class ContractWithRevenueAdmin(ContractWithBillingAdmin):
    """The contract page of contracts and billing, with a link to the contract's revenue page.

    Declared here so that contracts and billing never import revenue.
    """

    readonly_fields = [*ContractWithBillingAdmin.readonly_fields, "revenue_page"]

    def get_fieldsets(self, request: HttpRequest, obj: Contract | None = None) -> list:
        fieldsets = super().get_fieldsets(request, obj)
        # The page refuses whoever may not view obligations: no link they could not follow.
        if not self.admin_site.get_model_admin(PerformanceObligation).has_view_permission(request):
            return fieldsets
        (name, options), *rest = fieldsets
        return [(name, {**options, "fields": [*options["fields"], "revenue_page"]}), *rest]

    @admin.display(description="Revenue")
    def revenue_page(self, contract: Contract) -> str:
        if contract.pk is None:
            return "—"  # the add page: nothing is allocated before the contract is saved
        return contract_revenue_link(contract.pk, "Allocation, schedule and position")


admin.site.unregister(Contract)
admin.site.register(Contract, ContractWithRevenueAdmin)

# Variable consideration registers its admin in a module of its own.
from revenue import admin_variable  # noqa: E402, F401
