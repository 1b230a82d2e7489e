"""Insert many new rows fast: PostgreSQL's ``COPY``, with ``bulk_create`` everywhere else.

``bulk_create`` prepares every value of every row through Django's field machinery and sends
them as query parameters: about 150 µs a row, the largest single cost of importing a contract
file. ``COPY`` streams the rows in psycopg's own text format instead. The primary keys are
taken from the table's sequence first (one query), so the objects come back with their ids,
as ``bulk_create``'s do. Values Django would convert (a ``Money`` to its amount) are converted
here the same way; a field of any type this module does not know goes through Django's own
preparation, so nothing is written differently, only faster.

``bulk_insert`` takes model instances, or drafts with the same attributes, and gives them their
ids; ``rows_insert`` takes the rows as constructor arguments and builds no instance, for rows
nobody needs as objects afterwards (a bill run's invoice lines), where building them cost as
much as writing them.
"""

import functools
import operator
from collections.abc import Callable, Mapping, Sequence
from types import SimpleNamespace
from typing import Any

from django.db import connections, models, router
from djmoney.models.fields import CurrencyField, MoneyField
from moneyed import Money  # djmoney's Money too, and what rms.money returns

# Field types whose Python values psycopg writes exactly as Django would prepare them.
PLAIN_FIELDS = (
    models.CharField,
    models.TextField,
    models.DecimalField,
    models.DateField,  # and DateTimeField
    models.IntegerField,  # and the small, big, positive and auto variants
    models.BooleanField,
    models.ForeignKey,
)


def _plain(value: Any) -> Any:
    return value.amount if isinstance(value, Money) else value


def column_values(field: models.Field, objs: Sequence[Any], connection) -> list[Any]:
    """Return ``field``'s values on ``objs`` as the database is sent them (an array parameter,
    say): as they stand for the plain types, through Django's preparation for the others."""
    name = field.attname
    if isinstance(field, PLAIN_FIELDS):
        return [_plain(getattr(obj, name)) for obj in objs]
    return [field.get_db_prep_save(getattr(obj, name), connection) for obj in objs]


def _converter(field: models.Field, connection) -> Callable[[models.Model], Any]:
    """Return how to read ``field``'s database value off an object about to be inserted."""
    if isinstance(field, PLAIN_FIELDS):
        return lambda obj: _plain(field.pre_save(obj, True))
    return lambda obj: field.get_db_prep_save(field.pre_save(obj, True), connection)


@functools.cache
def _attributes(model: type[models.Model]) -> tuple[list[models.Field], Callable, list[int]]:
    """Return the fields whose value is their attribute as it stands, a getter of them all at
    once (a tuple), and the positions among them of money fields (written as their amount).

    One ``attrgetter`` call per row: reading the fields one ``pre_save`` at a time cost a fifth
    of an import. A date stamped on save (``auto_now``, ``auto_now_add``) is left to its
    ``pre_save``, as is every field of a type psycopg does not write as Django would.
    """
    fields = [
        f
        for f in model._meta.concrete_fields
        if isinstance(f, PLAIN_FIELDS)
        and not f.primary_key
        and not getattr(f, "auto_now", False)
        and not getattr(f, "auto_now_add", False)
    ]
    names = [f.attname for f in fields]
    # ``attrgetter`` of several names returns a tuple, of one the bare value.
    read = (
        operator.attrgetter(*names)
        if len(names) > 1
        else lambda obj: tuple(getattr(obj, name) for name in names)
    )
    amounts = [i for i, f in enumerate(fields) if isinstance(f, MoneyField)]
    return fields, read, amounts


def bulk_insert(model: type[models.Model], objs: Sequence[Any]) -> None:
    """Insert ``objs`` (new, unsaved) and give each its primary key, as ``bulk_create`` does.

    ``objs`` are instances of ``model`` or objects with the same attributes (an import's
    drafts, ``imports.objects.Draft``): a field's ``attname`` holds its value, a money field's
    a ``Money``.
    """
    if not objs:
        return
    connection = connections[router.db_for_write(model)]
    if connection.vendor != "postgresql":
        _bulk_create(model, objs)
        return
    direct, read, amounts = _attributes(model)
    others = [f for f in model._meta.concrete_fields if not f.primary_key and f not in direct]
    converters = [_converter(field, connection) for field in others]

    def values(obj) -> list[Any]:
        row = [*read(obj), *(convert(obj) for convert in converters)]
        for i in amounts:
            row[i] = _plain(row[i])
        return row

    ids = _copy(model, connection, [*direct, *others], [values(obj) for obj in objs])
    for pk, obj in zip(ids, objs, strict=True):
        obj.pk = pk
        if isinstance(obj, models.Model):
            obj._state.adding = False
            obj._state.db = connection.alias


def _bulk_create(model: type[models.Model], objs: Sequence[Any]) -> None:
    """``bulk_create`` (the other databases), building instances of what are not."""
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    instances = [
        obj
        if isinstance(obj, models.Model)
        else model(**{f.attname: getattr(obj, f.attname) for f in fields})
        for obj in objs
    ]
    model.objects.bulk_create(instances)
    for obj, instance in zip(objs, instances, strict=True):
        obj.pk = instance.pk


def rows_insert(model: type[models.Model], rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert new rows given as the keyword arguments of ``model``'s constructor, by attname.

    For rows nobody needs as objects afterwards (a bill run's invoice lines): on PostgreSQL no
    instance is built, the values are read off the mappings (a ``Money`` gives its amount and,
    unless the row names it, its currency column), and a field a row leaves out takes its
    default, as the constructor would give it. Elsewhere the instances go to ``bulk_create``.
    """
    if not rows:
        return
    fields = [field for field in model._meta.concrete_fields if not field.primary_key]
    known = {field.attname for field in fields}
    for row in rows:
        if not known.issuperset(row):
            unknown = ", ".join(sorted(set(row) - known))
            raise ValueError(f"{model.__name__} has no field (by attname) {unknown}.")
    connection = connections[router.db_for_write(model)]
    if connection.vendor != "postgresql":
        model.objects.bulk_create([model(**row) for row in rows])
        return
    readers = [_reader(field, connection) for field in fields]
    _copy(model, connection, fields, [[read(row) for read in readers] for row in rows])


def _reader(field: models.Field, connection) -> Callable[[Mapping[str, Any]], Any]:
    """Return how to read ``field``'s database value off a row of ``rows_insert``."""
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        # Sets and returns the time (or date) as for an instance: a namespace stands in for it.
        return lambda row: field.pre_save(SimpleNamespace(), True)
    name, default = field.attname, field.get_default()
    price = getattr(field, "price_field", None)
    if isinstance(field, CurrencyField) and price is not None:
        return lambda row: (
            row[name] if name in row else _currency_of(row.get(price.attname), default)
        )
    if isinstance(field, PLAIN_FIELDS):
        return lambda row: _plain(row.get(name, default))
    return lambda row: field.get_db_prep_save(row.get(name, default), connection)


def _currency_of(value: Any, default: Any) -> Any:
    return value.currency.code if isinstance(value, Money) else default


def _copy(
    model: type[models.Model], connection, fields: Sequence[models.Field], rows: list[list[Any]]
) -> list[int]:
    """``COPY`` the rows (the values of ``fields``, in that order) and return their new ids.

    The ids are taken from the table's sequence first (one query), in the order of ``rows``.
    """
    meta = model._meta
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [meta.db_table, meta.pk.column, len(rows)],
        )
        ids = [row[0] for row in cursor.fetchall()]
        columns = ", ".join(quote(f.column) for f in (meta.pk, *fields))
        # psycopg's own cursor, wrapped so its errors arrive as Django's (IntegrityError...).
        copying = cursor.cursor.copy(f"COPY {quote(meta.db_table)} ({columns}) FROM STDIN")
        with connection.wrap_database_errors, copying as copy:
            for pk, values in zip(ids, rows, strict=True):
                copy.write_row([pk, *values])
    return ids
