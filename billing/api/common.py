"""Pieces the billing document APIs share: action permissions, amounts, PDFs, error responses."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema_field
from rest_framework import serializers
from rest_framework.negotiation import DefaultContentNegotiation

from rms.api import MoneySerializer, money_data
from rms.api_permissions import ModelPermissions
from rms.api_schema import DENIED, REFUSED, not_found


class ActionPermissions(ModelPermissions):
    """Model permissions for reads and creates; each named action needs the permissions it lists.

    A view lists them in ``action_permissions`` (``{"void": ["billing.change_invoice"]}``):
    voiding an invoice is a POST, for which DRF would ask the permission to *add* one.
    """

    def has_permission(self, request, view) -> bool:
        perms = getattr(view, "action_permissions", {}).get(getattr(view, "action", None))
        if perms is None:
            return super().has_permission(request, view)
        user = request.user
        return bool(user and user.is_authenticated and user.has_perms(perms))


@extend_schema_field(MoneySerializer)
class AmountField(serializers.Field):
    """Read-only money from a plain decimal column and the currency the row is in.

    Invoices keep what was paid and credited, and payments what is left unapplied, as bare
    decimals beside their money fields; the API still shows them with their currency.
    """

    def __init__(self, attribute: str, *, currency: str = "currency", **kwargs):
        self.attribute, self.currency = attribute, currency
        super().__init__(source="*", read_only=True, **kwargs)

    def to_representation(self, row) -> dict[str, str]:
        return money_data(getattr(row, self.attribute), str(getattr(row, self.currency)))


class PDFNegotiation(DefaultContentNegotiation):
    """Answer a PDF endpoint whatever its Accept header asks for.

    The document goes out as ``application/pdf`` bytes, bypassing the renderers; the renderers
    (JSON first) only shape its errors, which stay JSON even for ``Accept: application/pdf``
    instead of turning into a 406.
    """

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


DENIALS = {401: DENIED, 403: DENIED}


def list_responses(serializer) -> dict:
    """Document a list: a page of rows, a filter that makes no sense, or a denial."""
    bad_filter = OpenApiResponse(description="A filter or ordering value is not valid.")
    return {200: serializer(many=True), 400: bad_filter, **DENIALS}


def read_responses(serializer, what: str) -> dict:
    """Document a read of one object: the object, a denial, or a 404."""
    return {200: serializer, **DENIALS, 404: not_found(what)}


def pdf_responses(what: str) -> dict:
    """Document a document's PDF: the bytes, a denial, or a 404 (errors in JSON)."""
    return {(200, "application/pdf"): OpenApiTypes.BINARY, **DENIALS, 404: not_found(what)}


def action_responses(serializer, what: str) -> dict:
    """Document an action on one object: the object after it, a refusal, a denial or a 404."""
    return {**read_responses(serializer, what), 400: REFUSED}


def create_responses(serializer) -> dict:
    """Document a create: the object made, a refusal naming the field, or a denial."""
    return {201: serializer, 400: REFUSED, **DENIALS}
