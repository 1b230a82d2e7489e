"""Webhooks in the back office: endpoints (events as checkboxes, the secret to copy, a test
event, secret rotation), and the events and deliveries, read-only (they are a log), with
"redeliver".
"""

import json

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from webhooks.models import (
    EventType,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from webhooks.services import deliveries_redeliver, endpoint_rotate_secret, endpoint_send_test


class ReadOnlyMixin:
    """History: shown, never added, edited or deleted by hand."""

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


def _pretty_json(value) -> str:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, ensure_ascii=False))


# --- Endpoints ------------------------------------------------------------------------------


def _formfield(db_field, **kwargs):
    # A URL typed without a scheme is taken as https://, as Django 6 will do by default.
    if db_field.name == "url":
        kwargs["assume_scheme"] = "https"
    return db_field.formfield(**kwargs)


class WebhookEndpointForm(forms.ModelForm):
    events = forms.MultipleChoiceField(
        choices=EventType.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="The event types this endpoint receives.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "description", "events", "active"]
        formfield_callback = _formfield


@admin.action(description="Send a test event to selected endpoints", permissions=["change"])
def send_test_event(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    endpoints = list(queryset.order_by("pk"))
    for endpoint in endpoints:
        endpoint_send_test(endpoint=endpoint)
    modeladmin.message_user(
        request,
        f"Sent a webhook.test event to {len(endpoints)} endpoint(s); their deliveries show what "
        "the receivers answered.",
        messages.SUCCESS,
    )


@admin.action(description="Rotate the signing secret of selected endpoints", permissions=["change"])
def rotate_secret(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    endpoints = list(queryset.order_by("pk"))
    for endpoint in endpoints:
        endpoint_rotate_secret(endpoint=endpoint)
    modeladmin.message_user(
        request,
        f"Rotated the secret of {len(endpoints)} endpoint(s). Deliveries are signed with the "
        "old secret as well for 24 hours: update the receivers within that time.",
        messages.SUCCESS,
    )


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ["url", "description", "subscribed_to", "active", "created_at"]
    list_filter = ["active"]
    search_fields = ["url", "description"]
    readonly_fields = [
        "secret",
        "previous_secret_expires_at",
        "delivery_log",
        "created_by",
        "created_at",
        "updated_at",
    ]
    actions = [send_test_event, rotate_secret]

    def formfield_for_dbfield(self, db_field, request: HttpRequest, **kwargs):
        if db_field.name == "url":
            kwargs["assume_scheme"] = "https"
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_fields(self, request: HttpRequest, obj=None) -> list[str]:
        # The secret is made when the endpoint is saved: nothing to show on the add page.
        fields = ["url", "description", "events", "active"]
        return fields if obj is None else [*fields, *self.readonly_fields]

    @admin.display(description="Events")
    def subscribed_to(self, endpoint: WebhookEndpoint) -> str:
        return ", ".join(endpoint.events)

    @admin.display(description="Deliveries")
    def delivery_log(self, endpoint: WebhookEndpoint) -> str:
        url = reverse("admin:webhooks_webhookdelivery_changelist")
        return format_html('<a href="{}?endpoint__id__exact={}">Delivery log</a>', url, endpoint.pk)

    def save_model(self, request: HttpRequest, obj: WebhookEndpoint, form, change: bool) -> None:
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


# --- Events and deliveries ------------------------------------------------------------------


class WebhookAttemptInline(ReadOnlyMixin, admin.TabularInline):
    """The delivery's log: every POST, with what the receiver answered."""

    model = WebhookAttempt
    fields = [
        "number",
        "manual",
        "started_at",
        "duration_ms",
        "response_code",
        "error",
        "response_body",
    ]
    readonly_fields = fields
    extra = 0
    verbose_name_plural = "Attempts"


class WebhookDeliveryInline(ReadOnlyMixin, admin.TabularInline):
    model = WebhookDelivery
    fields = [
        "endpoint",
        "status",
        "attempts",
        "response_code",
        "last_attempt_at",
        "next_attempt_at",
    ]
    readonly_fields = fields
    extra = 0
    show_change_link = True

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("endpoint")


@admin.action(
    description="Redeliver selected deliveries (one more attempt each)", permissions=["change"]
)
def redeliver(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    count = deliveries_redeliver(delivery_ids=queryset.values_list("pk", flat=True))
    modeladmin.message_user(
        request,
        f"Queued {count} delivery(ies) to be sent again; each one's attempts show the outcome.",
        messages.SUCCESS,
    )


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = [
        "created_at",
        "event_type",
        "event",
        "endpoint",
        "status",
        "attempts",
        "response_code",
        "last_attempt_at",
        "next_attempt_at",
    ]
    list_filter = ["status", "event__type", "endpoint", "created_at"]
    search_fields = ["event__id", "endpoint__url", "error"]
    list_select_related = ["event", "endpoint"]
    date_hierarchy = "created_at"
    fields = [
        "event",
        "endpoint",
        "status",
        "attempts",
        "created_at",
        "last_attempt_at",
        "next_attempt_at",
        "succeeded_at",
        "response_code",
        "response_body",
        "error",
        "payload",
    ]
    readonly_fields = fields
    inlines = [WebhookAttemptInline]
    actions = [redeliver]

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        # Read-only, but the changelist's actions need the permission to be offered.
        return obj is None and request.user.has_perm("webhooks.change_webhookdelivery")

    @admin.display(description="Type", ordering="event__type")
    def event_type(self, delivery: WebhookDelivery) -> str:
        return delivery.event.type

    @admin.display(description="Payload")
    def payload(self, delivery: WebhookDelivery) -> str:
        return _pretty_json(json.loads(delivery.event.body()))


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["created_at", "type", "id"]
    list_filter = ["type", "created_at"]
    search_fields = ["id"]
    date_hierarchy = "created_at"
    fields = ["id", "type", "created_at", "payload"]
    readonly_fields = fields
    inlines = [WebhookDeliveryInline]

    @admin.display(description="Payload")
    def payload(self, event: WebhookEvent) -> str:
        return _pretty_json(json.loads(event.body()))
