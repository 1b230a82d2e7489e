"""Read-only revenue API: positions and RPO, schedules, obligations and the journal.

Views parse the request and call the selectors; positions are computed from the journal, never
stored, so their lists page through contracts and compute each page's figures in bulk.
"""

from collections.abc import Sequence
from datetime import date

from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from django_filters import rest_framework as filters
from djmoney.money import Money
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.viewsets import ReadOnlyModelViewSet

from contracts.models import Contract
from revenue.api.serializers import (
    AsOfQuerySerializer,
    BookTotalsSerializer,
    ContractFigures,
    ContractPositionSerializer,
    JournalEntrySerializer,
    PerformanceObligationSerializer,
    RevenueScheduleEntrySerializer,
)
from revenue.models import JournalEntry, JournalLine, PerformanceObligation, RevenueScheduleEntry
from revenue.selectors import Rpo, book_position, position_of, positions_of, rpo_of
from rms.api import PagePagination, StableOrderingFilter
from rms.api_permissions import ModelPermissions

BAD_AS_OF = OpenApiResponse(description="as_of is not a YYYY-MM-DD date; the body names it.")
# One group in the API documentation for every revenue endpoint.
TAGS = ["revenue"]
FILTER_BACKENDS = [filters.DjangoFilterBackend, StableOrderingFilter]


def _as_of(request: Request) -> date:
    """Return the request's ``as_of`` (today when absent), or raise a 400 naming the field."""
    query = AsOfQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    return query.as_of_date()


def _no_rpo(currency: str) -> Rpo:
    zero = Money(0, currency)
    return Rpo(total=zero, within_12_months=zero, later=zero)


def _page_figures(contracts: Sequence[Contract], as_of: date) -> list[ContractFigures]:
    """Compute a page's positions and RPO in a fixed number of queries, whatever its size."""
    positions = positions_of(contracts=contracts, as_of=as_of)
    rpo = rpo_of(contract_ids=[contract.pk for contract in contracts], as_of=as_of)
    return [
        ContractFigures(
            contract=contract,
            as_of=as_of,
            position=positions[contract.pk],
            rpo=rpo.get(contract.pk) or _no_rpo(contract.currency),
        )
        for contract in contracts
    ]


class PositionReadMixin:
    """Positions are read off the journal, so reading one takes the journal's view permission."""

    permission_classes = [ModelPermissions]
    permission_model = JournalEntry


class ContractPositionView(PositionReadMixin, APIView):
    @extend_schema(
        summary="A contract's position and RPO",
        description="Cumulative revenue recognized against cumulative billings at as_of, netted "
        "into a contract asset or liability, and the remaining performance obligations.",
        parameters=[
            AsOfQuerySerializer,
            OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description="Contract"),
        ],
        responses={
            200: ContractPositionSerializer,
            400: BAD_AS_OF,
            404: OpenApiResponse(description="No contract has this id."),
        },
        tags=TAGS,
    )
    def get(self, request: Request, id: int) -> Response:
        contract = get_object_or_404(Contract.objects.select_related("customer"), pk=id)
        as_of = _as_of(request)
        rpo = rpo_of(contract_ids=[contract.pk], as_of=as_of)
        figures = ContractFigures(
            contract=contract,
            as_of=as_of,
            position=position_of(contract=contract, as_of=as_of),
            rpo=rpo.get(contract.pk) or _no_rpo(contract.currency),
        )
        return Response(ContractPositionSerializer(figures).data)


@extend_schema_view(
    get=extend_schema(
        summary="Every contract's position and RPO",
        description="One item per contract that is no longer a draft, by contract number, with "
        "its position and RPO at as_of. Book totals are at /api/v1/positions/totals/.",
        parameters=[AsOfQuerySerializer],
        responses={200: ContractPositionSerializer(many=True), 400: BAD_AS_OF},
        tags=TAGS,
    )
)
class PositionListView(PositionReadMixin, ListAPIView):
    # Drafts are not yet contracts (ASC 606 step 1 needs approval): they have no position.
    queryset = Contract.objects.exclude(status=Contract.Status.DRAFT).select_related("customer")
    serializer_class = ContractPositionSerializer
    pagination_class = PagePagination
    filter_backends = FILTER_BACKENDS
    filterset_fields = ["customer", "currency"]
    ordering_fields = ["number", "id"]
    ordering = ["number"]

    def list(self, request: Request, *args, **kwargs) -> Response:
        as_of = _as_of(request)
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        figures = _page_figures(page, as_of)
        return self.get_paginated_response(self.get_serializer(figures, many=True).data)


class PositionTotalsView(PositionReadMixin, APIView):
    @extend_schema(
        summary="The book's totals per currency",
        description="Revenue, billings, contract assets and contract liabilities of every "
        "contract with postings at as_of, per currency (assets and liabilities apart, as the "
        "balance sheet presents them).",
        parameters=[AsOfQuerySerializer],
        responses={200: BookTotalsSerializer, 400: BAD_AS_OF},
        tags=TAGS,
    )
    def get(self, request: Request) -> Response:
        book = book_position(as_of=_as_of(request))
        currencies = [
            {"currency": currency, **figures} for currency, figures in sorted(book.totals.items())
        ]
        return Response(BookTotalsSerializer({"as_of": book.as_of, "currencies": currencies}).data)


class RevenueScheduleFilter(filters.FilterSet):
    period = filters.DateFromToRangeFilter(
        help_text="Months from period_after to period_before, both included (YYYY-MM-DD)."
    )

    class Meta:
        model = RevenueScheduleEntry
        fields = ["contract", "obligation", "status", "period"]


@extend_schema(tags=TAGS)
@extend_schema_view(
    list=extend_schema(
        summary="Revenue schedule entries",
        description="Revenue of each obligation per month: recognized (posted to the journal) "
        "or planned (the forecast of the latest revenue run).",
    ),
    retrieve=extend_schema(summary="A revenue schedule entry"),
)
class RevenueScheduleViewSet(ReadOnlyModelViewSet):
    queryset = RevenueScheduleEntry.objects.select_related("contract", "obligation")
    serializer_class = RevenueScheduleEntrySerializer
    permission_classes = [ModelPermissions]
    pagination_class = PagePagination
    filter_backends = FILTER_BACKENDS
    filterset_class = RevenueScheduleFilter
    ordering_fields = ["period", "recognized_on", "id"]
    ordering = ["period", "id"]


@extend_schema(tags=TAGS)
@extend_schema_view(
    list=extend_schema(
        summary="Performance obligations",
        description="Each contract's distinct promises with their latest allocation of the "
        "transaction price.",
    ),
    retrieve=extend_schema(summary="A performance obligation"),
)
class PerformanceObligationViewSet(ReadOnlyModelViewSet):
    queryset = PerformanceObligation.objects.select_related("contract")
    serializer_class = PerformanceObligationSerializer
    permission_classes = [ModelPermissions]
    pagination_class = PagePagination
    filter_backends = FILTER_BACKENDS
    filterset_fields = ["contract", "pattern"]
    ordering_fields = ["service_start", "id"]
    ordering = ["contract", "sequence"]


@extend_schema(tags=TAGS)
@extend_schema_view(
    list=extend_schema(
        summary="Journal entries",
        description="Balanced postings to the general ledger, with their lines, newest first.",
    ),
    retrieve=extend_schema(summary="A journal entry"),
)
class JournalEntryViewSet(ReadOnlyModelViewSet):
    queryset = JournalEntry.objects.select_related("contract").prefetch_related(
        Prefetch("lines", queryset=JournalLine.objects.select_related("account"))
    )
    serializer_class = JournalEntrySerializer
    permission_classes = [ModelPermissions]
    pagination_class = PagePagination
    filter_backends = FILTER_BACKENDS
    filterset_fields = ["kind", "period", "contract", "invoice"]
    ordering_fields = ["date", "period", "id"]
    ordering = ["-date", "-id"]
