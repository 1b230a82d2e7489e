"""Milestone API: read schedules and milestones, achieve, approve and cancel them, set schedules.

A PSA marks a milestone achieved with its task id as the reference; sending the same reference
again (a retry) returns the milestone as it is, with its one invoice. The views parse the
request and call the services of ``billing.milestones`` and ``contracts.milestones``; a refusal
comes back as a 400 naming the field at fault, in the API's one error shape.
"""

from collections.abc import Callable
from decimal import Decimal
from typing import TypeVar

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Q, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django_filters import rest_framework as filters
from djmoney.money import Money
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import APIView
from rest_framework.viewsets import ReadOnlyModelViewSet

from billing.milestone_billing import BillingState, MilestoneBilling, milestones_billing
from billing.milestones import milestone_achieve, milestone_approve, milestone_cancel
from billing.models import Invoice
from contracts.milestones import (
    MilestonePlan,
    line_value,
    milestone_schedule_apply_template,
    milestone_schedule_set,
)
from contracts.models import BillingModel, ContractLine, Milestone, MilestoneTemplate
from contracts.visibility import scoped_to_own_contracts
from rms.api import (
    DecimalJSONParser,
    IdFilter,
    MoneyField,
    MoneyInputSerializer,
    PagePagination,
    StableOrderingFilter,
)
from rms.api_permissions import ModelPermissions
from rms.api_schema import DENIED

T = TypeVar("T")
TAGS = ["milestones"]
FILTER_BACKENDS = [filters.DjangoFilterBackend, StableOrderingFilter]


# --- Serializers ---------------------------------------------------------------------------


class InvoiceRefSerializer(serializers.ModelSerializer):
    number = serializers.CharField(help_text="Empty while the invoice is a draft for review.")
    total = MoneyField()

    class Meta:
        model = Invoice
        fields = ["id", "number", "status", "invoice_date", "total"]


class MilestoneSerializer(serializers.ModelSerializer):
    """A milestone of a schedule, with where it stands in billing and its invoice."""

    # The billing states and invoices of all the milestones shown, from milestones_billing:
    # context["billing"], filled once per page so that a page costs the same queries as a row.

    contract = serializers.IntegerField(
        source="line.contract_id", read_only=True, help_text="Contract id."
    )
    contract_number = serializers.CharField(source="line.contract.number", read_only=True)
    amount = MoneyField(help_text="What achieving the milestone bills, net of tax.")
    percent = serializers.DecimalField(
        max_digits=7,
        decimal_places=4,
        allow_null=True,
        read_only=True,
        help_text="Share of the line's value it follows; null for a fixed amount.",
    )
    awaiting_approval = serializers.BooleanField(
        read_only=True,
        help_text="Achieved, and waiting for a finance approver before it is invoiced.",
    )
    overdue = serializers.SerializerMethodField()
    billing_state = serializers.SerializerMethodField()
    billing_reason = serializers.SerializerMethodField()
    invoice = serializers.SerializerMethodField()

    class Meta:
        model = Milestone
        fields = [
            "id",
            "contract",
            "contract_number",
            "line",
            "sequence",
            "name",
            "description",
            "planned_date",
            "percent",
            "amount",
            "status",
            "overdue",
            "achieved_on",
            "achieved_by",
            "external_reference",
            "evidence",
            "approved_at",
            "approved_by",
            "awaiting_approval",
            "billing_state",
            "billing_reason",
            "invoice",
        ]
        read_only_fields = fields

    def _billing(self, milestone: Milestone) -> MilestoneBilling:
        return self.context["billing"][milestone.pk]

    @extend_schema_field(
        serializers.BooleanField(help_text="Still planned, and its planned date has passed.")
    )
    def get_overdue(self, milestone: Milestone) -> bool:
        return _is_overdue(milestone)

    @extend_schema_field(
        serializers.ChoiceField(
            choices=BillingState.ALL,
            help_text="planned or cancelled as its status says; once achieved: "
            "awaiting_approval (a finance approver must clear it), invoiced, blocked (the "
            "not-to-exceed cap stops it until a change order covers it), held (a billing hold; "
            "invoiced when released) or pending (left to the next bill run).",
        )
    )
    def get_billing_state(self, milestone: Milestone) -> str:
        return self._billing(milestone).state

    @extend_schema_field(
        serializers.CharField(help_text="Why it is blocked or held (empty otherwise).")
    )
    def get_billing_reason(self, milestone: Milestone) -> str:
        return self._billing(milestone).reason

    @extend_schema_field(InvoiceRefSerializer(allow_null=True))
    def get_invoice(self, milestone: Milestone) -> dict | None:
        invoice = self._billing(milestone).invoice
        return None if invoice is None else InvoiceRefSerializer(invoice).data


def _is_overdue(milestone: Milestone) -> bool:
    return (
        milestone.status == Milestone.Status.PLANNED
        and milestone.planned_date < timezone.localdate()
    )


class AchieveInputSerializer(serializers.Serializer):
    achieved_on = serializers.DateField(
        required=False, help_text="ISO 8601 date it was achieved; today when absent."
    )
    reference = serializers.CharField(
        max_length=128,
        required=False,
        allow_blank=True,
        help_text="The sender's id for the achievement (the PSA's task id): sending it again "
        "returns the milestone as it is, invoiced once.",
    )
    evidence = serializers.CharField(
        required=False, allow_blank=True, help_text="What shows it was achieved."
    )


class CancelInputSerializer(serializers.Serializer):
    reason = serializers.CharField(
        required=False, allow_blank=True, help_text="Kept in the milestone's evidence."
    )


class MilestonePlanInputSerializer(serializers.Serializer):
    """One milestone of a schedule sent in: an ``amount`` or a ``percent`` of the line's value."""

    name = serializers.CharField(max_length=255)
    planned_date = serializers.DateField(help_text="ISO 8601 date.")
    amount = MoneyInputSerializer(required=False, help_text="A fixed amount; or give percent.")
    percent = serializers.DecimalField(
        max_digits=7,
        decimal_places=4,
        min_value=Decimal(0),
        max_value=Decimal(100),
        required=False,
        help_text="Share of the line's value (decimal string); the last percent milestone "
        "absorbs the rounding remainder. Or give amount.",
    )
    description = serializers.CharField(required=False, allow_blank=True)
    external_reference = serializers.CharField(max_length=128, required=False, allow_blank=True)


class ScheduleInputSerializer(serializers.Serializer):
    """A whole planned schedule: a template's percents, or the milestones themselves."""

    template = serializers.CharField(
        required=False,
        help_text="An active milestone template, by id or by name; its percents spread the "
        "line's value. Only on a line with nothing achieved yet.",
    )
    milestones = MilestonePlanInputSerializer(
        many=True,
        required=False,
        help_text="Replaces the planned milestones; with those achieved or invoiced, they must "
        "sum exactly to the line's value.",
    )

    def validate(self, attrs: dict) -> dict:
        if ("template" in attrs) == ("milestones" in attrs):
            raise ValidationError("Send either a template or milestones, not both.")
        return attrs

    def validate_template(self, value: str) -> MilestoneTemplate:
        lookup = Q(name=value) | (Q(pk=int(value)) if value.isdigit() else Q())
        template = MilestoneTemplate.objects.filter(lookup).first()
        if template is None:
            raise ValidationError(f"No milestone template has the id or name {value!r}.")
        if not template.active:
            raise ValidationError(f"Template {template.name!r} is retired (inactive).")
        return template

    def plans(self) -> list[MilestonePlan]:
        return [
            MilestonePlan(
                name=plan["name"],
                planned_date=plan["planned_date"],
                amount=plan.get("amount"),
                percent=plan.get("percent"),
                description=plan.get("description", ""),
                external_reference=plan.get("external_reference", ""),
            )
            for plan in self.validated_data["milestones"]
        ]


class MilestoneTemplateStepSerializer(serializers.Serializer):
    sequence = serializers.IntegerField()
    name = serializers.CharField()
    percent = serializers.DecimalField(max_digits=7, decimal_places=4)
    days_after_start = serializers.IntegerField(
        help_text="Planned date: this many days after the line's service start."
    )


class MilestoneTemplateSerializer(serializers.ModelSerializer):
    steps = MilestoneTemplateStepSerializer(many=True)

    class Meta:
        model = MilestoneTemplate
        fields = ["id", "name", "description", "active", "steps"]


class ScheduleSerializer(serializers.Serializer):
    """A milestone line's schedule, in order, against the line's value."""

    line = serializers.IntegerField(source="line.pk", help_text="The contract line's id.")
    contract = serializers.IntegerField(source="line.contract_id", help_text="Contract id.")
    contract_number = serializers.CharField(source="line.contract.number")
    value = MoneyField(
        allow_null=True, help_text="The line's value (quantity x unit price); null if unpriced."
    )
    total = MoneyField(
        help_text="What the milestones sum to, cancelled ones aside; equals value when the "
        "schedule is complete."
    )
    milestones = MilestoneSerializer(many=True)


# --- Views ---------------------------------------------------------------------------------


def _refused_as_400(service: Callable[..., T], **kwargs) -> T:
    """Call a service; its ``ValidationError`` becomes a 400 naming the field at fault."""
    try:
        return service(**kwargs)
    except DjangoValidationError as error:
        raise ValidationError(as_serializer_error(error)) from error


class MilestoneFilter(filters.FilterSet):
    contract = filters.CharFilter(
        method="filter_contract", help_text="Contract number, or the contract's id."
    )
    customer = IdFilter(field_name="line__contract__customer", help_text="Customer id.")
    status = filters.MultipleChoiceFilter(choices=Milestone.Status.choices)
    planned_date = filters.DateFromToRangeFilter(
        help_text="From planned_date_after to planned_date_before, both included (YYYY-MM-DD)."
    )
    overdue = filters.BooleanFilter(
        method="filter_overdue",
        help_text="true: still planned and past the planned date; false: the others.",
    )
    awaiting_approval = filters.BooleanFilter(
        method="filter_awaiting_approval",
        help_text="true: achieved and waiting for a finance approver; false: the others.",
    )

    class Meta:
        model = Milestone
        fields = ["contract", "customer", "line", "status", "external_reference", "planned_date"]

    def filter_contract(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        match = Q(line__contract__number=value)
        if value.isdigit():
            match |= Q(line__contract_id=int(value))
        return queryset.filter(match)

    def filter_overdue(self, queryset: QuerySet, name: str, value: bool) -> QuerySet:
        overdue = Q(status=Milestone.Status.PLANNED, planned_date__lt=timezone.localdate())
        return queryset.filter(overdue) if value else queryset.exclude(overdue)

    def filter_awaiting_approval(self, queryset: QuerySet, name: str, value: bool) -> QuerySet:
        waiting = Q(status=Milestone.Status.ACHIEVED, approved_at__isnull=True)
        return queryset.filter(waiting) if value else queryset.exclude(waiting)


class MilestonePermissions(ModelPermissions):
    """Reads need the view permission; each action its own (achieving is not editing)."""

    action_perms = {
        "achieve": ["contracts.achieve_milestone"],
        "approve": ["contracts.approve_milestone"],
        "cancel": ["contracts.change_milestone"],
    }

    def has_permission(self, request, view) -> bool:
        perms = self.action_perms.get(getattr(view, "action", None))
        if perms is None:
            return super().has_permission(request, view)
        return bool(request.user and request.user.is_authenticated) and request.user.has_perms(
            perms
        )


MILESTONE_QUERYSET = Milestone.objects.select_related("line__contract__customer")
REFUSED = OpenApiResponse(
    description="The milestone cannot take this step now; fields names the field at fault, "
    'e.g. {"status": ["Milestone \'Design\' was already achieved on 2026-03-10."]}.'
)
NOT_FOUND = OpenApiResponse(description="No milestone has this id.")
ACTION_RESPONSES = {
    200: MilestoneSerializer,
    400: REFUSED,
    401: DENIED,
    403: DENIED,
    404: NOT_FOUND,
}


def _action_schema(summary: str, description: str, request=None, **more):
    """Document a milestone action: it answers with the milestone, or a refusal naming the field."""
    return extend_schema(
        summary=summary,
        description=description,
        request=request,
        responses=ACTION_RESPONSES,
        **more,
    )


@extend_schema(tags=TAGS)
@extend_schema_view(
    list=extend_schema(
        summary="Milestones",
        description="Milestones across contracts, by planned date unless ordering says "
        "otherwise: filter by contract, status, dates, overdue or awaiting approval.",
    ),
    retrieve=extend_schema(summary="A milestone"),
)
class MilestoneViewSet(ReadOnlyModelViewSet):
    queryset = MILESTONE_QUERYSET
    serializer_class = MilestoneSerializer
    permission_classes = [MilestonePermissions]
    pagination_class = PagePagination
    filter_backends = FILTER_BACKENDS
    filterset_class = MilestoneFilter
    ordering_fields = ["planned_date", "achieved_on", "sequence", "id"]
    ordering = ["planned_date", "id"]

    def get_queryset(self):
        """A project manager sees (and achieves) only the milestones of their own contracts."""
        return scoped_to_own_contracts(super().get_queryset(), self.request.user, "line__contract")

    def get_serializer(self, instance=None, *args, **kwargs):
        """Give the serializer the billing state of every milestone it shows, fetched at once."""
        if isinstance(instance, Milestone):
            shown = [instance]
        elif instance is not None:
            instance = shown = list(instance)
        if instance is not None:
            kwargs.setdefault("context", self.get_serializer_context())
            kwargs["context"]["billing"] = milestones_billing(shown)
        return super().get_serializer(instance, *args, **kwargs)

    def _take_step(self, service: Callable[..., Milestone], **kwargs) -> Response:
        """Move this milestone on through ``service``; answer with it as the list shows it."""
        milestone = _refused_as_400(service, milestone=self.get_object(), **kwargs)
        # Reloaded as the list loads it: achieving may have invoiced it meanwhile.
        return Response(self.get_serializer(self.get_queryset().get(pk=milestone.pk)).data)

    @_action_schema(
        summary="Mark a milestone achieved",
        description="Records the achievement (achieved_by is the caller's user) and, unless "
        "the contract requires approval, invoices it at once; a billing hold or the "
        "not-to-exceed cap keeps the invoice back (see billing_state). Sending the same "
        "reference again returns the milestone as it is, with its one invoice. Refused with "
        "the field at fault: achieved before, cancelled, a date in the future or before the "
        "service, ahead of its turn, or a contract that is not active. Needs "
        "contracts.achieve_milestone.",
        request=AchieveInputSerializer,
        examples=[
            OpenApiExample(
                "From a PSA",
                request_only=True,
                value={"achieved_on": "2026-03-10", "reference": "PSA-123", "evidence": "UAT"},
            )
        ],
    )
    @action(detail=True, methods=["post"])
    def achieve(self, request: Request, pk=None) -> Response:
        body = AchieveInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._take_step(
            milestone_achieve,
            achieved_on=body.validated_data.get("achieved_on") or timezone.localdate(),
            achieved_by=request.user.get_username(),
            reference=body.validated_data.get("reference", ""),
            evidence=body.validated_data.get("evidence", ""),
        )

    @_action_schema(
        summary="Approve an achieved milestone for invoicing",
        description="On a contract whose milestones need approval: clears the milestone and "
        "invoices it at once. The approver (the caller) cannot be the one who achieved it. "
        "Needs contracts.approve_milestone.",
    )
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk=None) -> Response:
        return self._take_step(milestone_approve, approved_by=request.user.get_username())

    @_action_schema(
        summary="Cancel a planned milestone",
        description="Removes it from what is due; the reason is kept in its evidence. An "
        "achieved or invoiced milestone is reversed by a credit note instead. Needs "
        "contracts.change_milestone.",
        request=CancelInputSerializer,
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk=None) -> Response:
        body = CancelInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._take_step(
            milestone_cancel,
            cancelled_by=request.user.get_username(),
            reason=body.validated_data.get("reason", ""),
        )


class MilestoneScheduleView(APIView):
    """A milestone line's schedule: read it (view permission), replace it (change permission)."""

    permission_classes = [ModelPermissions]
    permission_model = Milestone
    parser_classes = [DecimalJSONParser]

    def _line(self, id: int) -> ContractLine:
        lines = scoped_to_own_contracts(
            ContractLine.objects.select_related("contract__customer"), self.request.user, "contract"
        )
        line = get_object_or_404(lines, pk=id)
        if line.billing_model != BillingModel.MILESTONE:
            raise Http404(
                f"Line {line.sequence} of {line.contract.number} is billed by "
                f"{line.get_billing_model_display().lower()}; only milestone lines have a "
                "milestone schedule."
            )
        return line

    def _schedule(self, line: ContractLine) -> Response:
        milestones = list(MILESTONE_QUERYSET.filter(line=line).order_by("sequence"))
        currency = line.contract.currency
        total = sum(
            (m.amount for m in milestones if m.status != Milestone.Status.CANCELLED),
            Money(0, currency),
        )
        data = {
            "line": line,
            "value": None if line.unit_price is None else line_value(line),
            "total": total,
            "milestones": milestones,
        }
        context = {"request": self.request, "billing": milestones_billing(milestones)}
        return Response(ScheduleSerializer(data, context=context).data)

    @extend_schema(
        summary="A line's milestone schedule",
        description="The line's milestones in order, with its value and what they sum to.",
        parameters=[OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH)],
        responses={
            200: ScheduleSerializer,
            401: DENIED,
            403: DENIED,
            404: OpenApiResponse(description="No milestone line has this id."),
        },
        tags=TAGS,
    )
    def get(self, request: Request, id: int) -> Response:
        return self._schedule(self._line(id))

    @extend_schema(
        summary="Set a line's milestone schedule",
        description="Replaces the line's planned milestones (achieved, invoiced and cancelled "
        "ones stay) by a template's percents of the value or by the milestones sent. The "
        "schedule must sum exactly to the line's value, or nothing changes and the 400 shows "
        "both figures. Needs contracts.change_milestone.",
        parameters=[OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH)],
        request=ScheduleInputSerializer,
        responses={
            200: ScheduleSerializer,
            400: OpenApiResponse(
                description="Refused, nothing changed; the body names the field, e.g. "
                '{"milestones": ["The milestones sum to US$90,000.00 but the line\'s value is '
                'US$100,000.00; they must sum exactly to it."]}.'
            ),
            401: DENIED,
            403: DENIED,
            404: OpenApiResponse(description="No milestone line has this id."),
        },
        examples=[
            OpenApiExample("By template", request_only=True, value={"template": "Construction"}),
            OpenApiExample(
                "Passed in",
                request_only=True,
                value={
                    "milestones": [
                        {
                            "name": "Design",
                            "planned_date": "2026-03-01",
                            "amount": {"amount": "30000.00", "currency": "USD"},
                        },
                        {"name": "Go-live", "planned_date": "2026-09-01", "percent": "70"},
                    ]
                },
            ),
        ],
        tags=TAGS,
    )
    def put(self, request: Request, id: int) -> Response:
        line = self._line(id)
        body = ScheduleInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        if "template" in body.validated_data:
            _refused_as_400(
                milestone_schedule_apply_template,
                line=line,
                template=body.validated_data["template"],
            )
        else:
            _refused_as_400(milestone_schedule_set, line=line, plans=body.plans())
        return self._schedule(line)


@extend_schema(tags=TAGS)
@extend_schema_view(
    list=extend_schema(
        summary="Milestone templates",
        description="Milestone policies (percents of a line's value), with their steps.",
    ),
    retrieve=extend_schema(summary="A milestone template"),
)
class MilestoneTemplateViewSet(ReadOnlyModelViewSet):
    queryset = MilestoneTemplate.objects.prefetch_related("steps")
    serializer_class = MilestoneTemplateSerializer
    permission_classes = [ModelPermissions]
    pagination_class = PagePagination
    filter_backends = FILTER_BACKENDS
    filterset_fields = ["active"]
    ordering_fields = ["name", "id"]
    ordering = ["name"]
