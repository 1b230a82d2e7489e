"""Renewing fixed-term contracts for another term, and the decision whether to renew.

A renewal moves the contract's end by its renewal term and continues each subscription line
that ran to the old end with a *new line* for the new term, at the uplifted (or newly agreed)
price. A new line rather than a longer old one because billing never touches an invoiced
period (``billing.schedules``): the old term's invoices, and a short last period that was
billed prorated, stay exactly as issued, while the new line bills the new term from its first
day at its own price. Usage lines that ran to the old end simply run on (their rate plan prices
them), as do their metering keys.

For revenue a renewal is a contract modification that adds a term of distinct services, so it
is recorded as an applied ``Modification`` treated prospectively (ASC 606-10-25-13(a)): the term
renewed keeps what it earned, and the new term's price is allocated to the new term alone. Left
to a plain re-allocation, an uplifted price would be spread by relative SSP over both terms and
move revenue already recognized for the old one.

Each renewal is recorded by the term end it renewed (``Renewal``, unique per contract and term
end) under the contract's row lock: two clicks, or the daily task run twice or at once, renew
the term once.
"""

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max, QuerySet
from django.utils import timezone
from djmoney.money import Money

from contracts.domain.renewals import annual_value as domain_annual_value
from contracts.domain.renewals import renewal_term, uplifted
from contracts.models import (
    UPLIFT_RANGE,
    BillingModel,
    Contract,
    ContractLine,
    Modification,
    ModificationTreatment,
    Renewal,
    RenewalTerms,
)
from contracts.services import contract_terms_announce
from contracts.signals import contract_modified, contract_renewed
from rms.audit import history_record_bulk
from rms.money import round_money

logger = logging.getLogger(__name__)

# Terms of a contract that has no renewal terms of its own: a year at the same prices.
DEFAULT_TERMS = {"term_months": 12, "uplift_percent": Decimal(0), "notice_days": 30}
# A contract the daily task finds years past its end renews term by term up to today; past this
# many terms in one go something is wrong (a 1-month term left for decades), so it stops there.
MAX_TERMS_PER_RUN = 36
# Line fields a renewed line carries over unchanged (the dates and the price are the new term's).
CARRIED_FIELDS = [
    "product_id",
    "description",
    "billing_model",
    "quantity",
    "interval_months",
    "bill_timing",
    "bill_day_mode",
    "bill_day",
    "ssp_override",
    "revenue_policy_override",
]


def renewal_terms_of(contract: Contract) -> RenewalTerms:
    """Return the contract's renewal terms, or unsaved defaults when it has none."""
    try:
        return contract.renewal_terms
    except RenewalTerms.DoesNotExist:
        return RenewalTerms(contract=contract, **DEFAULT_TERMS)


def renewed_lines(contract: Contract, term_end: date) -> QuerySet:
    """Return the subscription lines that run to ``term_end``: those a renewal continues."""
    return contract.lines.filter(
        billing_model=BillingModel.SUBSCRIPTION, service_end=term_end
    ).order_by("sequence", "pk")


def _check_uplift(percent: Decimal) -> None:
    try:
        for validator in UPLIFT_RANGE:
            validator(percent)
    except ValidationError as error:
        raise ValidationError(
            {"uplift_percent": "The uplift is a percent from 0 to 100."}
        ) from error


def _new_prices(
    lines: list[ContractLine],
    *,
    uplift_percent: Decimal | None,
    new_unit_prices: Mapping[int, Decimal | Money] | None,
    currency: str,
) -> dict[int, Money]:
    """Return each renewed line's unit price for the new term, by line id.

    Entered prices must name every renewed line (a price left out is more likely forgotten than
    meant unchanged), be in the contract's currency and not negative; they are rounded to the
    currency's minor unit like uplifted ones.
    """
    if new_unit_prices is None:
        _check_uplift(uplift_percent)
        return {line.pk: uplifted(line.unit_price, uplift_percent) for line in lines}
    unknown = set(new_unit_prices) - {line.pk for line in lines}
    if unknown:
        raise ValidationError(
            {"new_unit_prices": f"Line(s) {sorted(unknown)} are not renewed with this term."}
        )
    prices, errors = {}, {}
    for line in lines:
        price = new_unit_prices.get(line.pk)
        key = f"new_unit_prices[{line.pk}]"
        if price is None:
            errors[key] = f"Enter the new unit price of line {line.sequence}."
            continue
        if isinstance(price, Money) and price.currency.code != currency:
            errors[key] = f"This contract is in {currency}; enter the price in {currency}."
            continue
        amount = price.amount if isinstance(price, Money) else price
        if amount < 0:
            errors[key] = f"The new unit price of line {line.sequence} cannot be negative."
            continue
        prices[line.pk] = round_money(amount, currency)
    if errors:
        raise ValidationError(errors)
    return prices


@transaction.atomic
def contract_renew(
    *,
    contract: Contract,
    by: str,
    uplift_percent: Decimal | None = None,
    new_unit_prices: Mapping[int, Decimal | Money] | None = None,
    automatic: bool = False,
) -> tuple[Renewal, bool]:
    """Renew the term of ``contract`` that ends on its ``end_date`` (as the caller read it).

    Prices rise by ``uplift_percent`` (default: the contract's renewal terms), or are set line
    by line by ``new_unit_prices`` (line id -> price), never both. Returns the renewal and
    whether it was made now; a term already renewed returns its renewal, unchanged, with False.
    Billing and revenue follow after commit; ``contract.renewed`` is recorded with the renewal.
    """
    if uplift_percent is not None and new_unit_prices is not None:
        raise ValidationError({"uplift_percent": "Give either an uplift or new prices, not both."})
    term_end = contract.end_date
    row = Contract.objects.select_for_update().get(pk=contract.pk)
    if row.evergreen or term_end is None:
        raise ValidationError(
            f"Contract {row.number} is evergreen: it runs until terminated and does not renew."
        )
    done = Renewal.objects.filter(contract=row, from_end=term_end).first()
    if done is not None:
        return done, False
    if row.end_date != term_end:
        raise ValidationError(
            f"Contract {row.number} now ends on {row.end_date}, not {term_end}: reload it and "
            "renew the term as it stands."
        )
    if row.status != Contract.Status.ACTIVE:
        raise ValidationError(
            f"Contract {row.number} is {row.get_status_display().lower()}; only an active "
            "contract can be renewed."
        )
    terms = renewal_terms_of(row)
    if terms.decision == RenewalTerms.Decision.NOT_RENEWING:
        raise ValidationError(
            f"Contract {row.number} is marked as not renewing ({terms.decision_reason}); "
            "change the decision before renewing it."
        )
    lines = list(renewed_lines(row, term_end))
    usage_lines = row.lines.filter(billing_model=BillingModel.USAGE, service_end=term_end)
    if not lines and not usage_lines.exists():
        raise ValidationError(
            f"Contract {row.number} has no subscription or usage line running to its end "
            f"({term_end}): there is nothing to renew."
        )
    if uplift_percent is None and new_unit_prices is None:
        uplift_percent = terms.uplift_percent
    prices = _new_prices(
        lines,
        uplift_percent=uplift_percent,
        new_unit_prices=new_unit_prices,
        currency=row.currency,
    )
    start, end = renewal_term(term_end, terms.term_months)
    row.end_date = end
    row.save(update_fields=["end_date", "updated_at"])
    successors = _continue_lines(row, lines, prices, start=start, end=end)
    usage_ids = list(usage_lines.values_list("pk", flat=True))
    ContractLine.objects.filter(pk__in=usage_ids).update(service_end=end)
    history_record_bulk(ContractLine, usage_ids)
    if terms.pk is not None:
        _reset_decision(terms)
    renewal = Renewal.objects.create(
        contract=row,
        from_end=term_end,
        to_end=end,
        uplift_percent=uplift_percent if new_unit_prices is None else None,
        prices=[
            {
                "line": line.pk,
                "new_line": successors[line.pk].pk,
                "sequence": successors[line.pk].sequence,
                "from": str(round_money(line.unit_price).amount),
                "to": str(prices[line.pk].amount),
            }
            for line in lines
        ],
        automatic=automatic,
        renewed_by=by,
        renewed_at=timezone.now(),
    )
    contract_terms_announce(contract=row)
    _record_modification(row, renewal, start=start, by=by)
    contract_renewed.send(sender=Contract, contract=row, renewal=renewal)
    return renewal, True


def _record_modification(contract: Contract, renewal: Renewal, *, start: date, by: str) -> None:
    """Record the renewal as an applied, prospective modification and announce it to revenue."""
    modification = Modification.objects.create(
        contract=contract,
        reference=f"Renewal {start:%Y-%m-%d}",
        effective_date=start,
        description=renewal_summary(renewal),
        treatment=ModificationTreatment.PROSPECTIVE,
        status=Modification.Status.APPLIED,
        created_by=by,
        applied_by=by,
        applied_at=renewal.renewed_at,
    )
    transaction.on_commit(
        lambda: contract_modified.send(
            sender=Contract,
            contract=contract,
            modification_id=modification.pk,
            effective_date=start,
            treatment=modification.treatment,
        )
    )


def _continue_lines(
    contract: Contract,
    lines: list[ContractLine],
    prices: dict[int, Money],
    *,
    start: date,
    end: date,
) -> dict[int, ContractLine]:
    """Create each line's successor for the new term; return them by the old line's id."""
    sequence = contract.lines.aggregate(last=Max("sequence"))["last"] or 0
    successors = {}
    for line in lines:
        sequence += 1
        successor = ContractLine(
            contract=contract,
            sequence=sequence,
            service_start=start,
            service_end=end,
            unit_price=prices[line.pk],
            **{name: getattr(line, name) for name in CARRIED_FIELDS},
        )
        successor.full_clean()
        successor.save()
        successors[line.pk] = successor
    return successors


def _reset_decision(terms: RenewalTerms) -> None:
    """Open the decision on the new term: whatever was decided applied to the term renewed."""
    terms.decision = RenewalTerms.Decision.PENDING
    terms.decision_reason = ""
    terms.decided_by = ""
    terms.decided_at = None
    terms.save(update_fields=["decision", "decision_reason", "decided_by", "decided_at"])


@transaction.atomic
def renewal_decide(*, contract: Contract, decision: str, by: str, reason: str = "") -> RenewalTerms:
    """Record the decision on the contract's current term: renewing, not renewing (with a
    reason), or pending again. A contract without renewal terms gets the default ones."""
    row = Contract.objects.select_for_update().get(pk=contract.pk)
    if row.evergreen:
        raise ValidationError(
            f"Contract {row.number} is evergreen: it runs until terminated and does not renew."
        )
    if decision not in RenewalTerms.Decision.values:
        raise ValidationError({"decision": f"Unknown decision {decision!r}."})
    terms, _ = RenewalTerms.objects.get_or_create(contract=row, defaults=DEFAULT_TERMS)
    terms.decision = decision
    terms.decision_reason = reason.strip()
    terms.decided_by = by
    terms.decided_at = timezone.now()
    terms.full_clean()
    terms.save()
    return terms


# --- The daily run ------------------------------------------------------------------------------


def contracts_due_for_renewal(*, as_of: date) -> QuerySet:
    """Return the active auto-renew contracts whose term ends on or before ``as_of``, unless
    they are marked as not renewing."""
    return (
        Contract.objects.filter(
            status=Contract.Status.ACTIVE,
            evergreen=False,
            end_date__lte=as_of,
            renewal_terms__auto_renew=True,
        )
        .exclude(renewal_terms__decision=RenewalTerms.Decision.NOT_RENEWING)
        .order_by("pk")
    )


@dataclass
class RenewalRun:
    """What a run of the daily renewals did: terms renewed, and contracts that failed, why."""

    renewed: int = 0
    errors: dict[int, str] = field(default_factory=dict)


def renewals_renew_due(*, contract_ids: list[int], as_of: date) -> RenewalRun:
    """Renew each of the contracts that is due, term after term up to ``as_of``.

    Each term is its own transaction, so one contract's refusal (a line that no longer
    validates) is reported without holding back the others. Safe to repeat: a term already
    renewed is skipped.
    """
    run = RenewalRun()
    for contract in contracts_due_for_renewal(as_of=as_of).filter(pk__in=contract_ids):
        for _ in range(MAX_TERMS_PER_RUN):
            try:
                renewal, made = contract_renew(
                    contract=contract, by="renewals task", automatic=True
                )
            except ValidationError as error:
                run.errors[contract.pk] = " ".join(error.messages)
                logger.warning("Contract %s not renewed: %s", contract.number, error.messages)
                break
            run.renewed += made
            contract.end_date = renewal.to_end
            if not made or renewal.to_end > as_of:
                break
    return run


def renewal_summary(renewal: Renewal) -> str:
    """Say what a renewal did, for a message: "K-1 renewed to 2027-12-31 (+3.5%)"."""
    how = (
        f"+{renewal.uplift_percent.normalize():f}%"
        if renewal.uplift_percent is not None
        else ", ".join(f"line {p['sequence']}: {p['to']}" for p in renewal.prices)
    )
    return f"{renewal.contract.number} renewed to {renewal.to_end} ({how})"


def annual_value(contract: Contract, lines: list[ContractLine] | None = None) -> Money:
    """Return the yearly value of the subscription lines that run to the contract's end.

    ``lines`` are the contract's lines when already loaded (a list page prefetches them).
    """
    if lines is None:
        lines = list(contract.lines.all())
    charges = [
        (line.unit_price.amount, line.quantity, line.interval_months)
        for line in lines
        if line.billing_model == BillingModel.SUBSCRIPTION and line.service_end == contract.end_date
    ]
    return domain_annual_value(charges, contract.currency)
