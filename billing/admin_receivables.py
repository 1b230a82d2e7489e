"""Receivables in the back office: credit notes, payments and their import, the AR aging.

Every write goes through a service (``credit_note_create``, ``credit_note_issue``,
``payment_record``, ``payment_apply_credit``); issued credit notes and recorded payments are
history and read-only here. Imported by ``billing.admin``, which registers these on import.
"""

import csv
from datetime import date

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from djmoney.money import Money

from billing.credit_notes import credit_note_create, credit_note_issue
from billing.domain.receivables import AgingBucket
from billing.models import CreditNote, CreditNoteLine, Invoice, Payment, PaymentApplication
from billing.payments import payment_apply_credit, payment_check, payment_record
from billing.receivables import aging
from imports.admin_mixin import LayoutImportExportMixin
from rms.admin_audit import AuditHistoryAdmin, RelatedHistory
from rms.admin_inlines import ReadOnlyInline
from rms.money import round_money

BUCKET_LABELS = {
    AgingBucket.CURRENT: "Current",
    AgingBucket.D1_30: "1-30 days",
    AgingBucket.D31_60: "31-60 days",
    AgingBucket.D61_90: "61-90 days",
    AgingBucket.OVER_90: "Over 90 days",
}


class _ReadOnlyInline(ReadOnlyInline):
    max_num = 0


def _errors_into_form(form: forms.Form, error: ValidationError) -> None:
    """Put a service's errors beside the form's fields; others go above the form."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for name, errors in error.error_dict.items():
        form.add_error(name if name in form.fields else None, errors)


# --- Credit notes -------------------------------------------------------------------------------


class CreditNoteLineInline(_ReadOnlyInline):
    model = CreditNoteLine
    fields = ["position", "invoice_line", "description", "quantity", "amount", "tax_amount"]


class CreditNoteForm(forms.Form):
    """Credit an invoice whole, or chosen lines for the net amounts typed beside them."""

    WHOLE, LINES = "whole", "lines"

    reason = forms.CharField(max_length=255)
    scope = forms.ChoiceField(
        choices=[(WHOLE, "The whole invoice (what is still creditable)"), (LINES, "Some lines")],
        initial=WHOLE,
        widget=forms.RadioSelect,
    )

    def __init__(self, *args, invoice: Invoice, **kwargs):
        super().__init__(*args, **kwargs)
        self.invoice = invoice
        self.invoice_lines = list(invoice.lines.filter(voided=False).order_by("position"))
        for line in self.invoice_lines:
            self.fields[self.line_field(line)] = forms.DecimalField(
                required=False,
                min_value=0,
                max_digits=19,
                decimal_places=4,
                label=f"{line.position}. {line.description} ({line.amount})",
            )

    @staticmethod
    def line_field(line) -> str:
        return f"line_{line.pk}"

    def line_rows(self) -> list:
        return [(line, self[self.line_field(line)]) for line in self.invoice_lines]

    def credited_lines(self) -> list | None:
        """Return the (line, amount) pairs typed, or None for a whole credit."""
        if self.cleaned_data["scope"] == self.WHOLE:
            return None
        return [
            (line, Money(self.cleaned_data[self.line_field(line)], self.invoice.currency))
            for line in self.invoice_lines
            if self.cleaned_data.get(self.line_field(line))
        ]


class CreditNoteActionForm(ActionForm):
    issue_date = forms.DateField(
        required=False,
        label="Issue date (default today)",
        widget=forms.DateInput(attrs={"type": "date"}),
    )


@admin.register(CreditNote)
class CreditNoteAdmin(AuditHistoryAdmin):
    list_display = ["__str__", "invoice", "customer", "status", "issue_date", "total", "reason"]
    list_filter = ["status", "currency", "issue_date"]
    search_fields = ["number", "invoice__number", "customer__legal_name", "customer__number"]
    list_select_related = ["invoice", "customer"]
    inlines = [CreditNoteLineInline]
    actions = ["issue"]
    action_form = CreditNoteActionForm

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # created from an invoice: admin/billing/creditnote/new/<invoice id>/

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # drafts are issued or deleted; issued ones are history

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or obj.status == CreditNote.Status.DRAFT)

    def get_urls(self):
        return [
            path(
                "new/<int:invoice_id>/",
                self.admin_site.admin_view(self.new_view),
                name="billing_creditnote_new",
            ),
            *super().get_urls(),
        ]

    def new_view(self, request: HttpRequest, invoice_id: int) -> HttpResponse:
        """Create a draft credit note for an invoice, whole or for the amounts typed per line."""
        if not request.user.has_perm("billing.add_creditnote"):
            raise PermissionDenied
        invoice = get_object_or_404(Invoice.objects.select_related("customer"), pk=invoice_id)
        form = CreditNoteForm(request.POST or None, invoice=invoice)
        if request.method == "POST" and form.is_valid():
            try:
                note = credit_note_create(
                    invoice=invoice,
                    reason=form.cleaned_data["reason"],
                    lines=form.credited_lines(),
                    created_by=request.user.get_username(),
                )
            except ValidationError as error:
                _errors_into_form(form, error)
            else:
                self.message_user(
                    request,
                    f"Draft credit note of {note.total} created; issue it to send it.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(
                    reverse("admin:billing_creditnote_change", args=[note.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Credit note for invoice {invoice}",
            "invoice": invoice,
            "form": form,
        }
        return TemplateResponse(request, "admin/billing/creditnote/new.html", context)

    @admin.action(description="Issue selected drafts")
    def issue(self, request: HttpRequest, queryset: QuerySet) -> None:
        raw_date = request.POST.get("issue_date") or ""
        try:
            issue_date = forms.DateField().clean(raw_date) if raw_date else timezone.localdate()
        except ValidationError:
            self.message_user(request, f"'{raw_date}' is not a date.", messages.ERROR)
            return
        issued = []
        for note in queryset.order_by("pk"):
            try:
                issued.append(credit_note_issue(credit_note=note, issue_date=issue_date).number)
            except ValidationError as error:
                self.message_user(request, f"{note}: {' '.join(error.messages)}", messages.ERROR)
        if issued:
            self.message_user(request, f"Issued {', '.join(issued)}.", messages.SUCCESS)


def credit_note_new_url(invoice: Invoice) -> str:
    """Return the admin page that creates a credit note for ``invoice``."""
    return reverse("admin:billing_creditnote_new", args=[invoice.pk])


# --- Payments -----------------------------------------------------------------------------------


class PaymentApplicationInline(_ReadOnlyInline):
    model = PaymentApplication
    fields = ["invoice", "amount", "applied_on"]


class PaymentForm(forms.ModelForm):
    invoices = forms.ModelMultipleChoiceField(
        queryset=Invoice.objects.filter(status=Invoice.Status.ISSUED).exclude(
            payment_status="paid"
        ),
        required=False,
        help_text="Leave empty to settle the oldest open invoices first.",
    )

    class Meta:
        model = Payment
        fields = ["customer", "amount", "received_on", "method", "reference", "note"]

    def clean(self) -> dict:
        """Check with the service's own rules, so the page names the field at fault."""
        cleaned = super().clean()
        if not self.errors:
            try:
                payment_check(
                    customer=cleaned["customer"],
                    amount=cleaned["amount"],
                    received_on=cleaned["received_on"],
                    method=cleaned["method"],
                    reference=cleaned.get("reference", ""),
                    invoices=list(cleaned.get("invoices") or []),
                )
            except ValidationError as error:
                _errors_into_form(self, error)
        return cleaned


@admin.register(Payment)
class PaymentAdmin(LayoutImportExportMixin, AuditHistoryAdmin):
    import_layout = "payments"
    history_related = [
        RelatedHistory(
            "Applications to invoices",
            PaymentApplication,
            "payment_id",
            lambda r: f"{r.amount} to {r.invoice}",
            select_related=("invoice",),
        )
    ]
    list_display = ["received_on", "customer", "amount", "unapplied", "method", "reference"]
    list_filter = ["method", "received_on", "amount_currency"]
    search_fields = ["reference", "customer__legal_name", "customer__number"]
    list_select_related = ["customer"]
    raw_id_fields = ["customer"]
    date_hierarchy = "received_on"
    form = PaymentForm
    inlines = [PaymentApplicationInline]
    actions = ["apply_credit"]

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # history: money received stays received

    def get_inlines(self, request: HttpRequest, obj=None) -> list:
        return self.inlines if obj is not None else []

    def get_fields(self, request: HttpRequest, obj=None) -> list[str]:
        if obj is None:
            return [*PaymentForm.Meta.fields, "invoices"]
        return [*PaymentForm.Meta.fields, "unapplied", "recorded_by", "created_at"]

    def save_model(self, request: HttpRequest, obj: Payment, form, change: bool) -> None:
        saved = payment_record(
            customer=obj.customer,
            amount=obj.amount,
            received_on=obj.received_on,
            method=obj.method,
            reference=obj.reference,
            invoices=list(form.cleaned_data.get("invoices") or []) or None,
            recorded_by=request.user.get_username(),
            note=obj.note,
        )
        obj.pk = saved.pk

    @admin.action(description="Apply the customers' unapplied credit to their open invoices")
    def apply_credit(self, request: HttpRequest, queryset: QuerySet) -> None:
        applied = []
        customers = {payment.customer for payment in queryset.select_related("customer")}
        for customer in sorted(customers, key=lambda customer: customer.pk):
            applied += payment_apply_credit(customer=customer)
        self.message_user(request, f"Made {len(applied)} application(s).", messages.SUCCESS)

    def get_urls(self):
        return [
            path("aging/", self.admin_site.admin_view(self.aging_view), name="billing_aging"),
            *super().get_urls(),
        ]

    def aging_view(self, request: HttpRequest) -> HttpResponse:
        """Show the AR aging on ``?as_of=`` (default today); ``&format=csv`` downloads it."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        raw = request.GET.get("as_of") or ""
        error = ""
        try:
            as_of = date.fromisoformat(raw) if raw else timezone.localdate()
        except ValueError:
            as_of, error = (
                timezone.localdate(),
                f"'{raw}' is not a date (YYYY-MM-DD); showing today.",
            )
        report = aging(as_of=as_of)
        if request.GET.get("format") == "csv":
            return _aging_csv(report)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Accounts receivable aging on {as_of:%Y-%m-%d}",
            "as_of": as_of,
            "error": error,
            "bucket_labels": list(BUCKET_LABELS.values()),
            "rows": [_aging_cells(line) for line in report.rows],
            "totals": [_aging_cells(line) for line in report.totals],
        }
        return TemplateResponse(request, "admin/billing/aging.html", context)


def _aging_cells(line) -> dict:
    return {
        "line": line,
        "buckets": [line.buckets[bucket] for bucket in BUCKET_LABELS],
    }


def _aging_csv(report) -> HttpResponse:
    """Write the aging as CSV: one row per customer and currency, then a total per currency."""
    response = HttpResponse(content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="ar-aging-{report.as_of}.csv"'
    writer = csv.writer(response)
    writer.writerow(
        ["customer_number", "customer", "currency", *BUCKET_LABELS.values(), "total", "credit"]
    )
    for line in report.rows:
        writer.writerow(_csv_row(line.customer_number, line.customer_name, line))
    for line in report.totals:
        writer.writerow(_csv_row("", "Total", line))
    return response


def _csv_row(number: str, name: str, line) -> list:
    amounts = [line.buckets[bucket] for bucket in BUCKET_LABELS] + [line.total, line.credit]
    return [number, name, line.currency, *(f"{round_money(amount).amount:f}" for amount in amounts)]
