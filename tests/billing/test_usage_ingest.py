"""Usage ingestion through the service: each record counted once, bad records rejected alone."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.models import UsageRecord
from billing.usage import UsageStatus, usage_record_ingest, usage_records_ingest
from contracts.models import Contract

pytestmark = pytest.mark.django_db

ACCEPTED, DUPLICATE = UsageStatus.ACCEPTED, UsageStatus.DUPLICATE
CONFLICT, REJECTED = UsageStatus.CONFLICT, UsageStatus.REJECTED


@pytest.fixture
def usage_line(contract_factory, contract_line_factory, product_factory, activate):
    """A usage line of an active 2026 contract K-USE, product API-CALLS, key "acme-api"."""
    contract = contract_factory(number="K-USE", start_date=date(2026, 1, 1))
    line = contract_line_factory(
        contract=contract,
        usage=True,
        product=product_factory(sku="API-CALLS"),
        subscription_key="acme-api",
    )
    activate(contract)
    return line


def record(line, key="k-1", quantity="10", occurred_at="2026-03-01T12:00:00Z", **extra) -> dict:
    return {
        "line": line.pk,
        "quantity": quantity,
        "occurred_at": occurred_at,
        "idempotency_key": key,
        **extra,
    }


def ingest(*records) -> list:
    return usage_records_ingest(records=list(records), source="tests").results


def statuses(results) -> list[str]:
    return [result.status for result in results]


def test_accepted_record_is_stored_with_its_customer_and_exact_quantity(usage_line):
    [result] = ingest(record(usage_line, quantity="1.000001", attributes={"region": "eu"}))

    assert (result.status, result.field, result.reason) == (ACCEPTED, None, "")
    stored = UsageRecord.objects.get()
    assert result.record_id == stored.pk
    assert stored.line == usage_line
    assert stored.customer_id == usage_line.contract.customer_id
    assert stored.quantity == Decimal("1.000001")
    assert stored.occurred_at == datetime(2026, 3, 1, 12, tzinfo=UTC)
    assert stored.attributes == {"region": "eu"}
    assert len(stored.payload_hash) == 64
    assert stored.billed_event is None


def test_record_sent_twice_is_a_duplicate_and_counted_once(usage_line):
    [first] = ingest(record(usage_line))
    # A retry may spell the same payload differently: same line, quantity and instant.
    [again] = ingest(record(usage_line, quantity="10.000", occurred_at="2026-03-01T14:00:00+02:00"))

    assert (first.status, again.status) == (ACCEPTED, DUPLICATE)
    assert again.record_id == first.record_id
    assert again.reason == ""
    assert UsageRecord.objects.count() == 1


def test_key_reused_for_other_usage_is_a_conflict_that_changes_nothing(usage_line):
    [first] = ingest(record(usage_line, quantity="10"))
    [reused] = ingest(record(usage_line, quantity="11"))

    assert reused.status == CONFLICT
    assert reused.field == "idempotency_key"
    assert "'k-1'" in reused.reason and "different usage" in reused.reason
    assert reused.record_id == first.record_id
    assert list(UsageRecord.objects.values_list("quantity", flat=True)) == [Decimal(10)]


def test_attributes_are_part_of_the_payload(usage_line):
    ingest(record(usage_line, attributes={"region": "eu"}))
    [same, other] = ingest(
        record(usage_line, attributes={"region": "eu"}),
        record(usage_line, key="k-1", attributes={"region": "us"}),
    )
    assert (same.status, other.status) == (DUPLICATE, CONFLICT)


def test_keys_are_per_customer(usage_line, contract_factory, contract_line_factory, activate):
    other = contract_line_factory(contract=contract_factory(), usage=True)
    activate(other.contract)

    results = ingest(record(usage_line, key="same"), record(other, key="same"))

    assert statuses(results) == [ACCEPTED, ACCEPTED]


def test_line_named_by_subscription_key_or_contract_and_product(usage_line):
    by_key = {"subscription_key": "acme-api", "idempotency_key": "a"}
    by_product = {"contract": "K-USE", "product": "API-CALLS", "idempotency_key": "b"}
    common = {"quantity": 3, "occurred_at": "2026-03-01T00:00:00Z"}

    results = ingest({**by_key, **common}, {**by_product, **common})

    assert statuses(results) == [ACCEPTED, ACCEPTED]
    assert set(UsageRecord.objects.values_list("line", flat=True)) == {usage_line.pk}


def test_same_payload_named_another_way_is_a_duplicate(usage_line):
    ingest(record(usage_line))
    by_key = {**record(usage_line), "line": None, "subscription_key": "acme-api"}
    assert statuses(ingest(by_key)) == [DUPLICATE]


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"line": 999_999}, "line", "No line has id 999999"),
        ({"line": None, "subscription_key": "nope"}, "subscription_key", "'nope'"),
        ({"line": None, "contract": "K-USE", "product": "OTHER"}, "product", "product OTHER"),
        ({"line": None, "contract": "K-USE"}, "product", "required"),
        ({"subscription_key": "acme-api"}, "line", "exactly one"),
        ({"quantity": "-1"}, "quantity", "negative"),
        ({"quantity": "1.0000001"}, "quantity", "6 decimals"),
        ({"quantity": "ten"}, "quantity", "not a number"),
        ({"quantity": 1.5}, "quantity", "decimal string"),
        ({"occurred_at": "2027-01-01T00:00:00Z"}, "occurred_at", "outside the term"),
        ({"occurred_at": "2025-12-31T23:59:59Z"}, "occurred_at", "2025-12-31"),
        ({"occurred_at": "2026-03-01T12:00:00"}, "occurred_at", "UTC offset"),
        ({"occurred_at": "yesterday"}, "occurred_at", "ISO 8601"),
        ({"idempotency_key": ""}, "idempotency_key", "required"),
        ({"idempotency_key": "x" * 129}, "idempotency_key", "128"),
        ({"attributes": ["a"]}, "attributes", "object"),
        ({"quantiy": "1"}, "quantiy", "Unknown field"),
        ({"line": 2**63}, "line", "not a line id"),
        ({"line": "12a"}, "line", "not a line id"),
        ({"quantity": None}, "quantity", "required"),
        ({"occurred_at": None}, "occurred_at", "required"),
        ({"occurred_at": "0001-01-01T00:00:00+05:00"}, "occurred_at", "out of range"),
        # Text PostgreSQL cannot store must not reach it (and fail the whole chunk).
        ({"idempotency_key": "a\x00b"}, "idempotency_key", "NUL"),
        ({"idempotency_key": "\ud800"}, "idempotency_key", "invalid Unicode"),
        ({"line": None, "subscription_key": "k\x00"}, "subscription_key", "NUL"),
        ({"attributes": {"note": "a\x00"}}, "attributes", "NUL"),
        ({"attributes": {"note": "\udfff"}}, "attributes", "invalid Unicode"),
        ({"attributes": {"when": object()}}, "attributes", "JSON"),
    ],
)
def test_bad_record_is_rejected_with_the_field_at_fault(usage_line, change, field, words):
    [result] = ingest({**record(usage_line), **change})

    assert (result.status, result.field, result.record_id) == (REJECTED, field, None)
    assert words in result.reason
    assert not UsageRecord.objects.exists()


def test_not_a_mapping_is_rejected(usage_line):
    assert [(r.status, r.field) for r in ingest("line 1 used 10")] == [(REJECTED, "record")]


def test_term_is_read_in_the_project_time_zone(usage_line, settings):
    settings.TIME_ZONE = "America/New_York"
    # 1 Jan 2027 03:00 UTC is still 31 Dec 2026 in New York: inside the term.
    late = record(usage_line, key="late", occurred_at="2027-01-01T03:00:00Z")
    # 1 Jan 2026 03:00 UTC is 31 Dec 2025 in New York: before it.
    early = record(usage_line, key="early", occurred_at="2026-01-01T03:00:00Z")

    assert statuses(ingest(late, early)) == [ACCEPTED, REJECTED]


def test_evergreen_line_takes_usage_at_any_later_date(
    contract_factory, contract_line_factory, activate
):
    contract = contract_factory(end_date=None, evergreen=True)
    line = contract_line_factory(contract=contract, usage=True)
    activate(contract)

    assert statuses(ingest(record(line, occurred_at="2031-06-01T00:00:00Z"))) == [ACCEPTED]


def test_non_usage_line_is_rejected(contract_line_factory, activate):
    line = contract_line_factory()
    activate(line.contract)

    [result] = ingest(record(line))

    assert (result.status, result.field) == (REJECTED, "line")
    assert "subscription line, not a usage line" in result.reason


@pytest.mark.parametrize(
    ("status", "taken"),
    [
        (Contract.Status.DRAFT, False),
        (Contract.Status.TERMINATED, False),
        (Contract.Status.COMPLETED, True),
    ],
)
def test_only_active_or_completed_contracts_take_usage(usage_line, status, taken):
    Contract.objects.filter(pk=usage_line.contract_id).update(status=status)

    [result] = ingest(record(usage_line))

    assert result.status == (ACCEPTED if taken else REJECTED)
    if not taken:
        assert (result.field, status.label.lower() in result.reason) == ("line", True)


def test_batch_keeps_the_good_records_and_reports_each_in_order(usage_line):
    ingest(record(usage_line, key="old"))

    results = ingest(
        record(usage_line, key="a"),
        record(usage_line, key="b", quantity="-5"),
        record(usage_line, key="old"),
        record(usage_line, key="c", occurred_at="2030-01-01T00:00:00Z"),
        record(usage_line, key="old", quantity="99"),
        record(usage_line, key="d"),
    )

    assert [r.index for r in results] == [0, 1, 2, 3, 4, 5]
    assert statuses(results) == [ACCEPTED, REJECTED, DUPLICATE, REJECTED, CONFLICT, ACCEPTED]
    assert sorted(UsageRecord.objects.values_list("idempotency_key", flat=True)) == [
        "a",
        "d",
        "old",
    ]


def test_key_repeated_within_a_batch_counts_its_first_valid_record(usage_line):
    results = ingest(
        record(usage_line, key="r", quantity="-1"),  # rejected: does not claim the key
        record(usage_line, key="r", quantity="2"),
        record(usage_line, key="r", quantity="2"),
        record(usage_line, key="r", quantity="3"),
    )

    assert statuses(results) == [REJECTED, ACCEPTED, DUPLICATE, CONFLICT]
    assert results[1].record_id == results[2].record_id == results[3].record_id
    assert list(UsageRecord.objects.values_list("quantity", flat=True)) == [Decimal(2)]


def test_key_repeated_across_chunks_is_judged_against_the_first(usage_line, monkeypatch):
    monkeypatch.setattr("billing.usage.CHUNK_SIZE", 2)
    results = ingest(
        record(usage_line, key="a"),
        record(usage_line, key="b"),
        record(usage_line, key="a"),
        record(usage_line, key="b", quantity="1"),
        record(usage_line, key="c"),
    )

    assert statuses(results) == [ACCEPTED, ACCEPTED, DUPLICATE, CONFLICT, ACCEPTED]
    assert UsageRecord.objects.count() == 3


def test_ingesting_a_batch_again_changes_nothing(usage_line):
    batch = [record(usage_line, key=f"k-{n}", quantity=str(n)) for n in range(20)]
    first = ingest(*batch)
    stored = list(UsageRecord.objects.values_list("pk", "quantity", "received_at"))

    again = ingest(*batch)

    assert set(statuses(first)) == {ACCEPTED}
    assert set(statuses(again)) == {DUPLICATE}
    assert [r.record_id for r in again] == [r.record_id for r in first]
    assert list(UsageRecord.objects.values_list("pk", "quantity", "received_at")) == stored


def test_single_record_service(usage_line):
    result = usage_record_ingest(
        source="tests",
        subscription_key="acme-api",
        quantity=Decimal("2.5"),
        occurred_at=datetime(2026, 5, 1, tzinfo=UTC),
        idempotency_key="one",
    )
    again = usage_record_ingest(
        source="tests",
        line=usage_line.pk,
        quantity="2.50",
        occurred_at="2026-05-01T00:00:00+00:00",
        idempotency_key="one",
    )

    assert (result.status, again.status) == (ACCEPTED, DUPLICATE)
    assert UsageRecord.objects.get().quantity == Decimal("2.5")


def test_result_totals(usage_line):
    outcome = usage_records_ingest(
        records=[record(usage_line, key="a"), record(usage_line, key="a"), {}], source="tests"
    )
    assert outcome.counts == {"accepted": 1, "duplicate": 1, "conflict": 0, "rejected": 1}


def test_queries_do_not_grow_with_the_batch(usage_line, product_factory):
    product_factory(sku="OTHER")
    names = [
        {"line": usage_line.pk},
        {"subscription_key": "acme-api"},
        {"contract": "K-USE", "product": "API-CALLS"},
        {"line": 10**9},  # unknown
    ]

    def statements(size: int, first: int) -> tuple[int, int]:
        """Ingest ``size`` new records, one in four duplicates; return (other, INSERT) counts."""
        records = [
            {**record(usage_line, key=f"q-{n}"), "line": None, **names[n % 4]}
            for n in range(first, first + size)
        ]
        ingest(*records[: size // 4])
        with CaptureQueriesContext(connection) as queries:
            results = ingest(*records)
        assert statuses(results).count(DUPLICATE) == size // 4 - size // 16
        assert statuses(results).count(ACCEPTED) == size - size // 4 - (size // 4 - size // 16)
        inserts = [q for q in queries.captured_queries if q["sql"].lstrip().startswith("INSERT")]
        return len(queries) - len(inserts), len(inserts)

    small, large = statements(16, 0), statements(1_000, 100)

    # Line look-ups (one per way of naming a line), savepoint, insert and read-back; SQLite
    # splits an insert into statements of at most 999 parameters.
    assert small[0] == large[0] <= 8
    if connection.vendor == "postgresql":
        assert small[1] == large[1] == 1
