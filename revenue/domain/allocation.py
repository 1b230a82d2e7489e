"""Allocating a contract's transaction price to its performance obligations (ASC 606 step 4).

Two methods, both over plain values:

- **relative SSP** (ASC 606-10-32-31): the transaction price is split in proportion to each
  obligation's standalone selling price, so a discount (price below total SSP) falls on every
  obligation in proportion, never on whichever one the sales contract happened to discount;
- **residual** (ASC 606-10-32-34(c)): every other obligation gets exactly its SSP and one
  obligation, whose SSP is highly variable or uncertain, gets what is left.

Variable consideration that relates entirely to one obligation (usage fees for the usage service)
is allocated to that obligation alone (ASC 606-10-32-40) and kept out of both pools.

Rounding happens once, here, through ``rms.money``: the transaction price is rounded half-up to the
currency's minor unit and split by the largest-remainder rule, so the allocations always sum
exactly to it.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from moneyed import Money

from rms.money import allocate, round_money

RELATIVE_SSP = "relative_ssp"
RESIDUAL = "residual"
VARIABLE_OWN = "variable_own"


@dataclass(frozen=True)
class Obligation:
    """One performance obligation as allocation needs it.

    ``ssp`` is the obligation's total standalone selling price over the whole contract (unit SSP x
    quantity x periods), ``fixed_price`` the fixed consideration the contract charges for it. A
    ``variable`` obligation's consideration is variable and relates to it alone, so it keeps its
    own (estimated, constrained) price and stays out of the pool shared by the others.
    """

    key: str
    ssp: Money
    fixed_price: Money
    variable: bool = False


@dataclass(frozen=True)
class Allocation:
    """The price allocated to one obligation and how it was reached.

    ``share`` is the exact fraction of its pool the obligation received: SSP over total SSP for
    ``relative_ssp``; allocated over transaction price for ``residual`` (zero when the price is
    zero); one for ``variable_own``, whose pool is its own consideration.
    """

    key: str
    ssp: Money
    allocated: Money
    share: Fraction
    method: str


def _validate(obligations: Sequence[Obligation]) -> str:
    """Refuse input no allocation can be right for and return the contract's one currency."""
    if len(obligations) == 0:
        raise ValueError("Cannot allocate a transaction price to no performance obligations.")
    for obligation in obligations:
        for field in ("ssp", "fixed_price"):
            amount = getattr(obligation, field)
            if not isinstance(amount, Money):
                # A float amount would carry binary rounding error into every share.
                raise TypeError(f"{obligation.key}: {field} is {type(amount).__name__}, not Money.")
    currency = obligations[0].ssp.currency.code
    seen: set[str] = set()
    for obligation in obligations:
        if obligation.key in seen:
            # Keys identify allocations to the caller; a duplicate would make one ambiguous.
            raise ValueError(f"Performance obligation {obligation.key!r} is listed twice.")
        seen.add(obligation.key)
        for field in ("ssp", "fixed_price"):
            amount = getattr(obligation, field)
            if amount.currency.code != currency:
                raise ValueError(
                    f"Cannot allocate across currencies: {obligation.key} has {field} in "
                    f"{amount.currency.code}, the contract is in {currency}."
                )
            if amount.amount < 0:
                label = "SSP" if field == "ssp" else "price"
                raise ValueError(
                    f"{obligation.key}: {label} is {amount.amount} {currency}; it must not be "
                    f"negative."
                )
    return currency


def transaction_price(obligations: Sequence[Obligation]) -> Money:
    """Return the fixed consideration to allocate: the non-variable prices, rounded once.

    Prices may carry more places than the currency's minor unit (four-place unit prices times
    quantities); the sum is rounded half-up here so that the parts can sum exactly to it.
    """
    currency = _validate(obligations)
    total = sum((o.fixed_price.amount for o in obligations if not o.variable), Decimal(0))
    return round_money(total, currency)


def _variable_own(obligation: Obligation) -> Allocation:
    """Allocate a variable obligation its own consideration and nothing of the pool."""
    return Allocation(
        key=obligation.key,
        ssp=obligation.ssp,
        allocated=round_money(obligation.fixed_price),
        share=Fraction(1),
        method=VARIABLE_OWN,
    )


def allocate_relative_ssp(obligations: Sequence[Obligation]) -> list[Allocation]:
    """Split the transaction price over the obligations in proportion to their SSPs.

    The non-variable obligations share the sum of their fixed prices by the largest-remainder rule,
    so each part is within one minor unit of its exact share and the parts sum exactly to the
    price; an obligation with zero SSP (an activation fee that is not a distinct service) gets
    nothing. Variable obligations keep their own price. Allocations come back in input order.
    """
    price = transaction_price(obligations)
    currency = price.currency.code
    pool = [o for o in obligations if not o.variable]
    total_ssp = sum((Fraction(o.ssp.amount) for o in pool), Fraction(0))
    if total_ssp == 0 and price.amount > 0:
        raise ValueError(
            f"Cannot allocate {price.amount} {currency} in proportion to SSP: every fixed-price "
            f"obligation has a zero SSP."
        )
    if total_ssp > 0:
        parts = iter(allocate(price, [o.ssp.amount for o in pool]))
    else:
        # A zero price with zero SSPs (or no pool at all): nothing to split, and
        # rms.money.allocate refuses all-zero weights.
        parts = iter([Money(0, currency)] * len(pool))
    allocations = []
    for obligation in obligations:
        if obligation.variable:
            allocations.append(_variable_own(obligation))
            continue
        share = Fraction(obligation.ssp.amount) / total_ssp if total_ssp else Fraction(0)
        allocations.append(
            Allocation(
                key=obligation.key,
                ssp=obligation.ssp,
                allocated=next(parts),
                share=share,
                method=RELATIVE_SSP,
            )
        )
    return allocations


def allocate_residual(obligations: Sequence[Obligation], *, residual_key: str) -> list[Allocation]:
    """Allocate every other obligation its SSP and the residual obligation what is left.

    Each other SSP is rounded to the minor unit on its own and the residual is the transaction
    price minus those rounded SSPs, so the allocations sum exactly to the price. The residual
    obligation's own SSP plays no part: the method exists for an SSP too uncertain to use. A
    negative residual means the others' SSPs already exceed the price; the contract then carries
    a discount that the residual approach cannot place, so it is refused rather than clamped.
    """
    price = transaction_price(obligations)
    currency = price.currency.code
    by_key = {o.key: o for o in obligations}
    if residual_key not in by_key:
        raise ValueError(f"Residual obligation {residual_key!r} is not among the obligations.")
    if by_key[residual_key].variable:
        raise ValueError(
            f"Residual obligation {residual_key!r} has variable consideration, which is "
            f"allocated to itself; name a fixed-price obligation."
        )
    others = {
        o.key: round_money(o.ssp) for o in obligations if not o.variable and o.key != residual_key
    }
    others_total = sum(others.values(), Money(0, currency))
    residual = price - others_total
    if residual.amount < 0:
        raise ValueError(
            f"The residual approach cannot apply: the transaction price {price.amount} {currency} "
            f"is less than the other obligations' SSPs {others_total.amount} {currency}."
        )
    allocations = []
    for obligation in obligations:
        if obligation.variable:
            allocations.append(_variable_own(obligation))
            continue
        allocated = residual if obligation.key == residual_key else others[obligation.key]
        share = Fraction(allocated.amount) / Fraction(price.amount) if price.amount else Fraction(0)
        allocations.append(
            Allocation(
                key=obligation.key,
                ssp=obligation.ssp,
                allocated=allocated,
                share=share,
                method=RESIDUAL,
            )
        )
    return allocations
