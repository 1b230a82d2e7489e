"""Books the dashboard tests read, built through the engine as the report tests build theirs."""

from tests.billing.conftest import activate, bill  # noqa: F401  (fixtures shared with billing)
from tests.reports.conftest import annual_deal  # noqa: F401
from tests.revenue.conftest import close, recognize  # noqa: F401
