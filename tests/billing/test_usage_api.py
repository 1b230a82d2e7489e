"""The usage API (``/api/v1/usage-records/``): sending usage by token, results, listing."""

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from billing.api.serializers import MAX_BATCH
from billing.models import UsageRecord
from billing.usage import usage_records_ingest

pytestmark = pytest.mark.django_db

URL = "/api/v1/usage-records/"


@pytest.fixture
def usage_line(contract_factory, contract_line_factory, activate):
    contract = contract_factory(number="K-API", start_date=date(2026, 1, 1))
    line = contract_line_factory(contract=contract, usage=True, subscription_key="acme-api")
    activate(contract)
    return line


@pytest.fixture
def sender(token_client) -> APIClient:
    return token_client("add_usagerecord", "add_usagerecord")


def record(key="k-1", quantity="10", occurred_at="2026-03-01T12:00:00Z", **extra) -> dict:
    return {
        "subscription_key": "acme-api",
        "quantity": quantity,
        "occurred_at": occurred_at,
        "idempotency_key": key,
        **extra,
    }


def post(client, body, **headers):
    return client.post(URL, body, format="json", headers=headers)


def test_sending_needs_a_login_and_the_add_permission(client, token_client, usage_line):
    assert post(APIClient(), record()).status_code == 401
    bad_token = APIClient()
    bad_token.credentials(HTTP_AUTHORIZATION="Token nope")
    assert post(bad_token, record()).status_code == 401
    assert post(token_client("view_usagerecord", "view_usagerecord"), record()).status_code == 403
    assert not UsageRecord.objects.exists()


def test_session_login_works_too(staff_client, usage_line):
    response = staff_client.post(URL, record(), content_type="application/json")
    assert response.status_code == 201


def test_single_record_accepted_then_duplicate_then_conflict(sender, usage_line):
    accepted = post(sender, record())
    duplicate = post(sender, record(quantity="10.0"))
    conflict = post(sender, record(quantity="11"))

    assert accepted.status_code == 201
    stored = UsageRecord.objects.get()
    assert accepted.json() == {
        "index": 0,
        "status": "accepted",
        "id": stored.pk,
        "field": None,
        "reason": "",
    }
    # A retry is not an error: 200, the stored record's id, nothing stored twice.
    assert duplicate.status_code == 200
    assert (duplicate.json()["status"], duplicate.json()["id"]) == ("duplicate", stored.pk)
    assert conflict.status_code == 409
    assert conflict.json()["field"] == "idempotency_key"
    assert "different usage" in conflict.json()["reason"]
    assert list(UsageRecord.objects.values_list("quantity", flat=True)) == [Decimal(10)]


def test_single_record_rejected_names_the_field(sender, usage_line):
    response = post(sender, record(quantity="-3"))

    assert response.status_code == 400
    assert response.json()["type"] == "validation_error"
    [message] = response.json()["fields"]["quantity"]
    assert "negative" in message
    assert not UsageRecord.objects.exists()


def test_json_numbers_are_read_exactly(sender, usage_line):
    # 0.1 + 0.2 in binary floating point is 0.30000000000000004: never through a float.
    response = sender.post(
        URL,
        '{"subscription_key": "acme-api", "quantity": 0.3, "idempotency_key": "exact", '
        '"occurred_at": "2026-03-01T00:00:00+01:00", "attributes": {"ratio": 0.5, "n": 2}}',
        content_type="application/json",
    )

    assert response.status_code == 201, response.json()
    stored = UsageRecord.objects.get()
    assert stored.quantity == Decimal("0.3")
    assert stored.attributes == {"ratio": "0.5", "n": 2}


def test_idempotency_key_header_for_a_single_record(sender, usage_line):
    body = record()
    del body["idempotency_key"]

    first = post(sender, body, **{"Idempotency-Key": "from-header"})
    again = post(sender, body, **{"Idempotency-Key": "from-header"})
    clash = post(sender, record(key="other"), **{"Idempotency-Key": "from-header"})
    missing = post(sender, body)

    # The API-wide Idempotency-Key replays the first response; another body under it is refused.
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["Idempotent-Replayed"] == "true" and again.json() == first.json()
    assert UsageRecord.objects.get().idempotency_key == "from-header"
    assert clash.status_code == 422 and "Idempotency-Key" in clash.json()["fields"]
    assert missing.status_code == 400 and "idempotency_key" in missing.json()["fields"]


def test_batch_reports_each_record_and_keeps_the_good_ones(sender, usage_line):
    post(sender, record(key="old"))

    response = post(
        sender,
        [
            record(key="a"),
            record(key="b", quantity="-1"),
            record(key="old"),
            record(key="old", quantity="5"),
            record(key="c", subscription_key="unknown"),
            record(key="d", occurred_at="2027-06-01T00:00:00Z"),
            record(key="a"),
        ],
    )

    assert response.status_code == 207
    body = response.json()
    assert {name: body[name] for name in ("accepted", "duplicate", "conflict", "rejected")} == {
        "accepted": 1,
        "duplicate": 2,
        "conflict": 1,
        "rejected": 3,
    }
    assert [(r["index"], r["status"], r["field"]) for r in body["results"]] == [
        (0, "accepted", None),
        (1, "rejected", "quantity"),
        (2, "duplicate", None),
        (3, "conflict", "idempotency_key"),
        (4, "rejected", "subscription_key"),
        (5, "rejected", "occurred_at"),
        (6, "duplicate", None),
    ]
    assert body["results"][0]["id"] == body["results"][6]["id"]
    assert sorted(UsageRecord.objects.values_list("idempotency_key", flat=True)) == ["a", "old"]


def test_batch_sent_twice_is_all_duplicates_with_200(sender, usage_line):
    batch = {"records": [record(key=f"k-{n}") for n in range(50)]}

    first = post(sender, batch)
    again = post(sender, batch)

    assert (first.status_code, first.json()["accepted"]) == (200, 50)
    assert (again.status_code, again.json()["duplicate"], again.json()["accepted"]) == (200, 50, 0)
    assert [r["id"] for r in again.json()["results"]] == [r["id"] for r in first.json()["results"]]
    assert UsageRecord.objects.count() == 50


def test_batch_of_the_largest_size_is_taken(sender, usage_line):
    response = post(sender, [record(key=f"k-{n}") for n in range(MAX_BATCH)])

    assert (response.status_code, response.json()["accepted"]) == (200, MAX_BATCH)


def test_oversize_batch_is_refused_whole(sender, usage_line):
    response = post(sender, [record(key=f"k-{n}") for n in range(MAX_BATCH + 1)])

    assert response.status_code == 413
    assert "at most 10,000" in response.json()["detail"]
    assert not UsageRecord.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([], "records"),
        ({"records": "nope"}, "records"),
        ({"records": [], "extra": 1}, "records"),
        ("just text", "non_field_errors"),
    ],
)
def test_malformed_body_is_a_400_naming_the_problem(sender, usage_line, body, field):
    response = post(sender, body)

    assert response.status_code == 400
    assert field in response.json()["fields"]


def test_a_batch_retried_under_its_header_key_gets_the_first_response(sender, usage_line):
    batch = [record(key="a"), record(key="b")]
    first = post(sender, batch, **{"Idempotency-Key": "batch-1"})
    again = post(sender, batch, **{"Idempotency-Key": "batch-1"})

    assert (first.status_code, first.json()["accepted"]) == (200, 2)
    assert (again.status_code, again.json()) == (200, first.json())
    assert again.headers["Idempotent-Replayed"] == "true"
    assert UsageRecord.objects.count() == 2


def test_invalid_json_is_a_400(sender):
    response = sender.post(URL, "[{", content_type="application/json")
    assert response.status_code == 400


# --- Listing ------------------------------------------------------------------------------------


@pytest.fixture
def stored(usage_line, contract_factory, contract_line_factory, activate):
    """Usage of two lines of two customers: March and April on the first, March on the other."""
    other = contract_line_factory(contract=contract_factory(), usage=True)
    activate(other.contract)
    records = [
        {"line": usage_line.pk, **record(key="mar", occurred_at="2026-03-05T00:00:00Z")},
        {"line": usage_line.pk, **record(key="apr", occurred_at="2026-04-05T00:00:00Z")},
        {"line": other.pk, **record(key="other", occurred_at="2026-03-07T00:00:00Z")},
    ]
    for item in records:
        del item["subscription_key"]
    usage_records_ingest(records=records, source="tests")
    return usage_line, other


def keys(response) -> list[str]:
    assert response.status_code == 200, response.json()
    return [item["idempotency_key"] for item in response.json()["results"]]


def test_listing_needs_the_view_permission(token_client, stored):
    assert APIClient().get(URL).status_code == 401
    assert token_client("add_usagerecord", "add_usagerecord").get(URL).status_code == 403
    assert token_client("view_usagerecord", "view_usagerecord").get(URL).status_code == 200


def test_listing_shows_records_and_filters_them(token_client, stored):
    line, other = stored
    reader = token_client("view_usagerecord", "view_usagerecord")

    everything = reader.get(URL)
    assert keys(everything) == ["mar", "apr", "other"]
    first = everything.json()["results"][0]
    assert first["line"] == line.pk
    assert first["contract"] == line.contract_id
    assert first["contract_number"] == "K-API"
    assert first["customer"] == line.contract.customer_id
    assert first["quantity"] == "10.000000"
    assert first["occurred_at"] == "2026-03-05T00:00:00Z"
    assert first["billed_event"] is None

    assert keys(reader.get(URL, {"line": line.pk})) == ["mar", "apr"]
    assert keys(reader.get(URL, {"contract": other.contract_id})) == ["other"]
    assert keys(reader.get(URL, {"customer": other.contract.customer_id})) == ["other"]
    march = {"occurred_at_after": "2026-03-01T00:00:00Z", "occurred_at_before": "2026-03-31T23:59Z"}
    assert keys(reader.get(URL, march)) == ["mar", "other"]
    assert keys(reader.get(URL, {"billed": "false"})) == ["mar", "apr", "other"]
    assert keys(reader.get(URL, {"billed": "true"})) == []
    assert keys(reader.get(URL, {"ordering": "-occurred_at"})) == ["apr", "other", "mar"]


def test_listing_queries_do_not_grow_with_the_page(token_client, stored):
    line, _ = stored
    reader = token_client("view_usagerecord", "view_usagerecord")
    reader.get(URL)  # the token's user and permissions are cached per request, not here

    with CaptureQueriesContext(connection) as few:
        reader.get(URL, {"line": line.pk})
    usage_records_ingest(
        records=[
            {"line": line.pk, **record(key=f"more-{n}"), "subscription_key": None}
            for n in range(30)
        ],
        source="tests",
    )
    with CaptureQueriesContext(connection) as many:
        response = reader.get(URL, {"line": line.pk})

    assert response.json()["count"] == 32
    assert len(many) == len(few)


def test_an_instant_with_any_iso_offset_filters_as_the_same_utc_instant(token_client, stored):
    reader = token_client("view_usagerecord", "view_usagerecord")

    # 2026-03-05T00:00Z written with an offset PostgreSQL cannot store (beyond ±15:59).
    at_mar = reader.get(URL, {"occurred_at_before": "2026-03-05T23:30:00+23:30"})
    past_the_calendar = reader.get(URL, {"occurred_at_before": "9999-12-31T23:00:00-05:00"})

    assert keys(at_mar) == ["mar"]
    assert past_the_calendar.status_code == 400
    assert list(past_the_calendar.json()["fields"]) == ["occurred_at"]
