"""Building blocks every app's API shares: the money shape, pagination and stable ordering."""

from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from moneyed import Money
from rest_framework import serializers
from rest_framework.filters import OrderingFilter
from rest_framework.pagination import PageNumberPagination

from rms.money import round_money


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


class PagePagination(PageNumberPagination):
    """Numbered pages, for lists clients sort by fields many rows share (a period, a date).

    The default cursor pagination places its cursor on the first ordering field alone and
    gives up after 1,000 rows with the same value, which a month's schedule exceeds; numbered
    pages over an ordering that ends with the primary key have no such limit.
    """

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


class StableOrderingFilter(OrderingFilter):
    """Order as the client asks, then by primary key, so that pages never repeat or skip rows."""

    def get_ordering(self, request, queryset, view) -> list[str]:
        ordering = list(super().get_ordering(request, queryset, view) or [])
        if not {"pk", "-pk", "id", "-id"} & set(ordering):
            ordering.append("pk")
        return ordering
