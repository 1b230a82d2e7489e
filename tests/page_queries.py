"""Counting the statements an admin page sends, for the no-N+1 tests (issue #11, item 5)."""

from django.db import connection
from django.test.utils import CaptureQueriesContext


def page_queries(client, url: str) -> int:
    """Fetch ``url`` (which must answer 200) and return how many statements it sent."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


def assert_same_queries(client, small_url: str, large_url: str) -> None:
    """The page of a large record sends as many statements as that of a small one."""
    page_queries(client, small_url)  # warm-up: content types and other per-process caches
    assert page_queries(client, large_url) == page_queries(client, small_url)
