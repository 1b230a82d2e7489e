"""Accounts receivable: aging of open items and application of payments, with no database.

An open item is whatever a customer still owes on one document (an invoice, usually). Aging sorts
those amounts by how late they are on a given day, and payment application decides which items a
payment settles. Both take the day and the items as parameters, so any past position can be
replayed exactly. No amount is ever rounded here: applications are the lesser of two amounts that
already sit on the currency's minor unit, so they do too, and the parts always add up to the whole.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from moneyed import Money

from rms.money import round_money

# Invoice ids are ints; a key may be a string for documents named by number (INV-2026-000042).
ItemKey = int | str


@dataclass(frozen=True)
class OpenItem:
    """One document with an amount still owed, as aging and payment application need it."""

    key: ItemKey
    due_date: date
    issue_date: date
    open_amount: Money

    def __post_init__(self):
        # A settled item is not open, and a credit is not something a payment can settle.
        if self.open_amount.amount <= 0:
            raise ValueError(f"Open item {self.key!r} owes {self.open_amount}; it must be > 0.")
        _require_minor_units(self.open_amount, f"Open item {self.key!r}")


@dataclass(frozen=True)
class Application:
    """The part of a payment that settles one open item."""

    key: ItemKey
    amount: Money


class AgingBucket(StrEnum):
    """How late an open amount is on the day of the report, in the usual 30-day bands."""

    CURRENT = "current"
    D1_30 = "1_30"
    D31_60 = "31_60"
    D61_90 = "61_90"
    OVER_90 = "over_90"


# Upper bound (inclusive) of days past due for each late bucket, in order; past the last, OVER_90.
_LATE_BUCKETS = ((30, AgingBucket.D1_30), (60, AgingBucket.D31_60), (90, AgingBucket.D61_90))


class SettlementStatus(StrEnum):
    """Where an issued invoice stands once its payments are counted."""

    ISSUED = "issued"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"


def _require_minor_units(amount: Money, what: str) -> None:
    """Refuse an amount finer than the currency's minor unit (USD 1.005, JPY 0.5).

    Such an amount cannot be paid or booked, and splitting it would need rounding that this module
    promises never to do.
    """
    if round_money(amount) != amount:
        raise ValueError(
            f"{what} is {amount.amount} {amount.currency.code}, finer than the currency's minor "
            f"unit; round it with round_money first."
        )


def _single_currency(amounts: Iterable[Money], currency: str | None = None) -> str:
    """Return the one currency the amounts share, refusing a mix.

    Adding or comparing money across currencies would silently need an exchange rate; refuse it.
    """
    for amount in amounts:
        code = amount.currency.code
        if currency is None:
            currency = code
        elif code != currency:
            raise ValueError(f"Mixed currencies: {currency} and {code}.")
    if currency is None:
        raise ValueError("No amounts to take a currency from; pass the currency.")
    return currency


def aging_bucket(*, due_date: date, as_of: date) -> AgingBucket:
    """Return the aging bucket of an amount due on ``due_date``, seen on ``as_of``.

    An item due on ``as_of`` itself is still current: it is late only from the next day.
    """
    days_past_due = (as_of - due_date).days
    if days_past_due <= 0:
        return AgingBucket.CURRENT
    for upper, bucket in _LATE_BUCKETS:
        if days_past_due <= upper:
            return bucket
    return AgingBucket.OVER_90


def aging_report(
    items: Iterable[OpenItem], *, as_of: date, currency: str | None = None
) -> dict[AgingBucket, Money]:
    """Return the open amount per aging bucket on ``as_of``, every bucket present.

    Empty buckets show zero so that a report always has the same five columns. Each item falls in
    exactly one bucket whole, so the buckets sum exactly to the total open amount. ``currency`` is
    needed only when there may be no items (zero of what?); when given, every item must be in it.
    """
    items = list(items)
    code = _single_currency((item.open_amount for item in items), currency)
    report = {bucket: Money(0, code) for bucket in AgingBucket}
    for item in items:
        bucket = aging_bucket(due_date=item.due_date, as_of=as_of)
        report[bucket] += item.open_amount
    return report


def oldest_first(items: Iterable[OpenItem]) -> list[OpenItem]:
    """Return items in the order an unallocated payment settles them: oldest due date first.

    Ties go to the earlier issue date, then the key, so that the order never depends on how the
    items happened to be loaded. Integer keys sort before string keys rather than failing.
    """
    return sorted(
        items,
        key=lambda item: (item.due_date, item.issue_date, isinstance(item.key, str), item.key),
    )


def apply_payment(
    *, amount: Money, items: Sequence[OpenItem], targets: Sequence[ItemKey] | None = None
) -> tuple[list[Application], Money]:
    """Apply a payment to open items and return the applications and the unapplied remainder.

    With ``targets`` (the customer's remittance advice names the invoices), the payment goes to
    exactly those items in the given order, whatever their age; without, it goes oldest first (see
    ``oldest_first``). Each item receives the lesser of what is left and what it owes, so only the
    last item reached can be paid in part and no item is paid before the ones ahead of it are
    settled. What is left after the last item is the unapplied remainder, kept as the customer's
    credit: it is never forced onto an item that was not named. Items a payment does not reach get
    no application at all, rather than a zero one.

    The applications plus the remainder equal the payment exactly.
    """
    if amount.amount <= 0:
        raise ValueError(f"A payment must be positive, not {amount}.")
    _require_minor_units(amount, "The payment")
    code = _single_currency((item.open_amount for item in items), amount.currency.code)

    by_key: dict[ItemKey, OpenItem] = {}
    for item in items:
        if item.key in by_key:
            raise ValueError(f"Open item {item.key!r} appears twice.")
        by_key[item.key] = item

    if targets is None:
        ordered = oldest_first(items)
    else:
        seen: set[ItemKey] = set()
        for key in targets:
            if key in seen:
                raise ValueError(f"Target {key!r} is named twice.")
            seen.add(key)
            if key not in by_key:
                raise ValueError(f"Target {key!r} is not an open item.")
        ordered = [by_key[key] for key in targets]

    remaining = amount
    applications = []
    for item in ordered:
        if remaining.amount == 0:
            break
        applied = min(remaining, item.open_amount)
        applications.append(Application(key=item.key, amount=applied))
        remaining -= applied
    # The remainder keeps the payment's currency even when nothing is applied or all of it is.
    return applications, Money(remaining.amount, code)


def settlement_status(*, total: Money, paid: Money) -> SettlementStatus:
    """Return an issued invoice's status once ``paid`` of its ``total`` has been received.

    Nothing paid leaves it issued; part of it, partially paid; all of it, paid. A zero invoice
    owes nothing and so is paid already. Overpayment is refused rather than called paid: the excess
    belongs to the customer as credit (see ``apply_payment``) and must never be booked against the
    invoice.
    """
    _single_currency((total, paid))
    if total.amount < 0:
        raise ValueError(
            f"An invoice total cannot be negative ({total}); credits are credit notes."
        )
    if paid.amount < 0:
        raise ValueError(f"Paid cannot be negative ({paid}).")
    if paid > total:
        raise ValueError(f"Paid {paid} exceeds the invoice total {total}.")
    if paid == total:
        return SettlementStatus.PAID
    if paid.amount == 0:
        return SettlementStatus.ISSUED
    return SettlementStatus.PARTIALLY_PAID
