"""Payments: one row per payment, recorded and applied by ``payment_record`` as if typed in.

A payment is found by ``customer_number`` and ``reference`` (the bank's reference, unique per
customer). The reference is required: without it, a second import of the same file could not
tell a payment recorded before from a new one. A row whose payment is recorded already with the
same amount, currency, date and method is unchanged; a row that differs in any of them is
refused, naming each column, since a recorded payment has been applied and an import never
rewrites it. A new payment settles the invoices ``invoice_numbers`` names, in that order, or,
when the cell is empty, the customer's open invoices oldest due first; what no invoice takes
stays as the customer's credit.

Rows are recorded one by one, in file order, each under its customer's lock as the service
requires; the customers, invoices and payments a chunk names are read with one query each. An
export names the invoices each payment was applied to; importing it back changes nothing (the
invoices of a payment recorded already are not compared).
"""

import re
from collections.abc import Iterator

from django.core.exceptions import ValidationError
from django.db import models
from djmoney.money import Money

from billing.models import Invoice, Payment, PaymentApplication
from billing.payments import payment_record
from contracts.models import Customer
from imports import cells
from imports.engine import Column, Layout, Row, Status
from imports.objects import by, cell
from rms.audit import current_actor
from rms.money import CURRENCY_CODES, round_money

SEPARATORS = re.compile(r"[\s,;]+")
# The service's argument names, as the file's columns name them.
COLUMN_OF = {
    "amount": "amount",
    "received_on": "received_on",
    "method": "method",
    "reference": "reference",
    "invoices": "invoice_numbers",
}


def invoice_numbers(value: str) -> list[str]:
    """Read invoice numbers separated by spaces, commas or semicolons."""
    return [number for number in SEPARATORS.split(value) if number]


class PaymentsLayout(Layout):
    name = "payments"
    title = "Payments"
    model = Payment
    key = ("customer_number", "reference")
    columns = (
        Column("customer_number", cells.text(32), required=True, help="The customer's account."),
        Column("amount", cells.decimal(), required=True, help="Received, e.g. 1250.00."),
        Column("currency", cells.currency(CURRENCY_CODES), required=True, help="e.g. USD."),
        Column("received_on", cells.iso_date, required=True, help="YYYY-MM-DD, today or earlier."),
        Column(
            "method",
            cells.choice(Payment.Method.values),
            required=True,
            help="bank_transfer, card, check, direct_debit, cash or other.",
        ),
        Column("reference", cells.text(128), required=True, help="The bank's reference."),
        Column(
            "invoice_numbers",
            invoice_numbers,
            help="The invoices it settles, in order; empty: the oldest due first.",
        ),
    )

    def write(self, rows: list[Row]) -> None:
        found = _Lookups(rows)
        recorded_by = current_actor().username or "import"
        for row in rows:
            number = row.values["customer_number"]
            customer = found.customers.get(number)
            if customer is None:
                row.refuse("customer_number", f"no customer has account number {number}.")
                continue
            invoices = self._invoices(row, customer, found)
            stored = found.payments.get((customer.pk, row.values["reference"]))
            if stored is not None:
                self._compare(row, stored)
            elif not row.errors:
                self._record(row, customer, invoices, recorded_by=recorded_by)

    def _record(
        self, row: Row, customer: Customer, invoices: list[Invoice], *, recorded_by: str
    ) -> None:
        """Record and apply the row's payment, or refuse it with the service's reasons."""
        try:
            payment_record(
                customer=customer,
                amount=Money(row.values["amount"], row.values["currency"]),
                received_on=row.values["received_on"],
                method=row.values["method"],
                reference=row.values["reference"],
                invoices=invoices or None,
                recorded_by=recorded_by,
            )
        except ValidationError as error:
            row.refuse_all(error.message_dict, COLUMN_OF)
            return
        row.status = Status.NEW

    def _invoices(self, row: Row, customer: Customer, found: "_Lookups") -> list[Invoice]:
        numbers = row.values.get("invoice_numbers") or []
        unknown = [n for n in numbers if (customer.pk, n) not in found.invoices]
        if unknown:
            row.refuse("invoice_numbers", f"{customer.number} has no invoice {', '.join(unknown)}.")
        return [found.invoices[customer.pk, n] for n in numbers if n not in unknown]

    def _compare(self, row: Row, stored: Payment) -> None:
        """Mark a payment recorded before unchanged, or refuse each column the row changes."""
        theirs = {
            "amount": round_money(stored.amount).amount,
            "currency": stored.amount.currency.code,
            "received_on": stored.received_on,
            "method": stored.method,
        }
        for column, value in theirs.items():
            if row.values[column] != value:
                row.refuse(
                    column,
                    f"{row.source.cells[column].strip()} differs from {value} of payment "
                    f"{stored.reference} recorded already for {row.values['customer_number']}; "
                    "a recorded payment is not changed by an import (give another payment "
                    "another reference).",
                )
        if not row.errors:
            row.status = Status.UNCHANGED

    def export_rows(self, queryset: models.QuerySet) -> Iterator[dict[str, str]]:
        applications = PaymentApplication.objects.select_related("invoice").order_by("pk")
        payments = queryset.select_related("customer").prefetch_related(
            models.Prefetch("applications", queryset=applications)
        )
        # In the order they were recorded: that is the order a new book would apply them in.
        for payment in payments.order_by("pk").iterator(chunk_size=500):
            numbers = dict.fromkeys(a.invoice.number for a in payment.applications.all())
            yield {
                "customer_number": payment.customer.number,
                "amount": str(round_money(payment.amount).amount),
                "currency": payment.amount.currency.code,
                "received_on": cell(payment.received_on),
                "method": payment.method,
                "reference": payment.reference,
                "invoice_numbers": " ".join(numbers),
            }


class _Lookups:
    """The customers, payments and invoices a chunk names, read with one query each."""

    def __init__(self, rows: list[Row]) -> None:
        numbers = {row.values["customer_number"] for row in rows}
        self.customers = by(Customer.objects.filter(number__in=numbers), "number")
        customers = list(self.customers.values())
        self.payments = {
            (payment.customer_id, payment.reference): payment
            for payment in Payment.objects.filter(
                customer__in=customers, reference__in={row.values["reference"] for row in rows}
            )
        }
        invoice_numbers = {n for row in rows for n in row.values.get("invoice_numbers") or []}
        self.invoices = {
            (invoice.customer_id, invoice.number): invoice
            for invoice in Invoice.objects.filter(
                customer__in=customers, number__in=invoice_numbers
            )
        }
