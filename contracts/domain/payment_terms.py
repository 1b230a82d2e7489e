"""Due dates from payment terms.

Three bases cover what finance teams write on invoices: *Net N* (N days after the issue date),
*due on receipt* (the issue date itself) and *end of month + N* (N days after the last day of the
month the invoice was issued in, so "EOM + 15" on 10 March is due 15 April).
"""

import calendar
from datetime import date, timedelta
from enum import StrEnum


class TermsBasis(StrEnum):
    """What the number of days in a payment term counts from."""

    NET = "net"
    DUE_ON_RECEIPT = "due_on_receipt"
    END_OF_MONTH = "end_of_month"


def end_of_month(day: date) -> date:
    """Return the last day of the month that ``day`` falls in."""
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def due_date(*, issue_date: date, basis: TermsBasis, days: int) -> date:
    """Return the date an invoice issued on ``issue_date`` falls due under the given terms."""
    if days < 0:
        raise ValueError("Payment terms cannot count a negative number of days.")
    if basis is TermsBasis.DUE_ON_RECEIPT:
        if days:
            raise ValueError("'Due on receipt' terms take no days.")
        return issue_date
    if basis is TermsBasis.NET:
        return issue_date + timedelta(days=days)
    if basis is TermsBasis.END_OF_MONTH:
        return end_of_month(issue_date) + timedelta(days=days)
    raise ValueError(f"Unknown payment terms basis: {basis!r}")


def describe(*, basis: TermsBasis, days: int) -> str:
    """Return the terms in the words printed on an invoice ("Net 30", "Due on receipt")."""
    if basis is TermsBasis.DUE_ON_RECEIPT:
        return "Due on receipt"
    if basis is TermsBasis.NET:
        return f"Net {days}"
    return f"End of month + {days} days" if days else "End of month"
