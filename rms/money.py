"""Money helpers shared by every app: the one place where amounts are rounded.

Rounding is half-up to the currency's minor unit (JPY 0 places, USD 2, KWD 3). A bare
``Decimal.quantize`` would silently use the context's banker's rounding, so nothing else in the
code base quantizes money.
"""

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

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


def money_text(amount: Money) -> str:
    """Write an amount for a message: "50,000.00 USD", grouped, on the currency's minor unit.

    The code rather than a symbol, so that "$" is never taken for the wrong dollar.
    """
    rounded = round_money(amount)
    return f"{rounded.amount:,} {rounded.currency.code}"


# Every code py-moneyed knows, less its placeholders for "no currency" and "testing".
CURRENCY_CODES = frozenset(CURRENCIES) - {"XXX", "XTS"}


def currency_choices() -> list[tuple[str, str]]:
    """Return (code, "EUR · Euro") pairs for every accepted currency, sorted by code."""
    return sorted((code, f"{code} · {CURRENCIES[code].name}") for code in CURRENCY_CODES)


def validate_currency_code(value: str) -> None:
    """Refuse anything but an upper-case ISO 4217 code such as USD, EUR or JPY."""
    if value not in CURRENCY_CODES:
        raise ValidationError(
            "%(value)s is not an ISO 4217 currency code (for example USD, EUR, JPY).",
            params={"value": value},
            code="invalid_currency",
        )


def allocate(total: Money, weights: Sequence[Decimal | int]) -> list[Money]:
    """Split money in proportion to weights, in minor units, so the parts add up to the total.

    Each part is the exact share rounded down to the currency's minor unit; the units left over
    go one each to the parts with the largest remainders (the largest-remainder rule), the earliest
    part winning a tie. That keeps every part within one minor unit of its exact share while the
    parts sum exactly to ``total``, which independent rounding cannot promise. A negative total
    (a credit) is split as its positive mirror and negated, so a credit note reverses its invoice
    part for part.

    ``total`` must already sit on the minor unit (round it with ``round_money`` first): an amount
    such as USD 1.005 has no split into cents that sums back to it. Weights are non-negative
    ``Decimal`` or ``int`` values with a positive sum; a zero weight receives zero.
    """
    if not isinstance(total, Money):
        raise TypeError(f"allocate splits Money, not {type(total).__name__}.")
    if len(weights) == 0:
        raise ValueError("allocate needs at least one weight.")
    shares = []
    for position, weight in enumerate(weights):
        # bool is an int subclass and float is inexact: neither is a meaningful weight.
        if isinstance(weight, bool) or not isinstance(weight, Decimal | int):
            raise TypeError(
                f"Weight {position} is {type(weight).__name__}; weights are Decimal or int."
            )
        if isinstance(weight, Decimal) and not weight.is_finite():
            raise ValueError(f"Weight {position} is {weight}; weights must be finite.")
        if weight < 0:
            raise ValueError(f"Weight {position} is {weight}; weights must not be negative.")
        shares.append(Fraction(weight))
    weight_sum = sum(shares)
    if weight_sum == 0:
        raise ValueError("allocate needs at least one positive weight; all weights are zero.")

    code = total.currency.code
    exponent = minor_unit_exponent(code)
    minor_total = Fraction(total.amount) * 10**exponent
    if minor_total.denominator != 1:
        raise ValueError(
            f"Cannot allocate {total.amount} {code}: it is not a whole number of the currency's "
            f"minor unit; round it with round_money first."
        )
    sign = -1 if minor_total < 0 else 1
    units = abs(minor_total.numerator)

    exact = [units * share / weight_sum for share in shares]
    floors = [part.numerator // part.denominator for part in exact]
    leftover = units - sum(floors)
    # Sorting is stable, so among equal remainders the earliest position comes first.
    by_remainder = sorted(range(len(exact)), key=lambda i: exact[i] - floors[i], reverse=True)
    for position in by_remainder[:leftover]:
        floors[position] += 1

    step = Decimal(1).scaleb(-exponent)
    # Each part is a whole number of minor units, so round_money only fixes its scale.
    return [round_money(sign * part * step, code) for part in floors]


def round_fraction(value: Fraction, currency: str) -> Money:
    """Round an exact amount half-up to the currency's minor unit, through ``round_money``.

    ``round_money`` takes a ``Decimal``, and a fraction such as 1/3 has no exact ``Decimal``. The
    value is therefore cut toward zero to one digit below the minor unit, and that ``Decimal`` is
    rounded. The cut never changes the outcome: every half-way point (e.g. 0.005 for USD) lies on
    that finer grid, so a value at or past a half-way point is still at or past it once cut, and a
    value short of one stays short.
    """
    places = minor_unit_exponent(currency) + 1
    scaled = abs(value) * 10**places
    digits = scaled.numerator // scaled.denominator
    sign = 1 if value < 0 else 0
    cut = Decimal((sign, tuple(int(digit) for digit in str(digits)), -places))
    return round_money(cut, currency)


def require_money(name: str, value: object) -> Money:
    """Refuse anything but ``Money``: a bare number is almost always a unit or float mistake."""
    if not isinstance(value, Money):
        raise TypeError(f"{name} is {type(value).__name__}, not Money.")
    return value


def require_same_currency(first: Money, *others: Money) -> None:
    """Refuse mixed-currency arithmetic: netting USD against EUR gives a meaningless figure."""
    for other in others:
        if other.currency != first.currency:
            raise ValueError(
                f"Cannot mix currencies: {first.currency.code} and {other.currency.code}."
            )
