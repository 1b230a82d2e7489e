"""Customers with their billing contacts: one row per customer.

A customer is found by ``customer_number`` (its account number); a row updates the customer it
finds and creates the one it does not. Each row is checked as the admin's form checks a
customer (field rules, ``clean()``), with payment terms, customers and contacts looked up once
per chunk.

``payment_terms`` names terms already set up (``Net 30``; case does not matter): terms are
configuration, so an unknown name is refused, listing the names there are.

``billing_contacts`` lists who receives the invoices: ``Jane Doe <jane@example.com>;
ap@example.com``, separated by ``;`` (or by line breaks within the cell). When the file has the
column, the customer's contacts become exactly those listed: a contact is matched by its email,
so one listed again keeps its row (taking the name given), one not listed is removed and a new
one is added; an empty cell removes them all. Without the column, contacts stay as they are. A
name holding ``;``, ``<``, ``>`` or ``"`` is written in double quotes, its own quotes doubled:
``"Smith; Jones" <sj@example.com>``.

As in the admin, invoices delivered by email need at least one billing contact; this is checked
for a new customer and for every row that has the ``billing_contacts`` or ``delivery_method``
column. Billing and delivery holds are not imported: they are operations, set and released in
the admin with a reason, not master data.
"""

import csv
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import models, transaction
from django.utils import timezone

from contracts.api.writes import delivery_errors
from contracts.models import BillingContact, Customer, InvoiceTemplate, PaymentTerms
from contracts.validation import row_errors
from imports import cells
from imports.engine import Column, Layout, Row, Status
from imports.objects import Changes, assign, by, cell, changed_fields, snapshot
from rms.money import CURRENCY_CODES

# Columns read into the field of the same name.
CUSTOMER_FIELDS = (
    "legal_name",
    "currency",
    "delivery_method",
    "invoice_review",
    "invoice_template",
    "locale",
    "tax_id",
    "tax_rate",
    "address_line1",
    "address_line2",
    "city",
    "region",
    "postal_code",
    "country",
)
# A model field's errors are shown under the column it is read from.
COLUMN_OF_CUSTOMER = {
    "number": "customer_number",
    "payment_terms": "payment_terms",
    **{name: name for name in CUSTOMER_FIELDS},
}
# How many payment terms a refusal lists before "…": enough for any real set-up.
TERMS_LISTED = 10
# "Name <email>" (the name may be empty); anything else must be an email alone.
NAMED_ADDRESS = re.compile(r"^(.*?)\s*<([^<>]*)>$")
# A name holding one of these is quoted when written, so that it reads back as itself.
NAME_SPECIALS = frozenset(';<>"')
# BillingContact.email is an EmailField of Django's default length.
EMAIL_MAX_LENGTH = 254
NAME_MAX_LENGTH = 255


def parse_contacts(value: str) -> tuple[tuple[str, str], ...]:
    """Read a ``billing_contacts`` cell as (name, email) pairs, in the order given."""
    lines_as_separators = value.replace("\r", "").replace("\n", ";")
    parts = next(csv.reader([lines_as_separators], delimiter=";", skipinitialspace=True))
    contacts: list[tuple[str, str]] = []
    for part in filter(None, (p.strip() for p in parts)):
        named = NAMED_ADDRESS.match(part)
        name, email = (named[1].strip(), named[2].strip()) if named else ("", part)
        try:
            validate_email(email)
        except ValidationError:
            raise cells.CellError(
                f"{part} is not an email address; write each contact as Name <email> or as the "
                "email alone, separated by ;."
            ) from None
        if len(email) > EMAIL_MAX_LENGTH:
            raise cells.CellError(f"{email} is longer than {EMAIL_MAX_LENGTH} characters.")
        if len(name) > NAME_MAX_LENGTH:
            raise cells.CellError(
                f"the name of {email} is longer than {NAME_MAX_LENGTH} characters."
            )
        if any(email == listed for _, listed in contacts):
            raise cells.CellError(f"{email} is listed twice.")
        contacts.append((name, email))
    return tuple(contacts)


def contacts_text(contacts: list[BillingContact]) -> str:
    """Write contacts as ``parse_contacts`` reads them back."""
    return "; ".join(
        f"{_quoted(contact.name)} <{contact.email}>" if contact.name else contact.email
        for contact in contacts
    )


def _quoted(name: str) -> str:
    if NAME_SPECIALS.isdisjoint(name):
        return name
    return '"' + name.replace('"', '""') + '"'


@dataclass
class _ContactChanges:
    """The contacts a chunk adds, renames and removes."""

    created: list[BillingContact] = field(default_factory=list)
    updated: list[BillingContact] = field(default_factory=list)
    removed: list[BillingContact] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.created or self.updated or self.removed)

    def extend(self, other: "_ContactChanges") -> None:
        self.created += other.created
        self.updated += other.updated
        self.removed += other.removed


class CustomersLayout(Layout):
    name = "customers"
    title = "Customers with their billing contacts"
    model = Customer
    key = ("customer_number",)
    columns = (
        Column("customer_number", cells.text(32), required=True, help="The account number."),
        Column("legal_name", cells.text(255), required=True, help="Printed on invoices."),
        Column(
            "currency",
            cells.currency(CURRENCY_CODES),
            required=True,
            help="Default currency of the customer's contracts, e.g. USD.",
        ),
        Column(
            "payment_terms",
            cells.text(64),
            required=True,
            help="The name of payment terms set up in RMS, e.g. Net 30.",
        ),
        Column(
            "delivery_method",
            cells.choice(Customer.DeliveryMethod.values),
            help="email (to the billing contacts) or none; empty on a new one: email.",
        ),
        Column(
            "invoice_review",
            cells.choice(Customer.InvoiceReview.values),
            help="default, review (drafts first) or issue; empty on a new one: default.",
        ),
        Column(
            "invoice_template",
            cells.choice(InvoiceTemplate.values),
            help="standard or compact; empty on a new one: standard.",
        ),
        Column("locale", cells.text(16), help="Formats documents, e.g. en_US, de_DE."),
        Column("tax_id", cells.text(64)),
        Column(
            "tax_rate",
            cells.decimal(not_negative=True),
            help="Percent, e.g. 19 (unless a product sets its own).",
        ),
        Column("address_line1", cells.text(255)),
        Column("address_line2", cells.text(255)),
        Column("city", cells.text(128)),
        Column("region", cells.text(128), help="State or region."),
        Column("postal_code", cells.text(32)),
        Column("country", cells.text(2), help="Two-letter ISO code, e.g. US, DE."),
        Column(
            "billing_contacts",
            parse_contacts,
            help="Name <email>; other@example.com. Replaces the contacts; empty: none.",
        ),
    )

    # --- Import ------------------------------------------------------------------------

    def write(self, rows: list[Row]) -> None:
        found = _Lookups(rows)
        customers = Changes()
        contacts = _ContactChanges()
        for row in rows:
            self._customer(row, found, customers, contacts)
        self._save(customers, contacts)

    def _customer(
        self, row: Row, found: "_Lookups", customers: Changes, contacts: _ContactChanges
    ) -> None:
        number = row.values["customer_number"]
        customer = found.customers.get(number)
        new = customer is None
        customer = customer or Customer(number=number)
        before = snapshot(customer)
        for name in CUSTOMER_FIELDS:
            if row.present(name):
                assign(customer, name, row.values[name], new=new)
        terms = found.terms.get(row.values["payment_terms"].casefold())
        if terms is None:
            row.refuse("payment_terms", found.unknown_terms(row.values["payment_terms"]))
        else:
            customer.payment_terms = terms
        row.refuse_all(
            row_errors(customer, exclude={"payment_terms"}, unique=False), COLUMN_OF_CUSTOMER
        )
        stored = [] if new else found.contacts[customer.pk]
        mine = self._contacts(row, customer, stored)
        if row.present("billing_contacts"):
            column, kept = "billing_contacts", len(row.values["billing_contacts"] or ())
        else:
            column, kept = "delivery_method", len(stored)
        if new or row.present(column):
            row.refuse_all(delivery_errors(customer, kept, field=column), {column: column})
        if row.errors:
            return
        customers.add(customer, row, new=new, changed=changed_fields(customer, before))
        contacts.extend(mine)
        row.status = customers.status_of(row)
        if row.status == Status.UNCHANGED and mine:
            row.status = Status.UPDATED

    def _contacts(
        self, row: Row, customer: Customer, stored: list[BillingContact]
    ) -> _ContactChanges:
        """Match the listed contacts to the stored ones by email; see the module docstring."""
        changes = _ContactChanges()
        if not row.present("billing_contacts"):
            return changes
        listed = row.values["billing_contacts"] or ()
        by_email = {contact.email: contact for contact in stored}
        for name, email in listed:
            contact = by_email.get(email)
            if contact is None:
                changes.created.append(BillingContact(customer=customer, name=name, email=email))
            elif contact.name != name:
                contact.name = name
                changes.updated.append(contact)
        emails = {email for _, email in listed}
        changes.removed = [contact for contact in stored if contact.email not in emails]
        return changes

    def _save(self, customers: Changes, contacts: _ContactChanges) -> None:
        now = timezone.now()
        for customer in customers.updated:
            customer.updated_at = now
        with transaction.atomic():
            customers.write(Customer, extra=["updated_at"])
            if contacts.removed:
                BillingContact.objects.filter(pk__in=[c.pk for c in contacts.removed]).delete()
            BillingContact.objects.bulk_create(contacts.created)
            BillingContact.objects.bulk_update(contacts.updated, ["name"])

    # --- Export ------------------------------------------------------------------------

    def export_rows(self, queryset: models.QuerySet) -> Iterator[dict[str, str]]:
        customers = queryset.select_related("payment_terms").prefetch_related("contacts")
        for customer in customers.order_by("number").iterator(chunk_size=500):
            yield {
                "customer_number": customer.number,
                "payment_terms": customer.payment_terms.name,
                **{name: cell(getattr(customer, name)) for name in CUSTOMER_FIELDS},
                "billing_contacts": contacts_text(list(customer.contacts.all())),
            }


class _Lookups:
    """What a chunk refers to, read with one query per kind."""

    def __init__(self, rows: list[Row]) -> None:
        # Payment terms are a handful of rows of configuration: all are read, to list them.
        self.all_terms = list(PaymentTerms.objects.order_by("name"))
        self.terms = {terms.name.casefold(): terms for terms in self.all_terms}
        self.customers = by(
            Customer.objects.filter(number__in={r.values["customer_number"] for r in rows}),
            "number",
        )
        self.contacts: dict[int, list[BillingContact]] = defaultdict(list)
        for contact in BillingContact.objects.filter(customer__in=self.customers.values()):
            self.contacts[contact.customer_id].append(contact)

    def unknown_terms(self, name: str) -> str:
        names = [terms.name for terms in self.all_terms]
        if not names:
            return f"no payment terms are called {name}; none are set up yet (add them first)."
        listed = ", ".join(names[:TERMS_LISTED]) + (", …" if len(names) > TERMS_LISTED else "")
        return f"no payment terms are called {name}; the terms are: {listed}."
