"""Billing's answers to what the contracts app announces."""

from django.utils import timezone

from billing.delivery import invoices_deliver_held_released
from billing.schedules import schedule_refresh
from contracts.models import Contract


def refresh_schedule_of_contract(sender, *, contract: Contract, **kwargs) -> None:
    """Re-materialize a contract's billing events after its terms changed.

    Pending events follow the new terms; invoiced ones stay as they were billed.
    """
    lines = contract.lines.select_related("contract__customer", "product")
    schedule_refresh(lines=lines, as_of=timezone.localdate())


def deliver_what_a_hold_kept(
    sender, *, customer_id: int | None = None, contract_id: int | None = None, **kwargs
) -> None:
    """Send the invoices a released delivery hold kept back, unless another hold still applies."""
    invoices_deliver_held_released(customer_id=customer_id, contract_id=contract_id)
