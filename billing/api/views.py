"""Usage API: send usage records one at a time or by the thousand, and list what was stored.

The views parse the request and call ``billing.usage``; every record gets its own result, so a
sender learns which records to fix while the good ones of the same request are kept.
"""

from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
)
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from billing.api.serializers import (
    MAX_BATCH,
    UsageBatchInputSerializer,
    UsageBatchResultSerializer,
    UsageRecordInputSerializer,
    UsageRecordResultSerializer,
    UsageRecordSerializer,
    result_data,
)
from billing.models import UsageRecord
from billing.usage import UsageStatus, usage_records_ingest
from rms.api import (
    DecimalJSONParser,
    IdFilter,
    PagePagination,
    StableOrderingFilter,
    UtcDateTimeRangeFilter,
)
from rms.api_permissions import ModelPermissions

TAGS = ["usage"]
SINGLE_STATUS = {
    UsageStatus.ACCEPTED: status.HTTP_201_CREATED,
    UsageStatus.DUPLICATE: status.HTTP_200_OK,
    UsageStatus.CONFLICT: status.HTTP_409_CONFLICT,
}
KEPT = {UsageStatus.ACCEPTED, UsageStatus.DUPLICATE}


class UsageRecordFilter(filters.FilterSet):
    occurred_at = UtcDateTimeRangeFilter(
        help_text="From occurred_at_after to occurred_at_before, both included (ISO 8601)."
    )
    contract = IdFilter(field_name="line__contract", help_text="Contract id.")
    billed = filters.BooleanFilter(
        field_name="billed_event",
        lookup_expr="isnull",
        exclude=True,
        help_text="true: records already billed; false: not yet billed.",
    )

    class Meta:
        model = UsageRecord
        fields = ["line", "contract", "customer", "billed_event", "idempotency_key", "occurred_at"]


def _records_of(body) -> list | None:
    """Return the records of a batch request, or None when the body is one record."""
    if isinstance(body, list):
        return body
    if not isinstance(body, dict):
        raise ValidationError({"non_field_errors": ["Send a usage record, or a list of them."]})
    if "records" not in body:
        return None
    if set(body) != {"records"} or not isinstance(body["records"], list):
        raise ValidationError({"records": ['Send {"records": [...]} with nothing beside it.']})
    return body["records"]


@extend_schema_view(
    get=extend_schema(
        summary="Usage records",
        description="Stored usage records, in the order they arrived unless ordering says "
        "otherwise.",
        tags=TAGS,
    )
)
class UsageRecordListView(ListAPIView):
    """List usage records (view permission) and take new ones (add permission)."""

    queryset = UsageRecord.objects.select_related("line__contract")
    serializer_class = UsageRecordSerializer
    permission_classes = [ModelPermissions]
    parser_classes = [DecimalJSONParser]
    pagination_class = PagePagination
    filter_backends = [filters.DjangoFilterBackend, StableOrderingFilter]
    filterset_class = UsageRecordFilter
    ordering_fields = ["occurred_at", "received_at", "id"]
    # Arrival order: the primary key's index serves it however many records there are.
    ordering = ["id"]

    @extend_schema(
        summary="Send usage",
        description=(
            "Send one usage record (an object) or up to "
            f'{MAX_BATCH:,} (a list, or {{"records": [...]}}). A record sent again under '
            "its idempotency key is counted once and reported as a duplicate; a key reused for "
            "different usage is a conflict; a record the books cannot take is rejected with "
            "the field at fault, and the other records are kept.\n\n"
            "One record: 201 accepted, 200 duplicate, 409 conflict, each with the record's "
            "result, or 400 naming the field at fault; its key may come in the Idempotency-Key "
            "header instead. A batch: 200 when every record was accepted or a duplicate, else "
            "207, with a result per record and the counts."
        ),
        request=PolymorphicProxySerializer(
            component_name="UsageIngestRequest",
            serializers=[
                UsageRecordInputSerializer,
                UsageRecordInputSerializer(many=True),
                UsageBatchInputSerializer,
            ],
            resource_type_field_name=None,
            many=False,
        ),
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="Makes the request safe to retry: the same key returns the first "
                "response. For a single record whose body has no idempotency_key, it is also "
                "the record's key.",
            )
        ],
        responses={
            200: PolymorphicProxySerializer(
                component_name="UsageIngestResponse",
                serializers=[UsageBatchResultSerializer, UsageRecordResultSerializer],
                resource_type_field_name=None,
            ),
            201: UsageRecordResultSerializer,
            207: UsageBatchResultSerializer,
            409: UsageRecordResultSerializer,
            413: OpenApiResponse(description=f"More than {MAX_BATCH:,} records."),
        },
        examples=[
            OpenApiExample(
                "One record",
                request_only=True,
                value={
                    "subscription_key": "acme-api",
                    "quantity": "1250",
                    "occurred_at": "2026-03-01T12:00:00Z",
                    "idempotency_key": "meter-7-2026-03-01T12",
                    "attributes": {"region": "eu"},
                },
            )
        ],
        tags=TAGS,
    )
    def post(self, request: Request) -> Response:
        records = _records_of(request.data)
        if records is None:
            return self._ingest_one(request, request.data, request.headers.get("Idempotency-Key"))
        if not records:
            raise ValidationError({"records": ["Send at least one record."]})
        if len(records) > MAX_BATCH:
            message = f"{len(records):,} records sent; send at most {MAX_BATCH:,} at once."
            return Response(
                {"type": "request_too_large", "detail": message, "fields": {"records": [message]}},
                status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            )
        outcome = usage_records_ingest(records=records, source=f"api:{request.user}")
        body = {**outcome.counts, "results": [result_data(r) for r in outcome.results]}
        all_kept = all(result.status in KEPT for result in outcome.results)
        return Response(
            body, status=status.HTTP_200_OK if all_kept else status.HTTP_207_MULTI_STATUS
        )

    def _ingest_one(self, request: Request, record: dict, header_key: str | None) -> Response:
        if header_key:
            sent = record.get("idempotency_key")
            if sent not in (None, "", header_key):
                raise ValidationError(
                    {"idempotency_key": ["Differs from the Idempotency-Key header."]}
                )
            record = {**record, "idempotency_key": header_key}
        [result] = usage_records_ingest(records=[record], source=f"api:{request.user}").results
        if result.status == UsageStatus.REJECTED:
            # Alone, a rejected record is a bad request like any other, in the one error shape.
            raise ValidationError({result.field or "non_field_errors": [result.reason]})
        return Response(result_data(result), status=SINGLE_STATUS[result.status])
