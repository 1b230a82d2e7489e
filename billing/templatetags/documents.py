"""Template filters that format amounts and dates on documents in the customer's locale.

``{{ invoice.total|money:locale }}`` prints "$1,234.56" for en_US and "1.234,56 €" for de_DE;
``{{ invoice.issue_date|docdate:locale }}`` prints "Mar 10, 2026" or "10.03.2026". Amounts keep
their currency's own minor unit (JPY none, USD two, KWD three), as ``rms.money`` rounds them,
rather than the digits Babel's locale data would pick.
"""

import copy
from datetime import date
from decimal import Decimal

from babel import Locale
from babel.dates import format_date
from babel.numbers import format_decimal
from django import template
from moneyed import Money

from rms.money import minor_unit_exponent, round_money

register = template.Library()


@register.filter
def money(amount: Money | None, locale: str) -> str:
    """Format money in the locale, to its currency's minor unit; empty for no amount."""
    if amount is None:
        return ""
    code = amount.currency.code
    digits = minor_unit_exponent(code)
    parsed = Locale.parse(locale)
    # The locale's pattern says where the symbol and separators go; the currency says how many
    # decimals there are. Patterns are shared by every caller, so change a copy.
    pattern = copy.copy(parsed.currency_formats["standard"])
    pattern.frac_prec = (digits, digits)
    return pattern.apply(round_money(amount).amount, parsed, currency=code, currency_digits=False)


@register.filter
def docdate(day: date | None, locale: str) -> str:
    """Format a date in the locale's medium style ("Mar 10, 2026", "10.03.2026")."""
    if day is None:
        return ""
    return format_date(day, format="medium", locale=locale)


@register.filter
def quantity(value: Decimal, locale: str) -> str:
    """Format a quantity without the stored scale's trailing zeros (50, not 50.0000)."""
    return format_decimal(value.normalize(), locale=locale, decimal_quantization=False)


@register.filter
def percent(rate: Decimal, locale: str) -> str:
    """Format a tax rate stored in percent (8.25 -> "8.25%", "8,25 %" in de_DE)."""
    parsed = Locale.parse(locale)
    # The locale's pattern shows whole percents only; a rate such as 8.25% needs its decimals.
    pattern = copy.copy(parsed.percent_formats[None])
    pattern.frac_prec = (0, 4)
    return pattern.apply(rate / 100, parsed)
