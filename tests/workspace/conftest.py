"""Fixtures of the workspace page tests: the report tests' books, built through the engine."""

from tests.billing.conftest import activate, bill  # noqa: F401  (fixtures shared with billing)
from tests.reports.conftest import annual_deal  # noqa: F401
from tests.revenue.conftest import recognize  # noqa: F401
