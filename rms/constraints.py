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

import functools
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


# A compiled condition: True, False, or None when SQL would find it unknown (a NULL compared).
Test = Callable[[models.Model], bool | None]


def _plain(value: Any) -> Any:
    """Return a value as the database compares it: a money amount as its number (a
    ``MoneyField`` compares by its amount column), a choice as its stored value."""
    if isinstance(value, Money):
        return value.amount
    if isinstance(value, models.Choices):
        return value.value
    return value


def _field(model: type[models.Model], name: str) -> str:
    if LOOKUP_SEP in name or not hasattr(model, name):
        raise _Unreadable(name)
    return name


def _operand(model: type[models.Model], value: Any) -> Callable[[models.Model], Any]:
    """Compile the right-hand side of a lookup: a field of the row (``F``) or a constant."""
    if isinstance(value, F):
        name = _field(model, value.name)
        return lambda row: _plain(getattr(row, name))
    if isinstance(value, (models.Expression, models.Model)):
        raise _Unreadable(repr(value))
    constant = _plain(value)
    return lambda row: constant


def _compile_leaf(model: type[models.Model], lookup: str, expected: Any) -> Test:
    """Compile ``field__lookup=expected`` into a test of a row."""
    name, _, kind = lookup.partition(LOOKUP_SEP)
    name, kind = _field(model, name), kind or "exact"
    if kind == "isnull":
        wanted = bool(expected)
        return lambda row: (getattr(row, name) is None) == wanted
    if kind == "in":
        values = [_plain(value) for value in expected]
        if any(isinstance(value, (F, models.Expression)) for value in values):
            raise _Unreadable(lookup)

        def within(row: models.Model) -> bool | None:
            actual = _plain(getattr(row, name))
            return None if actual is None else actual in values

        return within
    compare = _COMPARISONS.get(kind)
    if compare is None:
        raise _Unreadable(lookup)
    other = _operand(model, expected)
    if not isinstance(expected, F) and _plain(expected) is not None:
        constant = _plain(expected)

        # Most conditions compare with a constant (``quantity > 0``): one call less a row.
        def compared_with_constant(row: models.Model) -> bool | None:
            actual = _plain(getattr(row, name))
            return None if actual is None else compare(actual, constant)

        return compared_with_constant

    def compared(row: models.Model) -> bool | None:
        actual, wanted = _plain(getattr(row, name)), other(row)
        return None if actual is None or wanted is None else compare(actual, wanted)

    return compared


def _compile(model: type[models.Model], condition: Q) -> Test:
    """Compile a ``Q`` tree into a test with SQL's three-valued AND, OR and NOT."""
    tests = [
        _compile(model, child) if isinstance(child, Q) else _compile_leaf(model, *child)
        for child in condition.children
    ]
    conjunction, negated = condition.connector == Q.AND, condition.negated

    # AND stops at the first False, OR at the first True; an unknown part leaves the rest unknown.
    decisive = not conjunction

    def test(row: models.Model) -> bool | None:
        result: bool | None = not decisive
        for part in tests:
            outcome = part(row)
            if outcome is decisive:
                result = decisive
                break
            if outcome is None:
                result = None
        return result if result is None or not negated else not result

    return test


def _referenced(condition: Q) -> set[str]:
    """The fields a condition reads (Django skips a constraint on a field left out)."""
    names: set[str] = set()
    for child in condition.children:
        if isinstance(child, Q):
            names |= _referenced(child)
            continue
        lookup, value = child
        names.add(lookup.split(LOOKUP_SEP)[0])
        if isinstance(value, F):
            names.add(value.name)
    return names


@functools.cache
def _checks(
    model: type[models.Model],
) -> list[tuple[models.CheckConstraint, Test | None, frozenset[str]]]:
    """Each check constraint of ``model`` (and its parents), compiled once per process."""
    compiled = []
    for owner in (model, *model._meta.get_parent_list()):
        for constraint in owner._meta.constraints:
            if not isinstance(constraint, models.CheckConstraint):
                continue
            try:
                test = _compile(model, constraint.condition)
            except _Unreadable:
                test = None  # the database will be asked
            compiled.append((constraint, test, frozenset(_referenced(constraint.condition))))
    return compiled


def check_constraint_errors(
    row: Any,
    *,
    exclude: set[str],
    using: str,
    field_of: dict[str, str],
    model: type[models.Model] | None = None,
) -> dict[str, list[str]]:
    """Return the check constraints ``row`` breaks, by the field each names.

    ``field_of`` maps a constraint's name to the field its refusal is shown against; others are
    shown against the whole row. Constraints involving an ``exclude``d field are skipped, as
    Django's ``validate`` skips them. ``row`` is an instance of ``model`` (by default its own
    class) or an object with its fields as attributes (an import's draft), whose constraints
    must then all be ones this module reads.
    """
    errors: dict[str, list[str]] = {}
    for constraint, test, fields in _checks(model or type(row)):
        if fields & exclude:
            continue
        if test is not None:
            passed = test(row) is not False
        elif not isinstance(row, models.Model):
            raise TypeError(f"{constraint.name} needs the database: check a model instance.")
        else:
            passed = _database_says_valid(constraint, row, exclude=exclude, using=using)
        if not passed:
            field = field_of.get(constraint.name, "__all__")
            errors.setdefault(field, []).append(constraint.get_violation_error_message())
    return errors


def _database_says_valid(
    constraint: models.CheckConstraint, row: models.Model, *, exclude: set[str], using: str
) -> bool:
    try:
        constraint.validate(type(row), row, exclude=exclude, using=using)
    except ValidationError:
        return False
    return True
