"""Payment API: record money received and see where it went.

Recording goes through ``billing.payments.payment_record``, as the admin form and the CSV import
do: the money is applied to the invoices named, or to the oldest open ones, and what is left
stays as the customer's credit. It is idempotent by bank reference: the same payment sent again
(a retried call, a re-sent bank file) returns the one recorded (200 instead of 201), and the
same reference with a different amount, date or method is refused.
"""

from django.db.models import Exists, OuterRef, Prefetch
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.viewsets import GenericViewSet, mixins

from billing.api.common import AmountField, create_responses, list_responses, read_responses
from billing.models import Invoice, Payment, PaymentApplication
from billing.payments import payment_record
from contracts.models import Customer
from rms.api import (
    DecimalJSONParser,
    IdFilter,
    MoneyField,
    MoneyInputSerializer,
    PagePagination,
    StableOrderingFilter,
)
from rms.api_permissions import ModelPermissions

TAGS = ["payments"]


# --- Serializers ---------------------------------------------------------------------------


class PaymentApplicationSerializer(serializers.ModelSerializer):
    invoice_number = serializers.CharField(source="invoice.number", read_only=True)
    amount = MoneyField()

    class Meta:
        model = PaymentApplication
        fields = ["id", "invoice", "invoice_number", "amount", "applied_on"]
        read_only_fields = fields


class PaymentSerializer(serializers.ModelSerializer):
    customer_number = serializers.CharField(source="customer.number", read_only=True)
    amount = MoneyField()
    unapplied = AmountField(
        "unapplied",
        currency="amount_currency",
        help_text="What no invoice has taken yet: the customer's credit from this payment.",
    )
    applications = PaymentApplicationSerializer(
        many=True, read_only=True, help_text="The invoices it settled, oldest first."
    )

    class Meta:
        model = Payment
        fields = [
            "id",
            "customer",
            "customer_number",
            "amount",
            "received_on",
            "method",
            "reference",
            "note",
            "unapplied",
            "recorded_by",
            "created_at",
            "applications",
        ]
        read_only_fields = fields


class PaymentInputSerializer(serializers.Serializer):
    customer = serializers.PrimaryKeyRelatedField(
        queryset=Customer.objects.all(), help_text="The paying customer (its id)."
    )
    amount = MoneyInputSerializer(
        help_text="More than zero, in a currency the customer is billed in."
    )
    received_on = serializers.DateField(help_text="ISO 8601 date; today or earlier.")
    method = serializers.ChoiceField(choices=Payment.Method.choices)
    reference = serializers.CharField(
        max_length=128,
        required=False,
        allow_blank=True,
        help_text="The bank reference, unique per customer: the same payment sent again under "
        "it is recorded once.",
    )
    note = serializers.CharField(max_length=255, required=False, allow_blank=True)
    invoices = serializers.PrimaryKeyRelatedField(
        queryset=Invoice.objects.all(),
        many=True,
        required=False,
        help_text="The invoices the remittance names, settled in this order; absent, the "
        "customer's oldest open invoices in the payment's currency go first.",
    )


# --- Views ---------------------------------------------------------------------------------


class PaymentFilter(filters.FilterSet):
    received_on = filters.DateFromToRangeFilter(
        help_text="From received_on_after to received_on_before, both included (YYYY-MM-DD)."
    )
    invoice = IdFilter(method="filter_invoice", help_text="Invoice id: payments applied to it.")
    currency = filters.CharFilter(field_name="amount_currency", help_text="ISO 4217 code.")
    has_credit = filters.BooleanFilter(
        method="filter_has_credit",
        help_text="true: payments with money not yet applied; false: fully applied ones.",
    )

    class Meta:
        model = Payment
        fields = ["customer", "method", "reference", "received_on", "invoice", "currency"]

    def filter_invoice(self, queryset, name: str, value):
        applied = PaymentApplication.objects.filter(payment=OuterRef("pk"), invoice_id=value)
        return queryset.filter(Exists(applied))

    def filter_has_credit(self, queryset, name: str, value: bool):
        return queryset.filter(unapplied__gt=0) if value else queryset.filter(unapplied=0)


@extend_schema(tags=TAGS)
class PaymentViewSet(
    mixins.CreateModelMixin, mixins.RetrieveModelMixin, mixins.ListModelMixin, GenericViewSet
):
    """Payments (view permission); recording one needs billing.add_payment."""

    queryset = Payment.objects.select_related("customer").prefetch_related(
        Prefetch(
            "applications",
            queryset=PaymentApplication.objects.select_related("invoice").order_by("id"),
        )
    )
    serializer_class = PaymentSerializer
    permission_classes = [ModelPermissions]
    parser_classes = [DecimalJSONParser]
    pagination_class = PagePagination
    filter_backends = [filters.DjangoFilterBackend, StableOrderingFilter]
    filterset_class = PaymentFilter
    ordering_fields = ["received_on", "created_at", "id"]
    ordering = ["-received_on", "-id"]

    @extend_schema(
        summary="Payments",
        description="Payments received, with the invoices each settled, newest first unless "
        "ordering says otherwise.",
        responses=list_responses(PaymentSerializer),
    )
    def list(self, request: Request, *args, **kwargs) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(summary="A payment", responses=read_responses(PaymentSerializer, "payment"))
    def retrieve(self, request: Request, *args, **kwargs) -> Response:
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        summary="Record a payment",
        description="Records money received and applies it: to the invoices named, in order, "
        "or to the customer's oldest open invoices in its currency; no invoice is paid past "
        "its balance, and the rest is kept as the customer's credit. Sending the same "
        "reference again with the same amount, date and method returns the payment already "
        "recorded with 200; with anything else it is refused on reference. Needs "
        "billing.add_payment.",
        request=PaymentInputSerializer,
        responses={
            **create_responses(PaymentSerializer),
            200: OpenApiResponse(
                PaymentSerializer, description="Already recorded under this reference."
            ),
        },
        examples=[
            OpenApiExample(
                "A bank transfer",
                request_only=True,
                value={
                    "customer": 7,
                    "amount": {"amount": "1082.50", "currency": "USD"},
                    "received_on": "2026-02-01",
                    "method": "bank_transfer",
                    "reference": "BANK-2026-0001",
                },
            )
        ],
    )
    def create(self, request: Request, *args, **kwargs) -> Response:
        body = PaymentInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        reference = data.get("reference", "").strip()
        # Only to tell a replay from a new payment in the status code; payment_record decides.
        known = bool(reference) and (
            Payment.objects.filter(customer=data["customer"], reference=reference).exists()
        )
        payment = payment_record(
            customer=data["customer"],
            amount=data["amount"],
            received_on=data["received_on"],
            method=data["method"],
            reference=reference,
            invoices=data.get("invoices") or None,
            recorded_by=request.user.get_username(),
            note=data.get("note", ""),
        )
        return Response(
            self.get_serializer(self.get_queryset().get(pk=payment.pk)).data,
            status=status.HTTP_200_OK if known else status.HTTP_201_CREATED,
        )
