"""Background work of the contracts app."""

from celery import shared_task

from contracts.models import Contract
from contracts.signals import contract_terms_changed


@shared_task
def contracts_follow_terms_task(contract_ids: list[int]) -> int:
    """Let billing and revenue follow the terms of contracts written in bulk (an import).

    The same announcement a contract saved in the admin makes, for each contract of the chunk:
    billing re-materializes its schedule, revenue re-derives its obligations and allocation.
    Safe to repeat: both follow whatever the terms are now. Returns the contracts announced.
    """
    contracts = Contract.objects.filter(pk__in=contract_ids).select_related("customer")
    for contract in contracts:
        contract_terms_changed.send(sender=Contract, contract=contract)
    return len(contract_ids)
