"""Billing's answers to what the contracts app announces."""

from django.utils import timezone

from billing.delivery import invoices_deliver_held_released
from billing.milestones import milestones_invoice_pending
from billing.modifications import modification_billing_preview, modification_credits_issue
from billing.schedules import schedule_refresh
from contracts.milestones import milestones_respread
from contracts.models import BillingModel, Contract


def refresh_schedule_of_contract(sender, *, contract: Contract, **kwargs) -> None:
    """Re-materialize a contract's billing events after its terms changed.

    Pending events follow the new terms; invoiced ones stay as they were billed. Planned
    percent milestones follow a milestone line's new value first.
    """
    for line in contract.lines.filter(billing_model=BillingModel.MILESTONE):
        milestones_respread(line=line)
    lines = contract.lines.select_related("contract__customer", "product")
    schedule_refresh(lines=lines, as_of=timezone.localdate())


def deliver_what_a_hold_kept(
    sender, *, customer_id: int | None = None, contract_id: int | None = None, **kwargs
) -> None:
    """Send the invoices a released delivery hold kept back, unless another hold still applies."""
    invoices_deliver_held_released(customer_id=customer_id, contract_id=contract_id)


def invoice_what_a_hold_kept(
    sender, *, customer_id: int | None = None, contract_id: int | None = None, **kwargs
) -> None:
    """Invoice the achieved milestones a released billing hold kept back, at once.

    Other charges the hold kept back are due and go out with the next bill run, as usual.
    """
    milestones_invoice_pending(customer_id=customer_id, contract_id=contract_id)


def credit_what_a_modification_left_unused(sender, *, modification_id: int, **kwargs) -> None:
    """Credit the invoiced fees a contract modification left unused (see billing.modifications)."""
    modification_credits_issue(modification_id=modification_id)


def preview_modification_billing(sender, *, modification, **kwargs) -> list:
    """Say what billing will charge and credit, for the modification's preview page."""
    return modification_billing_preview(modification=modification)
