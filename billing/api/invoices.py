"""Invoice API: list and read invoices with their lines, download their PDFs, issue and void.

Invoices are made by bill runs and achieved milestones, never posted here. A reviewed draft is
issued and a wrong invoice voided through ``billing.invoicing``, the services the admin actions
call, so the API refuses what the back office refuses, in the API's error shape. The PDF is the
one ``billing.documents`` stored at issue: the same bytes the customer was emailed.
"""

from decimal import Decimal

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.viewsets import ReadOnlyModelViewSet

from billing import documents
from billing.admin_documents import pdf_response
from billing.api.common import (
    ActionPermissions,
    AmountField,
    PDFNegotiation,
    action_responses,
    list_responses,
    pdf_responses,
    read_responses,
)
from billing.invoicing import invoice_issue, invoice_void
from billing.models import BillingEvent, Invoice, InvoiceLine, PaymentStatus
from rms.api import MoneyField, MoneySerializer, PagePagination, StableOrderingFilter, money_data

TAGS = ["invoices"]


# --- Serializers ---------------------------------------------------------------------------


class BreakdownRowSerializer(serializers.Serializer):
    """One tier of a usage charge: how many units at which rate."""

    description = serializers.CharField()
    quantity = serializers.DecimalField(max_digits=19, decimal_places=6)
    unit_price = MoneySerializer()
    amount = MoneySerializer()


class InvoiceLineSerializer(serializers.ModelSerializer):
    kind = serializers.ChoiceField(
        source="event.kind",
        choices=BillingEvent.Kind.choices,
        read_only=True,
        help_text="What the line bills: a subscription period, a one-time item, a shipment, a "
        "milestone or a usage charge.",
    )
    contract = serializers.IntegerField(source="contract_line.contract_id", read_only=True)
    contract_number = serializers.CharField(source="contract_line.contract.number", read_only=True)
    unit_price = MoneyField()
    amount = MoneyField(help_text="Net of tax.")
    tax_amount = MoneyField()
    breakdown = serializers.SerializerMethodField()

    class Meta:
        model = InvoiceLine
        fields = [
            "id",
            "position",
            "kind",
            "description",
            "contract",
            "contract_number",
            "contract_line",
            "period_start",
            "period_end",
            "quantity",
            "unit_price",
            "amount",
            "tax_rate",
            "tax_amount",
            "breakdown",
            "voided",
        ]
        read_only_fields = fields

    @extend_schema_field(
        BreakdownRowSerializer(many=True, help_text="A usage charge's tiers; empty otherwise.")
    )
    def get_breakdown(self, line: InvoiceLine) -> list[dict]:
        currency = line.amount.currency.code
        return [
            {
                "description": row["description"],
                "quantity": row["quantity"],
                "unit_price": money_data(Decimal(row["unit_price"]), currency),
                "amount": money_data(Decimal(row["amount"]), currency),
            }
            for row in line.breakdown
        ]


class InvoiceSerializer(serializers.ModelSerializer):
    """An invoice as the list shows it: its header, totals and where it stands in payment."""

    number = serializers.CharField(read_only=True, help_text="Empty while a draft for review.")
    customer_number = serializers.CharField(source="customer.number", read_only=True)
    subtotal = MoneyField()
    tax_total = MoneyField()
    total = MoneyField()
    amount_paid = AmountField("amount_paid")
    amount_credited = AmountField("amount_credited", help_text="By issued credit notes.")
    balance_due = MoneyField(
        help_text="Total less payments and credit notes; below zero when credited beyond it."
    )

    class Meta:
        model = Invoice
        fields = [
            "id",
            "number",
            "status",
            "payment_status",
            "customer",
            "customer_number",
            "currency",
            "bill_run",
            "invoice_date",
            "issue_date",
            "due_date",
            "subtotal",
            "tax_total",
            "total",
            "amount_paid",
            "amount_credited",
            "balance_due",
            "bill_to_name",
            "bill_to_address",
            "payment_terms_text",
            "delivery_held",
            "sent_at",
            "void_reason",
            "created_at",
            "issued_at",
            "voided_at",
        ]
        read_only_fields = fields


class InvoiceDetailSerializer(InvoiceSerializer):
    """An invoice with its lines, voided ones included (marked), in printed order."""

    lines = InvoiceLineSerializer(many=True, read_only=True)

    class Meta(InvoiceSerializer.Meta):
        fields = [*InvoiceSerializer.Meta.fields, "lines"]
        read_only_fields = fields


class IssueInputSerializer(serializers.Serializer):
    issue_date = serializers.DateField(
        required=False, help_text="ISO 8601 date the invoice is issued on; today when absent."
    )


class VoidInputSerializer(serializers.Serializer):
    reason = serializers.CharField(
        max_length=255, help_text="Why it is voided; kept on the invoice as void_reason."
    )


# --- Views ---------------------------------------------------------------------------------


class InvoiceFilter(filters.FilterSet):
    contract = filters.CharFilter(
        method="filter_contract",
        help_text="Contract number, or the contract's id: invoices with a line of it.",
    )
    status = filters.MultipleChoiceFilter(choices=Invoice.Status.choices)
    payment_status = filters.MultipleChoiceFilter(choices=PaymentStatus.choices)
    issue_date = filters.DateFromToRangeFilter(
        help_text="From issue_date_after to issue_date_before, both included (YYYY-MM-DD)."
    )
    invoice_date = filters.DateFromToRangeFilter(
        help_text="From invoice_date_after to invoice_date_before, both included (YYYY-MM-DD)."
    )
    due_date = filters.DateFromToRangeFilter(
        help_text="From due_date_after to due_date_before, both included (YYYY-MM-DD)."
    )

    class Meta:
        model = Invoice
        fields = [
            "customer",
            "contract",
            "status",
            "payment_status",
            "number",
            "currency",
            "bill_run",
            "issue_date",
            "invoice_date",
            "due_date",
        ]

    def filter_contract(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        # A subquery rather than a join: an invoice billing several lines of the contract is
        # listed once, without DISTINCT over every column.
        match = Q(contract_line__contract__number=value)
        if value.isdigit():
            match |= Q(contract_line__contract_id=int(value))
        lines = InvoiceLine.objects.filter(match, invoice=OuterRef("pk"))
        return queryset.filter(Exists(lines))


INVOICE_LINES = Prefetch(
    "lines",
    queryset=InvoiceLine.objects.select_related("event", "contract_line__contract").order_by(
        "position"
    ),
)


@extend_schema(tags=TAGS)
class InvoiceViewSet(ReadOnlyModelViewSet):
    """Invoices (view permission); issuing and voiding need billing.change_invoice too."""

    queryset = Invoice.objects.select_related("customer")
    permission_classes = [ActionPermissions]
    action_permissions = {
        "issue": ["billing.view_invoice", "billing.change_invoice"],
        "void": ["billing.view_invoice", "billing.change_invoice"],
    }
    pagination_class = PagePagination
    filter_backends = [filters.DjangoFilterBackend, StableOrderingFilter]
    filterset_class = InvoiceFilter
    ordering_fields = ["invoice_date", "issue_date", "due_date", "number", "total", "id"]
    ordering = ["-invoice_date", "-id"]

    def get_queryset(self) -> QuerySet[Invoice]:
        if self.action in ("list", "pdf"):  # neither shows the lines
            return self.queryset
        return self.queryset.prefetch_related(INVOICE_LINES)

    def get_serializer_class(self):
        return InvoiceSerializer if self.action == "list" else InvoiceDetailSerializer

    def _answer(self, invoice: Invoice) -> Response:
        """Answer with the invoice as a read shows it, reloaded after the service changed it."""
        return Response(self.get_serializer(self.get_queryset().get(pk=invoice.pk)).data)

    @extend_schema(
        summary="Invoices",
        description="Invoices of every customer, newest first unless ordering says otherwise; "
        "filter by customer, contract, status, payment status, dates or number. Without lines: "
        "read one invoice for them.",
        responses=list_responses(InvoiceSerializer),
    )
    def list(self, request: Request, *args, **kwargs) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(
        summary="An invoice",
        description="The invoice with its lines; money as decimal strings with the currency.",
        responses=read_responses(InvoiceDetailSerializer, "invoice"),
    )
    def retrieve(self, request: Request, *args, **kwargs) -> Response:
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        summary="An invoice's PDF",
        description="The document as the customer receives it. An issued (or voided) "
        "invoice's PDF is the one stored when it was first rendered, the same bytes every "
        "time; a draft is rendered afresh and marked DRAFT.",
        responses=pdf_responses("invoice"),
    )
    @action(detail=True, methods=["get"], content_negotiation_class=PDFNegotiation)
    def pdf(self, request: Request, pk=None):
        invoice = self.get_object()
        return pdf_response(documents.invoice_pdf(invoice), f"{invoice.number or invoice.pk}.pdf")

    @extend_schema(
        summary="Issue a draft invoice",
        description="Numbers a reviewed draft in the gapless series, dates it (today unless "
        "issue_date says otherwise), freezes its bill-to and terms and queues its delivery. "
        "Refused for an invoice that is not a draft. Needs billing.change_invoice.",
        request=IssueInputSerializer,
        responses=action_responses(InvoiceDetailSerializer, "invoice"),
    )
    @action(detail=True, methods=["post"])
    def issue(self, request: Request, pk=None) -> Response:
        body = IssueInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        issue_date = body.validated_data.get("issue_date") or timezone.localdate()
        return self._answer(invoice_issue(invoice=self.get_object(), issue_date=issue_date))

    @extend_schema(
        summary="Void an invoice",
        description="Voids a draft or issued invoice: its number stays used, its lines are "
        "kept and marked void, and what it billed goes to the next bill run (put a billing "
        "hold on the contract first not to bill it again). Refused for an invoice already "
        "void, or with payments or credit notes against it: correct that one with a credit "
        "note. Needs billing.change_invoice.",
        request=VoidInputSerializer,
        responses=action_responses(InvoiceDetailSerializer, "invoice"),
        examples=[
            OpenApiExample("Wrong price", request_only=True, value={"reason": "Wrong price"})
        ],
    )
    @action(detail=True, methods=["post"])
    def void(self, request: Request, pk=None) -> Response:
        body = VoidInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        voided = invoice_void(invoice=self.get_object(), reason=body.validated_data["reason"])
        return self._answer(voided)
