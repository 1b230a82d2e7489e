"""Writes to customers and contracts: status changes and holds.

Each service locks the row it transitions, so two clerks (or a clerk and a job) acting at once
see one outcome, and raises ``ValidationError`` with a message a finance user can act on.
"""

from django.core.exceptions import ValidationError
from django.db import transaction

from contracts.models import Contract, Customer, HoldFlags
from contracts.signals import (
    billing_hold_released,
    contract_terms_changed,
    delivery_hold_released,
)


class HoldKind:
    """The two holds: a billing hold stops invoicing, a delivery hold stops sending."""

    BILLING = "billing_hold"
    DELIVERY = "delivery_hold"
    ALL = (BILLING, DELIVERY)


def _locked(target: Customer | Contract) -> Customer | Contract:
    return type(target).objects.select_for_update().get(pk=target.pk)


@transaction.atomic
def hold_set(*, target: Customer | Contract, kind: str, on: bool, reason: str = "") -> HoldFlags:
    """Place (``on=True``) or release a billing or delivery hold on a customer or contract.

    Releasing the last hold clears the reason; placing one keeps any earlier reason unless a new
    one is given. Releasing a hold announces it after commit, so that billing invoices (a billing
    hold) or sends (a delivery hold) what the hold kept back. Returns the updated row.
    """
    if kind not in HoldKind.ALL:
        raise ValidationError(f"Unknown hold {kind!r}; use one of {', '.join(HoldKind.ALL)}.")
    row = _locked(target)
    released = getattr(row, kind) and not on
    setattr(row, kind, on)
    if on and reason:
        row.hold_reason = reason
    if not row.on_hold:
        row.hold_reason = ""
    row.save(update_fields=[kind, "hold_reason", "updated_at"])
    if released:
        ids = {"customer_id": None, "contract_id": None}
        ids["customer_id" if isinstance(row, Customer) else "contract_id"] = row.pk
        signal = delivery_hold_released if kind == HoldKind.DELIVERY else billing_hold_released
        transaction.on_commit(lambda: signal.send(sender=type(row), **ids))
    return row


@transaction.atomic
def contract_activate(*, contract: Contract) -> Contract:
    """Move a draft contract to active, once it is complete enough to bill.

    A contract without lines has nothing to bill or recognize, so it stays a draft.
    """
    row = _locked(contract)
    if row.status != Contract.Status.DRAFT:
        raise ValidationError(
            f"Contract {row.number} is {row.get_status_display().lower()}; only a draft can be "
            "activated."
        )
    if not row.lines.exists():
        raise ValidationError(f"Contract {row.number} has no lines; add one before activating.")
    row.status = Contract.Status.ACTIVE
    row.save(update_fields=["status", "updated_at"])
    contract_terms_announce(contract=row)
    return row


def contract_terms_announce(*, contract: Contract) -> None:
    """Tell listeners (billing) after commit that the contract's terms may have changed."""
    transaction.on_commit(lambda: contract_terms_changed.send(sender=Contract, contract=contract))
