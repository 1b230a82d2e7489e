"""Credit note API: credit an issued invoice whole or by line, issue the draft, read, download.

Creating and issuing go through ``billing.credit_notes``, as the admin does: a draft changes
nothing the customer owes; issuing numbers it in the gapless CN series, reduces the invoice's
balance and sends it. What a line can still be credited is the service's rule, and its refusals
come back as 400s naming the field.
"""

from django.db.models import Prefetch
from django.utils import timezone
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.viewsets import GenericViewSet, mixins

from billing import documents
from billing.admin_documents import pdf_response
from billing.api.common import (
    ActionPermissions,
    PDFNegotiation,
    action_responses,
    create_responses,
    list_responses,
    pdf_responses,
    read_responses,
)
from billing.credit_notes import credit_note_create, credit_note_issue
from billing.models import CreditNote, CreditNoteLine, Invoice, InvoiceLine
from rms.api import (
    DecimalJSONParser,
    MoneyField,
    MoneyInputSerializer,
    PagePagination,
    StableOrderingFilter,
)

TAGS = ["credit notes"]


# --- Serializers ---------------------------------------------------------------------------


class CreditNoteLineSerializer(serializers.ModelSerializer):
    amount = MoneyField(help_text="Net amount taken back.")
    tax_amount = MoneyField(help_text="The line's tax that follows the net amount.")

    class Meta:
        model = CreditNoteLine
        fields = [
            "id",
            "position",
            "invoice_line",
            "description",
            "quantity",
            "amount",
            "tax_amount",
        ]
        read_only_fields = fields


class CreditNoteSerializer(serializers.ModelSerializer):
    number = serializers.CharField(read_only=True, help_text="Empty while a draft.")
    invoice_number = serializers.CharField(source="invoice.number", read_only=True)
    customer_number = serializers.CharField(source="customer.number", read_only=True)
    subtotal = MoneyField()
    tax_total = MoneyField()
    total = MoneyField()
    lines = CreditNoteLineSerializer(many=True, read_only=True)

    class Meta:
        model = CreditNote
        fields = [
            "id",
            "number",
            "status",
            "invoice",
            "invoice_number",
            "customer",
            "customer_number",
            "currency",
            "issue_date",
            "reason",
            "subtotal",
            "tax_total",
            "total",
            "sent_at",
            "created_by",
            "created_at",
            "issued_at",
            "lines",
        ]
        read_only_fields = fields


class CreditLineInputSerializer(serializers.Serializer):
    invoice_line = serializers.PrimaryKeyRelatedField(
        queryset=InvoiceLine.objects.all(), help_text="A line of the invoice credited (its id)."
    )
    amount = MoneyInputSerializer(
        help_text="Net amount to take back, in the invoice's currency; tax follows."
    )


class CreditNoteInputSerializer(serializers.Serializer):
    invoice = serializers.PrimaryKeyRelatedField(
        queryset=Invoice.objects.all(), help_text="The issued invoice credited (its id)."
    )
    reason = serializers.CharField(max_length=255, help_text="Printed on the credit note.")
    lines = CreditLineInputSerializer(
        many=True,
        required=False,
        help_text="The lines and net amounts to credit; absent, everything still creditable "
        "on the invoice is credited.",
    )


class CreditNoteIssueInputSerializer(serializers.Serializer):
    issue_date = serializers.DateField(
        required=False, help_text="ISO 8601 date; today when absent. Not before the invoice's."
    )


# --- Views ---------------------------------------------------------------------------------


class CreditNoteFilter(filters.FilterSet):
    status = filters.MultipleChoiceFilter(choices=CreditNote.Status.choices)
    issue_date = filters.DateFromToRangeFilter(
        help_text="From issue_date_after to issue_date_before, both included (YYYY-MM-DD)."
    )

    class Meta:
        model = CreditNote
        fields = ["invoice", "customer", "status", "number", "issue_date"]


@extend_schema(tags=TAGS)
class CreditNoteViewSet(
    mixins.CreateModelMixin, mixins.RetrieveModelMixin, mixins.ListModelMixin, GenericViewSet
):
    """Credit notes (view permission); creating needs add, issuing change_creditnote."""

    queryset = CreditNote.objects.select_related("invoice", "customer").prefetch_related(
        Prefetch("lines", queryset=CreditNoteLine.objects.order_by("position"))
    )
    serializer_class = CreditNoteSerializer
    permission_classes = [ActionPermissions]
    action_permissions = {"issue": ["billing.view_creditnote", "billing.change_creditnote"]}
    parser_classes = [DecimalJSONParser]
    pagination_class = PagePagination
    filter_backends = [filters.DjangoFilterBackend, StableOrderingFilter]
    filterset_class = CreditNoteFilter
    ordering_fields = ["created_at", "issue_date", "number", "id"]
    ordering = ["-created_at", "-id"]

    def _read(self, note: CreditNote) -> dict:
        return self.get_serializer(self.get_queryset().get(pk=note.pk)).data

    @extend_schema(
        summary="Credit notes",
        description="Credit notes with their lines, newest first unless ordering says "
        "otherwise; filter by invoice, customer, status, number or issue date.",
        responses=list_responses(CreditNoteSerializer),
    )
    def list(self, request: Request, *args, **kwargs) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(
        summary="A credit note", responses=read_responses(CreditNoteSerializer, "credit note")
    )
    def retrieve(self, request: Request, *args, **kwargs) -> Response:
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        summary="Credit an invoice (draft)",
        description="Creates a draft credit note against an issued invoice: whole (no lines) "
        "or the net amounts given per line, never more than a line has left to credit (issued "
        "and draft credit notes count). Nothing changes what the customer owes until the draft "
        "is issued. Needs billing.add_creditnote.",
        request=CreditNoteInputSerializer,
        responses=create_responses(CreditNoteSerializer),
        examples=[
            OpenApiExample(
                "Part of a line",
                request_only=True,
                value={
                    "invoice": 42,
                    "reason": "Service credit for the March outage",
                    "lines": [
                        {"invoice_line": 97, "amount": {"amount": "50.00", "currency": "USD"}}
                    ],
                },
            )
        ],
    )
    def create(self, request: Request, *args, **kwargs) -> Response:
        body = CreditNoteInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        lines = data.get("lines")
        note = credit_note_create(
            invoice=data["invoice"],
            reason=data["reason"],
            lines=None
            if lines is None
            else [(row["invoice_line"], row["amount"]) for row in lines],
            created_by=request.user.get_username(),
        )
        return Response(self._read(note), status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="A credit note's PDF",
        description="The document as the customer receives it: stored once issued (the same "
        "bytes every time), rendered afresh and marked as a draft before.",
        responses=pdf_responses("credit note"),
    )
    @action(detail=True, methods=["get"], content_negotiation_class=PDFNegotiation)
    def pdf(self, request: Request, pk=None):
        note = self.get_object()
        return pdf_response(documents.credit_note_pdf(note), f"{note.number or note.pk}.pdf")

    @extend_schema(
        summary="Issue a draft credit note",
        description="Numbers it in the gapless CN series, takes its total off the invoice's "
        "balance (moving its payment status) and queues its delivery. Refused when already "
        "issued, when the invoice is no longer issued, or for a date before the invoice's. "
        "Needs billing.change_creditnote.",
        request=CreditNoteIssueInputSerializer,
        responses=action_responses(CreditNoteSerializer, "credit note"),
    )
    @action(detail=True, methods=["post"])
    def issue(self, request: Request, pk=None) -> Response:
        body = CreditNoteIssueInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        issue_date = body.validated_data.get("issue_date") or timezone.localdate()
        note = credit_note_issue(credit_note=self.get_object(), issue_date=issue_date)
        return Response(self._read(note))
