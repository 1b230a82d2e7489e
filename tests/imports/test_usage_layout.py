"""The usage CSV layout: rows stored through the ingestion service, each at most once."""

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.imports.usage import UsageLayout
from billing.models import UsageRecord
from contracts.models import Contract
from imports.engine import ImportReport, Mode, Status, import_csv
from imports.export import export_csv

pytestmark = pytest.mark.django_db

HEADER = "line,subscription_key,contract,product,quantity,occurred_at,idempotency_key,attributes"
SAMPLE = Path(__file__).parents[2] / "docs" / "samples" / "usage.csv"
NEW, UNCHANGED, ERROR = Status.NEW, Status.UNCHANGED, Status.ERROR


@pytest.fixture
def usage_line(contract_factory, contract_line_factory, product_factory):
    """A usage line of the active 2026 contract K-USE, product API-CALLS, key "acme-api"."""
    contract = contract_factory(
        number="K-USE", status=Contract.Status.ACTIVE, start_date=date(2026, 1, 1)
    )
    return contract_line_factory(
        contract=contract,
        usage=True,
        product=product_factory(sku="API-CALLS"),
        subscription_key="acme-api",
    )


def run(*rows: str, header: str = HEADER, **options) -> ImportReport:
    data = "\n".join([header, *rows]) + "\n"
    return import_csv(UsageLayout(), data.encode(), **options)


def counts(report: ImportReport) -> tuple[int, int, int]:
    return report.counts[NEW], report.counts[UNCHANGED], report.counts[ERROR]


def stored() -> list[tuple]:
    return list(
        UsageRecord.objects.order_by("idempotency_key").values_list(
            "idempotency_key", "line_id", "quantity", "occurred_at", "attributes"
        )
    )


def good_rows(line) -> list[str]:
    """One row per way of naming the line, the second with attributes (a fraction among them)."""
    return [
        f"{line.pk},,,,10,2026-03-01T12:00:00Z,a,",
        ',acme-api,,,2.5,2026-03-02T00:00:00+01:00,b,"{""region"": ""eu"", ""ratio"": 0.5}"',
        ",,K-USE,API-CALLS,0,2026-12-31T23:59:59Z,c,",
    ]


def test_rows_are_stored_whichever_way_they_name_the_line(usage_line):
    report = run(*good_rows(usage_line))

    assert (report.problems, counts(report), report.imported) == ([], (3, 0, 0), True)
    assert stored() == [
        ("a", usage_line.pk, Decimal(10), datetime(2026, 3, 1, 12, tzinfo=UTC), {}),
        # The offset is kept as the instant it names; the fraction as its exact text.
        (
            "b",
            usage_line.pk,
            Decimal("2.5"),
            datetime(2026, 3, 1, 23, tzinfo=UTC),
            {"region": "eu", "ratio": "0.5"},
        ),
        ("c", usage_line.pk, Decimal(0), datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC), {}),
    ]


def test_importing_the_same_file_again_stores_nothing_twice(usage_line):
    run(*good_rows(usage_line))
    before = list(UsageRecord.objects.values_list("pk", "quantity", "received_at"))

    again = run(*good_rows(usage_line))

    # Already stored under their keys: each counted once.
    assert (again.problems, counts(again)) == ([], (0, 3, 0))
    assert list(UsageRecord.objects.values_list("pk", "quantity", "received_at")) == before


def test_a_key_holding_other_usage_is_refused_and_nothing_changes(usage_line):
    run(f"{usage_line.pk},,,,10,2026-03-01T12:00:00Z,a,")
    record = UsageRecord.objects.get()

    report = run(f"{usage_line.pk},,,,11,2026-03-01T12:00:00Z,a,")

    assert [str(p) for p in report.problems] == [
        f"Row 2, column idempotency_key: idempotency_key 'a' already names different usage "
        f"(record {record.pk}); send new usage under a new key."
    ]
    assert list(UsageRecord.objects.values_list("pk", "quantity")) == [(record.pk, Decimal(10))]


def bad_file(line) -> list[str]:
    """Good rows 2 and 6 among rows the books cannot take, each for one reason."""
    return [
        f"{line.pk},,,,10,2026-03-01T12:00:00Z,good-1,",
        "999999,,,,1,2026-03-01T12:00:00Z,k-3,",
        ",nope,,,1,2026-03-01T12:00:00Z,k-4,",
        ",,K-USE,OTHER,1,2026-03-01T12:00:00Z,k-5,",
        ",acme-api,,,5,2026-03-01T12:00:00Z,good-2,",
        ",acme-api,,,-1,2026-03-01T12:00:00Z,k-7,",
        ",acme-api,,,1,2027-01-01T00:00:00Z,k-8,",
        ",acme-api,,,1,2026-03-01T12:00:00,k-9,",
        ",acme-api,,,1,2026-03-01T12:00:00Z,k-10,{broken",
        ",acme-api,,,,2026-03-01T12:00:00Z,k-11,",
        ",acme-api,,,1,2026-03-01T12:00:00Z,k-3,",
        f"{line.pk},acme-api,,,1,2026-03-01T12:00:00Z,k-13,",
    ]


def expected_problems(line) -> list[str]:
    return [
        "Row 3, column line: No line has id 999999.",
        "Row 4, column subscription_key: No line has subscription key 'nope'.",
        "Row 5, column product: No contract K-USE with a line of product OTHER.",
        "Row 7, column quantity: quantity -1 is negative.",
        f"Row 8, column occurred_at: occurred_at 2027-01-01 is outside the term of line "
        f"{line.pk} (2026-01-01 to 2026-12-31).",
        "Row 9, column occurred_at: occurred_at 2026-03-01T12:00:00 needs a UTC offset "
        "(Z, +02:00...).",
        'Row 10, column attributes: {broken is not JSON (e.g. {"region": "eu"}).',
        "Row 11, column quantity: is empty; it is required.",
        "Row 12, column idempotency_key: repeats the idempotency_key of row 3.",
        "Row 13, column line: Name the line by exactly one of: line (id), subscription_key, or "
        "contract and product.",
    ]


def test_a_file_with_bad_rows_stores_nothing_and_names_each_row_and_column(usage_line):
    report = run(*bad_file(usage_line))

    assert [str(p) for p in report.problems] == expected_problems(usage_line)
    assert report.summary() == "Nothing imported: 10 of 12 rows have errors."
    assert not UsageRecord.objects.exists()


def test_keeping_good_rows_stores_them_and_returns_the_bad_ones(usage_line, monkeypatch):
    # Chunks of 4 rows: good and bad rows are told apart across chunk boundaries too.
    monkeypatch.setattr(UsageLayout, "chunk_size", 4)

    report = run(*bad_file(usage_line), mode=Mode.KEEP_GOOD_ROWS)

    assert [str(p) for p in report.problems] == expected_problems(usage_line)
    assert (counts(report), report.imported) == ((2, 0, 10), True)
    assert sorted(UsageRecord.objects.values_list("idempotency_key", "quantity")) == [
        ("good-1", Decimal(10)),
        ("good-2", Decimal(5)),
    ]
    bad_rows = report.errors_csv().splitlines()
    assert bad_rows[0] == f"{HEADER},errors"
    assert (
        bad_rows[1]
        == '999999,,,,1,2026-03-01T12:00:00Z,k-3,,"Row 3, column line: No line has id 999999."'
    )
    assert len(bad_rows) == 11


def test_a_dry_run_reports_and_stores_nothing(usage_line):
    report = run(*good_rows(usage_line), dry_run=True)

    assert counts(report) == (3, 0, 0)
    assert (
        report.summary()
        == "Dry run of 3 rows: 3 new, 0 updated, 0 unchanged, 0 with errors; nothing was written."
    )
    assert not UsageRecord.objects.exists()


def test_a_file_without_a_required_column_is_refused_whole(usage_line):
    report = run(f"{usage_line.pk},1,2026-03-01T12:00:00Z", header="line,quantity,occurred_at")

    assert report.file_error == (
        "Row 1 (the header): missing column(s): idempotency_key. The columns are: quantity, "
        "occurred_at, idempotency_key, line, subscription_key, contract, product, attributes "
        "(required first)."
    )
    assert not UsageRecord.objects.exists()


def test_an_export_imports_back_as_no_change(usage_line, contract_line_factory):
    unkeyed = contract_line_factory(contract=usage_line.contract, usage=True)
    run(*good_rows(usage_line), f"{unkeyed.pk},,,,7.125,2026-04-01T08:30:00-05:00,d,")

    exported = export_csv(UsageLayout(), UsageRecord.objects.all())

    # Lines are named by their subscription key, or by id when they have none.
    assert exported.splitlines() == [
        HEADER,
        ",acme-api,,,10,2026-03-01T12:00:00+00:00,a,",
        ',acme-api,,,2.5,2026-03-01T23:00:00+00:00,b,"{""ratio"": ""0.5"", ""region"": ""eu""}"',
        ",acme-api,,,0,2026-12-31T23:59:59+00:00,c,",
        f"{unkeyed.pk},,,,7.125,2026-04-01T13:30:00+00:00,d,",
    ]
    again = import_csv(UsageLayout(), exported.encode())
    assert (again.problems, counts(again)) == ([], (0, 4, 0))
    assert UsageRecord.objects.count() == 4


def test_the_sample_file_imports(contract_factory, contract_line_factory, product_factory):
    contract = contract_factory(number="ACME-2026-001", status=Contract.Status.ACTIVE)
    contract_line_factory(
        contract=contract,
        usage=True,
        product=product_factory(sku="API-CALLS"),
        subscription_key="ACME-API-CALLS",
    )

    report = import_csv(UsageLayout(), SAMPLE.read_bytes())

    assert (report.problems, counts(report)) == ([], (4, 0, 0))


def test_queries_per_chunk_do_not_grow_with_its_rows(usage_line):
    def queries(rows: int, first: int) -> int:
        lines = [f",acme-api,,,1,2026-03-01T12:00:00Z,q-{n}," for n in range(first, first + rows)]
        with CaptureQueriesContext(connection) as captured:
            report = run(*lines)
        assert counts(report) == (rows, 0, 0)
        return len(captured)

    # SQLite splits an insert into statements of at most 999 parameters: 100 rows fit in one.
    assert queries(10, 0) == queries(100, 1000)
