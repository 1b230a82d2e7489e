"""The shipment API: a shipment bills what shipped, the rest waits, refusals name the field."""

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from billing.models import BillingEvent, InvoiceLine, Shipment
from billing.shipments import backordered_quantity
from tests.billing.conftest import assert_invoiced_events_billed_once, usd

pytestmark = pytest.mark.django_db

SHIPMENTS = "/api/v1/shipments/"


@pytest.fixture
def warehouse(token_client) -> APIClient:
    return token_client("warehouse", "view_shipment", "add_shipment")


@pytest.fixture
def routers(contract_line_factory, activate):
    """10 routers at 15.00 each on an active contract, billed as they ship."""
    line = contract_line_factory(
        one_time=True,
        one_time_trigger="on_shipment",
        description="Router",
        quantity=Decimal(10),
        unit_price=usd("15.00"),
    )
    activate(line.contract)
    return line


@pytest.fixture
def post(django_capture_on_commit_callbacks):
    def post(client: APIClient, body: dict):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(SHIPMENTS, body, format="json")

    return post


def test_a_partial_shipment_bills_what_shipped(warehouse, routers, post, bill):
    response = post(
        warehouse,
        {"line": routers.pk, "shipped_on": "2026-01-10", "quantity": 6, "reference": "DN-1"},
    )

    assert response.status_code == 201, response.json()
    shipment = Shipment.objects.get()
    contract = routers.contract
    assert response.json() == {
        "id": shipment.pk,
        "line": routers.pk,
        "contract": contract.pk,
        "contract_number": contract.number,
        "customer": contract.customer_id,
        "shipped_on": "2026-01-10",
        "quantity": "6.0000",
        "reference": "DN-1",
        "created_at": response.json()["created_at"],
    }
    assert backordered_quantity(routers) == Decimal(4)
    [event] = BillingEvent.objects.filter(kind=BillingEvent.Kind.SHIPMENT)
    # 6 x 15.00 = 90.00, invoiced by the month's run.
    assert (event.quantity, event.amount) == (Decimal(6), usd("90.00"))
    bill(date(2026, 1, 31))
    [line] = InvoiceLine.objects.all()
    assert (line.event_id, line.amount) == (event.pk, usd("90.00"))
    assert_invoiced_events_billed_once()


def test_a_json_fraction_is_read_exactly(warehouse, contract_line_factory, activate, post):
    cable = contract_line_factory(
        one_time=True, one_time_trigger="on_shipment", quantity=Decimal("2.5")
    )
    activate(cable.contract)

    response = post(warehouse, {"line": cable.pk, "shipped_on": "2026-01-10", "quantity": 0.1})

    assert response.status_code == 201, response.json()
    assert Shipment.objects.get().quantity == Decimal("0.1")


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"quantity": "11"}, "quantity", "Only 10 of 10 units are left to ship on this line"),
        ({"quantity": "0"}, "quantity", "Ship more than zero units."),
        ({"shipped_on": "2025-12-31"}, "shipped_on", "a shipment cannot be earlier"),
        ({"quantity": "1.00001"}, "quantity", "no more than 4 decimal places"),
        ({"line": 999999}, "line", 'Invalid pk "999999"'),
    ],
)
def test_refusals_are_400s_naming_the_field(warehouse, routers, post, change, field, message):
    sent = {"line": routers.pk, "shipped_on": "2026-01-10", "quantity": "1", **change}

    refused = post(warehouse, sent)

    assert refused.status_code == 400, refused.json()
    assert message in " ".join(refused.json()["fields"][field])
    assert not Shipment.objects.exists()


def test_a_subscription_line_is_not_shipped(warehouse, contract_line_factory, activate, post):
    seats = contract_line_factory()
    activate(seats.contract)

    refused = post(warehouse, {"line": seats.pk, "shipped_on": "2026-01-10", "quantity": "1"})

    assert refused.status_code == 400
    assert refused.json()["fields"] == {"line": ["Only one-time lines are shipped."]}


def test_filters_and_reads(token_client, warehouse, routers, contract_line_factory, activate, post):
    other = contract_line_factory(one_time=True, quantity=Decimal(5))
    activate(other.contract)
    post(warehouse, {"line": routers.pk, "shipped_on": "2026-01-10", "quantity": "6"})
    post(warehouse, {"line": routers.pk, "shipped_on": "2026-02-10", "quantity": "4"})
    post(warehouse, {"line": other.pk, "shipped_on": "2026-01-20", "quantity": "5"})
    reader = token_client("auditor", "view_shipment")

    def shipped(**query) -> list[tuple[int, str]]:
        response = reader.get(SHIPMENTS, query)
        assert response.status_code == 200, response.json()
        return [(row["line"], row["shipped_on"]) for row in response.json()["results"]]

    assert shipped() == [
        (routers.pk, "2026-02-10"),
        (other.pk, "2026-01-20"),
        (routers.pk, "2026-01-10"),
    ]
    assert shipped(contract=routers.contract_id) == [
        (routers.pk, "2026-02-10"),
        (routers.pk, "2026-01-10"),
    ]
    assert shipped(customer=other.contract.customer_id) == [(other.pk, "2026-01-20")]
    assert shipped(shipped_on_before="2026-01-15", ordering="shipped_on") == [
        (routers.pk, "2026-01-10")
    ]
    one = Shipment.objects.get(line=other)
    assert reader.get(f"{SHIPMENTS}{one.pk}/").json()["quantity"] == "5.0000"


class TestPermissions:
    def test_recording_needs_the_add_permission(self, token_client, routers, post):
        reader = token_client("auditor", "view_shipment")

        denied = post(reader, {"line": routers.pk, "shipped_on": "2026-01-10", "quantity": "1"})

        assert denied.status_code == 403
        assert not Shipment.objects.exists()

    def test_reading_needs_the_view_permission(self, token_client, warehouse, routers, post):
        made = post(warehouse, {"line": routers.pk, "shipped_on": "2026-01-10", "quantity": "1"})
        adder = token_client("adder", "add_shipment")

        assert adder.get(SHIPMENTS).status_code == 403
        assert adder.get(f"{SHIPMENTS}{made.json()['id']}/").status_code == 403
        assert warehouse.get(f"{SHIPMENTS}999999/").status_code == 404

    def test_a_shipment_is_never_edited_or_deleted(self, token_client, warehouse, routers, post):
        made = post(warehouse, {"line": routers.pk, "shipped_on": "2026-01-10", "quantity": "1"})
        admin = token_client("all", "view_shipment", "change_shipment", "delete_shipment")
        path = f"{SHIPMENTS}{made.json()['id']}/"

        assert admin.patch(path, {"quantity": "2"}, format="json").status_code == 405
        assert admin.delete(path).status_code == 405


def test_a_page_costs_the_same_queries_for_1_or_30_shipments(
    token_client, contract_line_factory, django_assert_max_num_queries
):
    reader = token_client("auditor", "view_shipment")

    def make(count: int) -> None:
        for _ in range(count):
            line = contract_line_factory(one_time=True, quantity=Decimal(5))
            Shipment.objects.create(line=line, shipped_on=date(2026, 1, 10), quantity=Decimal(1))

    make(1)
    with CaptureQueriesContext(connection) as one:
        assert len(reader.get(SHIPMENTS).json()["results"]) == 1
    make(29)

    with django_assert_max_num_queries(len(one)):
        assert len(reader.get(SHIPMENTS).json()["results"]) == 30
