"""Building blocks every app's API shares: money in and out, exact JSON numbers, pagination, stable
ordering and id filters."""

import codecs
from datetime import UTC
from decimal import Decimal

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django_filters import rest_framework as filters
from djmoney.money import Money
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.filters import OrderingFilter
from rest_framework.pagination import CursorPagination, PageNumberPagination
from rest_framework.parsers import JSONParser
from rest_framework.utils import json

from rms.money import minor_unit_exponent, round_money, validate_currency_code


class MoneySerializer(serializers.Serializer):
    """The one shape of money in the API: a decimal string and its currency, never a float."""

    amount = serializers.DecimalField(
        max_digits=19,
        decimal_places=4,
        coerce_to_string=True,
        help_text="Decimal string with the currency's minor-unit places (12000.00 USD, 5000 "
        "JPY); more places only where the amount is finer than that (a unit price).",
    )
    currency = serializers.CharField(help_text="ISO 4217 code.", min_length=3, max_length=3)


def money_amount(amount: Decimal, currency: str) -> str:
    """Return ``amount`` as text with the currency's places, keeping any finer digits.

    Amounts are stored with four places; showing ``1019.1800 USD`` would suggest a precision
    that posted amounts never have, while rounding a finer price would misstate it.
    """
    rounded = round_money(amount, currency).amount
    return f"{rounded}" if rounded == amount else f"{amount.normalize():f}"


def money_data(amount: Decimal, currency: str) -> dict[str, str]:
    """Return the API's shape of an amount in ``currency``."""
    return {"amount": money_amount(amount, currency), "currency": currency}


@extend_schema_field(MoneySerializer)
class MoneyField(serializers.Field):
    """Read-only money, from a ``Money`` to ``{"amount": "123.45", "currency": "USD"}``."""

    def __init__(self, **kwargs):
        super().__init__(read_only=True, **kwargs)

    def to_representation(self, value: Money) -> dict[str, str]:
        return money_data(value.amount, value.currency.code)


class SlugRelatedField(serializers.SlugRelatedField):
    """DRF's ``SlugRelatedField`` refusing a NUL character, as its ``CharField`` does.

    The name is looked up as text; PostgreSQL text cannot hold NUL, so the lookup would fail
    with a database error (a 500) instead of saying which field is wrong.
    """

    default_error_messages = {"null_characters": "Null characters are not allowed."}

    def to_internal_value(self, data):
        if isinstance(data, str) and "\x00" in data:
            self.fail("null_characters")
        return super().to_internal_value(data)


class IdCursorPagination(CursorPagination):
    """Cursor pages in id order, whatever ordering the request asks for.

    DRF places its cursor on the first ordering field alone and gives up after 1,000 rows with
    the same value (a month's schedule has more); on the primary key every position is unique,
    each page is an index range scan, and rows added meanwhile never shift a page.
    """

    ordering = "id"
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000

    def get_ordering(self, request, queryset, view) -> tuple[str, ...]:
        return (self.ordering,)


class PagePagination(PageNumberPagination):
    """Numbered pages in the ordering asked for, or cursor pages for walking a large list.

    Numbered pages (``page``, with a ``count``) suit people and sorted views. A sync or an export
    of a large list sends ``cursor`` (empty for the first page) and follows ``next``: pages in
    id order that cost the same at row ten million as at row one, with no count to compute.
    """

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000
    cursor_query_param = "cursor"

    def paginate_queryset(self, queryset, request, view=None):
        self.cursor = None
        if self.cursor_query_param in request.query_params:
            self.cursor = IdCursorPagination()
            return self.cursor.paginate_queryset(queryset, request, view)
        return super().paginate_queryset(queryset, request, view)

    def get_paginated_response(self, data):
        if self.cursor is not None:
            return self.cursor.get_paginated_response(data)
        return super().get_paginated_response(data)

    def get_paginated_response_schema(self, schema) -> dict:
        numbered = super().get_paginated_response_schema(schema)
        numbered["required"] = ["results"]
        numbered["properties"]["count"]["description"] = "Rows in all pages (numbered pages)."
        return numbered

    def get_schema_operation_parameters(self, view) -> list[dict]:
        return [
            *super().get_schema_operation_parameters(view),
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "Walk the list in id order by cursor instead of numbered pages: "
                "send it empty for the first page, then follow next.",
                "schema": {"type": "string"},
            },
        ]


class StableOrderingFilter(OrderingFilter):
    """Order as the client asks, then by primary key, so that pages never repeat or skip rows."""

    def get_ordering(self, request, queryset, view) -> list[str]:
        ordering = list(super().get_ordering(request, queryset, view) or [])
        if not {"pk", "-pk", "id", "-id"} & set(ordering):
            ordering.append("pk")
        return ordering


# The largest primary key a BigAutoField (and SQLite's INTEGER) holds.
MAX_ID = 2**63 - 1


class IdFilter(filters.NumberFilter):
    """Filter by an id across a relation: a whole number the database can hold, else a 400.

    A number filter takes any decimal, and a lookup through a relation passes it to the
    database unchecked, where an id beyond 64 bits fails the query instead of matching nothing.
    """

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class DecimalJSONParser(JSONParser):
    """Read JSON numbers with a fraction as ``Decimal``: a quantity of 0.1 stays exactly 0.1."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return json.load(codecs.getreader(encoding)(stream), parse_float=Decimal)
        except ValueError as error:
            raise ParseError(f"JSON parse error - {error}") from error


class MoneyInputSerializer(MoneySerializer):
    """An amount sent in: a decimal string on the currency's minor unit, and an ISO code."""

    def validate_currency(self, value: str) -> str:
        try:
            validate_currency_code(value)
        except DjangoValidationError as error:
            raise ValidationError(error.messages) from error
        return value

    def validate(self, attrs: dict) -> Money:
        amount, currency = attrs["amount"], attrs["currency"]
        if round_money(amount, currency).amount != amount:
            places = minor_unit_exponent(currency)
            raise ValidationError(
                {
                    "amount": [
                        f"{currency} amounts have {places} decimal places; "
                        f"{amount.normalize():f} has more."
                    ]
                }
            )
        return Money(amount, currency)


class UtcDateTimeRangeFilter(filters.IsoDateTimeFromToRangeFilter):
    """A from-to range of ISO 8601 instants, compared in UTC.

    ISO 8601 allows UTC offsets up to ±23:59 and PostgreSQL stores only ±15:59, so an instant
    sent as 04:28+23:31 would fail the query; in UTC it is the same instant and always fits.
    """

    def filter(self, qs, value):
        if value:
            try:
                value = slice(
                    *(bound and bound.astimezone(UTC) for bound in (value.start, value.stop))
                )
            except OverflowError as error:
                raise ValidationError(
                    {self.field_name: ["Outside the years 1 to 9999."]}
                ) from error
        return super().filter(qs, value)
