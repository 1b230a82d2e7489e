"""Admin screens for the contracts app: what finance staff use to set up the book.

Actions call the services in ``contracts.services`` so that the admin, the API and jobs share one
set of rules; list pages join what they display so a page costs a fixed number of queries.
"""

from collections.abc import Callable
from datetime import date

from django.contrib import admin, messages
from django.contrib.admin.widgets import RelatedFieldWidgetWrapper
from django.core.exceptions import ValidationError
from django.db.models import Count, QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest

from contracts import services
from contracts.forms import ContractForm, ContractLineForm, CustomerForm
from contracts.models import (
    BillingContact,
    BillingModel,
    Contract,
    ContractLine,
    Customer,
    PaymentTerms,
    Product,
)
from contracts.services import HoldKind


def _hold_action(kind: str, on: bool) -> Callable:
    """Build an admin action that places or releases one kind of hold on the selected rows."""
    label = "billing" if kind == HoldKind.BILLING else "delivery"
    verb = "Place" if on else "Release"

    def action(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
        reason = f"{verb}d by {request.user.get_username()} from the admin" if on else ""
        for row in queryset:
            services.hold_set(target=row, kind=kind, on=on, reason=reason)
        modeladmin.message_user(
            request, f"{verb}d the {label} hold on {queryset.count()} record(s).", messages.SUCCESS
        )

    action.__name__ = f"{verb.lower()}_{label}_hold"
    action.short_description = f"{verb} {label} hold"
    action.allowed_permissions = ("change",)
    return action


class NoDeleteLinksOnRelations:
    """Drop the "delete" icon beside related-object pickers.

    Next to a contract's customer or a line's product it deletes the customer or product itself,
    one misclick away from the field being edited.
    """

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        formfield = super().formfield_for_dbfield(db_field, request, **kwargs)
        if formfield is not None and isinstance(formfield.widget, RelatedFieldWidgetWrapper):
            formfield.widget.can_delete_related = False
        return formfield


HOLD_ACTIONS = [_hold_action(kind, on) for kind in HoldKind.ALL for on in (True, False)]


@admin.display(description="Holds")
def holds_badge(obj: Customer | Contract) -> str:
    flags = (("billing", obj.billing_hold), ("delivery", obj.delivery_hold))
    held = [name for name, on in flags if on]
    return ", ".join(held) or "—"


@admin.register(PaymentTerms)
class PaymentTermsAdmin(admin.ModelAdmin):
    list_display = ["name", "basis", "days", "description"]
    search_fields = ["name"]


class BillingContactFormSet(BaseInlineFormSet):
    """Require a billing contact when invoices are to be emailed."""

    def clean(self) -> None:
        super().clean()
        if self.instance.delivery_method != Customer.DeliveryMethod.EMAIL:
            return
        kept = [
            form
            for form in self.forms
            if form.cleaned_data.get("email") and not form.cleaned_data.get("DELETE")
        ]
        if not kept:
            raise ValidationError(
                "Invoices are delivered by email: add at least one billing contact, "
                "or set the delivery method to none."
            )


class BillingContactInline(admin.TabularInline):
    model = BillingContact
    formset = BillingContactFormSet
    extra = 1


@admin.register(Customer)
class CustomerAdmin(NoDeleteLinksOnRelations, admin.ModelAdmin):
    form = CustomerForm
    # Explicit, because the contract-count annotation drops Meta.ordering (GROUP BY) and the
    # autocomplete used on contracts pages would then page through unordered results.
    ordering = ["legal_name"]
    list_display = [
        "number",
        "legal_name",
        "currency",
        "payment_terms",
        "delivery_method",
        holds_badge,
        "contract_count",
    ]
    list_filter = ["currency", "delivery_method", "billing_hold", "delivery_hold", "payment_terms"]
    search_fields = ["number", "legal_name", "tax_id", "contacts__email"]
    list_select_related = ["payment_terms"]
    inlines = [BillingContactInline]
    actions = HOLD_ACTIONS
    readonly_fields = ["created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["number", "legal_name", "currency"]}),
        ("Invoicing", {"fields": ["payment_terms", "delivery_method", "invoice_review"]}),
        ("Tax", {"fields": ["tax_id", "tax_rate"]}),
        (
            "Billing address",
            {
                "fields": [
                    "address_line1",
                    "address_line2",
                    ("postal_code", "city"),
                    ("region", "country"),
                ]
            },
        ),
        ("Holds", {"fields": ["billing_hold", "delivery_hold", "hold_reason"]}),
        ("Record", {"fields": ["created_at", "updated_at"], "classes": ["collapse"]}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(_contract_count=Count("contracts"))

    @admin.display(description="Contracts", ordering="_contract_count")
    def contract_count(self, obj: Customer) -> int:
        return obj._contract_count


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = [
        "sku",
        "name",
        "ssp",
        "unit_of_measure",
        "default_billing_model",
        "revenue_policy",
        "active",
    ]
    list_filter = ["default_billing_model", "revenue_policy", "active", "ssp_currency"]
    search_fields = ["sku", "name"]


class ContractLineInline(NoDeleteLinksOnRelations, admin.StackedInline):
    model = ContractLine
    form = ContractLineForm
    extra = 0
    autocomplete_fields = ["product"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    ("sequence", "product", "billing_model"),
                    "description",
                    ("quantity", "unit_price"),
                    ("service_start", "service_end"),
                ]
            },
        ),
        # The terms-<model> classes let contract-line-terms.js show only the line's own terms.
        (
            "Subscription terms",
            {
                "fields": [("interval_months", "bill_timing"), ("bill_day_mode", "bill_day")],
                "classes": ["terms-subscription"],
            },
        ),
        ("One-time terms", {"fields": ["one_time_trigger"], "classes": ["terms-one_time"]}),
        ("Revenue", {"fields": [("ssp_override", "revenue_policy_override")]}),
    ]


@admin.register(Contract)
class ContractAdmin(NoDeleteLinksOnRelations, admin.ModelAdmin):
    form = ContractForm
    list_display = [
        "number",
        "customer",
        "title",
        "currency",
        "start_date",
        "end_or_evergreen",
        "status",
        "billing_models",
        holds_badge,
    ]
    list_filter = ["status", "currency", "evergreen", "billing_hold", "delivery_hold"]
    search_fields = ["number", "title", "customer__legal_name", "customer__number"]
    list_select_related = ["customer"]
    date_hierarchy = "start_date"
    autocomplete_fields = ["customer"]
    inlines = [ContractLineInline]
    readonly_fields = ["created_at", "updated_at"]
    actions = ["activate", *HOLD_ACTIONS]
    fieldsets = [
        (None, {"fields": ["number", "customer", "title", "currency", "status"]}),
        ("Term", {"fields": ["signed_date", ("start_date", "end_date"), "evergreen"]}),
        ("Budget", {"fields": ["not_to_exceed", "cost_budget"]}),
        ("Holds", {"fields": ["billing_hold", "delivery_hold", "hold_reason"]}),
        ("Record", {"fields": ["created_at", "updated_at"], "classes": ["collapse"]}),
    ]

    class Media:
        js = ["js/contract-line-terms.js"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).prefetch_related("lines")

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        services.contract_terms_announce(contract=form.instance)

    @admin.display(description="End", ordering="end_date")
    def end_or_evergreen(self, obj: Contract) -> date | str:
        return "Evergreen" if obj.evergreen else obj.end_date

    @admin.display(description="Billing models")
    def billing_models(self, obj: Contract) -> str:
        labels = dict(BillingModel.choices)
        used = sorted({line.billing_model for line in obj.lines.all()})
        return ", ".join(labels[m] for m in used) or "—"

    @admin.action(description="Activate selected draft contracts", permissions=["change"])
    def activate(self, request: HttpRequest, queryset: QuerySet) -> None:
        activated = 0
        for contract in queryset:
            try:
                services.contract_activate(contract=contract)
                activated += 1
            except ValidationError as error:
                self.message_user(request, " ".join(error.messages), messages.ERROR)
        if activated:
            self.message_user(request, f"Activated {activated} contract(s).", messages.SUCCESS)
