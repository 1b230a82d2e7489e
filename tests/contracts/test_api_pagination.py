"""Large lists: numbered pages for people, cursor pages for syncs that walk everything."""

import pytest

from contracts.models import Customer

pytestmark = pytest.mark.django_db

CUSTOMERS = "/api/v1/customers/"


@pytest.fixture
def reader(token_client):
    return token_client("sync", "view_customer")


def walk(reader, **params) -> tuple[list[int], list[dict]]:
    """Follow ``next`` from the first cursor page; return the ids seen and the pages."""
    pages = [reader.get(CUSTOMERS, {"cursor": "", **params}).json()]
    while pages[-1]["next"]:
        pages.append(reader.get(pages[-1]["next"]).json())
    return [row["id"] for page in pages for row in page["results"]], pages


def test_cursor_pages_walk_every_row_once_in_id_order(reader, customer_factory):
    made = [customer_factory().pk for _ in range(7)]

    ids, pages = walk(reader, page_size=3, ordering="-legal_name")

    assert ids == sorted(made)
    assert [len(page["results"]) for page in pages] == [3, 3, 1]
    assert all("count" not in page for page in pages)


def test_rows_added_while_walking_do_not_shift_the_pages(reader, customer_factory):
    made = [customer_factory().pk for _ in range(4)]
    first = reader.get(CUSTOMERS, {"cursor": "", "page_size": 2}).json()
    Customer.objects.filter(pk=made[0]).delete()
    late = customer_factory().pk

    rest = reader.get(first["next"]).json()

    assert [row["id"] for row in first["results"]] == made[:2]
    assert [row["id"] for row in rest["results"]] == [*made[2:], late][:2]


def test_numbered_pages_still_count_and_sort(reader, customer_factory):
    for name in ("Cobalt", "Azure", "Beryl"):
        customer_factory(legal_name=name)

    page = reader.get(CUSTOMERS, {"ordering": "legal_name", "page_size": 2}).json()

    assert page["count"] == 3
    assert [row["legal_name"] for row in page["results"]] == ["Azure", "Beryl"]


def test_a_forged_cursor_is_a_404_in_the_error_shape(reader):
    response = reader.get(CUSTOMERS, {"cursor": "not-a-cursor"})

    assert response.status_code == 404
    assert response.json()["type"] == "not_found"
