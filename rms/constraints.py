"""Check a row's ``CheckConstraint``s in Python, without asking the database.

Django's ``CheckConstraint.validate`` asks the database (``Q.check``: a query, and a savepoint
inside a transaction) for each constraint of each row. That is right for a form saving one row
and ruinous for an import checking a hundred thousand. The conditions of this project's
constraints are plain comparisons of a row's own fields (``end_date >= start_date``, ``quantity >
0``, ``bill_timing IN (...)``), which Python evaluates exactly as SQL does, three-valued logic
included: a comparison with NULL is unknown, and a condition that comes out unknown passes, as it
does in the database (and in ``Q.check``, which coalesces it to true).

A condition this module cannot read (a lookup across a relation, an expression) is handed to
Django's own ``validate``, so the answer is always the database's answer, only cheaper.
"""

import operator
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from djmoney.money import Money

# SQL's comparisons, for values that are not NULL.
_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "exact": operator.eq,
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


LOOKUP_SEP = "__"


class _Unreadable(Exception):
    """The condition uses something this module does not evaluate."""


def _value(row: models.Model, value: Any) -> Any:
    """Return a condition's operand as the database would see it: ``F`` read off the row, a
    money amount as its number (a ``MoneyField`` compares by its amount column)."""
    if isinstance(value, F):
        if LOOKUP_SEP in value.name:
            raise _Unreadable(value.name)
        value = getattr(row, value.name)
    if isinstance(value, Money):
        return value.amount
    if isinstance(value, models.Choices):
        return value.value
    if isinstance(value, (models.Expression, models.Model)):
        raise _Unreadable(repr(value))
    return value


def _leaf(row: models.Model, lookup: str, expected: Any) -> bool | None:
    """Evaluate ``field__lookup=expected`` on ``row``: True, False, or None when unknown."""
    name, _, kind = lookup.partition(LOOKUP_SEP)
    kind = kind or "exact"
    if LOOKUP_SEP in kind:
        raise _Unreadable(lookup)
    try:
        actual = _value(row, getattr(row, name))
    except AttributeError as error:
        raise _Unreadable(lookup) from error
    if kind == "isnull":
        return (actual is None) == bool(expected)
    if kind == "in":
        values = [_value(row, v) for v in expected]
        return None if actual is None else actual in values
    compare = _COMPARISONS.get(kind)
    if compare is None:
        raise _Unreadable(lookup)
    expected = _value(row, expected)
    if actual is None or expected is None:
        return None
    return compare(actual, expected)


def _evaluate(row: models.Model, condition: Q) -> bool | None:
    """Evaluate a ``Q`` tree on ``row`` with SQL's three-valued AND, OR and NOT."""
    results = [
        _evaluate(row, child) if isinstance(child, Q) else _leaf(row, *child)
        for child in condition.children
    ]
    if condition.connector == Q.AND:
        result = False if False in results else (None if None in results else True)
    else:
        result = True if True in results else (None if None in results else False)
    if condition.negated and result is not None:
        result = not result
    return result


def check_constraint_errors(
    row: models.Model, *, exclude: set[str], using: str, field_of: dict[str, str]
) -> dict[str, list[str]]:
    """Return the check constraints ``row`` breaks, by the field each names.

    ``field_of`` maps a constraint's name to the field its refusal is shown against; others are
    shown against the whole row. Constraints involving an ``exclude``d field are skipped, as
    Django's ``validate`` skips them.
    """
    errors: dict[str, list[str]] = {}
    for _, constraints in row.get_constraints():
        for constraint in constraints:
            if not isinstance(constraint, models.CheckConstraint):
                continue
            try:
                if _involves(constraint.condition, exclude):
                    continue
                passed = _evaluate(row, constraint.condition) is not False
            except _Unreadable:
                passed = _database_says_valid(constraint, row, exclude=exclude, using=using)
            if not passed:
                field = field_of.get(constraint.name, "__all__")
                errors.setdefault(field, []).append(constraint.get_violation_error_message())
    return errors


def _involves(condition: Q, fields: set[str]) -> bool:
    """Whether the condition reads any of ``fields`` (then Django would skip it)."""
    if not fields:
        return False
    for child in condition.children:
        if isinstance(child, Q):
            if _involves(child, fields):
                return True
            continue
        lookup, value = child
        name = lookup.split(LOOKUP_SEP)[0]
        referenced = {name, value.name} if isinstance(value, F) else {name}
        if referenced & fields:
            return True
    return False


def _database_says_valid(
    constraint: models.CheckConstraint, row: models.Model, *, exclude: set[str], using: str
) -> bool:
    try:
        constraint.validate(type(row), row, exclude=exclude, using=using)
    except ValidationError:
        return False
    return True
