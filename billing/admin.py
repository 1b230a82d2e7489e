"""Billing in the back office: invoices to review and issue, bill-run history, what is due and
what is held, shipments; and, on each contract's page, its billing history and what comes next.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

import billing.admin_rate_plans  # registers rate plans
import billing.admin_usage  # noqa: F401 (registers usage records, which invoice lines link to)
from billing import invoicing
from billing.admin_delivery import DeliveryAttemptInline, resend_invoices
from billing.admin_documents import InvoiceDocumentsAdminMixin  # also registers SellerProfile
from billing.admin_milestones import (  # also registers milestones and change orders
    ChangeOrderApprovalInline,
    OverBudgetFilter,
    contract_progress_context,
)
from billing.admin_receivables import credit_note_new_url  # also registers credit notes, payments
from billing.models import (
    BillingEvent,
    BillRun,
    BillRunChunk,
    Invoice,
    InvoiceLine,
    PaymentApplication,
    Shipment,
)
from billing.shipments import shipment_check, shipment_record
from contracts.admin import ChangeOrderInline, ContractAdmin
from contracts.models import Contract
from rms.admin_audit import AuditHistoryAdmin, RelatedHistory
from rms.admin_inlines import ReadOnlyInline


def plain_decimal(value) -> str:
    """Show 50 rather than 50.0000: trailing zeros of the stored scale say nothing."""
    return f"{value.normalize():f}"


class InvoiceLineInline(ReadOnlyInline):
    model = InvoiceLine
    fields = [
        "position",
        "description",
        "period_start",
        "period_end",
        "qty",
        "unit_price",
        "amount",
        "tax_percent",
        "tax_amount",
        "voided",
        "usage",
    ]
    readonly_fields = ["qty", "tax_percent", "usage"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("event")

    @admin.display(description="Quantity")
    def qty(self, line: InvoiceLine) -> str:
        return plain_decimal(line.quantity)

    @admin.display(description="Usage")
    def usage(self, line: InvoiceLine) -> SafeString | str:
        """Show a usage charge's tier math and link to the usage records it billed."""
        if line.event.kind != BillingEvent.Kind.USAGE:
            return "—"
        rows = format_html_join(
            "",
            "<div>{}: {} &times; {} = {}</div>",
            (
                (row["description"], row["quantity"], row["unit_price"], row["amount"])
                for row in line.breakdown
            ),
        )
        records = reverse("admin:billing_usagerecord_changelist")
        return format_html(
            '{}<a href="{}?billed_event__id__exact={}">Usage records</a>',
            rows,
            records,
            line.event_id,
        )

    @admin.display(description="Tax %")
    def tax_percent(self, line: InvoiceLine) -> str:
        return plain_decimal(line.tax_rate)


class InvoiceActionForm(ActionForm):
    void_reason = forms.CharField(required=False, label="Reason (to void)")


@admin.register(Invoice)
class InvoiceAdmin(InvoiceDocumentsAdminMixin, AuditHistoryAdmin):
    history_related = [
        RelatedHistory(
            "Payments applied",
            PaymentApplication,
            "invoice_id",
            lambda r: f"{r.amount} from payment {r.payment_id}",
        )
    ]
    list_display = [
        "__str__",
        "customer",
        "status",
        "invoice_date",
        "due_date",
        "total",
        "payment_status",
        "delivery_held",
        "sent_at",
    ]
    list_filter = [
        "status",
        "payment_status",
        "delivery_held",
        "currency",
        "invoice_date",
        "issue_date",
    ]
    search_fields = ["number", "customer__legal_name", "customer__number"]
    list_select_related = ["customer", "bill_run"]
    date_hierarchy = "invoice_date"
    inlines = [InvoiceLineInline, DeliveryAttemptInline]
    action_form = InvoiceActionForm
    actions = ["issue", "void", resend_invoices]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # invoices come from bill runs and milestones, never typed in

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # history: void instead

    fieldsets = [
        (
            None,
            {"fields": ["number", "status", "customer", "currency", "bill_run", "document_links"]},
        ),
        ("Dates", {"fields": ["invoice_date", "issue_date", "due_date", "payment_terms_text"]}),
        (
            "Amounts",
            {
                "fields": [
                    "subtotal",
                    "tax_total",
                    "total",
                    "payment_status",
                    "amount_paid",
                    "amount_credited",
                    "credit_note_link",
                ]
            },
        ),
        ("Bill to (as issued)", {"fields": ["bill_to_name", "bill_to_address"]}),
        (
            "Delivery and history",
            {
                "fields": [
                    "delivery_held",
                    "sent_at",
                    "void_reason",
                    "created_at",
                    "issued_at",
                    "voided_at",
                ]
            },
        ),
    ]

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> list[str]:
        return [
            *(field.name for field in Invoice._meta.fields),
            "document_links",
            "credit_note_link",
        ]

    @admin.display(description="Credit note")
    def credit_note_link(self, invoice: Invoice) -> str:
        if invoice.status != Invoice.Status.ISSUED:
            return "—"
        return format_html(
            '<a class="button" href="{}">Create a credit note</a>', credit_note_new_url(invoice)
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # Nothing on an invoice is edited here: it is issued or voided through the actions.
        extra_context = {
            **(extra_context or {}),
            "show_save": False,
            "show_save_and_continue": False,
        }
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.action(description="Issue selected drafts (number and date them today)")
    def issue(self, request: HttpRequest, queryset: QuerySet) -> None:
        issued = 0
        for invoice in queryset.order_by("pk"):
            try:
                invoicing.invoice_issue(invoice=invoice, issue_date=timezone.localdate())
                issued += 1
            except ValidationError as error:
                self.message_user(request, " ".join(error.messages), messages.ERROR)
        if issued:
            self.message_user(request, f"Issued {issued} invoice(s).", messages.SUCCESS)

    @admin.action(description="Void selected (what they billed goes to the next run)")
    def void(self, request: HttpRequest, queryset: QuerySet) -> None:
        reason = request.POST.get("void_reason", "")
        voided = 0
        for invoice in queryset:
            try:
                invoicing.invoice_void(invoice=invoice, reason=reason)
                voided += 1
            except ValidationError as error:
                self.message_user(request, f"{invoice}: {' '.join(error.messages)}", messages.ERROR)
        if voided:
            self.message_user(request, f"Voided {voided} invoice(s).", messages.SUCCESS)


class HeldFilter(admin.SimpleListFilter):
    title = "kept back"
    parameter_name = "held"

    def lookups(self, request, model_admin):
        return [
            ("yes", "Held (contract or customer)"),
            ("no", "Not held"),
            ("cap", "Stopped by a not-to-exceed cap"),
        ]

    def queryset(self, request, queryset):
        held = Q(contract__billing_hold=True) | Q(customer__billing_hold=True)
        if self.value() == "yes":
            return queryset.filter(held)
        if self.value() == "no":
            return queryset.exclude(held)
        if self.value() == "cap":
            return queryset.filter(status=BillingEvent.Status.PENDING).exclude(blocked_reason="")
        return queryset


@admin.register(BillingEvent)
class BillingEventAdmin(admin.ModelAdmin):
    """Every charge that comes due; filter "pending" + "kept back" for what a hold or a
    not-to-exceed cap keeps back."""

    list_display = [
        "bill_date",
        "contract",
        "customer_name",
        "description",
        "amount",
        "status",
        "hold_reason",
    ]
    list_filter = ["status", "kind", HeldFilter, "bill_date"]
    search_fields = ["contract__number", "customer__legal_name", "description"]
    list_select_related = ["contract", "customer"]
    date_hierarchy = "bill_date"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="Customer", ordering="customer__legal_name")
    def customer_name(self, event: BillingEvent) -> str:
        return event.customer.legal_name

    @admin.display(description="Kept back by")
    def hold_reason(self, event: BillingEvent) -> str:
        reasons = [
            f"{label}: {holder.hold_reason or 'no reason given'}"
            for label, holder in (("customer", event.customer), ("contract", event.contract))
            if holder.billing_hold
        ]
        if event.status == BillingEvent.Status.PENDING and event.blocked_reason:
            reasons.append(event.blocked_reason)
        return "; ".join(reasons) or "—"


class BillRunChunkInline(ReadOnlyInline):
    model = BillRunChunk
    fields = [
        "index",
        "status",
        "invoices_created",
        "events_invoiced",
        "events_blocked",
        "error",
        "finished_at",
    ]


@admin.register(BillRun)
class BillRunAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "status",
        "started_at",
        "finished_at",
        "invoices_created",
        "invoices_issued",
        "events_invoiced",
        "events_held",
        "events_blocked",
        "chunks_total",
    ]
    list_filter = ["status"]
    inlines = [BillRunChunkInline]
    readonly_fields = ["started_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # started by the schedule, `manage.py run_billing` or the API

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # the record of what a run billed is history


class ShipmentForm(forms.ModelForm):
    class Meta:
        model = Shipment
        fields = ["line", "shipped_on", "quantity", "reference"]

    def clean(self) -> dict:
        """Check with the service's own rules, so the page names the field at fault."""
        cleaned = super().clean()
        if not self.errors:
            shipment_check(
                line=cleaned["line"],
                shipped_on=cleaned["shipped_on"],
                quantity=cleaned["quantity"],
            )
        return cleaned


@admin.register(Shipment)
class ShipmentAdmin(admin.ModelAdmin):
    list_display = ["shipped_on", "line", "quantity", "reference"]
    search_fields = ["line__contract__number", "reference"]
    raw_id_fields = ["line"]
    form = ShipmentForm

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return obj is None  # a recorded shipment is history: record another to correct

    def save_model(self, request: HttpRequest, obj: Shipment, form, change: bool) -> None:
        saved = shipment_record(
            line=obj.line,
            shipped_on=obj.shipped_on,
            quantity=obj.quantity,
            reference=obj.reference,
        )
        obj.pk = saved.pk


class BillingEventInline(ReadOnlyInline):
    """The contract's billing, past and coming: what was invoiced and what is due next."""

    model = BillingEvent
    verbose_name_plural = "Billing schedule (past and upcoming)"
    fields = ["bill_date", "kind", "description", "quantity", "amount", "status", "blocked"]
    readonly_fields = ["blocked"]
    ordering = ["bill_date", "line__sequence"]
    max_num = 0

    @admin.display(description="Stopped by the cap")
    def blocked(self, event: BillingEvent) -> str:
        return event.blocked_reason or "—"


class ContractWithBillingAdmin(ContractAdmin):
    """The contract page with its billing: milestone progress, budget, change order approval."""

    inlines = [
        *(
            ChangeOrderApprovalInline if inline is ChangeOrderInline else inline
            for inline in ContractAdmin.inlines
        ),
        BillingEventInline,
    ]
    list_filter = [*ContractAdmin.list_filter, OverBudgetFilter]

    class Media:
        css = {"all": ["css/milestones.css"]}

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and obj.pk is not None:
            context.update(contract_progress_context(request, obj))
        return super().render_change_form(request, context, add, change, form_url, obj)


admin.site.unregister(Contract)
admin.site.register(Contract, ContractWithBillingAdmin)
