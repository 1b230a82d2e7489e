"""Creates and updates of customers, products and contracts, as the API makes them.

Each write is one transaction that checks every row it touches the way the admin's forms do:
the model's ``full_clean``, plus the rules the admin adds around it (invoices delivered by email
need a billing contact; an empty contract currency takes the customer's, an empty billing model
the product's). Every problem is reported at once, before anything is saved, under the name the
client sent it by: ``lines[1].unit_price`` for a line's field, ``lines[1]`` for a whole line.
Refusals are Django ``ValidationError``s, so the API's error handler shapes them and another
entry point (an import) could show them as they are. These writes live beside the API until a
second entry point needs them; then they belong in ``contracts.services``.
"""

from collections.abc import Iterable, Sequence

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Model

from contracts.models import BillingContact, Contract, ContractLine, Customer, Product
from contracts.services import HoldKind, contract_terms_announce, hold_set
from contracts.validation import Errors, nested, row_errors

# Line fields that no two lines of a contract (sequence) or of the book (key) may share.
UNIQUE_ON_LINES = ("sequence", "subscription_key")
CONCURRENT = "Another change to these records was saved at the same moment; send the request again."


def _refuse(errors: Errors) -> None:
    if errors:
        raise ValidationError(errors)


def _save(*rows: Model) -> None:
    """Save rows checked beforehand; a row written meanwhile by another request is a refusal."""
    try:
        with transaction.atomic():
            for row in rows:
                row.save()
    except IntegrityError as error:
        raise ValidationError(CONCURRENT) from error


def _set_fields(row: Model, fields: dict) -> None:
    for name, value in fields.items():
        setattr(row, name, value)


# --- Customers -----------------------------------------------------------------------------


def delivery_errors(customer: Customer, contacts: int, *, field: str) -> Errors:
    """Invoices delivered by email need someone to receive them (the admin's inline rule)."""
    if customer.delivery_method == Customer.DeliveryMethod.EMAIL and not contacts:
        return {
            field: [
                "Invoices are delivered by email: add at least one billing contact, or set the "
                "delivery method to none."
            ]
        }
    return {}


def _contact_errors(contacts: Sequence[BillingContact], *, exclude: set[str]) -> Errors:
    errors: Errors = {}
    seen: set[str] = set()
    for index, contact in enumerate(contacts):
        found = row_errors(contact, exclude=exclude)
        if contact.email in seen:
            found.setdefault("email", ["This email is sent for another contact too."])
        seen.add(contact.email)
        errors |= nested(f"contacts[{index}]", found)
    return errors


@transaction.atomic
def customer_create(*, contacts: Sequence[dict] = (), **fields) -> Customer:
    """Create a customer with its billing contacts, or refuse them all, naming each fault."""
    customer = Customer(**fields)
    rows = [BillingContact(customer=customer, **contact) for contact in contacts]
    errors = row_errors(customer)
    errors |= _contact_errors(rows, exclude={"customer"})
    errors |= delivery_errors(customer, len(rows), field="contacts")
    _refuse(errors)
    _save(customer, *rows)
    return customer


@transaction.atomic
def customer_update(
    *, customer: Customer, contacts: Sequence[dict] | None = None, **fields
) -> Customer:
    """Change a customer's fields and, when ``contacts`` is given, replace its contacts.

    Contacts are matched by email, so a contact sent again keeps its row. The email-delivery
    rule is checked when the delivery method or the contacts change, not on every edit.
    """
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    _set_fields(customer, fields)
    errors = row_errors(customer)
    stored = {contact.email: contact for contact in customer.contacts.all()}
    rows, removed = [], []
    if contacts is not None:
        for contact in contacts:
            row = stored.get(contact["email"]) or BillingContact(customer=customer)
            _set_fields(row, {"name": "", **contact})
            rows.append(row)
        sent = {row.email for row in rows}
        removed = [contact for email, contact in stored.items() if email not in sent]
        errors |= _contact_errors(rows, exclude=set())
    if contacts is not None or "delivery_method" in fields:
        kept = len(rows) if contacts is not None else len(stored)
        field = "contacts" if contacts is not None else "delivery_method"
        errors |= delivery_errors(customer, kept, field=field)
    _refuse(errors)
    for contact in removed:
        contact.delete()
    _save(customer, *rows)
    return customer


# --- Products ------------------------------------------------------------------------------


@transaction.atomic
def product_create(**fields) -> Product:
    """Create a catalog product, or refuse it naming each fault."""
    product = Product(**fields)
    _refuse(row_errors(product))
    _save(product)
    return product


@transaction.atomic
def product_update(*, product: Product, **fields) -> Product:
    """Change a product's fields, or refuse the change naming each fault."""
    product = Product.objects.select_for_update().get(pk=product.pk)
    _set_fields(product, fields)
    _refuse(row_errors(product))
    _save(product)
    return product


# --- Contracts -----------------------------------------------------------------------------


def _line_from(data: dict, line: ContractLine) -> ContractLine:
    """Apply the fields sent for a line; an empty billing model takes the product's."""
    _set_fields(line, {name: value for name, value in data.items() if name != "id"})
    if not line.billing_model and line.product_id is not None:
        line.billing_model = line.product.default_billing_model
    return line


def _number_lines(lines: Sequence[ContractLine], *, taken: Iterable[int]) -> None:
    """Give the lines without a sequence the next ones after every sequence in use."""
    used = [*taken, *(line.sequence for line in lines if line.sequence is not None)]
    following = max(used, default=0) + 1
    for line in lines:
        if line.sequence is None:
            line.sequence, following = following, following + 1


def _lines_sent(
    contract: Contract, sent: Sequence[dict], stored: dict[int, ContractLine]
) -> tuple[list[ContractLine | None], Errors]:
    """Build the lines sent (changes of stored lines, by id, or new ones), each at its index."""
    lines: list[ContractLine | None] = []
    errors: Errors = {}
    changed: set[int] = set()
    for index, data in enumerate(sent):
        path = f"lines[{index}]"
        if "id" in data:
            line = stored.get(data["id"])
            if line is None or data["id"] in changed:
                problem = "is sent twice" if line else f"is not a line of {contract.number}"
                errors[f"{path}.id"] = [f"Line {data['id']} {problem}."]
                lines.append(None)
                continue
            changed.add(line.pk)
        elif "product" not in data:
            errors[f"{path}.product"] = ["A new line needs its product."]
            lines.append(None)
            continue
        else:
            line = ContractLine(contract=contract, sequence=data.get("sequence"))
        lines.append(_line_from(data, line))
    return lines, errors


def _line_errors(contract: Contract, sent: Sequence[ContractLine | None], others) -> Errors:
    """Check each line sent against the contract as it will be, and against the lines before."""
    exclude = {"contract"} if contract.pk is None else set()
    seen = {field: {getattr(line, field) for line in others} for field in UNIQUE_ON_LINES}
    errors: Errors = {}
    for index, line in enumerate(sent):
        if line is None:
            continue
        found = row_errors(line, exclude=exclude)
        for field in UNIQUE_ON_LINES:
            value = getattr(line, field)
            if value is not None and value in seen[field]:
                label = field.replace("_", " ")
                found.setdefault(field, [f"Another line of this contract has this {label}."])
            seen[field].add(value)
        errors |= nested(f"lines[{index}]", found)
    return errors


def _stored_line_errors(lines: Iterable[ContractLine]) -> Errors:
    """Check the lines not sent against a changed contract, as the admin's inline does."""
    messages = []
    for line in lines:
        for field, problems in row_errors(line).items():
            where = "" if field == NON_FIELD_ERRORS else f" {field}"
            messages += [f"Line {line.sequence}{where}: {problem}" for problem in problems]
    return {NON_FIELD_ERRORS: messages} if messages else {}


def _contract_save(
    contract: Contract,
    lines: Sequence[ContractLine],
    subscribers: Iterable[AbstractBaseUser] | None,
) -> Contract:
    _save(contract, *lines)
    if subscribers is not None:
        contract.subscribers.set(subscribers)
    contract_terms_announce(contract=contract)
    return contract


@transaction.atomic
def contract_create(
    *,
    lines: Sequence[dict] = (),
    subscribers: Iterable[AbstractBaseUser] | None = None,
    **fields,
) -> Contract:
    """Create a draft contract with its lines, all or nothing.

    An empty currency takes the customer's. Billing hears of the new terms after commit.
    """
    contract = Contract(**fields)
    if not contract.currency and contract.customer_id is not None:
        contract.currency = contract.customer.currency
    built, errors = _lines_sent(contract, lines, stored={})
    _number_lines([line for line in built if line is not None], taken=[])
    errors |= row_errors(contract)
    errors |= _line_errors(contract, built, others=[])
    _refuse(errors)
    return _contract_save(contract, [line for line in built if line is not None], subscribers)


@transaction.atomic
def contract_update(
    *,
    contract: Contract,
    lines: Sequence[dict] = (),
    subscribers: Iterable[AbstractBaseUser] | None = None,
    **fields,
) -> Contract:
    """Change a contract's fields, change its lines sent with an id and add those without.

    Lines not sent stay as they are, but are checked again when the contract's own fields
    change (a shorter term can leave a line's service outside it). Billing hears of the new
    terms after commit.
    """
    contract = Contract.objects.select_for_update().select_related("customer").get(pk=contract.pk)
    _set_fields(contract, fields)
    stored = {line.pk: line for line in contract.lines.select_related("product")}
    built, errors = _lines_sent(contract, lines, stored)
    sent_ids = {line.pk for line in built if line is not None and line.pk is not None}
    others = [line for pk, line in stored.items() if pk not in sent_ids]
    _number_lines(
        [line for line in built if line is not None], taken=[line.sequence for line in others]
    )
    errors |= row_errors(contract)
    errors |= _line_errors(contract, built, others)
    if fields:
        errors |= _stored_line_errors(others)
    _refuse(errors)
    return _contract_save(contract, [line for line in built if line is not None], subscribers)


@transaction.atomic
def holds_set(
    *,
    target: Customer | Contract,
    billing: bool | None = None,
    delivery: bool | None = None,
    reason: str = "",
) -> Customer | Contract:
    """Place (True) or release (False) a customer's or contract's holds in one transaction.

    Each goes through ``contracts.services.hold_set``, so a release is announced (and billing
    catches up) exactly as when the admin releases it.
    """
    for kind, on in ((HoldKind.BILLING, billing), (HoldKind.DELIVERY, delivery)):
        if on is not None:
            target = hold_set(target=target, kind=kind, on=on, reason=reason)
    return target
