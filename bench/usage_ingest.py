"""Usage ingestion benchmark: records per second through the batch service on PostgreSQL.

Usage::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/rms python -m bench.usage_ingest \\
        --records 1000000

Like ``bench.bill_run`` it never touches the database that ``DATABASE_URL`` names: it creates
its own, named after it with ``_bench_usage`` appended (dropping a leftover one of that name),
migrates it, and drops it at the end. Without a PostgreSQL ``DATABASE_URL`` it refuses to run.
``DEBUG`` is off, as in production.

Workload: 1,000 customers, each with one active contract for calendar 2026 holding one usage
line with a subscription key (bulk-loaded, untimed). N records spread over the lines and the
year, as a metering system sends them through the API: quantity a decimal string, occurred_at
an ISO 8601 string, the sender's key, a small attributes object; three records in four name
their line by id, one in four by subscription key. They are sent in batches of 10,000 (the
API's largest) to ``billing.usage.usage_records_ingest``; only those calls are timed (building
each batch of dicts is not). Then the first min(N, 100,000) records are sent again: every one
must come back a duplicate.

Baselines in the same run: the table is emptied (``TRUNCATE``), and the same rows, already
parsed into Python values (line and customer ids, ``Decimal``, ``datetime``, key, a hash, the
attributes), are written with a plain ``UsageRecord.objects.bulk_create`` in the same batches:
no validation, no idempotency (the target compares with this). Then, emptied again, with
PostgreSQL's ``COPY`` (psycopg's ``write_row``): what the server and driver can take at best.
``VACUUM ANALYZE`` runs (untimed) before each timed phase. Prints one JSON line; see
docs/benchmarks.md.
"""

import argparse
import hashlib
import json
import sys
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from bench.bill_run import machine, vacuum_analyze
from bench.environment import (
    configure_environment,
    create_bench_database,
    drop_bench_database,
    timed,
)

LINES = 1_000
YEAR_START = datetime(2026, 1, 1, tzinfo=UTC)
SECONDS_IN_YEAR = 365 * 24 * 3600
BATCH = 10_000  # the API's largest batch
RESEND_SAMPLE = 100_000
BY_KEY_EVERY = 4  # one record in four names its line by subscription key
REGIONS = ("eu-west", "us-east", "ap-south")
TARGET_RECORDS_PER_S = 20_000
TARGET_RATIO = 3  # at most this many times slower than the plain insert


def log(message: str) -> None:
    """Report progress on standard error, keeping standard output to the one JSON line."""
    print(f"[bench.usage_ingest] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.usage_ingest",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--records", type=int, default=1_000_000, help="usage records to ingest")
    args = parser.parse_args(argv)
    if args.records < 1:
        parser.error("--records must be at least 1")
    return args


def generate_lines() -> list[tuple[int, int, str]]:
    """Create the customers, contracts and usage lines; return (line, customer, key) of each."""
    from django.db import transaction
    from djmoney.money import Money

    from contracts.models import (
        BillingModel,
        Contract,
        ContractLine,
        Customer,
        PaymentTerms,
        Product,
        RevenuePolicy,
    )

    with transaction.atomic():
        terms, _ = PaymentTerms.objects.get_or_create(
            basis="net", days=30, defaults={"name": "Net 30"}
        )
        product = Product.objects.create(
            sku="BENCH-USAGE",
            name="Bench API calls",
            ssp=Money("0.01", "USD"),
            default_billing_model=BillingModel.USAGE,
            revenue_policy=RevenuePolicy.AS_CONSUMED,
        )
        customers = Customer.objects.bulk_create(
            Customer(
                number=f"USAGE-{n:06d}",
                legal_name=f"Usage customer {n:06d} Ltd",
                currency="USD",
                payment_terms=terms,
                address_line1=f"{n} Market Street",
                city="Springfield",
                postal_code="12345",
                country="US",
            )
            for n in range(LINES)
        )
        contracts = Contract.objects.bulk_create(
            Contract(
                number=f"USAGE-K-{n:06d}",
                customer=customer,
                currency="USD",
                start_date=date(2026, 1, 1),
                end_date=date(2026, 12, 31),
                status=Contract.Status.ACTIVE,
            )
            for n, customer in enumerate(customers)
        )
        lines = ContractLine.objects.bulk_create(
            ContractLine(
                contract=contract,
                sequence=1,
                product=product,
                billing_model=BillingModel.USAGE,
                service_start=date(2026, 1, 1),
                service_end=date(2026, 12, 31),
                subscription_key=f"meter-{n:06d}",
            )
            for n, contract in enumerate(contracts)
        )
    return [(line.pk, line.contract.customer_id, line.subscription_key) for line in lines]


def occurred_at(n: int) -> datetime:
    # A prime stride spreads consecutive records over the whole year.
    return YEAR_START + timedelta(seconds=(n * 7_919) % SECONDS_IN_YEAR)


def quantity(n: int) -> str:
    return f"{n % 997 + 1}.25"


def records(start: int, stop: int, lines: list[tuple[int, int, str]]) -> list[dict]:
    """Return records ``start``..``stop - 1`` as a sender would put them in a request."""
    batch = []
    for n in range(start, stop):
        line, _, key = lines[n % len(lines)]
        named = {"subscription_key": key} if n % BY_KEY_EVERY == 0 else {"line": line}
        batch.append(
            {
                **named,
                "quantity": quantity(n),
                "occurred_at": occurred_at(n).isoformat().replace("+00:00", "Z"),
                "idempotency_key": f"evt-{n:010d}",
                "attributes": {"region": REGIONS[n % len(REGIONS)]},
            }
        )
    return batch


def plain_rows(start: int, stop: int, lines: list[tuple[int, int, str]]) -> list[tuple]:
    """Return the same records as parsed values, ready for a plain insert."""
    rows = []
    for n in range(start, stop):
        line, customer, _ = lines[n % len(lines)]
        key = f"evt-{n:010d}"
        rows.append(
            (
                line,
                customer,
                Decimal(quantity(n)),
                occurred_at(n),
                key,
                hashlib.sha256(key.encode()).hexdigest(),
                {"region": REGIONS[n % len(REGIONS)]},
            )
        )
    return rows


def figures(*, records: int, seconds: float, queries: int) -> dict:
    return {
        "records": records,
        "seconds": round(seconds, 2),
        "records_per_s": round(records / seconds) if seconds else None,
        "queries": queries,
    }


def ingest(*, total: int, lines: list, expect: str) -> dict:
    """Send ``total`` records in API-sized batches; check each came back as ``expect``."""
    from billing.usage import usage_records_ingest

    vacuum_analyze()
    seconds = queries = 0
    counts: dict[str, int] = {}
    for start in range(0, total, BATCH):
        batch = records(start, min(start + BATCH, total), lines)
        outcome, spent, sent = timed(usage_records_ingest, records=batch, source="bench")
        seconds += spent
        queries += sent
        for status, count in outcome.counts.items():
            counts[status] = counts.get(status, 0) + count
        if start and start % 200_000 == 0:
            log(f"{start:,} records sent, {start / seconds:,.0f}/s")
    if counts.get(expect) != total:
        raise SystemExit(f"Expected {total:,} records {expect}, got {counts}.")
    return figures(records=total, seconds=seconds, queries=queries)


def plain_insert(*, total: int, lines: list) -> dict:
    """Write the same rows with a plain ``bulk_create``, in the same batches."""
    from billing.models import UsageRecord

    vacuum_analyze()
    seconds = queries = 0
    for start in range(0, total, BATCH):
        rows = plain_rows(start, min(start + BATCH, total), lines)

        def insert(rows=rows):
            UsageRecord.objects.bulk_create(
                [
                    UsageRecord(
                        line_id=line,
                        customer_id=customer,
                        quantity=amount,
                        occurred_at=at,
                        idempotency_key=key,
                        payload_hash=digest,
                        attributes=attributes,
                    )
                    for line, customer, amount, at, key, digest, attributes in rows
                ],
                batch_size=5_000,
            )

        _, spent, sent = timed(insert)
        seconds += spent
        queries += sent
    return figures(records=total, seconds=seconds, queries=queries)


def copy_insert(*, total: int, lines: list) -> dict:
    """Write the same rows with ``COPY``, in the same batches: the floor of any insert."""
    from django.db import connection
    from django.utils import timezone

    from billing.models import UsageRecord

    sql = (
        f"COPY {UsageRecord._meta.db_table} (line_id, customer_id, quantity, occurred_at, "
        "idempotency_key, payload_hash, attributes, received_at) FROM STDIN"
    )
    vacuum_analyze()
    seconds = queries = 0
    for start in range(0, total, BATCH):
        rows = plain_rows(start, min(start + BATCH, total), lines)

        def insert(rows=rows):
            received_at = timezone.now()
            with connection.cursor() as cursor, cursor.copy(sql) as copy:
                for line, customer, amount, at, key, digest, attributes in rows:
                    copy.write_row(
                        (
                            line,
                            customer,
                            amount,
                            at,
                            key,
                            digest,
                            json.dumps(attributes),
                            received_at,
                        )
                    )

        _, spent, sent = timed(insert)
        seconds += spent
        queries += sent
    return figures(records=total, seconds=seconds, queries=queries)


def row_count() -> int:
    from billing.models import UsageRecord

    return UsageRecord.objects.count()


def truncate() -> None:
    from django.db import connection

    from billing.models import UsageRecord

    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {UsageRecord._meta.db_table}")


def benchmark(*, total: int) -> dict:
    from billing.usage import CHUNK_SIZE

    host = machine()  # before any work of ours, so the load average is everyone else's
    lines = generate_lines()
    log(f"{len(lines)} usage lines; ingesting {total:,} records")
    service = ingest(total=total, lines=lines, expect="accepted")
    if row_count() != total:
        raise SystemExit(f"{row_count():,} rows stored for {total:,} accepted records.")
    resend_total = min(total, RESEND_SAMPLE)
    log(f"sending {resend_total:,} records again")
    resend = ingest(total=resend_total, lines=lines, expect="duplicate")
    if row_count() != total:
        raise SystemExit("Sending records again changed the table.")
    truncate()
    log("plain bulk_create of the same rows")
    plain = plain_insert(total=total, lines=lines)
    if row_count() != total:
        raise SystemExit(f"The plain insert stored {row_count():,} rows, not {total:,}.")
    truncate()
    log("COPY of the same rows")
    copied = copy_insert(total=total, lines=lines)
    if row_count() != total:
        raise SystemExit(f"COPY stored {row_count():,} rows, not {total:,}.")
    ratio = round(plain["records_per_s"] / service["records_per_s"], 2)
    return {
        "benchmark": "usage_ingest",
        "records": total,
        "lines": len(lines),
        "batch": BATCH,
        "chunk_size": CHUNK_SIZE,
        "machine": host,
        "service": service,
        "resend_duplicates": resend,
        "plain_bulk_create": plain,
        "copy": copied,
        "ratio": {
            "plain_over_service": ratio,
            "copy_over_service": round(copied["records_per_s"] / service["records_per_s"], 2),
        },
        "targets": {
            "records_per_s": TARGET_RECORDS_PER_S,
            "records_per_s_met": service["records_per_s"] >= TARGET_RECORDS_PER_S,
            "within_x_of_plain": TARGET_RATIO,
            "within_x_of_plain_met": ratio <= TARGET_RATIO,
        },
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    configure_environment(benchmark="usage_ingest", suffix="bench_usage")
    original, _ = create_bench_database(benchmark="usage_ingest", suffix="bench_usage")
    try:
        result = benchmark(total=args.records)
    finally:
        drop_bench_database(original)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
