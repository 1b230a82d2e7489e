"""The contract page costs the same few queries however many lines, events and milestones it has.

issue #11 item 5: no N+1 on any page. Each test builds a small and a large record of the same
shape and compares the statements their admin pages send (``tests.page_queries``).
"""

from datetime import date

import pytest

from billing.models import BillingEvent, Invoice
from contracts.models import Contract, Milestone
from tests.admin_urls import admin_url
from tests.billing.conftest import usd
from tests.page_queries import assert_same_queries

pytestmark = pytest.mark.django_db


@pytest.fixture
def contract_of(contract_factory, contract_line_factory, activate):
    """An active contract with ``size`` subscription lines (12 monthly events each), one-time
    lines, and milestone lines with two milestones each, each line its own product."""

    def build(size: int) -> Contract:
        contract = contract_factory()
        for n in range(size):
            contract_line_factory(contract=contract)
            contract_line_factory(contract=contract, one_time=True)
            line = contract_line_factory(contract=contract, milestone=True, unit_price=usd(1000))
            for sequence, planned in enumerate((date(2026, 3, 1), date(2026, 6, 1)), start=1):
                Milestone.objects.create(
                    line=line,
                    sequence=sequence,
                    name=f"Step {n}.{sequence}",
                    planned_date=planned,
                    amount=usd(500),
                )
        activate(contract)
        return contract

    return build


def test_contract_page_queries_do_not_grow_with_its_lines(staff_client, contract_of):
    small, large = contract_of(1), contract_of(4)
    assert BillingEvent.objects.filter(contract=large).count() > 4 * 12
    assert_same_queries(
        staff_client,
        admin_url(Contract, "change", small.pk),
        admin_url(Contract, "change", large.pk),
    )


def test_contract_page_still_names_each_lines_product(staff_client, contract_of):
    """The product autocomplete shows each line's product, taken from the loaded lines."""
    contract = contract_of(2)
    page = staff_client.get(admin_url(Contract, "change", contract.pk)).content.decode()
    for line in contract.lines.select_related("product"):
        assert f'<option value="{line.product_id}" selected>{line.product}</option>' in page


def test_invoice_page_queries_do_not_grow_with_its_lines(staff_client, issued_invoice):
    small, large = issued_invoice("10.00"), issued_invoice(*(f"{n}0.00" for n in range(1, 9)))
    assert large.lines.count() == 8
    assert_same_queries(
        staff_client, admin_url(Invoice, "change", small.pk), admin_url(Invoice, "change", large.pk)
    )
