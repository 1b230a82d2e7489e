"""CSV import of payments, through ``payment_record`` so each payment is applied as it is typed in.

Columns: ``customer_number``, ``amount``, ``currency``, ``received_on`` (YYYY-MM-DD), ``method``
(bank_transfer, card, check, direct_debit, cash, other), ``reference`` and, optional,
``invoice_numbers`` (separated by spaces, commas or semicolons) naming the invoices the payment
settles, in order. A file imports whole or not at all: one bad row rolls every row back, and the
dry run lists each bad row by number (the first data row is row 1) with the column at fault.
Importing a file twice records nothing twice: a row whose customer and reference match a payment
already recorded with the same amount, date and method is skipped.
"""

import re
from datetime import date
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from djmoney.money import Money
from import_export import resources
from import_export.fields import Field

from billing.models import Invoice, Payment
from billing.payments import payment_record
from contracts.models import Customer
from rms.money import CURRENCY_CODES

# The service's argument names, as the file's columns name them.
_COLUMN_OF = {"customer": "customer_number", "invoices": "invoice_numbers"}
_SEPARATORS = re.compile(r"[\s,;]+")


def _column_errors(error: ValidationError) -> ValidationError:
    """Rename a service error's fields to the file's columns, so a row's error names its column."""
    if not hasattr(error, "error_dict"):
        return error
    return ValidationError({_COLUMN_OF.get(name, name): e for name, e in error.error_dict.items()})


class PaymentResource(resources.ModelResource):
    """One row, one payment; see the module docstring for the columns."""

    customer_number = Field(attribute="customer__number", column_name="customer_number")
    amount = Field(attribute="amount__amount", column_name="amount")
    currency = Field(attribute="amount_currency", column_name="currency")
    received_on = Field(attribute="received_on", column_name="received_on")
    method = Field(attribute="method", column_name="method")
    reference = Field(attribute="reference", column_name="reference")
    invoice_numbers = Field(column_name="invoice_numbers")

    class Meta:
        model = Payment
        fields = [
            "customer_number",
            "amount",
            "currency",
            "received_on",
            "method",
            "reference",
            "invoice_numbers",
        ]
        import_id_fields = ["customer_number", "reference"]
        clean_model_instances = False
        use_transactions = True

    def import_data(self, dataset, **kwargs):
        """Import all rows or none: any invalid row rolls the whole file back."""
        kwargs["use_transactions"] = True
        kwargs["rollback_on_validation_errors"] = True
        return super().import_data(dataset, **kwargs)

    def get_instance(self, instance_loader, row):
        """Return the payment this row recorded already (same customer and reference), if any."""
        reference = (row.get("reference") or "").strip()
        number = (row.get("customer_number") or "").strip()
        if not reference or not number:
            return None
        return Payment.objects.filter(customer__number=number, reference=reference).first()

    def import_instance(self, instance: Payment, row, **kwargs) -> None:
        """Parse the row into the service's arguments (kept on the instance until it is saved)."""
        errors = {}
        number = (row.get("customer_number") or "").strip()
        customer = Customer.objects.filter(number=number).first()
        if customer is None:
            errors["customer_number"] = f"No customer has account number {number!r}."
        currency = (row.get("currency") or "").strip().upper()
        if currency not in CURRENCY_CODES:
            errors["currency"] = f"{currency!r} is not an ISO 4217 currency code (e.g. USD)."
        try:
            amount = Decimal(str(row.get("amount") or "").strip().replace(",", ""))
            if not amount.is_finite():
                raise InvalidOperation
        except InvalidOperation:
            errors["amount"] = f"{row.get('amount')!r} is not an amount such as 1250.00."
        raw_date = row.get("received_on")
        try:
            received_on = (
                raw_date if isinstance(raw_date, date) else date.fromisoformat(str(raw_date))
            )
        except ValueError:
            errors["received_on"] = f"{raw_date!r} is not a date as YYYY-MM-DD."
        numbers = [n for n in _SEPARATORS.split(row.get("invoice_numbers") or "") if n]
        invoices = []
        if customer is not None and numbers:
            found = {
                invoice.number: invoice
                for invoice in Invoice.objects.filter(customer=customer, number__in=numbers)
            }
            unknown = [n for n in numbers if n not in found]
            if unknown:
                errors["invoice_numbers"] = (
                    f"{customer.number} has no invoice {', '.join(unknown)}."
                )
            invoices = [found[n] for n in numbers if n in found]
        if errors:
            raise ValidationError(errors)
        instance._record = {
            "customer": customer,
            "amount": Money(amount, currency),
            "received_on": received_on,
            "method": (row.get("method") or "").strip(),
            "reference": (row.get("reference") or "").strip(),
            "invoices": invoices or None,
        }
        if instance.pk is None:
            # Shown in the dry run's preview; the saved payment replaces them.
            instance.customer = customer
            instance.amount = instance._record["amount"]
            instance.received_on = received_on
            instance.method = instance._record["method"]
            instance.reference = instance._record["reference"]

    def skip_row(self, instance: Payment, original, row, import_validation_errors=None) -> bool:
        """Skip a row recorded before with the same payload (a re-imported file)."""
        if import_validation_errors or instance.pk is None:
            return False
        record = instance._record
        return (instance.amount, instance.received_on, instance.method) == (
            record["amount"],
            record["received_on"],
            record["method"],
        )

    def save_instance(self, instance: Payment, is_create: bool, row, **kwargs) -> None:
        """Record the payment with ``payment_record``, which applies it; never a bare save."""
        user = kwargs.get("user")
        try:
            payment = payment_record(
                **instance._record,
                recorded_by=user.get_username() if user is not None else "import",
            )
        except ValidationError as error:
            raise _column_errors(error) from error
        instance.pk = payment.pk
        instance.unapplied = payment.unapplied


def import_problems(result) -> list[str]:
    """Return one line per problem of an import result: the row number, the column, the error."""
    problems = [f"File: {error.error}" for error in result.base_errors]
    for invalid in result.invalid_rows:
        for column, messages in invalid.field_specific_errors.items():
            problems += [f"Row {invalid.number}, {column}: {message}" for message in messages]
        problems += [
            f"Row {invalid.number}: {message}" for message in invalid.non_field_specific_errors
        ]
    for number, errors in result.row_errors():
        problems += [f"Row {number}: {error.error}" for error in errors]
    return problems
