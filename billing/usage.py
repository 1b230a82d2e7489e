"""Usage ingestion: metered quantities sent by the customer's systems, counted once per key.

Senders retry, so every record carries the sender's idempotency key, unique per customer. A
record sent again under its key with the same payload is a *duplicate*: reported, never counted
twice and never an error; the same key with a different payload is a *conflict*. A record the
books cannot take (unknown line, negative quantity, a time outside the line's term) is *rejected*
with a reason naming the field, and the other records of the batch are kept.

Ingestion is built for volume (millions of records a day through the API and CSV files): lines
are resolved in bulk, one query per way of naming them; records are checked in Python; each
chunk is written in one transaction with one ``INSERT ... ON CONFLICT DO NOTHING`` (on
PostgreSQL, one statement that returns the new ids), and the keys it found taken are read back
with one query to tell retries from reuse. It takes no customer lock, so it never waits on a
bill run; the unique key alone keeps a record from being counted twice, also between concurrent
senders.
"""

import hashlib
import json
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, NamedTuple

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from billing.models import UsageRecord
from contracts.models import BillingModel, Contract, ContractLine

logger = logging.getLogger(__name__)

# Records per transaction (one INSERT, at most one read-back). Larger chunks save round trips
# but hold more rows in memory and keep their keys locked longer; past a few thousand rows the
# round trips no longer matter.
CHUNK_SIZE = 5_000
KEY_MAX_LENGTH = UsageRecord._meta.get_field("idempotency_key").max_length
# The column is Decimal(19, 6): six places, thirteen digits before the point.
QUANTITY_PLACES = 6
QUANTITY_MAX_ADJUSTED = 12
MAX_ID = 2**63 - 1  # a bigint: a larger "id" names no line and must not reach the query
# Late usage of a contract that has run its course is still billable; drafts and terminated
# contracts take none.
OPEN_STATUSES = frozenset({Contract.Status.ACTIVE, Contract.Status.COMPLETED})
FIELDS = frozenset(
    {
        "line",
        "subscription_key",
        "contract",
        "product",
        "quantity",
        "occurred_at",
        "idempotency_key",
        "attributes",
    }
)


class UsageStatus(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    CONFLICT = "conflict"
    REJECTED = "rejected"


class RecordResult(NamedTuple):
    """What became of one record: its position in the input, status, stored id and why not.

    ``record_id`` is the stored record's (for a duplicate or conflict, the one already holding
    the key); ``field`` and ``reason`` say what was wrong with a conflict or a rejection.
    """

    index: int
    status: UsageStatus
    record_id: int | None = None
    field: str | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class IngestResult:
    """Per-record results in input order, with totals per status."""

    results: list[RecordResult]

    @property
    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(UsageStatus, 0)
        for result in self.results:
            counts[result.status] += 1
        return {str(status): count for status, count in counts.items()}


class _Line(NamedTuple):
    """What ingestion needs to know of a line, read in bulk with ``values_list``."""

    id: int
    customer_id: int
    billing_model: str
    service_start: date
    service_end: date | None
    contract_status: str
    contract_number: str
    # The term as instants (UTC), from midnight of its first day to midnight after its last in
    # the project's time zone: comparing instants costs far less than converting each record.
    opens: datetime
    closes: datetime | None


_LINE_COLUMNS = (
    "id",
    "contract__customer_id",
    "billing_model",
    "service_start",
    "service_end",
    "contract__status",
    "contract__number",
)


class _Rejected(Exception):
    """A record the books cannot take; ``field`` names the culprit."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


class _Parsed(NamedTuple):
    """A record whose own fields are valid; its line is resolved afterwards, in bulk."""

    index: int
    by: str  # "line", "subscription_key" or "contract"
    ident: Any
    quantity: Decimal
    occurred_at: datetime
    key: str
    attributes_json: str  # canonical: what is hashed and stored


def _present(value: Any) -> bool:
    # A CSV file sends an empty cell for a column a row does not use.
    return value is not None and value != ""


def _text(field: str, value: Any, *, required: str = "") -> str:
    """Return ``value`` if it is text PostgreSQL can store (no NUL, valid Unicode), else reject."""
    if not isinstance(value, str) or not value:
        raise _Rejected(field, f"{field} is required (a non-empty string){required}.")
    if "\x00" in value or not _encodable(value):
        raise _Rejected(field, f"{field} contains a NUL character or invalid Unicode.")
    return value


def _encodable(value: str) -> bool:
    try:
        value.encode()
    except UnicodeEncodeError:  # a lone surrogate, as JSON's "\ud800" gives
        return False
    return True


def _parse_quantity(value: Any) -> Decimal:
    if value is None:
        raise _Rejected("quantity", "quantity is required.")
    if isinstance(value, bool | float) or not isinstance(value, Decimal | int | str):
        # A binary float is not the number the sender meant (0.1 is not 0.1): refuse it.
        raise _Rejected("quantity", "quantity must be a decimal string or an integer.")
    try:
        quantity = Decimal(value)
    except InvalidOperation:
        raise _Rejected("quantity", f"quantity {value!r} is not a number.") from None
    if not quantity.is_finite():
        raise _Rejected("quantity", f"quantity {value!r} is not a number.")
    if quantity < 0:
        raise _Rejected("quantity", f"quantity {value} is negative.")
    if quantity == 0:
        return Decimal(0)  # -0 and 0E+3 are zero too; one spelling keeps the payload hash stable
    quantity = quantity.normalize()
    if quantity.as_tuple().exponent < -QUANTITY_PLACES:
        raise _Rejected("quantity", f"quantity {value} has more than {QUANTITY_PLACES} decimals.")
    if quantity.adjusted() > QUANTITY_MAX_ADJUSTED:
        raise _Rejected("quantity", f"quantity {value} is too large.")
    return quantity


def _parse_occurred_at(value: Any) -> datetime:
    if value is None:
        raise _Rejected("occurred_at", "occurred_at is required.")
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise _Rejected(
                "occurred_at", f"occurred_at {value!r} is not an ISO 8601 date and time."
            ) from None
    if not isinstance(value, datetime):
        raise _Rejected("occurred_at", "occurred_at must be an ISO 8601 date and time.")
    if value.utcoffset() is None:
        raise _Rejected(
            "occurred_at", f"occurred_at {value.isoformat()} needs a UTC offset (Z, +02:00...)."
        )
    try:
        return value.astimezone(UTC)
    except OverflowError:  # year 1 at +05:00 is before the first instant Python can hold
        raise _Rejected(
            "occurred_at", f"occurred_at {value.isoformat()} is out of range."
        ) from None


def _parse_key(value: Any) -> str:
    value = _text("idempotency_key", value)
    if len(value) > KEY_MAX_LENGTH:
        raise _Rejected(
            "idempotency_key", f"idempotency_key is longer than {KEY_MAX_LENGTH} characters."
        )
    return value


def _parse_attributes(value: Any) -> str:
    """Return the attributes as canonical JSON: hashed, and stored as they were hashed.

    A ``Decimal`` (how the API reads a JSON number with a fraction) is kept as its exact string.
    """
    if not _present(value):
        return "{}"
    if not isinstance(value, dict):
        raise _Rejected("attributes", "attributes must be a JSON object.")
    try:
        text = json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, cls=DjangoJSONEncoder
        )
    except (TypeError, ValueError) as error:
        raise _Rejected("attributes", f"attributes cannot be stored as JSON: {error}.") from None
    if "\\u0000" in text or not _encodable(text):
        raise _Rejected("attributes", "attributes contain a NUL character or invalid Unicode.")
    return text


def _identity(record: Mapping) -> tuple[str, Any]:
    """Return how the record names its line: by id, subscription key, or contract and product."""
    given = [name for name in ("line", "subscription_key") if _present(record.get(name))]
    if _present(record.get("contract")) or _present(record.get("product")):
        given.append("contract")
    if len(given) != 1:
        raise _Rejected(
            "line",
            "Name the line by exactly one of: line (id), subscription_key, or contract and "
            "product.",
        )
    by = given[0]
    if by == "line":
        line = record["line"]
        if isinstance(line, str) and line.isdigit():
            line = int(line)
        if not isinstance(line, int) or isinstance(line, bool) or not 0 < line <= MAX_ID:
            raise _Rejected("line", f"line {line!r} is not a line id.")
        return by, line
    if by == "subscription_key":
        return by, _text("subscription_key", record["subscription_key"])
    number = _text("contract", record.get("contract"), required=" with product")
    return by, (number, _text("product", record.get("product"), required=" with contract"))


def _parse(index: int, record: Any) -> _Parsed:
    if not isinstance(record, Mapping):
        raise _Rejected("record", "A usage record must be an object.")
    unknown = record.keys() - FIELDS
    if unknown:
        names = sorted(map(str, unknown))
        raise _Rejected(names[0], f"Unknown field(s): {', '.join(names)}.")
    by, ident = _identity(record)
    return _Parsed(
        index=index,
        by=by,
        ident=ident,
        quantity=_parse_quantity(record.get("quantity")),
        occurred_at=_parse_occurred_at(record.get("occurred_at")),
        key=_parse_key(record.get("idempotency_key")),
        attributes_json=_parse_attributes(record.get("attributes")),
    )


def _midnight(day: date, tz: tzinfo) -> datetime:
    """Return the instant (UTC) ``day`` starts in ``tz``."""
    return datetime.combine(day, time.min, tzinfo=tz).astimezone(UTC)


class _Lines:
    """The lines named so far in one ingestion call, by each way of naming them.

    Each chunk reads only the lines it names that earlier chunks did not, with one query per
    way of naming them; a name that matched nothing is remembered as such.
    """

    def __init__(self, tz: tzinfo) -> None:
        self.tz = tz
        self.by_id: dict[int, _Line | None] = {}
        self.by_key: dict[str, _Line | None] = {}
        self.by_pair: dict[tuple[str, str], list[_Line]] = {}

    def load(self, parsed: Sequence[_Parsed]) -> None:
        ids = {p.ident for p in parsed if p.by == "line"} - self.by_id.keys()
        if ids:
            self.by_id.update(dict.fromkeys(ids))
            for row in ContractLine.objects.filter(pk__in=ids).values_list(*_LINE_COLUMNS):
                self.by_id[row[0]] = self._line(row)
        keys = {p.ident for p in parsed if p.by == "subscription_key"} - self.by_key.keys()
        if keys:
            self.by_key.update(dict.fromkeys(keys))
            lines = ContractLine.objects.filter(subscription_key__in=keys)
            for *row, key in lines.values_list(*_LINE_COLUMNS, "subscription_key"):
                self.by_key[key] = self._line(row)
        pairs = {p.ident for p in parsed if p.by == "contract"} - self.by_pair.keys()
        if pairs:
            for pair in pairs:
                self.by_pair[pair] = []
            lines = ContractLine.objects.filter(
                contract__number__in={number for number, _ in pairs},
                product__sku__in={sku for _, sku in pairs},
            ).order_by("pk")
            for *row, sku in lines.values_list(*_LINE_COLUMNS, "product__sku"):
                pair = (row[-1], sku)
                if pair in pairs:
                    self.by_pair[pair].append(self._line(row))

    def _line(self, row: Sequence) -> _Line:
        start, end = row[3], row[4]
        return _Line(
            *row,
            opens=_midnight(start, self.tz),
            closes=None if end is None else _midnight(end + timedelta(days=1), self.tz),
        )

    def find(self, parsed: _Parsed) -> tuple[_Line, str]:
        """Return the record's line and the field that named it, or reject the record."""
        if parsed.by == "line":
            line = self.by_id[parsed.ident]
            if line is None:
                raise _Rejected("line", f"No line has id {parsed.ident}.")
            return line, "line"
        if parsed.by == "subscription_key":
            line = self.by_key[parsed.ident]
            if line is None:
                raise _Rejected(
                    "subscription_key", f"No line has subscription key {parsed.ident!r}."
                )
            return line, "subscription_key"
        number, sku = parsed.ident
        lines = self.by_pair[parsed.ident]
        if not lines:
            raise _Rejected("product", f"No contract {number} with a line of product {sku}.")
        usage = [line for line in lines if line.billing_model == BillingModel.USAGE]
        if len(usage) > 1:
            raise _Rejected(
                "product",
                f"Contract {number} has {len(usage)} usage lines of product {sku}; name the "
                "line by id or subscription key.",
            )
        return (usage or lines)[0], "product"


def _check_line(line: _Line, field: str, occurred_at: datetime, tz: tzinfo) -> None:
    """Reject usage the line cannot bill: not a usage line, no open contract, outside the term."""
    if line.billing_model != BillingModel.USAGE:
        raise _Rejected(
            field,
            f"Line {line.id} of contract {line.contract_number} is a "
            f"{BillingModel(line.billing_model).label.lower()} line, not a usage line.",
        )
    if line.contract_status not in OPEN_STATUSES:
        raise _Rejected(
            field,
            f"Contract {line.contract_number} is "
            f"{Contract.Status(line.contract_status).label.lower()}; only active and completed "
            "contracts take usage.",
        )
    # The term is in days of the project's time zone, as billing periods are.
    if occurred_at < line.opens or (line.closes is not None and occurred_at >= line.closes):
        raise _Rejected(
            "occurred_at",
            f"occurred_at {occurred_at.astimezone(tz).date()} is outside the term of line "
            f"{line.id} ({line.service_start} to {line.service_end or 'evergreen'}).",
        )


class _Row(NamedTuple):
    """A record ready to store: its line resolved, its payload in canonical text and hashed."""

    line_id: int
    customer_id: int
    quantity: Decimal
    occurred_at: datetime
    key: str
    digest: str
    attributes_json: str

    @property
    def slot(self) -> tuple[int, str]:
        return self.customer_id, self.key


def _row(line: _Line, parsed: _Parsed) -> _Row:
    """Hash what the record says (its line, not how it was named), to tell retries from reuse."""
    payload = (
        f"{line.id}\n{parsed.quantity:f}\n{parsed.occurred_at.isoformat()}\n"
        f"{parsed.attributes_json}"
    )
    return _Row(
        line_id=line.id,
        customer_id=line.customer_id,
        quantity=parsed.quantity,
        occurred_at=parsed.occurred_at,
        key=parsed.key,
        digest=hashlib.sha256(payload.encode()).hexdigest(),
        attributes_json=parsed.attributes_json,
    )


_INSERT_POSTGRESQL = """
    INSERT INTO {table} (
        line_id, customer_id, quantity, occurred_at, idempotency_key, payload_hash, attributes,
        received_at
    )
    SELECT (r->>0)::bigint, (r->>1)::bigint, (r->>2)::numeric, (r->>3)::timestamptz, r->>4,
        r->>5, (r->>6)::jsonb, %s
    FROM jsonb_array_elements(%s::jsonb) AS r
    ON CONFLICT DO NOTHING
    RETURNING id, customer_id, idempotency_key
"""


def _insert_postgresql(rows: Sequence[_Row]) -> dict[tuple[int, str], int]:
    """Insert the rows whose key is free in one statement; return the new ids by slot.

    The rows travel as one JSON array that the server unpacks: adapting thousands of values one
    by one (as ``bulk_create`` does) took longer than storing them.
    """
    payload = json.dumps(
        [
            [
                row.line_id,
                row.customer_id,
                f"{row.quantity:f}",
                row.occurred_at.isoformat(),
                row.key,
                row.digest,
                row.attributes_json,
            ]
            for row in rows
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    sql = _INSERT_POSTGRESQL.format(table=connection.ops.quote_name(UsageRecord._meta.db_table))
    with connection.cursor() as cursor:
        cursor.execute(sql, [timezone.now(), payload])
        return {(customer_id, key): pk for pk, customer_id, key in cursor.fetchall()}


def _insert_generic(rows: Sequence[_Row]) -> dict[tuple[int, str], int]:
    """Insert the rows whose key is free with ``bulk_create``; return the new ids by slot.

    ``ignore_conflicts`` returns no ids, so the rows this call wrote are told from those already
    there by the receipt stamp each was written with.
    """
    records = [
        UsageRecord(
            line_id=row.line_id,
            customer_id=row.customer_id,
            quantity=row.quantity,
            occurred_at=row.occurred_at,
            idempotency_key=row.key,
            payload_hash=row.digest,
            attributes=json.loads(row.attributes_json),
        )
        for row in rows
    ]
    UsageRecord.objects.bulk_create(records, ignore_conflicts=True)
    stamps = {
        (record.customer_id, record.idempotency_key): record.received_at for record in records
    }
    return {
        (customer_id, key): pk
        for pk, customer_id, key, received_at in _stored(stamps.keys()).values_list(
            "pk", "customer_id", "idempotency_key", "received_at"
        )
        if stamps.get((customer_id, key)) == received_at
    }


def _stored(slots: Iterable[tuple[int, str]]) -> QuerySet[UsageRecord]:
    """Return the records that may hold these (customer, key) slots: a superset, to match on."""
    customers, keys = set(), set()
    for customer_id, key in slots:
        customers.add(customer_id)
        keys.add(key)
    return UsageRecord.objects.filter(customer_id__in=customers, idempotency_key__in=keys)


def _chunks(records: Sequence[Mapping]) -> Iterator[tuple[int, Sequence[Mapping]]]:
    for start in range(0, len(records), CHUNK_SIZE):
        yield start, records[start : start + CHUNK_SIZE]


def _ingest_chunk(
    chunk: Sequence[Mapping], *, offset: int, lines: _Lines, tz: tzinfo
) -> list[RecordResult]:
    """Check, insert and classify one chunk of records in one transaction."""
    results: dict[int, RecordResult] = {}
    parsed: list[_Parsed] = []
    for index, record in enumerate(chunk, start=offset):
        try:
            parsed.append(_parse(index, record))
        except _Rejected as error:
            results[index] = RecordResult(
                index, UsageStatus.REJECTED, field=error.field, reason=error.reason
            )
    lines.load(parsed)
    # The first valid record of each (customer, key) is the one inserted; a later one with that
    # key in the same chunk is judged against it as a retry would be.
    first: dict[tuple[int, str], _Row] = {}
    pending: list[tuple[int, _Row]] = []
    for record in parsed:
        try:
            line, field = lines.find(record)
            _check_line(line, field, record.occurred_at, tz)
        except _Rejected as error:
            results[record.index] = RecordResult(
                record.index, UsageStatus.REJECTED, field=error.field, reason=error.reason
            )
            continue
        row = _row(line, record)
        first.setdefault(row.slot, row)
        pending.append((record.index, row))
    inserted: dict[tuple[int, str], int] = {}
    held: dict[tuple[int, str], tuple[int, str]] = {}
    if first:
        insert = _insert_postgresql if connection.vendor == "postgresql" else _insert_generic
        with transaction.atomic():
            inserted = insert(list(first.values()))
            # Keys already taken (a retry, a reuse, or a concurrent sender): one read tells which.
            taken = [slot for slot in first if slot not in inserted]
            if taken:
                held = {
                    (customer_id, key): (pk, digest)
                    for pk, customer_id, key, digest in _stored(taken).values_list(
                        "pk", "customer_id", "idempotency_key", "payload_hash"
                    )
                }
    for index, row in pending:
        slot = row.slot
        if slot in inserted:
            pk, digest = inserted[slot], first[slot].digest
        else:
            pk, digest = held[slot]
        if digest != row.digest:
            results[index] = RecordResult(
                index,
                UsageStatus.CONFLICT,
                record_id=pk,
                field="idempotency_key",
                reason=f"idempotency_key {row.key!r} already names different usage (record "
                f"{pk}); send new usage under a new key.",
            )
        elif slot in inserted and first[slot] is row:
            results[index] = RecordResult(index, UsageStatus.ACCEPTED, record_id=pk)
        else:
            results[index] = RecordResult(index, UsageStatus.DUPLICATE, record_id=pk)
    return [results[index] for index in range(offset, offset + len(chunk))]


def usage_records_ingest(*, records: Sequence[Mapping], source: str) -> IngestResult:
    """Store a batch of usage records, each at most once, and say what became of each.

    Each record names its line by ``line`` (id), ``subscription_key``, or ``contract`` (number)
    and ``product`` (SKU), and has ``quantity`` (decimal string, integer or ``Decimal``, not
    negative), ``occurred_at`` (aware datetime or ISO 8601 with an offset, on a day of the
    line's term), ``idempotency_key`` and optional ``attributes`` (a JSON object). Good records
    are kept whatever is wrong with others. ``source`` (``api``, a file name...) is logged.
    """
    tz = timezone.get_default_timezone()
    lines = _Lines(tz)
    results: list[RecordResult] = []
    for offset, chunk in _chunks(records):
        results.extend(_ingest_chunk(chunk, offset=offset, lines=lines, tz=tz))
    outcome = IngestResult(results)
    logger.info("Usage from %s: %s", source, outcome.counts)
    return outcome


def usage_record_ingest(
    *,
    source: str,
    quantity: Decimal | int | str,
    occurred_at: datetime | str,
    idempotency_key: str,
    line: int | None = None,
    subscription_key: str | None = None,
    contract: str | None = None,
    product: str | None = None,
    attributes: dict | None = None,
) -> RecordResult:
    """Store one usage record at most once and say what became of it (see the batch service)."""
    record = {
        "line": line,
        "subscription_key": subscription_key,
        "contract": contract,
        "product": product,
        "quantity": quantity,
        "occurred_at": occurred_at,
        "idempotency_key": idempotency_key,
        "attributes": attributes,
    }
    return usage_records_ingest(records=[record], source=source).results[0]
