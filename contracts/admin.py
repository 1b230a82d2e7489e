"""Admin screens for the contracts app: what finance staff use to set up the book.

Actions call the services in ``contracts.services`` so that the admin, the API and jobs share one
set of rules; list pages join what they display so a page costs a fixed number of queries.
"""

from collections.abc import Callable
from datetime import date

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import AutocompleteSelect, RelatedFieldWidgetWrapper
from django.core.exceptions import ValidationError
from django.db.models import Count, QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from contracts import services
from contracts.admin_modifications import ModificationInline  # also registers modifications
from contracts.admin_renewals import (  # also registers the renewal worklist
    RenewalHistoryInline,
    RenewalTermsInline,
)
from contracts.forms import (
    AmountsInContractCurrencyForm,
    ContractForm,
    ContractLineForm,
    CustomerForm,
)
from contracts.models import (
    BillingContact,
    BillingModel,
    ChangeOrder,
    Contract,
    ContractLine,
    Customer,
    MilestoneTemplate,
    MilestoneTemplateStep,
    PaymentTerms,
    Product,
    RenewalTerms,
)
from contracts.services import HoldKind
from imports.admin_mixin import LayoutImportExportMixin
from rms.admin_audit import AuditHistoryAdmin, RelatedHistory


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
class CustomerAdmin(LayoutImportExportMixin, NoDeleteLinksOnRelations, AuditHistoryAdmin):
    import_layout = "customers"
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
class ProductAdmin(LayoutImportExportMixin, admin.ModelAdmin):
    import_layout = "products"
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


# What the requester of a change order states, and who signed it off (the services fill these).
CHANGE_ORDER_TERMS = ("reference", "reason", "not_to_exceed_increase", "cost_budget_increase")
CHANGE_ORDER_SIGN_OFFS = ("requested_by", "approved_by", "approved_at")


class ChangeOrderForm(AmountsInContractCurrencyForm):
    """A change order in its contract's currency; an approved one is history, shown read-only."""

    money_fields = ("not_to_exceed_increase", "cost_budget_increase")

    class Meta:
        model = ChangeOrder
        fields = ["contract", *CHANGE_ORDER_TERMS]
        widgets = {"reason": forms.Textarea(attrs={"rows": 2, "cols": 40})}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.approved:
            # It already raised the budget: a correction is another change order.
            for field in self.fields.values():
                field.disabled = True

    def amounts_currency(self) -> str | None:
        # On the contract page the inline's hidden foreign key cleans to the contract edited.
        contract = self.cleaned_data.get("contract")
        return contract.currency if contract is not None else None


class ChangeOrderFormSet(BaseInlineFormSet):
    """Change orders of a contract: an approved one cannot be deleted (it raised the budget)."""

    def add_fields(self, form, index) -> None:
        super().add_fields(form, index)
        if "DELETE" in form.fields and form.instance.approved:
            form.fields["DELETE"].disabled = True


class ChangeOrderInline(admin.TabularInline):
    """Scope changes asked for on the contract page; each counts once someone else approves it."""

    model = ChangeOrder
    form = ChangeOrderForm
    formset = ChangeOrderFormSet
    extra = 0
    verbose_name_plural = "Change orders (raise the budget once approved)"
    fields = [*CHANGE_ORDER_TERMS, *CHANGE_ORDER_SIGN_OFFS]
    readonly_fields = CHANGE_ORDER_SIGN_OFFS


class ApprovalFilter(admin.SimpleListFilter):
    title = "approval"
    parameter_name = "approved"

    def lookups(self, request, model_admin):
        return [("no", "Waiting for approval"), ("yes", "Approved")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(approved_at__isnull=self.value() == "no")
        return queryset


@admin.register(ChangeOrder)
class ChangeOrderAdmin(AuditHistoryAdmin):
    """Every contract's change orders; approving them is an action of the billing admin."""

    form = ChangeOrderForm
    list_display = [
        "reference",
        "contract",
        "not_to_exceed_increase",
        "cost_budget_increase",
        *CHANGE_ORDER_SIGN_OFFS,
    ]
    list_filter = [ApprovalFilter]
    search_fields = ["reference", "contract__number", "reason"]
    list_select_related = ["contract"]
    autocomplete_fields = ["contract"]
    date_hierarchy = "created_at"
    fields = ["contract", *CHANGE_ORDER_TERMS, *CHANGE_ORDER_SIGN_OFFS, "created_at"]
    readonly_fields = [*CHANGE_ORDER_SIGN_OFFS, "created_at"]

    def has_change_permission(self, request: HttpRequest, obj: ChangeOrder | None = None) -> bool:
        # An approved change order raised the budget: a correction is another change order.
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or not obj.approved)

    def has_delete_permission(self, request: HttpRequest, obj: ChangeOrder | None = None) -> bool:
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or not obj.approved)

    def save_model(self, request: HttpRequest, obj: ChangeOrder, form, change: bool) -> None:
        if not change:
            obj.requested_by = request.user.get_username()
        super().save_model(request, obj, form, change)


class MilestoneTemplateStepFormSet(BaseInlineFormSet):
    """A template's steps: their percents must make the whole value, 100%."""

    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        percents = [
            form.cleaned_data["percent"]
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE")
        ]
        if not percents:
            raise ValidationError("A template needs at least one step.")
        total = sum(percents)
        if total != 100:
            raise ValidationError(
                f"The steps' percents sum to {total.normalize():f}%; they must sum to 100%."
            )


class MilestoneTemplateStepInline(admin.TabularInline):
    model = MilestoneTemplateStep
    formset = MilestoneTemplateStepFormSet
    extra = 0
    fields = ["sequence", "name", "percent", "days_after_start"]


@admin.register(MilestoneTemplate)
class MilestoneTemplateAdmin(admin.ModelAdmin):
    """Milestone policies: percents of a line's value, laid over a line from its schedule page."""

    list_display = ["name", "split", "active"]
    list_filter = ["active"]
    search_fields = ["name"]
    inlines = [MilestoneTemplateStepInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).prefetch_related("steps")

    @admin.display(description="Split (%)")
    def split(self, template: MilestoneTemplate) -> str:
        steps = sorted(template.steps.all(), key=lambda step: step.sequence)
        return "/".join(f"{step.percent.normalize():f}" for step in steps) or "—"


class LoadedProductSelect(AutocompleteSelect):
    """The product autocomplete, labelling a line's product from the line's own loaded row.

    Django's autocomplete looks its selected choice up with a query per widget: one per line
    of the contract. ``loaded`` (shared by every row's copy of the widget, which copies only
    its attributes) holds the products the formset has loaded; anything else, such as a product
    just picked on a form sent back with errors, is looked up as Django does.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.loaded: dict[str, Product] = {}

    def optgroups(self, name, value, attr=None):
        selected = [str(v) for v in value if str(v) not in self.choices.field.empty_values]
        if not selected or not all(pk in self.loaded for pk in selected):
            return super().optgroups(name, value, attr)
        groups = super().optgroups(name, [], attr)  # the empty choice, when there is one
        options = groups[0][1]
        for pk in selected:
            label = self.choices.field.label_from_instance(self.loaded[pk])
            options.append(self.create_option(name, pk, label, True, len(options)))
        return groups


class ContractLineFormSet(BaseInlineFormSet):
    """A contract's lines, loaded with their products for the product autocomplete."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        product = self.form.base_fields.get("product")  # absent if the admin made it read-only
        select = getattr(product, "widget", None)
        select = getattr(select, "widget", select)  # inside the related-object links
        if isinstance(select, LoadedProductSelect):
            select.loaded.update(
                {str(line.product_id): line.product for line in self.get_queryset()}
            )


class ContractLineInline(NoDeleteLinksOnRelations, admin.StackedInline):
    model = ContractLine
    form = ContractLineForm
    formset = ContractLineFormSet
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

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # Each line's heading names its contract and product (``ContractLine.__str__``).
        return super().get_queryset(request).select_related("contract", "product")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "product":
            kwargs["widget"] = LoadedProductSelect(
                db_field, self.admin_site, using=kwargs.get("using")
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Contract)
class ContractAdmin(LayoutImportExportMixin, NoDeleteLinksOnRelations, AuditHistoryAdmin):
    import_layout = "contracts"
    form = ContractForm
    history_related = [
        RelatedHistory("Lines", ContractLine, "contract_id", lambda r: f"Line {r.sequence}"),
        RelatedHistory("Renewal", RenewalTerms, "contract_id", lambda r: "Renewal terms"),
    ]
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
        "contract_360",
    ]
    list_filter = ["status", "currency", "evergreen", "billing_hold", "delivery_hold"]
    search_fields = ["number", "title", "customer__legal_name", "customer__number"]
    list_select_related = ["customer"]
    date_hierarchy = "start_date"
    autocomplete_fields = ["customer", "finance_owner", "project_manager", "subscribers"]
    inlines = [
        ContractLineInline,
        RenewalTermsInline,
        RenewalHistoryInline,
        ChangeOrderInline,
        ModificationInline,
    ]
    readonly_fields = ["created_at", "updated_at"]
    actions = ["activate", *HOLD_ACTIONS]
    fieldsets = [
        (None, {"fields": ["number", "customer", "title", "currency", "status"]}),
        ("Term", {"fields": ["signed_date", ("start_date", "end_date"), "evergreen"]}),
        (
            "Budget",
            {
                "fields": ["not_to_exceed", "cost_budget"],
                "description": "Approved change orders (below) raise both.",
            },
        ),
        (
            "Milestones",
            {
                "fields": [
                    ("project_manager", "finance_owner"),
                    "subscribers",
                    "milestone_approval",
                    "milestones_in_order",
                ]
            },
        ),
        ("Holds", {"fields": ["billing_hold", "delivery_hold", "hold_reason"]}),
        ("Record", {"fields": ["created_at", "updated_at"], "classes": ["collapse"]}),
    ]

    class Media:
        js = ["js/contract-line-terms.js"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).prefetch_related("lines")

    def get_inlines(self, request: HttpRequest, obj: Contract | None) -> list:
        inlines = super().get_inlines(request, obj)
        if obj is None:
            # A change order changes an agreed contract; a new one states its budget directly.
            # A change order or a modification changes an agreed contract; a new one states its
            # terms directly. Nor has a new contract been renewed.
            later = (ChangeOrderInline, RenewalHistoryInline, ModificationInline)
            return [inline for inline in inlines if not issubclass(inline, later)]
        return inlines

    def save_formset(self, request: HttpRequest, form, formset, change: bool) -> None:
        if formset.model is not ChangeOrder:
            super().save_formset(request, form, formset, change)
            return
        for change_order in formset.save(commit=False):
            if change_order.pk is None:
                change_order.requested_by = request.user.get_username()
            change_order.save()
        for change_order in formset.deleted_objects:
            change_order.delete()

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        services.contract_terms_announce(contract=form.instance)

    @admin.display(description="360")
    def contract_360(self, obj: Contract) -> str:
        """Link to the contract's 360 page (``workspace.contract360``): everything on one page."""
        url = reverse("admin:workspace_contract360", args=[obj.pk])
        return format_html('<a href="{}" title="Contract 360">360</a>', url)

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
