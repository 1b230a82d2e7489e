"""Usage records in the back office, read-only: they are the sender's, stored as sent.

Records arrive through ``billing.usage`` (the API, and CSV files imported with the "usage"
layout, from this list's Import button or a command) and are billed by the rating; nothing here
edits or deletes one, so what was metered and what was billed stay as they were. Imported by
``billing.admin``, which registers this on import.
"""

from django.contrib import admin
from django.http import HttpRequest

from billing.models import UsageRecord
from imports.admin_mixin import LayoutImportExportMixin

FIELDS = [
    "line",
    "customer",
    "quantity_sent",
    "occurred_at",
    "idempotency_key",
    "payload_hash",
    "attributes",
    "received_at",
    "billed_event",
]


@admin.register(UsageRecord)
class UsageRecordAdmin(LayoutImportExportMixin, admin.ModelAdmin):
    import_layout = "usage"
    list_display = [
        "occurred_at",
        "line",
        "customer",
        "quantity_sent",
        "idempotency_key",
        "billed_event",
        "received_at",
    ]
    list_filter = [
        ("billed_event", admin.EmptyFieldListFilter),
        "line__contract",
    ]
    # Exact matches: a substring search would scan every record of a large table.
    search_fields = ["=idempotency_key", "=line__subscription_key", "=line__contract__number"]
    search_help_text = "An idempotency key, a subscription key or a contract number (exact)."
    list_select_related = ["line__contract", "line__product", "customer", "billed_event"]
    date_hierarchy = "occurred_at"
    fields = FIELDS
    readonly_fields = FIELDS
    # Counting millions of records for "N total" on every page costs more than the page.
    show_full_result_count = False

    @admin.display(description="Quantity", ordering="quantity")
    def quantity_sent(self, record: UsageRecord) -> str:
        # 50 rather than 50.000000: the stored scale's trailing zeros say nothing.
        return f"{record.quantity.normalize():f}"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
