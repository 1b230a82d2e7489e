"""``manage.py ingest_usage FILE``: store the usage records of a CSV file, each at most once."""

import csv
import itertools
import json
from collections import Counter
from decimal import Decimal
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from billing.usage import CHUNK_SIZE, UsageStatus, usage_records_ingest

LINE_COLUMNS = ("line", "subscription_key", "contract", "product")
REQUIRED = ("quantity", "occurred_at", "idempotency_key")
COLUMNS = frozenset({*LINE_COLUMNS, *REQUIRED, "attributes"})
NOT_TAKEN = (UsageStatus.CONFLICT, UsageStatus.REJECTED)


class Command(BaseCommand):
    help = (
        "Store the usage records of a CSV file with a header row. Columns: line (id), or "
        "subscription_key, or contract (number) and product (SKU); quantity, occurred_at (ISO "
        "8601 with a UTC offset), idempotency_key and, optional, attributes (a JSON object). "
        "Rows already stored under their key are duplicates, counted once; the good rows are "
        "kept when others are rejected, and each bad row is reported with its number (the "
        "first data row is row 1). Exits with an error when a row was not taken."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path, help="CSV file (UTF-8) with a header row")
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Check every row as ingestion would, then roll back: nothing is written.",
        )

    def handle(self, *args, file: Path, dry_run: bool, **options) -> None:
        try:
            with file.open(encoding="utf-8-sig", newline="") as stream:
                if dry_run:
                    # Rows are really ingested, so duplicates inside the file and against the
                    # books are found as they would be, then everything is rolled back.
                    with transaction.atomic():
                        totals = self._ingest(stream, file)
                        transaction.set_rollback(True)
                else:
                    totals = self._ingest(stream, file)
        except OSError as error:
            raise CommandError(f"Cannot read {file}: {error}") from error
        except (csv.Error, UnicodeDecodeError) as error:
            raise CommandError(f"{file} is not a readable UTF-8 CSV file: {error}") from error
        verb = "would be stored" if dry_run else "stored"
        self.stdout.write(
            f"{totals[UsageStatus.ACCEPTED]} record(s) {verb}, "
            f"{totals[UsageStatus.DUPLICATE]} duplicate(s) (already stored, counted once), "
            f"{totals[UsageStatus.CONFLICT]} conflict(s), {totals[UsageStatus.REJECTED]} "
            f"rejected{' (dry run: nothing written)' if dry_run else ''}."
        )
        refused = sum(totals[status] for status in NOT_TAKEN)
        if refused:
            raise CommandError(f"{refused} row(s) of {file} were not taken; see above.")

    def _ingest(self, stream, file: Path) -> Counter:
        """Ingest the rows chunk by chunk, so a file of any size takes bounded memory."""
        reader = csv.DictReader(stream)
        columns = set(reader.fieldnames or ())
        unknown = columns - COLUMNS
        if unknown:
            raise CommandError(f"{file}: unknown column(s) {', '.join(sorted(unknown))}.")
        missing = [name for name in REQUIRED if name not in columns]
        if missing or not columns & set(LINE_COLUMNS):
            raise CommandError(
                f"{file}: needs the columns {', '.join(REQUIRED)} and line, subscription_key "
                "or contract and product."
            )
        totals: Counter = Counter()
        rows = enumerate(reader, start=1)
        while chunk := list(itertools.islice(rows, CHUNK_SIZE)):
            records, numbers = [], []
            for number, row in chunk:
                try:
                    records.append(_record(row))
                    numbers.append(number)
                except ValueError as error:
                    self._problem(number, "rejected", str(error))
                    totals[UsageStatus.REJECTED] += 1
            outcome = usage_records_ingest(records=records, source=str(file))
            for number, result in zip(numbers, outcome.results, strict=True):
                totals[result.status] += 1
                if result.status in NOT_TAKEN:
                    self._problem(number, result.status, f"{result.field}: {result.reason}")
        return totals

    def _problem(self, number: int, status: str, reason: str) -> None:
        self.stderr.write(f"row {number}: {status}: {reason}")


def _record(row: dict) -> dict:
    """Return the service's record for a row; empty cells are absent values."""
    if None in row:
        raise ValueError("the row has more cells than the header has columns.")
    record = {name: value for name, value in row.items() if value not in (None, "")}
    if "attributes" in record:
        try:
            # As the API reads them: a fraction is a Decimal, so both sources hash alike.
            record["attributes"] = json.loads(record["attributes"], parse_float=Decimal)
        except ValueError:
            raise ValueError("attributes: attributes is not valid JSON.") from None
    return record
