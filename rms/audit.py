"""The audit trail: who changed a record, when, through which door, and what changed.

django-simple-history keeps a historical row per change of each audited model (``history =
AuditTrail()`` on the model): the whole row as it was after the change, its time, its type
(created, changed, deleted) and the user. ``AuditTrail`` adds how the change came in
(``history_via``: the admin, an API token by name, a Celery task, a management command) and the
username as it was then, so that deleting a user later does not erase who did what.

A request's user and token reach the records through ``HistoryRequestMiddleware``; DRF sets the
user and the token it authenticated on the underlying request, so API changes carry them too.
Writes without a request (tasks, commands) have no user; services that know who acted keep it as
text on the row (a milestone's ``achieved_by``, a payment's ``recorded_by``).

Bulk writes (``bulk_create``, ``bulk_update``, ``QuerySet.update``) send no signals: the
services that use them call ``history_record_bulk`` after the write, which copies the rows from
the live table into the historical one in one ``INSERT ... SELECT`` per batch.
"""

import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connections, models, router
from django.db.models import Max, Q
from django.utils import timezone
from djmoney.models.fields import CurrencyField
from simple_history.models import HistoricalChanges, HistoricalRecords, ModelChange
from simple_history.signals import pre_create_historical_record
from simple_history.utils import get_history_model_for_model

# Rows per INSERT ... SELECT: the primary keys are its parameters, well under SQLite's limit.
BULK_BATCH_SIZE = 500

TYPE_NAMES = {"+": "created", "~": "changed", "-": "deleted"}


class AuditedHistory(models.Model):
    """Base of every historical model of the audit trail: how the change came in, and by whom."""

    history_via = models.CharField(
        max_length=150,
        blank=True,
        help_text="How the change came in: admin, api token <name>, api, task <name>, "
        "command <name> or system.",
    )
    history_username = models.CharField(
        max_length=150, blank=True, help_text="The user's username at the time of the change."
    )

    class Meta:
        abstract = True


class AuditTrail(HistoricalRecords):
    """``HistoricalRecords`` with the audit fields, indexed only by the audited row's id.

    The history is read per object (its id) or by date; simple-history would also index every
    foreign key and unique field it copies, which a bill run pays for on each invoice it writes.
    """

    def __init__(self, **options) -> None:
        super().__init__(bases=[AuditedHistory], **options)

    def copy_fields(self, model: type[models.Model]) -> dict[str, models.Field]:
        fields = super().copy_fields(model)
        for name, field in fields.items():
            field.db_index = name == model._meta.pk.name
        return fields


# --- Who and how ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    """Who is making the current change and through which door."""

    user: Any  # the request's authenticated user, or None
    via: str

    @property
    def username(self) -> str:
        return self.user.get_username() if self.user is not None else ""


def _token_label(auth: Any) -> str:
    """Name the API token of a request without ever storing its secret key.

    ``ApiToken`` has a ``name`` and a key ``prefix``; a token of another kind is named by its
    class alone (DRF's own token's text is its key).
    """
    name = getattr(auth, "name", None)
    prefix = getattr(auth, "prefix", None)
    if name and prefix:
        return f"{name} ({prefix}…)"
    return name or (f"{prefix}…" if prefix else type(auth).__name__)


def _request_via(request: Any) -> str:
    auth = getattr(request, "auth", None)
    if auth is not None:
        return f"api token {_token_label(auth)}"[:150]
    match = getattr(request, "resolver_match", None)
    namespaces = match.namespaces if match is not None else []
    if "admin" in namespaces:
        return "admin"
    if "v1" in namespaces or request.path.startswith("/api/"):
        return "api"
    return "web"


def _background_via() -> str:
    """Name the task or management command making a change outside any request."""
    from celery import current_task  # a proxy of the running task, of None outside any

    task_name = getattr(current_task, "name", None)
    if task_name:
        return f"task {task_name}"[:150]
    if len(sys.argv) > 1 and sys.argv[0].endswith("manage.py"):
        return f"command {sys.argv[1]}"[:150]
    return "system"


_acting: ContextVar[Actor | None] = ContextVar("rms_audit_acting", default=None)


@contextmanager
def acting_as(*, user: Any, via: str) -> Iterator[None]:
    """Record the changes made inside as ``user``'s, come in through ``via``.

    For work done on someone's behalf outside their request: an import job's worker records
    the rows as the uploader's, "import <file>", not as an anonymous task's.
    """
    token = _acting.set(Actor(user=user, via=via[:150]))
    try:
        yield
    finally:
        _acting.reset(token)


def current_actor() -> Actor:
    """Return the user and the door of the change being made now (request, task, command)."""
    acting = _acting.get()
    if acting is not None:
        return acting
    request = getattr(HistoricalRecords.context, "request", None)
    if request is None:
        return Actor(user=None, via=_background_via())
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        user = None
    return Actor(user=user, via=_request_via(request))


def _fill_audit_fields(sender, history_instance, history_user=None, **kwargs) -> None:
    """Record how each change came in (``pre_create_historical_record`` receiver)."""
    if not isinstance(history_instance, AuditedHistory):
        return
    actor = current_actor()
    user = history_user if history_user is not None else actor.user
    history_instance.history_via = actor.via
    history_instance.history_username = user.get_username() if user is not None else ""


pre_create_historical_record.connect(_fill_audit_fields, dispatch_uid="rms.audit.fill_fields")


# --- Bulk writes ---------------------------------------------------------------------------


def history_record_bulk(
    model: type[models.Model],
    rows: Iterable[models.Model | int],
    *,
    history_type: str = "~",
) -> int:
    """Record the current state of ``rows`` (objects or primary keys) after a bulk write.

    One ``INSERT ... SELECT`` per ``BULK_BATCH_SIZE`` rows copies them from the live table, so
    the history holds what the database holds, whatever the write was (``bulk_create``,
    ``bulk_update``, ``QuerySet.update`` or raw SQL). ``history_type`` is ``"+"`` after a
    create, ``"~"`` after an update. Returns the number of records written.
    """
    if history_type not in TYPE_NAMES:
        raise ValueError(f"history_type is one of {', '.join(TYPE_NAMES)}, not {history_type!r}.")
    if not getattr(settings, "SIMPLE_HISTORY_ENABLED", True):
        return 0
    pks = [row.pk if isinstance(row, models.Model) else row for row in rows]
    if not pks:
        return 0
    history = get_history_model_for_model(model)
    connection = connections[router.db_for_write(history)]
    quote = connection.ops.quote_name
    meta, history_meta = model._meta, history._meta
    tracked = list(history.tracked_fields)
    columns = [quote(history_meta.get_field(field.name).column) for field in tracked]
    sources = [quote(field.column) for field in tracked]
    actor = current_actor()
    extra = {
        "history_date": timezone.now(),
        "history_type": history_type,
        "history_user": actor.user.pk if actor.user is not None else None,
        "history_change_reason": None,
        "history_via": actor.via,
        "history_username": actor.username,
    }
    extra_params = []
    for name, value in extra.items():
        field = history_meta.get_field(name)
        columns.append(quote(field.column))
        extra_params.append(field.get_db_prep_save(value, connection))
    head = (
        f"INSERT INTO {quote(history_meta.db_table)} ({', '.join(columns)}) "
        f"SELECT {', '.join([*sources, *['%s'] * len(extra_params)])} "
        f"FROM {quote(meta.db_table)} WHERE {quote(meta.pk.column)} "
    )
    # PostgreSQL takes the keys as one array parameter: a statement with thousands of
    # placeholders costs psycopg more to prepare than the database to run.
    array = connection.vendor == "postgresql"
    written = 0
    with connection.cursor() as cursor:
        for start in range(0, len(pks), BULK_BATCH_SIZE):
            batch = [
                meta.pk.get_db_prep_value(pk, connection)
                for pk in pks[start : start + BULK_BATCH_SIZE]
            ]
            if array:
                cursor.execute(f"{head}= ANY(%s)", [*extra_params, batch])
            else:
                cursor.execute(
                    f"{head}IN ({', '.join(['%s'] * len(batch))})", [*extra_params, *batch]
                )
            written += cursor.rowcount
    return written


# --- Reading the trail ---------------------------------------------------------------------


def audited_fields(history: type[models.Model]) -> list[models.Field]:
    """Return the live model's fields whose changes the trail shows, by name.

    All tracked fields but the primary key, the automatic timestamps (the record has its own
    date) and the currency of an amount (shown with the amount, as money).
    """
    return sorted(
        (
            field
            for field in history.tracked_fields
            if not field.primary_key
            and not (getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False))
            and not (isinstance(field, CurrencyField) and field.price_field is not None)
        ),
        key=lambda field: field.name,
    )


def _older(record: HistoricalChanges) -> Q:
    return Q(history_date__lt=record.history_date) | Q(
        history_date=record.history_date, history_id__lt=record.history_id
    )


def previous_records(
    records: Sequence[HistoricalChanges],
) -> dict[int, HistoricalChanges | None]:
    """Return the record before each of ``records`` (newest first), by ``history_id``.

    Records of one object follow each other in ``records``; the one before the oldest record of
    each object is read in one query for all of them, so a page costs a constant number of
    queries whatever its length.
    """
    if not records:
        return {}
    history = type(records[0])
    pk_name = history.instance_type._meta.pk.attname
    previous: dict[int, HistoricalChanges | None] = {}
    oldest: dict[Any, HistoricalChanges] = {}
    for record in records:
        key = getattr(record, pk_name)
        if key in oldest:
            previous[oldest[key].history_id] = record
        oldest[key] = record
    missing = {key: rec for key, rec in oldest.items() if rec.history_type != "+"}
    for record in oldest.values():
        previous.setdefault(record.history_id, None)
    if missing:
        condition = Q()
        for key, record in missing.items():
            condition |= Q(**{pk_name: key}) & _older(record)
        # The latest older record of each object: its greatest (history_date, history_id).
        latest = (
            history.objects.filter(condition)
            .order_by()
            .values(pk_name)
            .annotate(last=Max("history_id"))
            .values("last")
        )
        found = {getattr(r, pk_name): r for r in history.objects.filter(history_id__in=latest)}
        for key, record in missing.items():
            previous[record.history_id] = found.get(key)
    return previous


def record_changes(
    record: HistoricalChanges, previous: HistoricalChanges | None
) -> list[ModelChange]:
    """Return what ``record`` changed since ``previous``, field by field, in field-name order.

    Values are as the model holds them: ``Money`` for amounts, the id for a foreign key. A
    creation lists the values the row was created with that are not empty (``old`` is None); a
    deletion changes nothing (the record is the row as it was when deleted).
    """
    if record.history_type == "-" or (previous is None and record.history_type != "+"):
        return []
    changes = []
    for field in audited_fields(type(record)):
        # The attribute, not model_to_dict (which skips fields the forms may not edit, such as
        # a stored PDF); an amount's attribute is its Money, currency included.
        new = getattr(record, field.attname)
        if previous is None:
            if new not in (None, ""):
                changes.append(ModelChange(field.name, None, new))
            continue
        old = getattr(previous, field.attname)
        if old != new:
            changes.append(ModelChange(field.name, old, new))
    return changes
