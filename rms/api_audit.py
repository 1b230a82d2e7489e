"""The audit trail through the API: every recorded change of one object, newest first.

``GET /api/v1/audit/<model>/<id>/`` lists who changed the object, when, through which door and
which fields, from the records of ``rms.audit``. Reading an object's trail needs the view
permission of its model; an object the caller may not see (a project manager's view of another's
contract) or that never existed is a 404. A deleted object's trail stays readable by those who
see every object of its model.
"""

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cached_property

from django.db import models
from django.db.models.fields.files import FieldFile
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from moneyed import Money
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.generics import ListAPIView
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from simple_history.models import HistoricalChanges, ModelChange
from simple_history.utils import get_history_model_for_model

from billing.models import CreditNote, Invoice, Payment, PaymentApplication
from contracts.models import (
    ChangeOrder,
    Contract,
    ContractLine,
    Customer,
    Milestone,
    RenewalTerms,
)
from contracts.visibility import scoped_to_own_contracts
from revenue.models import RevenuePeriod
from rms.api import money_amount
from rms.audit import TYPE_NAMES, previous_records, record_changes


@dataclass(frozen=True)
class Audited:
    """A model whose trail the API shows, and the path to its contract when it is scoped."""

    model: type[models.Model]
    contract_path: str | None = None


# The names in the URL. Rows of a contract are scoped as contracts.visibility scopes them.
AUDITED = {
    "customer": Audited(Customer),
    "contract": Audited(Contract),
    "contract-line": Audited(ContractLine, "contract"),
    "milestone": Audited(Milestone, "line__contract"),
    "change-order": Audited(ChangeOrder, "contract"),
    "renewal-terms": Audited(RenewalTerms, "contract"),
    "invoice": Audited(Invoice),
    "payment": Audited(Payment),
    "payment-application": Audited(PaymentApplication),
    "credit-note": Audited(CreditNote),
    "revenue-period": Audited(RevenuePeriod),
}


# --- Serializers ---------------------------------------------------------------------------


class AuditChangeSerializer(serializers.Serializer):
    field = serializers.CharField(help_text="The field's name, e.g. status, total, customer.")
    old = serializers.CharField(
        allow_null=True,
        help_text="The value before, as text (decimals and amounts as decimal strings, dates in "
        "ISO 8601, a related object by its id, true/false); null when it was empty or on "
        "creation.",
    )
    new = serializers.CharField(allow_null=True, help_text="The value after, as text.")
    currency = serializers.CharField(
        allow_null=True, help_text="For an amount of money: the ISO 4217 currency of old and new."
    )


class AuditRecordSerializer(serializers.Serializer):
    at = serializers.DateTimeField(help_text="When the change was made.")
    type = serializers.ChoiceField(
        choices=list(TYPE_NAMES.values()),
        help_text="created, changed or deleted. A creation lists the values the object was "
        "created with; a deletion lists no changes.",
    )
    user = serializers.CharField(
        allow_null=True,
        help_text="Username of who made it; null for a scheduled job or system change.",
    )
    via = serializers.CharField(
        help_text="How it came in: admin, api token <name> (<prefix>…), api, task <name>, "
        "command <name> or system."
    )
    changes = AuditChangeSerializer(many=True)


# --- Values --------------------------------------------------------------------------------


def _text(value) -> str | None:
    """Return a recorded value as the API's text: never a float, dates ISO 8601."""
    if value is None or (isinstance(value, FieldFile) and not value):
        return None
    if isinstance(value, Money):
        return money_amount(value.amount, value.currency.code)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return f"{value.normalize():f}"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, FieldFile):
        return value.name
    return str(value)


def change_data(change: ModelChange) -> dict:
    amounts = [v for v in (change.old, change.new) if isinstance(v, Money)]
    return {
        "field": change.field,
        "old": _text(change.old),
        "new": _text(change.new),
        "currency": amounts[-1].currency.code if amounts else None,
    }


def record_data(record: HistoricalChanges, previous: HistoricalChanges | None) -> dict:
    return {
        "at": record.history_date,
        "type": TYPE_NAMES[record.history_type],
        "user": record.history_username or None,
        "via": record.history_via,
        "changes": [change_data(change) for change in record_changes(record, previous)],
    }


# --- View ----------------------------------------------------------------------------------


class AuditPagination(CursorPagination):
    ordering = ("-history_date", "-history_id")
    page_size = 100


@extend_schema(
    summary="An object's audit trail",
    description="Every recorded change of the object, newest first: when, who (the user, or "
    "null for a job), how (admin, API token by name, task, command) and which fields changed "
    "from what to what. Needs the view permission of the object's model. Records cannot be "
    "changed or deleted.",
    parameters=[
        OpenApiParameter(
            "model",
            OpenApiTypes.STR,
            OpenApiParameter.PATH,
            enum=list(AUDITED),
            description="What kind of object.",
        ),
        OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description="Its id."),
    ],
    responses={
        200: AuditRecordSerializer(many=True),
        401: OpenApiResponse(description="Not logged in."),
        403: OpenApiResponse(description="Without the view permission of this kind of object."),
        404: OpenApiResponse(
            description="No such kind of object, or no object of it with this id that the "
            "caller may see."
        ),
    },
    tags=["audit"],
)
class AuditTrailView(ListAPIView):
    serializer_class = AuditRecordSerializer
    pagination_class = AuditPagination
    filter_backends = []

    @cached_property
    def audited(self) -> Audited:
        try:
            return AUDITED[self.kwargs["model"]]
        except KeyError:
            raise NotFound(
                f"{self.kwargs['model']!r} has no audit trail; use one of {', '.join(AUDITED)}."
            ) from None

    @property
    def permission_model(self) -> type[models.Model]:
        """The model whose view permission ``ModelPermissions`` requires (a 404 if unknown)."""
        return self.audited.model

    def get_queryset(self):
        model, pk = self.audited.model, self.kwargs["id"]
        history = get_history_model_for_model(model)
        records = history.objects.filter(**{model._meta.pk.attname: pk})
        if not self._visible(model, pk, records):
            raise NotFound(f"No {model._meta.verbose_name} with id {pk}.")
        return records

    def _visible(self, model: type[models.Model], pk: int, records) -> bool:
        """Whether the caller may see the object, or the trail of a deleted one."""
        live = model._default_manager.filter(pk=pk)
        path = self.audited.contract_path
        if path is None:
            # A row from before the trail was kept has no record yet: an empty trail, not a 404.
            return live.exists() or records.exists()
        if scoped_to_own_contracts(live, self.request.user, path).exists():
            return True
        # A deleted row has no contract left to scope it by: its trail is for those who see
        # every contract (contracts.visibility's rule).
        return self.request.user.has_perm("contracts.view_contract") and records.exists()

    def list(self, request: Request, *args, **kwargs) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        previous = previous_records(page)
        data = [record_data(record, previous[record.history_id]) for record in page]
        return self.get_paginated_response(self.get_serializer(data, many=True).data)
