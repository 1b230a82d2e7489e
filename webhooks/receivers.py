"""Receivers of billing's and contracts' signals: each records the matching webhook event.

Connected in ``WebhooksConfig.ready``. They run inside the transaction of the change, so an
event is recorded exactly when the change commits.
"""

from webhooks import events
from webhooks.models import EventType


def invoices_issued(sender, invoices, **kwargs) -> None:
    events.invoices_event(event_type=EventType.INVOICE_ISSUED, invoices=invoices)


def invoices_paid(sender, invoices, **kwargs) -> None:
    events.invoices_event(event_type=EventType.INVOICE_PAID, invoices=invoices)


def milestone_achieved(sender, milestone, **kwargs) -> None:
    events.milestone_event(milestone=milestone)


def bill_run_finished(sender, bill_run, **kwargs) -> None:
    events.bill_run_event(bill_run=bill_run)


def contract_renewed(sender, contract, renewal, **kwargs) -> None:
    events.contract_renewed_event(contract=contract, renewal=renewal)
