"""Signals billing sends so that revenue can follow what is billed, shipped and achieved.

Dependencies point from revenue to billing, never back: billing announces, revenue listens.
Sent inside the transaction that made the change, so that what a receiver writes (a journal
entry) commits or rolls back with it and nothing billed is ever missing from the ledger.
"""

from django.dispatch import Signal

# Invoices were issued. Arguments: ``invoices`` (a list of issued Invoice rows).
invoices_issued = Signal()

# An issued invoice was voided. Arguments: ``invoice``.
invoice_voided = Signal()

# Something that satisfies a performance obligation happened (a shipment, a milestone achieved,
# usage rated). Arguments: ``contract_ids``, ``on`` (the date it happened).
obligations_satisfied = Signal()

# A credit note was issued. Arguments: ``credit_note``. Sent inside the issuing transaction.
credit_note_issued = Signal()

# Invoices were paid in full by a payment or a credit applied to them. Arguments: ``invoices``.
# Sent inside the transaction that applied the money.
invoices_paid = Signal()

# A bill run finished (completed, or failed in some chunk). Arguments: ``bill_run``. Sent inside
# the transaction that closed it.
bill_run_finished = Signal()

# A milestone was achieved (whether or not it still awaits approval before it is invoiced).
# Arguments: ``milestone``. Sent inside the achieving transaction.
milestone_achieved = Signal()
