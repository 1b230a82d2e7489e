"""A contract's position (revenue against billings) and its remaining performance obligations.

Billing and revenue diverge by design: an annual fee is invoiced in January and earned over the
year; a milestone may be earned before it is invoiced. The position nets the two into one figure
per contract, ``cumulative revenue recognized - cumulative amount invoiced``: positive is a
contract asset (earned, not yet billed), negative a contract liability (billed, not yet earned).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from moneyed import Money

from billing.domain.periods import add_months
from revenue.domain.recognition import RevenueEntry
from rms.money import require_money, require_same_currency

CONTRACT_ASSET = "contract_asset"
CONTRACT_LIABILITY = "contract_liability"
NO_POSITION = "none"

# RPO is disclosed as "expected within 12 months" and "later", per ASC 606-10-50-13.
RPO_NEAR_TERM_MONTHS = 12


def _kind(net: Money) -> str:
    if net.amount > 0:
        return CONTRACT_ASSET
    if net.amount < 0:
        return CONTRACT_LIABILITY
    return NO_POSITION


@dataclass(frozen=True)
class Position:
    """One contract's net position at a date, with the two figures it is netted from.

    ``billed`` is net of credit notes. The contract reports one net figure, on one side of the
    balance sheet: ``asset`` and ``liability`` are that figure's two sides, one of them zero.
    """

    revenue: Money
    billed: Money
    net: Money
    kind: str

    def __post_init__(self) -> None:
        """Refuse a position whose figures do not agree, so a stored one can be trusted."""
        require_same_currency(self.revenue, self.billed, self.net)
        if self.net != self.revenue - self.billed:
            raise ValueError(
                f"A position's net must be revenue - billed: {self.revenue} - {self.billed} "
                f"is not {self.net}."
            )
        if self.kind != _kind(self.net):
            raise ValueError(f"A net of {self.net} is {_kind(self.net)}, not {self.kind}.")

    @property
    def asset(self) -> Money:
        """Return the contract asset (unbilled revenue): the net when positive, else zero."""
        return self.net if self.net.amount > 0 else Money(0, self.net.currency)

    @property
    def liability(self) -> Money:
        """Return the contract liability (deferred revenue): minus the net when negative."""
        return -self.net if self.net.amount < 0 else Money(0, self.net.currency)


def contract_position(*, revenue: Money, billed: Money) -> Position:
    """Net cumulative revenue against cumulative billings into a contract asset or liability."""
    require_money("revenue", revenue)
    require_money("billed", billed)
    require_same_currency(revenue, billed)
    net = revenue - billed
    return Position(revenue=revenue, billed=billed, net=net, kind=_kind(net))


def remaining_obligation(
    *,
    allocated: Money,
    recognized: Money,
    schedule_after: Sequence[RevenueEntry],
    as_of: date,
) -> tuple[Money, Money]:
    """Return the remaining performance obligation split into (within 12 months, later).

    RPO is the allocated price not yet recognized, ``allocated - recognized``. The remaining
    schedule times it: entries starting before ``as_of`` + 12 months count as within 12 months.
    That includes an entry starting before ``as_of`` (the current month when ``as_of`` falls
    mid-month, or a month not yet recognized): it is still unearned and due now, not later.

    The RPO total comes from the ledger, not the schedule, so the two parts always sum exactly
    to it. When they disagree (an obligation with no schedule, a schedule not yet refreshed after
    a modification) the difference goes to "later", the conservative side of the disclosure; the
    near-term part is capped at the RPO so "later" never turns negative.
    """
    require_money("allocated", allocated)
    require_money("recognized", recognized)
    for position, entry in enumerate(schedule_after):
        if not isinstance(entry, RevenueEntry):
            raise TypeError(f"Schedule entry {position} is {type(entry).__name__}.")
    require_same_currency(allocated, recognized, *(entry.amount for entry in schedule_after))

    remaining = allocated - recognized
    # Anchoring on as_of's own day: a year after 29 Feb is 28 Feb, never 1 March.
    horizon = add_months(as_of, RPO_NEAR_TERM_MONTHS, anchor_day=as_of.day)
    zero = Money(0, allocated.currency)
    scheduled = sum(
        (entry.amount for entry in schedule_after if entry.period_start < horizon), zero
    )
    # Keep the near-term part between zero and the RPO, whichever way the RPO points.
    low, high = min(zero, remaining), max(zero, remaining)
    within = min(max(scheduled, low), high)
    return within, remaining - within
