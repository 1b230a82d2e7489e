"""Signals the contracts app sends so that billing (and later revenue) can follow a contract.

Dependencies point from billing to contracts, never back: contracts announce, billing listens.
"""

from django.dispatch import Signal

# Sent after commit when a contract's terms may have changed what comes due: on activation and
# whenever the contract or its lines are saved. Arguments: ``contract``.
contract_terms_changed = Signal()

# Sent after commit when a delivery hold is released, so that what it kept back is sent.
# Arguments: ``customer_id`` (a customer's hold) or ``contract_id`` (a contract's); the other
# is None.
delivery_hold_released = Signal()

# Sent after commit when a billing hold is released, so that what it kept back is invoiced.
# Arguments as for ``delivery_hold_released``.
billing_hold_released = Signal()

# Sent after commit when a contract modification (an amendment, issue #8) takes effect, so that
# revenue accounts for it by its treatment. Arguments: ``contract``, ``modification_id``,
# ``effective_date`` (a date) and ``treatment``: "separate_contract" (the added lines are a new
# contract at SSP), "prospective" (re-allocate the remaining consideration to the remaining
# obligations from ``effective_date``) or "catch_up" (re-allocate the whole contract and post
# the cumulative difference in the open period).
contract_modified = Signal()

# Sent inside the renewing transaction when a contract is renewed for another term, so that the
# webhook event commits (or rolls back) with the renewal. Arguments: ``contract``, ``renewal``
# (the ``Renewal`` row).
contract_renewed = Signal()
