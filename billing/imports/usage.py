"""Usage records: one row per metered quantity, stored by the ingestion service, each at most once.

Rows go to ``billing.usage.usage_records_ingest`` as the API's batches do, so a file and the API
judge usage alike: a row names its line by ``line`` (id), ``subscription_key``, or ``contract``
and ``product``; ``quantity`` is not negative; ``occurred_at`` (ISO 8601 with a UTC offset)
falls on a day of the line's term. A record is found by its ``idempotency_key`` (unique per
customer in the books, and unique in a file): a row whose key holds the same usage already is
unchanged (stored once, counted once); one whose key holds different usage is refused. Usage is
append-only: a stored record is never updated.

An export names each record's line by its subscription key (by id when it has none), so
importing it back changes nothing.
"""

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from django.db import models

from billing.models import UsageRecord
from billing.usage import CHUNK_SIZE, UsageStatus, usage_records_ingest
from imports.cells import CellError
from imports.engine import Column, Layout, Row, Status
from imports.objects import cell
from rms.audit import current_actor

STATUS = {UsageStatus.ACCEPTED: Status.NEW, UsageStatus.DUPLICATE: Status.UNCHANGED}


def json_object(value: str) -> Any:
    """Read JSON as the API does: a fraction is a ``Decimal``, so both sources hash alike."""
    try:
        return json.loads(value, parse_float=Decimal, parse_constant=_not_a_number)
    except ValueError:
        raise CellError(f'{value} is not JSON (e.g. {{"region": "eu"}}).') from None


def _not_a_number(word: str) -> None:
    raise ValueError(word)  # NaN and Infinity: JSON has no such numbers, PostgreSQL refuses them


class UsageLayout(Layout):
    name = "usage"
    title = "Usage records"
    model = UsageRecord
    key = ("idempotency_key",)
    # One chunk is one call of the service, and so one insert and at most one read-back.
    chunk_size = CHUNK_SIZE
    # Cells reach the service as text (``str``): it alone judges usage, for files and the API.
    columns = (
        Column("line", str, help="The line's id (or give subscription_key instead)."),
        Column("subscription_key", str, help="The usage line's metering key."),
        Column("contract", str, help="The contract's number, with product."),
        Column("product", str, help="The product's SKU, with contract."),
        Column("quantity", str, required=True, help="Not negative; up to 6 decimals."),
        Column(
            "occurred_at", str, required=True, help="ISO 8601 with offset: 2026-03-01T12:00:00Z."
        ),
        Column("idempotency_key", str, required=True, help="The sender's key for the record."),
        Column("attributes", json_object, help='A JSON object, e.g. {"region": "eu"}.'),
    )

    def write(self, rows: list[Row]) -> None:
        records = [
            {name: value for name, value in row.values.items() if value is not None} for row in rows
        ]
        outcome = usage_records_ingest(records=records, source=current_actor().via)
        names = set(self.column_names())
        for row, result in zip(rows, outcome.results, strict=True):
            if result.status in STATUS:
                row.status = STATUS[result.status]
            else:
                row.refuse(result.field if result.field in names else "", result.reason)

    def export_rows(self, queryset: models.QuerySet) -> Iterator[dict[str, str]]:
        records = queryset.select_related("line").order_by("pk")
        for record in records.iterator(chunk_size=2000):
            subscription_key = record.line.subscription_key
            yield {
                "line": "" if subscription_key else str(record.line_id),
                "subscription_key": subscription_key or "",
                "quantity": cell(record.quantity),
                "occurred_at": record.occurred_at.isoformat(),
                "idempotency_key": record.idempotency_key,
                "attributes": json.dumps(record.attributes, ensure_ascii=False, sort_keys=True)
                if record.attributes
                else "",
            }
