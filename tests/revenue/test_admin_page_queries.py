"""A performance obligation's page costs the same few queries however long its schedule is.

issue #11 item 5 (no N+1): a small and a large obligation of the same shape, compared after a
warm-up request.
"""

from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from revenue.models import PerformanceObligation, RevenueScheduleEntry
from tests.admin_urls import admin_url

pytestmark = pytest.mark.django_db


def page_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


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
    small_url = admin_url(PerformanceObligation, "change", small.pk)
    page_queries(staff_client, small_url)  # warm-up
    large_url = admin_url(PerformanceObligation, "change", large.pk)
    assert page_queries(staff_client, large_url) == page_queries(staff_client, small_url)
