"""The journal's accounts: finance's codes are used, and a missing account is recreated."""

from datetime import date

import pytest

from revenue.models import JournalLine, LedgerAccount

pytestmark = pytest.mark.django_db


def test_invoices_post_to_finance_codes_and_recreate_a_missing_account(
    contract_line_factory, activate, bill
):
    LedgerAccount.objects.filter(role=LedgerAccount.Role.RECEIVABLE).update(code="1100")
    LedgerAccount.objects.filter(role=LedgerAccount.Role.TAX).delete()  # e.g. a flushed table
    line = contract_line_factory(contract__customer__tax_rate=10)
    activate(line.contract)

    bill(date(2026, 1, 1))

    # 100.00 + 10% tax: receivable 110.00 on finance's 1100, tax 10.00 on a recreated 2200.
    assert sorted(JournalLine.objects.values_list("account__code", "debit", "credit")) == [
        ("1100", 110, 0),
        ("1250", 0, 100),
        ("2200", 0, 10),
    ]
