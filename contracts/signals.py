"""Signals the contracts app sends so that billing (and later revenue) can follow a contract.

Dependencies point from billing to contracts, never back: contracts announce, billing listens.
"""

from django.dispatch import Signal

# Sent after commit when a contract's terms may have changed what comes due: on activation and
# whenever the contract or its lines are saved. Arguments: ``contract``.
contract_terms_changed = Signal()
