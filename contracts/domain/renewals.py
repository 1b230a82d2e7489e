"""Renewal arithmetic: the term that follows a term, and a price raised by an uplift.

Pure functions over dates and ``Decimal``; the renewal service (``contracts.renewals``) applies
them to contracts.
"""

import calendar
from datetime import date, timedelta
from decimal import Decimal

from moneyed import Money

from rms.money import round_money

ONE_DAY = timedelta(days=1)
HUNDRED = Decimal(100)


def months_later(day: date, months: int) -> date:
    """Return the same day ``months`` later, on the month's last day when it is shorter.

    31 Jan + 1 month is 28 Feb (29 in a leap year); only ``day``'s own day of the month is
    used, so a term's end is never carried from the clamped end of an earlier term.
    """
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def renewal_term(term_end: date, months: int) -> tuple[date, date]:
    """Return the first and last day of the ``months``-long term that follows ``term_end``.

    The new term starts the day after the old one ends, so renewed terms tile without gaps or
    overlaps: 1 Jan 2027 - 31 Dec 2027 follows a term ending 31 Dec 2026.
    """
    if months < 1:
        raise ValueError(f"A renewal term is at least one month, not {months}.")
    start = term_end + ONE_DAY
    return start, months_later(start, months) - ONE_DAY


def uplifted(price: Money, percent: Decimal) -> Money:
    """Return ``price`` raised by ``percent`` (3.5 for 3.5%), rounded once, half-up, to the
    currency's minor unit: 1,200.00 USD + 3.5% = 1,242.00 USD; 1,000 JPY + 2.5% = 1,025 JPY."""
    if not isinstance(percent, Decimal):
        raise TypeError(f"An uplift is a Decimal percent, not {type(percent).__name__}.")
    return round_money(price.amount * (HUNDRED + percent) / HUNDRED, price.currency)


def notice_deadline(term_end: date, notice_days: int) -> date:
    """Return the last day on which either side can still give notice not to renew."""
    return term_end - timedelta(days=notice_days)


def annual_value(charges: list[tuple[Decimal, Decimal, int]], currency: str) -> Money:
    """Return what subscription charges bill in a year, rounded once to the minor unit.

    ``charges`` are (unit price, quantity, months per billing period) of each line: 100.00 a
    month for 3 seats is 3,600.00 a year; 1,200.00 a year for 1 is 1,200.00.
    """
    total = sum((price * quantity * 12 / months for price, quantity, months in charges), Decimal(0))
    return round_money(total, currency)
