"""Helpers a layout uses to set a model's fields from a row and to write cells back out.

Setting follows one rule for an empty cell: a nullable field is cleared, a text field is
emptied, and any other field takes its default on a new row and keeps its value on a stored
one (an empty ``status`` never turns an active contract back into a draft). A column the file
does not have leaves the field alone.
"""

from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import models
from djmoney.money import Money

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
    names = {f.attname: f.name for f in row._meta.concrete_fields}
    return sorted({names[a] for a, value in after.items() if before.get(a) != value})


def assign(row: models.Model, name: str, value: Any, *, new: bool) -> None:
    """Set field ``name`` from a cell's value, following the module's rule for empty cells."""
    field = row._meta.get_field(name)
    if value is None and not field.null:
        if isinstance(field, (models.CharField, models.TextField)) and (
            field.blank or not field.has_default()
        ):
            value = ""
        elif new:
            value = field.get_default()
        else:
            return
    setattr(row, name, value)


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
        """Write the chunk's rows in bulk and, for an audited model, record their history."""
        audited = hasattr(model._meta, "simple_history_manager_attribute")
        if self.created:
            bulk_insert(model, self.created)
            if audited:
                history_record_bulk(model, self.created, history_type="+")
        if self.updated:
            model.objects.bulk_update(self.updated, sorted({*self.fields, *extra}))
            if audited:
                history_record_bulk(model, self.updated, history_type="~")
