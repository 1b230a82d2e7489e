"""Webhook API: an integration subscribes its own endpoint, rotates its secret, sends itself a
test event, and reads (and redelivers) what was delivered to it.

The same services as the admin's actions; permissions are the models' (view, add, change,
delete a webhook endpoint; view a delivery, change one to redeliver it).
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.mixins import ListModelMixin, RetrieveModelMixin
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.viewsets import GenericViewSet, ModelViewSet

from rms.api import PagePagination, StableOrderingFilter, UtcDateTimeRangeFilter
from rms.api_permissions import ModelPermissions
from rms.api_schema import DENIED, REFUSED, not_found
from webhooks.models import EVENT_CHOICES, EventType, WebhookDelivery, WebhookEndpoint
from webhooks.services import deliveries_redeliver, endpoint_rotate_secret, endpoint_send_test

TAGS = ["webhooks"]
# --- Serializers ---------------------------------------------------------------------------

OTHER_FIELDS = [
    field.name for field in WebhookEndpoint._meta.fields if field.name not in {"url", "events"}
]


class WebhookEndpointSerializer(serializers.ModelSerializer):
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=EventType.choices),
        allow_empty=False,
        help_text="The event types this endpoint receives.",
    )
    secret = serializers.CharField(
        read_only=True,
        help_text="Verifies the RMS-Signature header of every delivery (HMAC-SHA256 of "
        '"<t>.<raw body>"); made by RMS, changed by rotate-secret.',
    )
    previous_secret_expires_at = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text="Until then deliveries are signed with the secret before the last rotation "
        "too (a second v1 in the header).",
    )

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "url",
            "description",
            "events",
            "active",
            "secret",
            "previous_secret_expires_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]

    def validate(self, attrs: dict) -> dict:
        """Apply the model's own rules: known events, each once; https:// in production."""
        endpoint = WebhookEndpoint(
            **{
                "url": getattr(self.instance, "url", ""),
                "events": getattr(self.instance, "events", []),
                **attrs,
            }
        )
        try:
            endpoint.clean_fields(exclude=OTHER_FIELDS)
            endpoint.clean()
        except DjangoValidationError as error:
            raise ValidationError(as_serializer_error(error)) from error
        return attrs


class WebhookDeliverySerializer(serializers.ModelSerializer):
    event_type = serializers.ChoiceField(source="event.type", choices=EVENT_CHOICES, read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "endpoint",
            "event",
            "event_type",
            "status",
            "attempts",
            "created_at",
            "last_attempt_at",
            "next_attempt_at",
            "succeeded_at",
            "response_code",
            "response_body",
            "error",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "event": {"help_text": "The event's id (evt_...), as in the RMS-Event-Id header."},
            "next_attempt_at": {
                "help_text": "When a pending delivery is tried again; empty once it is done."
            },
        }


class RedeliveryQueuedSerializer(serializers.Serializer):
    queued = serializers.IntegerField(help_text="Deliveries queued for one more attempt.")


class TestEventSerializer(serializers.Serializer):
    event = serializers.CharField(help_text="The test event's id; its delivery is in the log.")


# --- Views ---------------------------------------------------------------------------------


class ActionPermissions(ModelPermissions):
    """Model permissions, and for each named action the change permission of the model."""

    def has_permission(self, request, view) -> bool:
        if getattr(view, "action", None) not in view.change_actions:
            return super().has_permission(request, view)
        model = view.queryset.model
        perm = f"{model._meta.app_label}.change_{model._meta.model_name}"
        return bool(request.user and request.user.is_authenticated) and request.user.has_perm(perm)


@extend_schema(tags=TAGS)
@extend_schema_view(
    list=extend_schema(
        summary="Webhook endpoints",
        responses={200: WebhookEndpointSerializer(many=True), 401: DENIED, 403: DENIED},
    ),
    retrieve=extend_schema(
        summary="A webhook endpoint",
        responses={
            200: WebhookEndpointSerializer,
            401: DENIED,
            403: DENIED,
            404: not_found("endpoint"),
        },
    ),
    create=extend_schema(
        summary="Subscribe an endpoint to events",
        description="Events are POSTed to the URL as JSON, signed with the secret in the "
        "answer (keep it). Refused: an unknown event type, or http:// in production.",
        responses={201: WebhookEndpointSerializer, 400: REFUSED, 401: DENIED, 403: DENIED},
    ),
    update=extend_schema(
        summary="Change an endpoint",
        responses={
            200: WebhookEndpointSerializer,
            400: REFUSED,
            401: DENIED,
            403: DENIED,
            404: not_found("endpoint"),
        },
    ),
    partial_update=extend_schema(
        summary="Change some of an endpoint's fields (deactivate it, change its events)",
        responses={
            200: WebhookEndpointSerializer,
            400: REFUSED,
            401: DENIED,
            403: DENIED,
            404: not_found("endpoint"),
        },
    ),
    destroy=extend_schema(
        summary="Delete an endpoint and its delivery log",
        responses={204: None, 401: DENIED, 403: DENIED, 404: not_found("endpoint")},
    ),
)
class WebhookEndpointViewSet(ModelViewSet):
    queryset = WebhookEndpoint.objects.all()
    serializer_class = WebhookEndpointSerializer
    permission_classes = [ActionPermissions]
    change_actions = {"rotate_secret", "test"}
    pagination_class = PagePagination
    filter_backends = [filters.DjangoFilterBackend, StableOrderingFilter]
    filterset_fields = ["active"]
    ordering_fields = ["id", "url", "created_at"]
    ordering = ["id"]

    def perform_create(self, serializer: WebhookEndpointSerializer) -> None:
        serializer.save(created_by=self.request.user)

    @extend_schema(
        summary="Rotate an endpoint's signing secret",
        description="Answers with the new secret. For 24 hours deliveries carry a signature "
        "with the old secret as well, so the receiver can switch without losing any.",
        request=None,
        responses={
            200: WebhookEndpointSerializer,
            401: DENIED,
            403: DENIED,
            404: not_found("endpoint"),
        },
    )
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request: Request, pk=None) -> Response:
        endpoint = endpoint_rotate_secret(endpoint=self.get_object())
        return Response(self.get_serializer(endpoint).data)

    @extend_schema(
        summary="Send a test event to an endpoint",
        description="Sends a signed webhook.test event, whatever the endpoint subscribes to; "
        "its delivery (in the delivery log) shows what the receiver answered.",
        request=None,
        responses={
            202: TestEventSerializer,
            401: DENIED,
            403: DENIED,
            404: not_found("endpoint"),
        },
    )
    @action(detail=True, methods=["post"])
    def test(self, request: Request, pk=None) -> Response:
        event = endpoint_send_test(endpoint=self.get_object())
        return Response({"event": event.pk}, status=202)


class WebhookDeliveryFilter(filters.FilterSet):
    status = filters.MultipleChoiceFilter(choices=WebhookDelivery.Status.choices)
    event_type = filters.MultipleChoiceFilter(field_name="event__type", choices=EVENT_CHOICES)
    created_at = UtcDateTimeRangeFilter(
        help_text="From created_at_after to created_at_before, both included (ISO 8601)."
    )

    class Meta:
        model = WebhookDelivery
        fields = ["endpoint", "event", "status", "event_type", "created_at"]


@extend_schema(tags=TAGS)
@extend_schema_view(
    list=extend_schema(
        summary="Webhook deliveries",
        description="The delivery log, newest first: filter by endpoint, event, type, status.",
        responses={
            200: WebhookDeliverySerializer(many=True),
            400: OpenApiResponse(description="A filter or ordering value is not valid."),
            401: DENIED,
            403: DENIED,
        },
    ),
    retrieve=extend_schema(
        summary="A webhook delivery",
        responses={
            200: WebhookDeliverySerializer,
            401: DENIED,
            403: DENIED,
            404: not_found("delivery"),
        },
    ),
)
class WebhookDeliveryViewSet(ListModelMixin, RetrieveModelMixin, GenericViewSet):
    queryset = WebhookDelivery.objects.select_related("event")
    serializer_class = WebhookDeliverySerializer
    permission_classes = [ActionPermissions]
    change_actions = {"redeliver"}
    pagination_class = PagePagination
    filter_backends = [filters.DjangoFilterBackend, StableOrderingFilter]
    filterset_class = WebhookDeliveryFilter
    ordering_fields = ["created_at", "last_attempt_at", "next_attempt_at", "id"]
    ordering = ["-created_at", "-id"]

    @extend_schema(
        summary="Redeliver a webhook",
        description="Queues one more attempt, whatever the delivery's state (a succeeded one "
        "too): the same event, freshly signed. Needs webhooks.change_webhookdelivery.",
        request=None,
        responses={
            202: RedeliveryQueuedSerializer,
            401: DENIED,
            403: DENIED,
            404: not_found("delivery"),
        },
    )
    @action(detail=True, methods=["post"])
    def redeliver(self, request: Request, pk=None) -> Response:
        queued = deliveries_redeliver(delivery_ids=[self.get_object().pk])
        return Response({"queued": queued}, status=202)
