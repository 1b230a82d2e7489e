"""Admin screens for contract modifications: enter one with its changes, preview it, apply it,
and see the contract as of any date.

A draft is edited on its own page, its changes inline; "Preview and apply" shows what applying
would do (lines ending and starting, what billing charges and credits) before the user commits
it. An applied modification is history: its page is read-only.
"""

from datetime import date

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_date
from djmoney.money import Money

from contracts.forms import AmountsInContractCurrencyForm
from contracts.models import Contract, ContractLine, Modification, ModificationChange
from contracts.modifications import (
    change_errors,
    contract_as_of,
    modification_apply,
    modification_preview,
)
from rms.admin_audit import AuditHistoryAdmin, RelatedHistory

ADDED_LINE_TERMS = [
    "product",
    "billing_model",
    "description",
    "interval_months",
    "bill_timing",
    "bill_day_mode",
    "bill_day",
    "one_time_trigger",
]


def _messages(error: ValidationError) -> list[str]:
    if hasattr(error, "error_dict"):
        return [f"{field}: {m}" for field, msgs in error.message_dict.items() for m in msgs]
    return error.messages


class ModificationChangeForm(AmountsInContractCurrencyForm):
    """One change, its price in the contract's currency, checked as the service checks it."""

    money_fields = ("unit_price",)

    class Meta:
        model = ModificationChange
        fields = ["kind", "line", "quantity", "unit_price", "new_end_date", *ADDED_LINE_TERMS]

    def amounts_currency(self) -> str | None:
        modification = self.cleaned_data.get("modification")
        if modification is None or modification.contract_id is None:
            return None
        return modification.contract.currency

    def clean(self) -> dict:
        cleaned = super().clean()
        modification = cleaned.get("modification")
        if modification is None or modification.contract_id is None or "kind" not in cleaned:
            return cleaned
        values = {name: cleaned.get(name) for name in self.Meta.fields if name in cleaned}
        if values.get("unit_price") is not None:  # made Money only in _post_clean
            values["unit_price"] = Money(values["unit_price"], modification.contract.currency)
        change = ModificationChange(**values)
        for field, message in change_errors(change, modification.contract).items():
            if field in self.fields and field not in self.errors:
                self.add_error(field, message)
        return cleaned


class ModificationChangeInline(admin.StackedInline):
    model = ModificationChange
    form = ModificationChangeForm
    extra = 1
    fieldsets = [
        (None, {"fields": ["kind", ("line", "quantity", "unit_price"), "new_end_date"]}),
        (
            "An added line's terms",
            {
                "fields": [
                    ("product", "billing_model", "description"),
                    ("interval_months", "bill_timing", "bill_day_mode", "bill_day"),
                    "one_time_trigger",
                ],
                "classes": ["collapse"],
            },
        ),
    ]
    autocomplete_fields = ["product"]

    def get_formset(self, request: HttpRequest, obj: Modification | None = None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        contract_id = obj.contract_id if obj is not None else request.GET.get("contract")
        lines = ContractLine.objects.select_related("product", "contract")
        lines = lines.filter(contract_id=contract_id) if contract_id else lines.none()
        formset.form.base_fields["line"].queryset = lines
        return formset


class ModificationForm(forms.ModelForm):
    class Meta:
        model = Modification
        fields = [
            "contract",
            "reference",
            "effective_date",
            "description",
            "treatment",
            "treatment_reason",
            "refund_on_termination",
        ]
        widgets = {
            "description": forms.Textarea(attrs={"rows": 3}),
            "treatment_reason": forms.Textarea(attrs={"rows": 2}),
        }

    def clean_contract(self) -> Contract:
        contract = self.cleaned_data["contract"]
        if contract.status != Contract.Status.ACTIVE:
            raise ValidationError(
                f"Contract {contract.number} is {contract.get_status_display().lower()}; only "
                "an active contract is modified (edit a draft directly)."
            )
        return contract


@admin.register(Modification)
class ModificationAdmin(AuditHistoryAdmin):
    form = ModificationForm
    inlines = [ModificationChangeInline]
    list_display = ["reference", "contract", "effective_date", "treatment", "status", "applied_at"]
    list_filter = ["status", "treatment"]
    list_select_related = ["contract"]
    search_fields = ["reference", "contract__number", "description"]
    date_hierarchy = "effective_date"
    autocomplete_fields = ["contract"]
    readonly_fields = ["status", "separate_contract", "created_by", "applied_by", "applied_at"]
    change_form_template = "admin/contracts/modification/change_form.html"
    history_related = [
        RelatedHistory(
            "Changes",
            ModificationChange,
            "modification_id",
            lambda row: ModificationChange.Kind(row.kind).label,
        )
    ]

    def has_change_permission(self, request: HttpRequest, obj: Modification | None = None) -> bool:
        # An applied modification is history: shown, never edited.
        if obj is not None and obj.is_applied:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Modification | None = None) -> bool:
        if obj is not None and obj.is_applied:
            return False
        return super().has_delete_permission(request, obj)

    def has_apply_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("contracts.apply_modification")

    def save_model(self, request: HttpRequest, obj: Modification, form, change: bool) -> None:
        if not change:
            obj.created_by = request.user.get_username()
        super().save_model(request, obj, form, change)

    def response_add(self, request, obj, post_url_continue=None):
        if "_continue" not in request.POST and "_addanother" not in request.POST:
            return HttpResponseRedirect(
                reverse("admin:contracts_modification_preview", args=[obj.pk])
            )
        return super().response_add(request, obj, post_url_continue)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "<int:modification_id>/preview/",
                view(self.preview_view),
                name="contracts_modification_preview",
            ),
            path(
                "as-of/<int:contract_id>/",
                view(self.as_of_view),
                name="contracts_contract_as_of",
            ),
            *super().get_urls(),
        ]

    def preview_view(self, request: HttpRequest, modification_id: int) -> HttpResponse:
        """Show what applying would do; on POST (with the apply permission) apply it."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        modification = get_object_or_404(
            Modification.objects.select_related("contract"), pk=modification_id
        )
        contract_url = reverse("admin:contracts_contract_change", args=[modification.contract_id])
        if request.method == "POST":
            if not self.has_apply_permission(request):
                raise PermissionDenied
            try:
                modification_apply(modification=modification, by=request.user.get_username())
            except ValidationError as error:
                for message in _messages(error):
                    self.message_user(request, message, messages.ERROR)
                return HttpResponseRedirect(request.path)
            self.message_user(
                request,
                f"Applied modification {modification.reference} from "
                f"{modification.effective_date}.",
                messages.SUCCESS,
            )
            return HttpResponseRedirect(contract_url)
        preview, errors = None, []
        if not modification.is_applied:
            try:
                preview = modification_preview(modification=modification)
            except ValidationError as error:
                errors = _messages(error)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Modification {modification.reference} of {modification.contract.number}",
            "opts": self.model._meta,
            "modification": modification,
            "changes": modification.changes.select_related("line__product", "product"),
            "preview": preview,
            "errors": errors,
            "can_apply": self.has_apply_permission(request) and preview is not None,
            "contract_url": contract_url,
        }
        return TemplateResponse(request, "admin/contracts/modification/preview.html", context)

    def as_of_view(self, request: HttpRequest, contract_id: int) -> HttpResponse:
        """The contract's lines and terms in effect on a date (``?on=YYYY-MM-DD``)."""
        if not request.user.has_perm("contracts.view_contract"):
            raise PermissionDenied
        contract = get_object_or_404(Contract.objects.select_related("customer"), pk=contract_id)
        raw = request.GET.get("on", "")
        try:
            on = parse_date(raw) if raw else timezone.localdate()
        except ValueError:
            on = None
        error = "" if on else f"{raw!r} is not a date; use YYYY-MM-DD."
        context = {
            **self.admin_site.each_context(request),
            "title": f"Contract {contract.number} as of {on or raw}",
            "opts": Contract._meta,
            "contract": contract,
            "on": on or date.today(),
            "error": error,
            "as_of": contract_as_of(contract=contract, on=on) if on else None,
            "contract_url": reverse("admin:contracts_contract_change", args=[contract.pk]),
        }
        return TemplateResponse(request, "admin/contracts/modification/as_of.html", context)


class ModificationInline(admin.TabularInline):
    """The contract page's list of its modifications (added from the page's "Modify…" link)."""

    model = Modification
    fk_name = "contract"
    fields = ["reference", "effective_date", "treatment", "status", "applied_at"]
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = "Modifications (amendments with an effective date)"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("contract")
