"""Email delivery in the back office: each invoice's delivery log, a "resend" action, and the
log of every attempt, read-only (it is history).
"""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from billing.delivery import Trigger, invoices_queue_delivery
from billing.models import DeliveryAttempt, Invoice
from rms.admin_inlines import ReadOnlyInline

ATTEMPT_FIELDS = ["started_at", "finished_at", "status", "trigger", "recipients", "error"]


class DeliveryAttemptInline(ReadOnlyInline):
    """The invoice's delivery log: every attempt, newest first, with its outcome."""

    model = DeliveryAttempt
    fk_name = "invoice"
    fields = ATTEMPT_FIELDS
    readonly_fields = ATTEMPT_FIELDS
    verbose_name_plural = "Delivery log"


@admin.action(description="Resend selected by email (issued invoices)")
def resend_invoices(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    """Queue the selected issued invoices to be emailed again, even those sent already."""
    ids = list(
        queryset.filter(status=Invoice.Status.ISSUED).order_by("pk").values_list("pk", flat=True)
    )
    others = queryset.count() - len(ids)
    if others:
        modeladmin.message_user(
            request,
            f"{others} selected invoice(s) are not issued (draft or void) and were not resent.",
            messages.WARNING,
        )
    if ids:
        invoices_queue_delivery(invoice_ids=ids, trigger=Trigger.RESEND)
        modeladmin.message_user(
            request,
            f"Queued {len(ids)} invoice(s) to be emailed again; each invoice's delivery log "
            "shows the outcome (a customer on hold or without contacts is skipped).",
            messages.SUCCESS,
        )


@admin.register(DeliveryAttempt)
class DeliveryAttemptAdmin(admin.ModelAdmin):
    list_display = ["started_at", "document", "status", "trigger", "recipients", "finished_at"]
    list_filter = ["status", "trigger", "started_at"]
    search_fields = ["invoice__number", "credit_note__number", "recipients", "error"]
    list_select_related = ["invoice", "credit_note"]
    date_hierarchy = "started_at"
    fields = ["invoice", "credit_note", *ATTEMPT_FIELDS]

    @admin.display(description="Document")
    def document(self, attempt: DeliveryAttempt) -> str:
        return str(attempt.invoice or attempt.credit_note)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
