"""Revenue's answers to what contracts and billing announce.

The journal receivers run inside the transaction that issued or voided the invoice, so a
billing is never committed without its journal entry. Recognition follows satisfying events
at once (a shipment, a milestone), dated no later than today.
"""

from datetime import date

from django.utils import timezone

from billing.models import CreditNote, Invoice
from contracts.models import Contract
from revenue.journal import journal_post_credit_note, journal_post_invoices, journal_post_void
from revenue.modifications import modification_account, obligations_remember
from revenue.obligations import obligations_sync
from revenue.runs import contracts_recognize


def follow_contract_terms(sender, *, contract: Contract, **kwargs) -> None:
    """Re-derive the obligations and allocation of a changed contract, then re-plan it.

    A change to what was already recognized posts its catch-up at once, in the open period.
    The obligations as they were are kept first: a modification's treatment, announced after
    its terms, may need them.
    """
    obligations_remember(contract=contract)
    obligations_sync(contract=contract)
    contracts_recognize(contract_ids=[contract.pk], as_of=None)


def account_for_modification(
    sender,
    *,
    contract: Contract,
    modification_id: int,
    effective_date: date,
    treatment: str,
    **kwargs,
) -> None:
    """Record the modification's treatment, re-allocate the contract by it and re-plan it."""
    modification_account(
        contract=contract,
        modification_id=modification_id,
        effective_date=effective_date,
        treatment=treatment,
    )


def post_issued_invoices(sender, *, invoices: list[Invoice], **kwargs) -> None:
    journal_post_invoices(invoices=invoices)


def post_voided_invoice(sender, *, invoice: Invoice, **kwargs) -> None:
    journal_post_void(invoice=invoice, voided_on=timezone.localdate(invoice.voided_at))


def post_credit_note(sender, *, credit_note: CreditNote, **kwargs) -> None:
    """Post the credit note and re-allocate what it reduced, with the catch-up it brings."""
    journal_post_credit_note(credit_note=credit_note)
    contract_ids = set(
        credit_note.lines.values_list("invoice_line__contract_line__contract_id", flat=True)
    )
    contracts_recognize(contract_ids=contract_ids, as_of=None)


def recognize_satisfied(sender, *, contract_ids: list[int], on: date, **kwargs) -> None:
    """Recognize what a shipment, milestone or usage satisfied, as of when it happened."""
    contracts_recognize(contract_ids=contract_ids, as_of=min(on, timezone.localdate()))
