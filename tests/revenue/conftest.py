"""Fixtures of the revenue engine tests: contracts activated and billed, then recognized."""

from datetime import date

import pytest

from revenue.runs import period_close, revenue_recognize
from tests.billing.conftest import activate, bill  # noqa: F401  (fixtures shared with billing)


@pytest.fixture
def recognize():
    """Run revenue recognition through ``as_of`` and return the run."""

    def recognize(as_of: date):
        return revenue_recognize(as_of=as_of, triggered_by="tests")

    return recognize


@pytest.fixture
def close():
    """Close the accounting months through ``through``'s month."""

    def close(through: date):
        return period_close(through=through, closed_by="tests")

    return close
