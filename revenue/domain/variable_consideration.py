"""Estimating variable consideration for the transaction price (ASC 606 step 3).

Bonuses, penalties, rebates and usage make part of the price uncertain. ASC 606-10-32-8 lets the
entity estimate it by whichever of two methods better predicts what it will be entitled to:

- **expected value**: the probability-weighted sum of the possible amounts, apt when there are
  many contracts or many possible outcomes;
- **most likely amount**: the single most likely amount, apt when there are few outcomes (a bonus
  that is either earned or not).

The estimate then passes the **constraint** (ASC 606-10-32-11): only the amount for which a
significant reversal of recognised revenue is highly probable not to occur enters the price. At
each reporting date the estimate is reassessed (ASC 606-10-32-14) and a change to an obligation's
allocated price is recognised as a **cumulative catch-up** on the part already satisfied.

Everything here is a pure function over plain values. Intermediates are exact (``Fraction``) and
each result is rounded once, half-up to the currency's minor unit, through ``rms.money``.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from moneyed import Money

from rms.money import require_money, round_fraction, round_money

EXPECTED_VALUE = "expected_value"
MOST_LIKELY = "most_likely"
METHODS = (EXPECTED_VALUE, MOST_LIKELY)


@dataclass(frozen=True)
class Scenario:
    """One possible outcome of the variable consideration and its probability (0 to 1).

    A rebate, refund or penalty reduces the consideration and is a negative ``amount``.
    """

    amount: Money
    probability: Decimal


@dataclass(frozen=True)
class Estimate:
    """A variable-consideration estimate and what of it enters the transaction price.

    ``estimate`` is what the method predicts; ``constrained`` is the part that survives the
    constraint (ASC 606-10-32-11) and is added to the transaction price; ``constraint_reason``
    records the judgement behind it, which ASC 606-10-50-20 requires to be disclosed.
    """

    method: str
    estimate: Money
    constrained: Money
    constraint_reason: str


def _validate(scenarios: Sequence[Scenario]) -> str:
    """Refuse scenarios that are not one complete probability distribution; return the currency.

    The probabilities must sum to exactly one: a set summing to 0.99 leaves an outcome out, and
    an estimate over an incomplete distribution understates (or overstates) the price.
    """
    if len(scenarios) == 0:
        raise ValueError("Cannot estimate variable consideration from no scenarios.")
    currency = None
    total = Decimal(0)
    for position, scenario in enumerate(scenarios):
        amount = require_money(f"Scenario {position}: amount", scenario.amount)
        probability = scenario.probability
        # bool is an int subclass and float is inexact: neither is a meaningful probability.
        if not isinstance(probability, Decimal):
            raise TypeError(
                f"Scenario {position}: probability is {type(probability).__name__}, not Decimal."
            )
        if not probability.is_finite() or not 0 <= probability <= 1:
            raise ValueError(
                f"Scenario {position}: probability {probability} is not between 0 and 1."
            )
        if currency is None:
            currency = amount.currency.code
        elif amount.currency.code != currency:
            raise ValueError(
                f"Cannot estimate across currencies: scenario {position} is in "
                f"{amount.currency.code}, the others in {currency}."
            )
        total += probability
    if total != 1:
        raise ValueError(
            f"Scenario probabilities sum to {total}, not exactly 1: the outcomes must be complete "
            f"and exclusive."
        )
    return currency


def expected_value(scenarios: Sequence[Scenario]) -> Money:
    """Return the probability-weighted sum of the scenario amounts (ASC 606-10-32-8(a)).

    The sum is exact and rounded once, so the result is within half a minor unit of the true
    expected value however many scenarios there are.
    """
    currency = _validate(scenarios)
    exact = sum(
        (Fraction(s.amount.amount) * Fraction(s.probability) for s in scenarios), Fraction(0)
    )
    return round_fraction(exact, currency)


def most_likely_amount(scenarios: Sequence[Scenario]) -> Money:
    """Return the amount of the single most probable scenario (ASC 606-10-32-8(b)).

    A tie for the highest probability is refused: the method exists for a distribution with one
    clearly most likely outcome, and picking either tied amount would be arbitrary; the expected
    value then predicts better.
    """
    currency = _validate(scenarios)
    highest = max(s.probability for s in scenarios)
    top = [s for s in scenarios if s.probability == highest]
    if len(top) > 1:
        amounts = ", ".join(f"{s.amount.amount} {currency}" for s in top)
        raise ValueError(
            f"No single most likely amount: {amounts} tie at probability {highest}. The most "
            f"likely amount does not predict better here; use the expected value."
        )
    return round_money(top[0].amount)


def constrain(*, estimate: Money, highly_probable_floor: Money | None, reason: str) -> Money:
    """Apply the constraint on variable consideration (ASC 606-10-32-11).

    Only the amount for which it is highly probable that a significant reversal will not occur
    enters the transaction price: the lower of the estimate and ``highly_probable_floor`` when a
    floor is given, else the whole estimate. Constraining is a judgement that must be documented
    and disclosed (ASC 606-10-32-12, 50-20), so a floor without a reason is refused. A floor is
    an amount of consideration the entity is highly likely to keep, so it cannot be negative;
    a negative estimate (a rebate) is therefore never raised by it.
    """
    require_money("estimate", estimate)
    if highly_probable_floor is None:
        return round_money(estimate)
    require_money("highly_probable_floor", highly_probable_floor)
    if highly_probable_floor.currency.code != estimate.currency.code:
        raise ValueError(
            f"Cannot constrain a {estimate.currency.code} estimate with a "
            f"{highly_probable_floor.currency.code} floor."
        )
    if highly_probable_floor.amount < 0:
        raise ValueError(
            f"Highly probable floor {highly_probable_floor.amount} "
            f"{highly_probable_floor.currency.code} is negative; it must not be."
        )
    if not reason.strip():
        raise ValueError(
            "A constraint needs a reason: the judgement that limits the transaction price must be "
            "documented (ASC 606-10-32-12)."
        )
    return round_money(min(estimate, highly_probable_floor, key=lambda money: money.amount))


def estimate_variable(
    *,
    scenarios: Sequence[Scenario],
    method: str,
    highly_probable_floor: Money | None = None,
    reason: str = "",
) -> Estimate:
    """Estimate variable consideration by ``method`` and constrain it, recording the reason.

    Called afresh at each reporting date (ASC 606-10-32-14); the change in ``constrained`` from
    the previous estimate is what ``catch_up`` spreads over the satisfied part of the obligation.
    """
    if method == EXPECTED_VALUE:
        estimate = expected_value(scenarios)
    elif method == MOST_LIKELY:
        estimate = most_likely_amount(scenarios)
    else:
        raise ValueError(f"Unknown estimation method {method!r}; use one of {', '.join(METHODS)}.")
    constrained = constrain(
        estimate=estimate, highly_probable_floor=highly_probable_floor, reason=reason
    )
    return Estimate(
        method=method, estimate=estimate, constrained=constrained, constraint_reason=reason
    )


def catch_up(
    *, allocated_before: Money, allocated_after: Money, fraction_satisfied: Fraction | Decimal
) -> Money:
    """Return the cumulative catch-up revenue when a re-estimate changes an allocated price.

    A change in the transaction price is allocated on the same basis as at inception, and the
    part of it that belongs to obligations (or portions) already satisfied is recognised at once
    (ASC 606-10-32-43 to 32-44, after reassessment under 32-14): (after - before) x fraction
    satisfied, exact, rounded once. A fall in the estimate gives a negative catch-up, a reversal.
    """
    require_money("allocated_before", allocated_before)
    require_money("allocated_after", allocated_after)
    currency = allocated_before.currency.code
    if allocated_after.currency.code != currency:
        raise ValueError(
            f"Cannot catch up across currencies: {currency} before, "
            f"{allocated_after.currency.code} after."
        )
    if not isinstance(fraction_satisfied, Fraction | Decimal):
        raise TypeError(
            f"fraction_satisfied is {type(fraction_satisfied).__name__}, not Fraction or Decimal."
        )
    if isinstance(fraction_satisfied, Decimal) and not fraction_satisfied.is_finite():
        raise ValueError(f"fraction_satisfied {fraction_satisfied} is not finite.")
    if not 0 <= fraction_satisfied <= 1:
        raise ValueError(f"fraction_satisfied {fraction_satisfied} is not between 0 and 1.")
    change = Fraction(allocated_after.amount) - Fraction(allocated_before.amount)
    return round_fraction(change * Fraction(fraction_satisfied), currency)
