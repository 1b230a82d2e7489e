"""Background work of the contracts app."""

from datetime import date

from celery import shared_task
from django.utils import timezone

from contracts import renewal_notices, renewals
from contracts.models import Contract
from contracts.signals import contract_terms_changed

# Contracts per renewal task: each renews in its own short transaction, so a chunk of this size
# takes seconds and the day's renewals spread over the workers there are.
RENEWAL_CHUNK_SIZE = 200


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


def _day(as_of: str | None) -> date:
    return date.fromisoformat(as_of) if as_of else timezone.localdate()


@shared_task
def renewals_run_task(as_of: str | None = None) -> int:
    """Queue the renewal of every auto-renew contract due on ``as_of`` (ISO date; today by
    default), in chunks. Scheduled daily by beat; safe to run twice. Returns the contracts due."""
    day = _day(as_of)
    ids = list(renewals.contracts_due_for_renewal(as_of=day).values_list("pk", flat=True))
    for start in range(0, len(ids), RENEWAL_CHUNK_SIZE):
        renewals_renew_task.delay(ids[start : start + RENEWAL_CHUNK_SIZE], day.isoformat())
    return len(ids)


@shared_task
def renewals_renew_task(contract_ids: list[int], as_of: str) -> int:
    """Renew the chunk's contracts that are due on ``as_of``; return the terms renewed."""
    return renewals.renewals_renew_due(contract_ids=contract_ids, as_of=_day(as_of)).renewed


@shared_task
def renewal_notices_task(as_of: str | None = None) -> int:
    """Email the renewal notices due on ``as_of`` (today by default). Scheduled daily by beat."""
    return renewal_notices.renewal_notices_send(as_of=_day(as_of))
