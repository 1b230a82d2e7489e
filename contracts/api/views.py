"""Customers, products, and contracts with their lines: list, read, create, change, hold, activate.

Views parse with a serializer, call a write of ``contracts.api.writes`` or a service of
``contracts.services`` (holds, activation), and answer with the row reloaded as the list shows
it. A refusal is a 400 naming each field at fault, in the API's one error shape. Each list joins
and prefetches what it shows, so a page of 100 rows costs the same few queries as a page of one.
"""

from django.db.models import Prefetch
from django_filters import rest_framework as filters
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer
from rest_framework.viewsets import GenericViewSet

from contracts.api import writes
from contracts.api.filters import ContractFilter, CustomerFilter, ProductFilter
from contracts.api.serializers import (
    ContractInputSerializer,
    ContractSerializer,
    CustomerSerializer,
    HoldInputSerializer,
    ProductSerializer,
)
from contracts.models import Contract, ContractLine, Customer, Product
from contracts.services import contract_activate
from rms.api import PagePagination, StableOrderingFilter
from rms.api_permissions import ModelPermissions
from rms.api_schema import DENIED, REFUSED, not_found

FILTER_BACKENDS = [filters.DjangoFilterBackend, StableOrderingFilter]


def _responses(ok: type[Serializer], what: str) -> dict:
    """The answers of a change of one row: the row as read back, or a refusal or denial."""
    return {200: ok, 400: REFUSED, 401: DENIED, 403: DENIED, 404: not_found(what)}


def _created_responses(ok: type[Serializer]) -> dict:
    return {201: ok, 400: REFUSED, 401: DENIED, 403: DENIED}


def _read_responses(ok: type[Serializer], what: str) -> dict:
    return {200: ok, 401: DENIED, 403: DENIED, 404: not_found(what)}


def _list_responses(ok: type[Serializer]) -> dict:
    """A page of rows; a filter value that names nothing (an unknown customer id) is a 400."""
    return {
        200: ok(many=True),
        400: REFUSED,
        401: DENIED,
        403: DENIED,
        404: OpenApiResponse(description="No such page."),
    }


class ContractsPermissions(ModelPermissions):
    """Reads need the view permission, creates add, updates change.

    Holding and activating change a row, so they need the change permission although they are
    POSTs (which DRF would otherwise check against add).
    """

    change_actions = frozenset({"hold", "activate"})

    def has_permission(self, request: Request, view) -> bool:
        if getattr(view, "action", None) not in self.change_actions:
            return super().has_permission(request, view)
        if not request.user or not request.user.is_authenticated:
            return False
        model = view.get_queryset().model
        return request.user.has_perms(self.get_required_permissions("PATCH", model))


class ContractsViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, GenericViewSet):
    """List and read rows; subclasses add creates and updates through ``contracts.api.writes``.

    No PUT (a PATCH says what changes) and no DELETE (customers, products and contracts are
    referenced by invoices and revenue; contracts end by status, products by ``active``).
    """

    http_method_names = ["get", "post", "patch", "head", "options"]
    permission_classes = [ContractsPermissions]
    pagination_class = PagePagination
    filter_backends = FILTER_BACKENDS

    # What a create or a change is read with; the shown serializer unless a resource differs.
    input_serializer_class: type[Serializer] | None = None

    def shown(self, row) -> dict:
        """Return ``row`` reloaded as the list loads it, serialized as the list shows it."""
        return self.get_serializer(self.get_queryset().get(pk=row.pk)).data

    def create_row(self, fields: dict):
        raise NotImplementedError

    def update_row(self, row, fields: dict):
        raise NotImplementedError

    def _validated(self, instance=None) -> dict:
        body = (self.input_serializer_class or self.get_serializer_class())(
            instance,
            data=self.request.data,
            partial=instance is not None,
            context=self.get_serializer_context(),
        )
        body.is_valid(raise_exception=True)
        return body.validated_data

    def create(self, request: Request) -> Response:
        row = self.create_row(self._validated())
        return Response(self.shown(row), status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, pk=None) -> Response:
        row = self.get_object()
        return Response(self.shown(self.update_row(row, self._validated(row))))


class HoldActionMixin:
    """The hold action of customers and contracts, which share the hold service."""

    @action(detail=True, methods=["post"])
    def hold(self, request: Request, pk=None) -> Response:
        body = HoldInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        row = writes.holds_set(target=self.get_object(), **body.validated_data)
        return Response(self.shown(row))


def _hold_schema(what: str, ok: type[Serializer]):
    return extend_schema(
        summary=f"Place or release a {what}'s holds",
        description=f"A billing hold stops invoices for the {what} from being created; a "
        "delivery hold lets them be created but not sent. Nothing due during a hold is lost: "
        "releasing it lets billing catch up. Send the holds to change (true places, false "
        f"releases) and, optionally, why. Needs contracts.change_{what}.",
        request=HoldInputSerializer,
        responses=_responses(ok, what),
        examples=[
            OpenApiExample(
                "Place a billing hold",
                request_only=True,
                value={"billing": True, "reason": "Disputed invoice INV-2026-0042"},
            )
        ],
    )


CUSTOMER_TAGS = ["customers"]


@extend_schema(tags=CUSTOMER_TAGS)
@extend_schema_view(
    list=extend_schema(
        summary="Customers",
        description="Customers with their billing contacts, by legal name unless ordering says "
        "otherwise; filter by number, name, currency, holds and more.",
        responses=_list_responses(CustomerSerializer),
    ),
    retrieve=extend_schema(
        summary="A customer", responses=_read_responses(CustomerSerializer, "customer")
    ),
    create=extend_schema(
        summary="Create a customer",
        description="Creates the customer and its billing contacts, or nothing. Invoices "
        "delivered by email (the default) need at least one contact. Needs "
        "contracts.add_customer.",
        responses=_created_responses(CustomerSerializer),
    ),
    partial_update=extend_schema(
        summary="Change a customer",
        description="Changes the fields sent; contacts, when sent, replace the customer's "
        "contacts (matched by email). Holds change through the hold action. Needs "
        "contracts.change_customer.",
        responses=_responses(CustomerSerializer, "customer"),
    ),
    hold=_hold_schema("customer", CustomerSerializer),
)
class CustomerViewSet(HoldActionMixin, ContractsViewSet):
    queryset = Customer.objects.select_related("payment_terms").prefetch_related("contacts")
    serializer_class = CustomerSerializer
    filterset_class = CustomerFilter
    ordering_fields = ["number", "legal_name", "created_at", "id"]
    ordering = ["legal_name"]

    def create_row(self, fields: dict) -> Customer:
        return writes.customer_create(**fields)

    def update_row(self, row: Customer, fields: dict) -> Customer:
        return writes.customer_update(customer=row, **fields)


@extend_schema(tags=["products"])
@extend_schema_view(
    list=extend_schema(
        summary="Products",
        description="The catalog by SKU unless ordering says otherwise; filter by name, "
        "billing model, revenue policy, SSP currency or active.",
        responses=_list_responses(ProductSerializer),
    ),
    retrieve=extend_schema(
        summary="A product", responses=_read_responses(ProductSerializer, "product")
    ),
    create=extend_schema(
        summary="Create a product",
        description="Adds a product to the catalog. Needs contracts.add_product.",
        responses=_created_responses(ProductSerializer),
    ),
    partial_update=extend_schema(
        summary="Change a product",
        description="Changes the fields sent; retire a product with active=false. Needs "
        "contracts.change_product.",
        responses=_responses(ProductSerializer, "product"),
    ),
)
class ProductViewSet(ContractsViewSet):
    queryset = Product.objects.all()
    serializer_class = ProductSerializer
    filterset_class = ProductFilter
    ordering_fields = ["sku", "name", "id"]
    ordering = ["sku"]

    def create_row(self, fields: dict) -> Product:
        return writes.product_create(**fields)

    def update_row(self, row: Product, fields: dict) -> Product:
        return writes.product_update(product=row, **fields)


CONTRACT_EXAMPLE = {
    "number": "K-2026-001",
    "customer": 1,
    "title": "Platform subscription and onboarding",
    "start_date": "2026-01-01",
    "end_date": "2026-12-31",
    "lines": [
        {
            "product": 1,
            "quantity": "25",
            "unit_price": {"amount": "40.00", "currency": "USD"},
            "interval_months": 1,
            "bill_timing": "advance",
            "bill_day_mode": "anniversary",
        },
        {
            "product": 2,
            "billing_model": "one_time",
            "unit_price": {"amount": "5000.00", "currency": "USD"},
            "one_time_trigger": "on_order",
        },
    ],
}


@extend_schema(tags=["contracts"])
@extend_schema_view(
    list=extend_schema(
        summary="Contracts",
        description="Contracts with their customer and lines, latest start first unless "
        "ordering says otherwise; filter by customer, status, currency, dates, product and "
        "more.",
        responses=_list_responses(ContractSerializer),
    ),
    retrieve=extend_schema(
        summary="A contract", responses=_read_responses(ContractSerializer, "contract")
    ),
    create=extend_schema(
        summary="Create a contract with its lines",
        description="Creates a draft contract and its lines in one transaction, or nothing: "
        "every fault is reported at once, a line's by its position (lines[1].unit_price). "
        "Amounts are in the contract's currency, which defaults to the customer's; a line's "
        "billing model defaults to its product's, its service dates to the contract's term. "
        "Activate it with the activate action. Needs contracts.add_contract.",
        request=ContractInputSerializer,
        responses=_created_responses(ContractSerializer),
        examples=[OpenApiExample("Subscription with onboarding", value=CONTRACT_EXAMPLE)],
    ),
    partial_update=extend_schema(
        summary="Change a contract and its lines",
        description="Changes the contract fields sent; lines sent with an id change (only the "
        "fields sent), lines without one are added, lines not sent stay. All or nothing; the "
        "lines not sent are checked again when the contract's own fields change. Billing and "
        "revenue follow the new terms. Status changes through the activate action. Needs "
        "contracts.change_contract.",
        request=ContractInputSerializer,
        responses=_responses(ContractSerializer, "contract"),
    ),
    hold=_hold_schema("contract", ContractSerializer),
    activate=extend_schema(
        summary="Activate a draft contract",
        description="Moves a draft with at least one line to active, so that it bills and "
        "recognizes revenue. Refused for a contract without lines or that is not a draft. "
        "Needs contracts.change_contract.",
        request=None,
        responses=_responses(ContractSerializer, "contract"),
    ),
)
class ContractViewSet(HoldActionMixin, ContractsViewSet):
    input_serializer_class = ContractInputSerializer
    queryset = Contract.objects.select_related(
        "customer", "finance_owner", "project_manager"
    ).prefetch_related(
        "subscribers",
        # Ordered here: the lines' default ordering starts with the contract, a join per page.
        Prefetch(
            "lines", ContractLine.objects.select_related("product").order_by("sequence", "id")
        ),
    )
    serializer_class = ContractSerializer
    filterset_class = ContractFilter
    ordering_fields = ["number", "start_date", "end_date", "signed_date", "created_at", "id"]
    ordering = ["-start_date", "number"]

    def create_row(self, fields: dict) -> Contract:
        return writes.contract_create(**fields)

    def update_row(self, row: Contract, fields: dict) -> Contract:
        return writes.contract_update(contract=row, **fields)

    @action(detail=True, methods=["post"])
    def activate(self, request: Request, pk=None) -> Response:
        return Response(self.shown(contract_activate(contract=self.get_object())))
