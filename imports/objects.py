"""Helpers a layout uses to set a model's fields from a row and to write cells back out.

Setting follows one rule for an empty cell: a nullable field is cleared, a text field is
emptied, and any other field takes its default on a new row and keeps its value on a stored
one (an empty ``status`` never turns an active contract back into a draft). A column the file
does not have leaves the field alone.
"""

import functools
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any, ClassVar, Self

from django.db import models
from djmoney.models.fields import MoneyField
from djmoney.money import Money
from djmoney.utils import get_currency_field_name

from imports.engine import Row, Status
from rms.audit import history_record_bulk
from rms.bulk import bulk_insert

# Kept out of change detection: they change by themselves on every save.
AUTOMATIC = {"created_at", "updated_at"}


def snapshot(row: models.Model) -> dict[str, Any]:
    """Return the row's stored values by column, to tell afterwards whether anything changed.

    A row not saved yet has nothing stored to compare with (it is new): empty, and cheap.
    """
    if row.pk is None:
        return {}
    if isinstance(row, Draft):
        return row.snapshot()
    return {
        f.attname: getattr(row, f.attname)
        for f in row._meta.concrete_fields
        if f.attname not in AUTOMATIC and not f.primary_key
    }


def changed_fields(row: models.Model, before: dict[str, Any]) -> list[str]:
    """Return the names of the fields whose value differs from ``before`` (none for a new row)."""
    if not before:
        return []
    after = snapshot(row)
    names = {f.attname: f.name for f in _meta(row).concrete_fields}
    return sorted({names[a] for a, value in after.items() if before.get(a) != value})


# What an empty cell sets a stored row's field to: nothing, it keeps its value.
KEEP = object()


def assign(row: models.Model, name: str, value: Any, *, new: bool) -> None:
    """Set field ``name`` from a cell's value, following the module's rule for empty cells."""
    value = cell_value(row._meta.get_field(name), value, new=new)
    if value is not KEEP:
        setattr(row, name, value)


def cell_value(field: models.Field, value: Any, *, new: bool) -> Any:
    """Return what a cell's value sets ``field`` to, following the module's rule for empty
    cells (``None``): the empty text, the field's default on a new row, or ``KEEP``."""
    if value is None and not field.null:
        if isinstance(field, (models.CharField, models.TextField)) and (
            field.blank or not field.has_default()
        ):
            return ""
        if new:
            return field.get_default()
        return KEEP
    return value


def _meta(row: "models.Model | Draft") -> Any:
    return row.model._meta if isinstance(row, Draft) else row._meta


def money(amount: Decimal | None, currency: str) -> Money | None:
    return None if amount is None else Money(amount, currency)


def cell(value: Any) -> str:
    """Write a value as an import reads it back: ISO dates, plain decimals, true/false."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Money):
        value = value.amount
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def by(rows: Iterable[models.Model], attribute: str) -> dict[Any, models.Model]:
    return {getattr(row, attribute): row for row in rows}


class Draft:
    """A row of ``model`` as plain attributes: what an import makes of it, checked and written
    without a model instance.

    Building an instance (its ``__init__`` and descriptors) and reading it back field by field
    cost about half of a contract line's import. A draft holds the same values under the same
    names: each field's ``attname``, a money field as ``Money`` beside its currency code, a
    relation as its id and, where a rule reads it, the related object under the field's name.
    So a subclass borrows the model's own rules (``clean`` and what it calls) instead of
    repeating them, and ``rms.constraints`` and ``rms.bulk`` read a draft as an instance.
    """

    model: ClassVar[type[models.Model]]

    @classmethod
    def new(cls) -> Self:
        """A row not stored yet, holding every field's default as a new instance does."""
        draft = cls()
        constant, called = _defaults(cls.model)
        draft.__dict__.update(constant)
        for field in called:
            setattr(draft, field.attname, field.get_default())
        return draft

    @classmethod
    def stored(cls, values: dict[str, Any]) -> Self:
        """The row as stored: ``values`` by ``attname`` (``QuerySet.values``), amounts made
        ``Money`` in their currency, as an instance read from the database has them."""
        draft = cls()
        draft.__dict__.update(values)
        for field in _money_fields(cls.model):
            amount = values[field.attname]
            if amount is not None:
                currency = values[get_currency_field_name(field.name, field)]
                setattr(
                    draft,
                    field.attname,
                    Money(amount, currency, decimal_places=field.decimal_places),
                )
        return draft

    @property
    def pk(self) -> Any:
        return getattr(self, self.model._meta.pk.attname)

    @pk.setter
    def pk(self, value: Any) -> None:
        setattr(self, self.model._meta.pk.attname, value)

    def copy(self) -> Self:
        twin = type(self)()
        twin.__dict__.update(self.__dict__)
        return twin

    def set(self, name: str, value: Any, *, new: bool) -> None:
        """Set field ``name`` from a cell's value, as ``assign`` sets an instance's."""
        field = self.model._meta.get_field(name)
        value = cell_value(field, value, new=new)
        if value is not KEEP:
            setattr(self, field.attname, value)

    def set_money(self, name: str, value: Money | None) -> None:
        """Set a money field as its descriptor would: an amount keeps its currency beside it."""
        setattr(self, name, value)
        if value is not None:
            field = self.model._meta.get_field(name)
            setattr(self, get_currency_field_name(name, field), value.currency.code)

    def relate(self, name: str, obj: "models.Model | Draft | None") -> None:
        """Point relation ``name`` at ``obj`` (its id, and the object for the rules)."""
        setattr(self, name, obj)
        setattr(self, self.model._meta.get_field(name).attname, None if obj is None else obj.pk)

    def snapshot(self) -> dict[str, Any]:
        """The values ``snapshot`` compares, for ``changed_fields``."""
        return {
            f.attname: getattr(self, f.attname)
            for f in self.model._meta.concrete_fields
            if f.attname not in AUTOMATIC and not f.primary_key
        }

    def instance(self) -> models.Model:
        """The stored row as a model instance with the draft's values (for ``bulk_update``)."""
        obj = self.model(
            **{f.attname: getattr(self, f.attname) for f in self.model._meta.concrete_fields}
        )
        obj._state.adding = False
        return obj


@functools.cache
def _defaults(model: type[models.Model]) -> tuple[dict[str, Any], list[models.Field]]:
    """The fields' defaults that are constants, by ``attname``, and the fields whose default
    is computed for each new row (a callable)."""
    fields = model._meta.concrete_fields
    called = [f for f in fields if f.has_default() and callable(f.default)]
    return {f.attname: f.get_default() for f in fields if f not in called}, called


@functools.cache
def _money_fields(model: type[models.Model]) -> list[models.Field]:
    return [f for f in model._meta.concrete_fields if isinstance(f, MoneyField)]


class Changes:
    """The rows a chunk creates or changes, and the fields that changed, for bulk writes."""

    def __init__(self) -> None:
        self.created: list[models.Model] = []
        self.updated: list[models.Model] = []
        self.fields: set[str] = set()
        self._status: dict[int, Status] = {}

    def add(self, obj: models.Model, row: Row, *, new: bool, changed: list[str]) -> None:
        if new:
            self.created.append(obj)
            self._status[row.number] = Status.NEW
        elif changed:
            self.updated.append(obj)
            self.fields.update(changed)
            self._status[row.number] = Status.UPDATED
        else:
            self._status[row.number] = Status.UNCHANGED

    def status_of(self, row: Row) -> Status:
        return self._status[row.number]

    def write(self, model: type[models.Model], *, extra: Iterable[str] = ()) -> None:
        """Write the chunk's rows (instances or drafts) in bulk and, for an audited model,
        record their history."""
        audited = hasattr(model._meta, "simple_history_manager_attribute")
        if self.created:
            bulk_insert(model, self.created)
            if audited:
                history_record_bulk(model, [obj.pk for obj in self.created], history_type="+")
        if self.updated:
            model.objects.bulk_update(
                [obj.instance() if isinstance(obj, Draft) else obj for obj in self.updated],
                sorted({*self.fields, *extra}),
            )
            if audited:
                history_record_bulk(model, [obj.pk for obj in self.updated], history_type="~")
