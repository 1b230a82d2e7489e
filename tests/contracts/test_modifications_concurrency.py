"""Two clerks applying the same modification at once, on a real PostgreSQL: it applies once.

Each thread has its own connection, so the modification's row lock is PostgreSQL's own.
"""

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from djmoney.money import Money

from contracts.models import Contract, ContractLine, Modification, ModificationChange
from contracts.modifications import modification_apply
from contracts.signals import contract_modified
from tests.integration.support import run_together

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_concurrent_applies_split_the_line_once_and_announce_once(
    contract_factory, contract_line_factory
):
    if connection.vendor != "postgresql":
        pytest.fail("This race needs PostgreSQL's row locks: set DATABASE_URL=postgres://…")
    contract = contract_factory(
        start_date=date(2026, 4, 1), end_date=date(2027, 3, 31), status=Contract.Status.ACTIVE
    )
    line = contract_line_factory(
        contract=contract, sequence=1, quantity=Decimal(10), unit_price=Money("100", "USD")
    )
    modification = Modification.objects.create(
        contract=contract, reference="A-1", effective_date=date(2026, 4, 16), description="x"
    )
    ModificationChange.objects.create(
        modification=modification, kind="change_quantity", line=line, quantity=Decimal(15)
    )
    announced = []

    def receiver(sender, **kwargs):
        announced.append(kwargs["modification_id"])

    contract_modified.connect(receiver, dispatch_uid="test-concurrent-modified")
    try:
        results = run_together(
            *(
                lambda who=who: modification_apply(
                    modification=Modification.objects.get(pk=modification.pk), by=who
                )
                for who in ("ana", "ben", "cy")
            )
        )
    finally:
        contract_modified.disconnect(dispatch_uid="test-concurrent-modified")

    assert ContractLine.objects.filter(contract=contract).count() == 2
    assert ContractLine.objects.filter(continues=line).count() == 1
    applied_by = Modification.objects.get().applied_by
    assert {r.applied_by for r in results} == {applied_by}
    assert announced == [modification.pk]
