"""Which contracts a user may work on: all of them, or only those they manage as project manager.

A project manager holds milestone permissions but not ``contracts.view_contract``; what they see
and achieve is scoped to the contracts naming them. Anyone who may view contracts in general sees
every contract's rows. Objects outside the scope are absent, not forbidden: the API answers 404.
"""

from django.db.models import QuerySet


def scoped_to_own_contracts(queryset: QuerySet, user, contract_path: str) -> QuerySet:
    """Return ``queryset`` limited to rows whose contract (at ``contract_path``) ``user`` manages,
    unless the user may view every contract."""
    if user.has_perm("contracts.view_contract"):
        return queryset
    return queryset.filter(**{f"{contract_path}__project_manager": user})
