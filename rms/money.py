"""Money helpers shared by every app: the one place where amounts are rounded.

Rounding is half-up to the currency's minor unit (JPY 0 places, USD 2, KWD 3). A bare
``Decimal.quantize`` would silently use the context's banker's rounding, so nothing else in the
code base quantizes money.
"""

from decimal import ROUND_HALF_UP, Decimal

from django.core.exceptions import ValidationError
from moneyed import CURRENCIES, Currency, Money, get_currency


def minor_unit_exponent(currency: Currency | str) -> int:
    """Return how many decimal places the currency's minor unit has (JPY 0, USD 2, KWD 3)."""
    code = currency if isinstance(currency, str) else currency.code
    # py-moneyed stores the minor unit as a power of ten: 1, 10, 100 or 1000 per major unit.
    return len(str(get_currency(code).sub_unit)) - 1


def round_money(amount: Decimal | Money, currency: Currency | str | None = None) -> Money:
    """Round an amount half-up to the currency's minor unit and return it as ``Money``.

    Pass a ``Money`` alone, or a ``Decimal`` with its currency.
    """
    if isinstance(amount, Money):
        if currency is not None and str(currency) != amount.currency.code:
            raise ValueError(f"Cannot round {amount.currency.code} money as {currency}.")
        currency, amount = amount.currency, amount.amount
    if currency is None:
        raise ValueError("round_money needs a currency for a plain Decimal amount.")
    if not isinstance(amount, Decimal):
        raise TypeError(f"Money amounts are Decimal, not {type(amount).__name__}.")
    code = currency if isinstance(currency, str) else currency.code
    step = Decimal(1).scaleb(-minor_unit_exponent(code))
    return Money(amount.quantize(step, rounding=ROUND_HALF_UP), code)


def validate_currency_code(value: str) -> None:
    """Refuse anything but an upper-case ISO 4217 code such as USD, EUR or JPY."""
    if value not in CURRENCIES:
        raise ValidationError(
            "%(value)s is not an ISO 4217 currency code (for example USD, EUR, JPY).",
            params={"value": value},
            code="invalid_currency",
        )
