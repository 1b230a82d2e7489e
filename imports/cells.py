"""Turn a CSV cell into a value, or into a sentence a finance user can act on.

Each parser takes the cell's text (already stripped) and returns the value, ``None`` for an
empty optional cell, or raises ``CellError`` saying what the cell holds and what was expected:
"2026-13-01 is not a date (use YYYY-MM-DD, e.g. 2026-01-31)".
"""

from collections.abc import Callable, Iterable
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

Parser = Callable[[str], Any]
# The largest amount a money field holds (19 digits, 4 of them decimals).
MAX_AMOUNT = Decimal("999999999999999.9999")
TRUE_WORDS = {"true", "yes", "y", "1", "x"}
FALSE_WORDS = {"false", "no", "n", "0", ""}


class CellError(ValueError):
    """A cell that does not hold what its column needs."""


def text(max_length: int) -> Parser:
    def parse(value: str) -> str:
        if len(value) > max_length:
            raise CellError(f"is {len(value)} characters long; at most {max_length} fit.")
        return value

    return parse


def decimal(*, places: int = 4, positive: bool = False, not_negative: bool = False) -> Parser:
    """Parse a number such as 1250.00 or 1,250.00 (thousands commas are dropped)."""

    def parse(value: str) -> Decimal:
        try:
            number = Decimal(value.replace(",", "").replace(" ", ""))
        except InvalidOperation:
            raise CellError(f"{value} is not a number (e.g. 1250.00).") from None
        if not number.is_finite():
            raise CellError(f"{value} is not a number (e.g. 1250.00).")
        if number.as_tuple().exponent < -places:
            raise CellError(f"{value} has more than {places} decimal places.")
        if abs(number) > MAX_AMOUNT:
            raise CellError(f"{value} is too large.")
        if positive and number <= 0:
            raise CellError(f"{value} must be greater than zero.")
        if not_negative and number < 0:
            raise CellError(f"{value} cannot be negative.")
        return number

    return parse


def integer(*, low: int, high: int) -> Parser:
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise CellError(f"{value} is not a whole number.") from None
        if not low <= number <= high:
            raise CellError(f"{value} is not between {low} and {high}.")
        return number

    return parse


def iso_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CellError(f"{value} is not a date (use YYYY-MM-DD, e.g. 2026-01-31).") from None


def boolean(value: str) -> bool:
    word = value.lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise CellError(f"{value} is not yes or no (use true/false, yes/no or 1/0).")


def choice(values: Iterable[str]) -> Parser:
    """Accept one of ``values``, whatever its case: the code (``subscription``) as exported."""
    allowed = {v.lower(): v for v in values}

    def parse(value: str) -> str:
        found = allowed.get(value.lower())
        if found is None:
            raise CellError(f"{value} is not one of: {', '.join(allowed.values())}.")
        return found

    return parse


def currency(codes: Iterable[str]) -> Parser:
    known = frozenset(codes)

    def parse(value: str) -> str:
        code = value.upper()
        if code not in known:
            raise CellError(f"{value} is not an ISO 4217 currency code (e.g. USD, EUR).")
        return code

    return parse
