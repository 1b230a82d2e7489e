"""Subscription charges: one charge per billing period, dated by when it falls due.

A line billed in advance bills each period on its first day. A line billed in arrears bills each
period on ``period.end``, the exclusive end: the first day after the period, once every day of
it has been served. Dating the arrears bill on the period's last day instead would invoice a day
that has not yet been delivered, and a run on that day could not tell a finished period from an
unfinished one. A term cut short by its service end is billed in arrears the day after the
service ends.

``subscription_charges`` returns every charge due before a horizon, the same list on every call.
Deciding which of them are already invoiced belongs to the caller (a billed-through watermark).
"""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction

from moneyed import Money

from billing.domain.periods import ONE_DAY, Period, billing_periods
from billing.domain.proration import period_charge
from rms.money import round_fraction

MONTH_ABBREVIATIONS = (
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
)  # fmt: skip


class BillTiming(StrEnum):
    """When a period is billed; the values are the contract line's ``bill_timing`` values."""

    ADVANCE = "advance"
    ARREARS = "arrears"


@dataclass(frozen=True)
class SubscriptionTerms:
    """The terms of one subscription line, as plain values.

    ``service_end`` is the inclusive last day of service, ``None`` for an evergreen line.
    ``bill_day`` is ``None`` for anniversary billing or the calendar day (1-31).
    ``unit_price`` is per unit per full billing period; a flat fee has quantity 1.
    ``anchor`` is the day the billing cycle counts from when it is not the service start.
    """

    service_start: date
    service_end: date | None
    interval_months: int
    bill_day: int | None
    timing: BillTiming
    quantity: Decimal
    unit_price: Decimal
    currency: str
    anchor: date | None = None

    def __post_init__(self) -> None:
        """Accept the model's plain timing string and refuse inexact numbers."""
        # BillTiming("advance") is BillTiming.ADVANCE, and an unknown value raises ValueError.
        object.__setattr__(self, "timing", BillTiming(self.timing))
        for name in ("quantity", "unit_price"):
            value = getattr(self, name)
            if not isinstance(value, Decimal):
                raise TypeError(f"{name} is Decimal, not {type(value).__name__}.")


@dataclass(frozen=True)
class Charge:
    """One proposed invoice line: what is billed, for which period, on which date."""

    bill_date: date
    period: Period
    quantity: Decimal
    unit_price: Decimal
    amount: Money
    description: str


def format_day(day: date) -> str:
    """Return a date as invoices print it, e.g. "1 Jan 2026", the same whatever the locale."""
    return f"{day.day} {MONTH_ABBREVIATIONS[day.month - 1]} {day.year}"


def describe_period(period: Period) -> str:
    """Return the period's invoice text, saying how it was prorated when it is partial.

    The first and last days are both printed inclusive, as a customer reads a date range.
    """
    text = f"{format_day(period.start)} \u2013 {format_day(period.last_day)}"
    if period.is_partial:
        text += f" (prorated {period.days}/{period.full_days} days)"
    return text


def period_bill_date(period: Period, timing: BillTiming) -> date:
    """Return the date a period falls due: its first day in advance, the day after it in arrears."""
    return period.start if timing == BillTiming.ADVANCE else period.end


def subscription_charges(
    terms: SubscriptionTerms, *, through: date, since: date | None = None
) -> list[Charge]:
    """Return one charge per billing period whose bill date is before ``through`` (exclusive).

    Partial periods (a calendar-day stub, a term ending mid-period) are prorated by days. For an
    evergreen line the periods run only as far as the horizon needs. With ``since``, charges
    billed before it are left out (and not computed): a schedule being extended has them.
    """
    # Every bill date is on or after its period's start, so no period starting on or after the
    # horizon can be due before it.
    periods = billing_periods(
        service_start=terms.service_start,
        service_end=terms.service_end,
        interval_months=terms.interval_months,
        bill_day=terms.bill_day,
        through=through,
        anchor=terms.anchor,
    )
    charges = []
    for period in periods:
        due = period_bill_date(period, terms.timing)
        if due >= through or (since is not None and due < since):
            continue
        amount = period_charge(
            unit_price=terms.unit_price,
            quantity=terms.quantity,
            period=period,
            currency=terms.currency,
        )
        charges.append(
            Charge(
                bill_date=due,
                period=period,
                quantity=terms.quantity,
                unit_price=terms.unit_price,
                amount=amount,
                description=describe_period(period),
            )
        )
    return charges


def one_time_charge(
    *, bill_date: date, quantity: Decimal, unit_price: Decimal, currency: str, description: str
) -> Charge:
    """Return a one-time charge (activation, setup, a shipment) for ``quantity * unit_price``.

    Its period is the single day it is billed, so it fits the same invoice-line shape as a
    subscription charge; the amount is rounded once, exactly as a full period would be.
    """
    for name, value in (("quantity", quantity), ("unit_price", unit_price)):
        if not isinstance(value, Decimal):
            raise TypeError(f"{name} is Decimal, not {type(value).__name__}.")
    day = Period(
        start=bill_date, end=bill_date + ONE_DAY, full_start=bill_date, full_end=bill_date + ONE_DAY
    )
    return Charge(
        bill_date=bill_date,
        period=day,
        quantity=quantity,
        unit_price=unit_price,
        amount=round_fraction(Fraction(quantity) * Fraction(unit_price), currency),
        description=description,
    )
