"""Shipment API: record units of a one-time line delivered, and list what shipped.

Recording goes through ``billing.shipments.shipment_record``, as the admin does: a line billed
on shipment gets a billing event for the units shipped (invoiced by the next bill run), the rest
stays backordered, and shipping more than is left is refused naming the field. A recorded
shipment is history: a mistake is corrected by another shipment, never edited.
"""

from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.viewsets import GenericViewSet, mixins

from billing.api.common import create_responses, list_responses, read_responses
from billing.models import Shipment
from billing.shipments import shipment_record
from contracts.models import ContractLine
from rms.api import DecimalJSONParser, IdFilter, PagePagination, StableOrderingFilter
from rms.api_permissions import ModelPermissions

TAGS = ["shipments"]


class ShipmentSerializer(serializers.ModelSerializer):
    contract = serializers.IntegerField(source="line.contract_id", read_only=True)
    contract_number = serializers.CharField(source="line.contract.number", read_only=True)
    customer = serializers.IntegerField(source="line.contract.customer_id", read_only=True)

    class Meta:
        model = Shipment
        fields = [
            "id",
            "line",
            "contract",
            "contract_number",
            "customer",
            "shipped_on",
            "quantity",
            "reference",
            "created_at",
        ]
        read_only_fields = fields


class ShipmentInputSerializer(serializers.Serializer):
    line = serializers.PrimaryKeyRelatedField(
        queryset=ContractLine.objects.select_related("contract"),
        help_text="The one-time contract line shipped (its id), on an active contract.",
    )
    shipped_on = serializers.DateField(help_text="ISO 8601 date; not before the line's service.")
    quantity = serializers.DecimalField(
        max_digits=19,
        decimal_places=4,
        help_text="Units shipped: more than zero and no more than are left to ship (decimal "
        "string, or a JSON number read as written).",
    )
    reference = serializers.CharField(
        max_length=128, required=False, allow_blank=True, help_text="Delivery note, tracking."
    )


class ShipmentFilter(filters.FilterSet):
    contract = IdFilter(field_name="line__contract", help_text="Contract id.")
    customer = IdFilter(field_name="line__contract__customer", help_text="Customer id.")
    shipped_on = filters.DateFromToRangeFilter(
        help_text="From shipped_on_after to shipped_on_before, both included (YYYY-MM-DD)."
    )

    class Meta:
        model = Shipment
        fields = ["line", "contract", "customer", "reference", "shipped_on"]


@extend_schema(tags=TAGS)
class ShipmentViewSet(
    mixins.CreateModelMixin, mixins.RetrieveModelMixin, mixins.ListModelMixin, GenericViewSet
):
    """Shipments (view permission); recording one needs billing.add_shipment."""

    queryset = Shipment.objects.select_related("line__contract")
    serializer_class = ShipmentSerializer
    permission_classes = [ModelPermissions]
    parser_classes = [DecimalJSONParser]
    pagination_class = PagePagination
    filter_backends = [filters.DjangoFilterBackend, StableOrderingFilter]
    filterset_class = ShipmentFilter
    ordering_fields = ["shipped_on", "created_at", "id"]
    ordering = ["-shipped_on", "-id"]

    @extend_schema(
        summary="Shipments",
        description="Shipments of one-time lines, latest first unless ordering says otherwise.",
        responses=list_responses(ShipmentSerializer),
    )
    def list(self, request: Request, *args, **kwargs) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(summary="A shipment", responses=read_responses(ShipmentSerializer, "shipment"))
    def retrieve(self, request: Request, *args, **kwargs) -> Response:
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        summary="Record a shipment",
        description="Records units of a one-time line shipped. A line billed on shipment bills "
        "them on the shipping date (the next bill run invoices them); the rest of the order "
        "stays backordered. Refused, naming the field: a line that is not one-time or not on "
        "an active contract, a date before its service, or more units than are left to ship. "
        "Needs billing.add_shipment.",
        request=ShipmentInputSerializer,
        responses=create_responses(ShipmentSerializer),
        examples=[
            OpenApiExample(
                "Six of ten routers",
                request_only=True,
                value={
                    "line": 12,
                    "shipped_on": "2026-01-10",
                    "quantity": "6",
                    "reference": "DN-1",
                },
            )
        ],
    )
    def create(self, request: Request, *args, **kwargs) -> Response:
        body = ShipmentInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        shipment = shipment_record(**body.validated_data)
        return Response(
            self.get_serializer(self.get_queryset().get(pk=shipment.pk)).data,
            status=status.HTTP_201_CREATED,
        )
