"""Check a customer, product, contract or line the way the admin's forms do, naming each fault.

Shared by every entry point that writes these rows in bulk or from outside (the API, CSV
imports): each reports every problem at once, by field, before anything is saved. Check
constraints are evaluated in Python (``rms.constraints``), so checking a row costs no query; the
database still enforces them on save.
"""

import functools
from collections.abc import Iterable
from typing import TYPE_CHECKING

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import router
from django.db.models import Field, Model, UniqueConstraint

from rms.constraints import check_constraint_errors

if TYPE_CHECKING:
    from imports.objects import Draft

Errors = dict[str, list[str]]

# Constraints about one field: their refusal names it, where Django would blame the whole row.
CONSTRAINT_FIELDS = {
    "billing_contact_unique_email_per_customer": "email",
    "product_ssp_not_negative": "ssp",
    "contract_end_not_before_start": "end_date",
    "contract_has_end_unless_evergreen": "end_date",
    "contract_not_to_exceed_in_currency_and_not_negative": "not_to_exceed",
    "contract_cost_budget_in_currency_and_not_negative": "cost_budget",
    "contract_line_unique_sequence": "sequence",
    "contract_line_quantity_positive": "quantity",
    "contract_line_unit_price_not_negative": "unit_price",
    "contract_line_ssp_not_negative": "ssp_override",
    "contract_line_service_end_not_before_start": "service_end",
    "contract_line_calendar_billing_has_day": "bill_day",
    "contract_line_one_time_terms": "one_time_trigger",
    "contract_line_milestone_has_value": "unit_price",
    "milestone_amount_not_negative": "amount",
}


def row_errors(
    row: Model, *, exclude: Iterable[str] = (), unique: bool = True, parsed: Iterable[str] = ()
) -> Errors:
    """Return what ``full_clean`` refuses in ``row``, by field; empty when the row is valid.

    As ``full_clean`` does, but naming the field of a one-field constraint (see
    ``CONSTRAINT_FIELDS``) and skipping constraints that involve a field already refused.
    ``unique=False`` leaves uniqueness to a caller that checks a whole batch at once (an import
    looks its keys up in one query per chunk, not one per row). ``parsed`` names fields whose
    values a caller has already checked as the field would (an import's cell parsers: type,
    length, choices, range): their field rules are not run again; the rules spanning fields
    (``clean()``, constraints) still see them.
    """
    exclude = set(exclude)
    errors: Errors = {}
    try:
        row.full_clean(
            exclude=exclude | set(parsed), validate_unique=unique, validate_constraints=False
        )
    except ValidationError as error:
        errors = {field: list(messages) for field, messages in error.message_dict.items()}
    using = router.db_for_write(type(row), instance=row)
    _add_constraint_errors(row, type(row), errors, exclude=exclude, using=using)
    if unique:
        for model, constraints in row.get_constraints():
            for constraint in constraints:
                if not isinstance(constraint, UniqueConstraint):
                    continue
                try:
                    constraint.validate(model, row, exclude=exclude | set(errors), using=using)
                except ValidationError as error:
                    field = CONSTRAINT_FIELDS.get(constraint.name, NON_FIELD_ERRORS)
                    errors.setdefault(field, []).extend(error.messages)
    return errors


def draft_errors(
    draft: "Draft", *, exclude: Iterable[str] = (), parsed: Iterable[str] = ()
) -> Errors:
    """Return what ``row_errors(..., unique=False)`` refuses in the instance ``draft`` stands for.

    The same steps on the draft's attributes: ``clean_fields`` (less ``exclude`` and
    ``parsed``), the model's ``clean()`` (which the draft borrows), then the check constraints.
    """
    exclude = set(exclude)
    errors: dict = {}
    field_errors = {}
    for field in _cleaned_fields(draft.model, frozenset(exclude | set(parsed))):
        raw = getattr(draft, field.attname)
        if field.blank and raw in field.empty_values:
            continue
        try:
            setattr(draft, field.attname, field.clean(raw, None))
        except ValidationError as error:
            field_errors[field.name] = error.error_list
    if field_errors:
        errors = ValidationError(field_errors).update_error_dict(errors)
    try:
        draft.clean()
    except ValidationError as error:
        errors = error.update_error_dict(errors)
    found: Errors = {}
    if errors:
        found = {f: list(messages) for f, messages in ValidationError(errors).message_dict.items()}
    using = router.db_for_write(draft.model)
    _add_constraint_errors(draft, draft.model, found, exclude=exclude, using=using)
    return found


@functools.cache
def _cleaned_fields(model: type[Model], skipped: frozenset[str]) -> list[Field]:
    """The fields ``clean_fields(exclude=skipped)`` cleans, in its order."""
    return [f for f in model._meta.fields if f.name not in skipped and not f.generated]


def _add_constraint_errors(
    row: "Model | Draft", model: type[Model], errors: Errors, *, exclude: set[str], using: str
) -> None:
    """Add the check constraints ``row`` breaks, skipping those on a field already refused."""
    found = check_constraint_errors(
        row, model=model, exclude=exclude | set(errors), using=using, field_of=CONSTRAINT_FIELDS
    )
    for field, messages in found.items():
        errors.setdefault(field, []).extend(messages)


def nested(prefix: str, errors: Errors) -> Errors:
    """Name a nested row's errors by their path: ``lines[1].unit_price``, ``lines[1]``."""
    return {
        prefix if field == NON_FIELD_ERRORS else f"{prefix}.{field}": messages
        for field, messages in errors.items()
    }
