"""A performance obligation's page costs the same few queries however long its schedule is.

issue #11 item 5 (no N+1): a small and a large obligation of the same shape
(``tests.page_queries``).
"""

from datetime import date

import pytest

from revenue.models import PerformanceObligation, RevenueScheduleEntry
from tests.admin_urls import admin_url
from tests.page_queries import assert_same_queries

pytestmark = pytest.mark.django_db


@pytest.fixture
def obligation_until(contract_line_factory, activate, bill, recognize):
    """The obligation of a monthly subscription from 1 Jan 2026 to ``end``, billed for January
    and recognized through March."""

    def build(end: date) -> PerformanceObligation:
        line = contract_line_factory(contract__end_date=end)
        activate(line.contract)
        bill(date(2026, 1, 1))
        recognize(date(2026, 3, 31))
        return PerformanceObligation.objects.get(contract=line.contract)

    return build


def test_obligation_page_queries_do_not_grow_with_its_schedule(staff_client, obligation_until):
    small, large = obligation_until(date(2026, 12, 31)), obligation_until(date(2028, 12, 31))
    entries = RevenueScheduleEntry.objects.filter
    assert entries(obligation=large).count() > entries(obligation=small).count()
    assert_same_queries(
        staff_client,
        admin_url(PerformanceObligation, "change", small.pk),
        admin_url(PerformanceObligation, "change", large.pk),
    )
