"""Billing's answers to what the contracts app announces."""

from django.utils import timezone

from billing.schedules import schedule_refresh
from contracts.models import Contract


def refresh_schedule_of_contract(sender, *, contract: Contract, **kwargs) -> None:
    """Re-materialize a contract's billing events after its terms changed.

    Pending events follow the new terms; invoiced ones stay as they were billed.
    """
    lines = contract.lines.select_related("contract__customer", "product")
    schedule_refresh(lines=lines, as_of=timezone.localdate())
