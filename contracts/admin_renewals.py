"""Renewals in the back office: the renewal terms on the contract page, and the worklist.

The worklist lists the active fixed-term contracts whose term ends within N days (90 unless the
filter says otherwise), with what a finance user decides on: the notice deadline, whether the
contract renews by itself, its yearly value and uplift, and the decision so far. Its actions
renew (after a confirmation page where the uplift or each line's new price can be changed) or
mark contracts as not renewing (with the reason). It is a view of contracts: seeing it takes
the permission to view contracts, acting on it the permission to change them.
"""

from datetime import timedelta
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from contracts.domain.renewals import notice_deadline, uplifted
from contracts.models import (
    UPLIFT_RANGE,
    Contract,
    ContractLine,
    ContractRenewal,
    Renewal,
    RenewalTerms,
)
from contracts.renewals import (
    annual_value,
    contract_renew,
    renewal_decide,
    renewal_summary,
    renewal_terms_of,
    renewed_lines,
)
from rms.money import money_text

DEFAULT_WINDOW_DAYS = 90


class RenewalTermsInline(admin.StackedInline):
    """The contract page's renewal terms; the decision is taken on the worklist, which records
    who took it and when."""

    model = RenewalTerms
    extra = 1
    max_num = 1
    can_delete = False
    verbose_name_plural = "Renewal"
    fields = [
        ("auto_renew", "term_months"),
        ("uplift_percent", "notice_days"),
        ("decision", "decided_by", "decided_at"),
        "decision_reason",
    ]
    readonly_fields = ["decision", "decision_reason", "decided_by", "decided_at"]


class RenewalHistoryInline(admin.TabularInline):
    """The contract page's renewals: each term renewed, to when, at what prices, by whom."""

    model = Renewal
    extra = 0
    can_delete = False
    verbose_name_plural = "Renewals"
    fields = ["from_end", "to_end", "uplift_percent", "new_prices", "automatic", "renewed_by"]
    readonly_fields = fields
    ordering = ["from_end"]

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="Prices")
    def new_prices(self, renewal: Renewal) -> str:
        return (
            "; ".join(f"line {p['sequence']}: {p['from']} → {p['to']}" for p in renewal.prices)
            or "—"
        )


class ExpiringWithinFilter(admin.SimpleListFilter):
    """Contracts whose term ends within N days of today (90 by default), or already ended."""

    title = "term ends"
    parameter_name = "within"
    windows = {"30": 30, "60": 60, "90": 90, "180": 180, "365": 365}

    def lookups(self, request, model_admin):
        return [
            ("ended", "Already ended"),
            *((key, f"Within {days} days") for key, days in self.windows.items()),
            ("any", "Any time"),
        ]

    def value(self):
        return super().value() or str(DEFAULT_WINDOW_DAYS)

    def choices(self, changelist):
        # No "All" entry: without a choice the default window applies, and "Any time" is all.
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == str(lookup),
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        today = timezone.localdate()
        if self.value() == "ended":
            return queryset.filter(end_date__lt=today)
        if self.value() in self.windows:
            days = self.windows[self.value()]
            return queryset.filter(end_date__lte=today + timedelta(days=days))
        return queryset


class RenewForm(forms.Form):
    """The renewal's confirmation: one uplift for all, or each renewed line's new price."""

    uplift_percent = forms.DecimalField(
        label="Uplift (%) for every contract",
        required=False,
        max_digits=7,
        decimal_places=4,
        validators=UPLIFT_RANGE,
        help_text="Leave empty to use the prices below (each contract's uplift, unless changed).",
    )

    def __init__(self, *args, contracts: list[Contract], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.rows = []
        for contract in contracts:
            terms = renewal_terms_of(contract)
            lines = []
            for line in renewed_lines(contract, contract.end_date):
                name = f"price_{line.pk}"
                default = uplifted(line.unit_price, terms.uplift_percent).amount
                self.fields[name] = forms.DecimalField(
                    label=f"{contract.number} line {line.sequence}",
                    max_digits=19,
                    decimal_places=4,
                    min_value=Decimal(0),
                    initial=default,
                    required=False,  # unless no uplift is typed: see clean()
                )
                lines.append((line, self[name], default))
            self.rows.append((contract, terms, lines))

    def clean(self) -> dict:
        """Require each line's price unless one uplift is typed for all."""
        data = super().clean()
        if data.get("uplift_percent") is None and "uplift_percent" not in self.errors:
            for _, _, lines in self.rows:
                for line, field, _ in lines:
                    if data.get(field.name) is None and field.name not in self.errors:
                        self.add_error(
                            field.name,
                            f"Enter line {line.sequence}'s new unit price, or one uplift for all.",
                        )
        return data

    def renewal_options(self, contract: Contract, lines) -> dict:
        """Return how to renew ``contract``: the uplift typed, its own uplift when its prices
        were left as proposed, or the prices entered."""
        if self.cleaned_data.get("uplift_percent") is not None:
            return {"uplift_percent": self.cleaned_data["uplift_percent"]}
        prices = {line.pk: self.cleaned_data[field.name] for line, field, _ in lines}
        if all(prices[line.pk] == default for line, _, default in lines):
            return {}
        return {"new_unit_prices": prices}


class NotRenewingForm(forms.Form):
    reason = forms.CharField(
        label="Reason",
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Why these contracts end at their term: kept with the decision.",
    )


@admin.register(ContractRenewal)
class ContractRenewalAdmin(admin.ModelAdmin):
    """The renewal worklist."""

    list_display = [
        "contract_link",
        "customer",
        "end_date",
        "notice_by",
        "auto_renews",
        "yearly_value",
        "uplift",
        "decision",
    ]
    list_display_links = None
    list_filter = [ExpiringWithinFilter, "renewal_terms__auto_renew", "renewal_terms__decision"]
    search_fields = ["number", "title", "customer__legal_name", "customer__number"]
    ordering = ["end_date", "number"]
    actions = ["renew", "mark_not_renewing", "mark_renewing"]
    fields = ["contract_link", "customer", "title", "start_date", "end_date", "finance_owner"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        lines = ContractLine.objects.order_by("sequence", "pk")
        return (
            super()
            .get_queryset(request)
            .filter(status=Contract.Status.ACTIVE, evergreen=False)
            .select_related("customer", "renewal_terms")
            .prefetch_related(Prefetch("lines", queryset=lines))
        )

    # A view of contracts: their permissions, not permissions of its own.

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.has_perm("contracts.view_contract")

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        # The actions only: a row's own page is read-only and links to the contract's page,
        # where the contract is edited with its lines and renewal terms.
        return obj is None and request.user.has_perm("contracts.change_contract")

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    # Columns

    @admin.display(description="Contract", ordering="number")
    def contract_link(self, contract: Contract) -> str:
        url = reverse("admin:contracts_contract_change", args=[contract.pk])
        return format_html('<a href="{}">{}</a>', url, contract.number)

    @admin.display(description="Notice by")
    def notice_by(self, contract: Contract):
        return notice_deadline(contract.end_date, renewal_terms_of(contract).notice_days)

    @admin.display(description="Auto-renew", boolean=True)
    def auto_renews(self, contract: Contract) -> bool:
        return renewal_terms_of(contract).auto_renew

    @admin.display(description="Annual value")
    def yearly_value(self, contract: Contract) -> str:
        return money_text(annual_value(contract, list(contract.lines.all())))

    @admin.display(description="Uplift")
    def uplift(self, contract: Contract) -> str:
        return f"{renewal_terms_of(contract).uplift_percent.normalize():f}%"

    @admin.display(description="Decision")
    def decision(self, contract: Contract) -> str:
        terms = renewal_terms_of(contract)
        label = terms.get_decision_display()
        if terms.decision == RenewalTerms.Decision.NOT_RENEWING:
            return f"{label}: {terms.decision_reason}"
        return label

    # Actions

    def _confirm(self, request, queryset, form, template: str, title: str) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "form": form,
            "contracts": queryset,
            "action": request.POST["action"],
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, template, context)

    @admin.action(description="Renew selected contracts…", permissions=["change"])
    def renew(self, request: HttpRequest, queryset: QuerySet):
        contracts = list(queryset.order_by("end_date", "number"))
        data = request.POST if "apply" in request.POST else None
        form = RenewForm(data, contracts=contracts)
        if data is None or not form.is_valid():
            return self._confirm(
                request, queryset, form, "admin/contracts/renewal/renew.html", "Renew contracts"
            )
        by = request.user.get_username()
        for contract, _, lines in form.rows:
            options = form.renewal_options(contract, lines)
            try:
                renewal, made = contract_renew(contract=contract, by=by, **options)
            except ValidationError as error:
                self.message_user(
                    request, f"{contract.number}: {' '.join(error.messages)}", messages.ERROR
                )
                continue
            if made:
                self.message_user(request, renewal_summary(renewal) + ".", messages.SUCCESS)
            else:
                self.message_user(
                    request,
                    f"{contract.number}: its term to {renewal.from_end} was already renewed.",
                    messages.WARNING,
                )
        return None

    @admin.action(description="Mark selected as not renewing…", permissions=["change"])
    def mark_not_renewing(self, request: HttpRequest, queryset: QuerySet):
        form = NotRenewingForm(request.POST if "apply" in request.POST else None)
        if not form.is_bound or not form.is_valid():
            return self._confirm(
                request,
                queryset,
                form,
                "admin/contracts/renewal/not_renewing.html",
                "Mark contracts as not renewing",
            )
        self._decide(request, queryset, "not_renewing", form.cleaned_data["reason"])
        return None

    @admin.action(description="Mark selected as renewing", permissions=["change"])
    def mark_renewing(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._decide(request, queryset, "renewing", "")

    def _decide(self, request: HttpRequest, queryset: QuerySet, decision: str, reason: str):
        by = request.user.get_username()
        decided = 0
        for contract in queryset:
            try:
                renewal_decide(contract=contract, decision=decision, reason=reason, by=by)
                decided += 1
            except ValidationError as error:
                self.message_user(
                    request, f"{contract.number}: {' '.join(error.messages)}", messages.ERROR
                )
        label = dict(RenewalTerms.Decision.choices)[decision].lower()
        if decided:
            self.message_user(
                request, f"Marked {decided} contract(s) as {label}.", messages.SUCCESS
            )
