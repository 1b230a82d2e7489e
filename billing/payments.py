"""Payments: recording money received, applying it to invoices, keeping the rest as credit.

A payment goes to the customer's open issued invoices in its currency, oldest due first, or to
exactly the invoices the remittance advice names, in that order (``billing.domain.receivables.
apply_payment`` decides the split). What no invoice takes stays on the payment as ``unapplied``:
the customer's credit, applied later with ``payment_apply_credit``. No invoice is ever paid past
its balance due, so a balance never goes below zero through payments (only a credit note can
take it there; see ``billing.credit_notes``).

Writers lock the customer first, then its invoices and payments, as the bill run does, so a
payment, a credit note and a bill run of one customer never interleave.
"""

from collections.abc import Sequence
from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from djmoney.money import Money

from billing.domain.receivables import OpenItem, SettlementStatus, apply_payment, settlement_status
from billing.models import Invoice, Payment, PaymentApplication, PaymentStatus
from billing.schedules import lock_customers
from billing.signals import invoices_paid
from contracts.models import Customer
from rms.audit import history_record_bulk
from rms.money import round_money

_PAYMENT_STATUS = {
    SettlementStatus.ISSUED: PaymentStatus.UNPAID,
    SettlementStatus.PARTIALLY_PAID: PaymentStatus.PARTIALLY_PAID,
    SettlementStatus.PAID: PaymentStatus.PAID,
}


def invoice_payment_status(invoice: Invoice) -> PaymentStatus:
    """Return the payment status an invoice's payments and credit notes give it.

    Credit counts as settlement: an invoice whose balance due is zero or below (paid, credited,
    or both) is paid; the part of a credit beyond the balance is the customer's credit, not an
    overpayment of the invoice.
    """
    total = round_money(invoice.total)
    outstanding = max(round_money(invoice.balance_due), Money(0, invoice.currency))
    return _PAYMENT_STATUS[settlement_status(total=total, paid=total - outstanding)]


def _open_balance(invoice: Invoice) -> Money:
    return round_money(invoice.balance_due)


def _check_invoices(
    *, customer: Customer, invoices: Sequence[Invoice], currency: str | None
) -> list[str]:
    """Return what is wrong with invoices named for a payment (empty when they may take one)."""
    problems = []
    seen = set()
    for invoice in invoices:
        if invoice.pk in seen:
            problems.append(f"{invoice} is named twice.")
        seen.add(invoice.pk)
        if invoice.customer_id != customer.pk:
            problems.append(f"{invoice} belongs to another customer, not {customer.number}.")
        elif invoice.status != Invoice.Status.ISSUED:
            problems.append(f"{invoice} is {invoice.get_status_display().lower()}, not issued.")
        elif _open_balance(invoice).amount <= 0:
            problems.append(f"{invoice} owes nothing (balance due {invoice.balance_due}).")
        elif currency is not None and invoice.currency != currency:
            problems.append(f"{invoice} is in {invoice.currency}, the payment in {currency}.")
    return problems


def payment_check(
    *,
    customer: Customer,
    amount: Money,
    received_on: date,
    method: str,
    reference: str = "",
    invoices: Sequence[Invoice] | None = None,
) -> None:
    """Refuse a payment that cannot be recorded, naming each field at fault.

    Shared by ``payment_record`` (under its locks) and the admin form (to show errors beside the
    fields). A payment must be positive money on the currency's minor unit, received today or
    earlier, by a known method, in a currency the customer is billed in, and the invoices it names
    must be the customer's open issued invoices in that currency.
    """
    errors: dict[str, list[str]] = {}
    currency = None
    if not isinstance(amount, Money):
        errors["amount"] = [f"Give the amount as money with its currency, not {amount!r}."]
    else:
        currency = amount.currency.code
        if amount.amount <= 0:
            errors["amount"] = [f"A payment is more than zero; {amount.amount} was given."]
        elif round_money(amount) != amount:
            errors["amount"] = [
                f"{amount.amount} {currency} has more decimals than {currency} has; "
                f"the smallest unit is {round_money(Money(0, currency)).amount}."
            ]
        else:
            billed_in = {customer.currency} | set(
                Invoice.objects.filter(customer=customer, status=Invoice.Status.ISSUED)
                .values_list("currency", flat=True)
                .distinct()
            )
            if currency not in billed_in:
                errors["amount"] = [
                    f"{customer.number} is billed in {', '.join(sorted(billed_in))}; "
                    f"a payment in {currency} matches none of its invoices."
                ]
    if received_on is None:
        errors["received_on"] = ["Give the date the payment was received."]
    elif received_on > timezone.localdate():
        errors["received_on"] = [f"{received_on} is in the future; record payments received."]
    if method not in Payment.Method.values:
        errors["method"] = [f"{method!r} is not a method; use one of {', '.join(Payment.Method)}."]
    if len(reference) > Payment._meta.get_field("reference").max_length:
        errors["reference"] = ["The reference is longer than 128 characters."]
    if invoices:
        problems = _check_invoices(customer=customer, invoices=invoices, currency=currency)
        if problems:
            errors["invoices"] = problems
    if errors:
        raise ValidationError(errors)


def _apply(
    *, payment: Payment, invoices: list[Invoice], targets: list[int] | None, on: date
) -> list[PaymentApplication]:
    """Apply what is unapplied of ``payment`` to ``invoices`` (locked rows) and save the result.

    Each application is dated ``on``, or the invoice's issue date when that is later: money cannot
    settle an invoice before it exists.
    """
    by_pk = {invoice.pk: invoice for invoice in invoices if _open_balance(invoice).amount > 0}
    if targets is not None:
        targets = [pk for pk in targets if pk in by_pk]
        if not targets:
            return []
    items = [
        OpenItem(
            key=invoice.pk,
            due_date=invoice.due_date,
            issue_date=invoice.issue_date,
            open_amount=_open_balance(invoice),
        )
        for invoice in by_pk.values()
    ]
    currency = payment.amount.currency.code
    applied, remainder = apply_payment(
        amount=Money(payment.unapplied, currency), items=items, targets=targets
    )
    rows = []
    paid = []
    for application in applied:
        invoice = by_pk[application.key]
        invoice.amount_paid += application.amount.amount
        invoice.payment_status = invoice_payment_status(invoice)
        if invoice.payment_status == PaymentStatus.PAID:
            paid.append(invoice)
        rows.append(
            PaymentApplication(
                payment=payment,
                invoice=invoice,
                amount=application.amount,
                applied_on=max(on, invoice.issue_date),
            )
        )
    PaymentApplication.objects.bulk_create(rows)
    history_record_bulk(PaymentApplication, rows, history_type="+")
    Invoice.objects.bulk_update([row.invoice for row in rows], ["amount_paid", "payment_status"])
    history_record_bulk(Invoice, [row.invoice for row in rows])
    payment.unapplied = remainder.amount
    payment.save(update_fields=["unapplied"])
    if paid:
        invoices_paid.send(sender=Invoice, invoices=paid)
    return rows


def _locked_open_invoices(
    *, customer: Customer, currency: str | None = None, pks: Sequence[int] | None = None
) -> list[Invoice]:
    """Lock and return the customer's issued invoices (all, or ``pks``), in id order."""
    queryset = Invoice.objects.filter(customer=customer, status=Invoice.Status.ISSUED)
    if currency is not None:
        queryset = queryset.filter(currency=currency)
    if pks is not None:
        queryset = queryset.filter(pk__in=pks)
    return list(queryset.order_by("pk").select_for_update())


def _same_payment(payment: Payment, *, amount: Money, received_on: date, method: str) -> bool:
    return (payment.amount, payment.received_on, payment.method) == (amount, received_on, method)


@transaction.atomic
def payment_record(
    *,
    customer: Customer,
    amount: Money,
    received_on: date,
    method: str,
    reference: str = "",
    invoices: Sequence[Invoice] | None = None,
    recorded_by: str = "",
    note: str = "",
) -> Payment:
    """Record a payment and apply it; what no invoice takes stays as the customer's credit.

    Idempotent by reference: the same ``(customer, reference)`` recorded again with the same
    amount, date and method returns the payment already recorded (a re-sent bank file or a retried
    import changes nothing); with anything else it is a conflict, refused. The invoices named are
    not compared: the first recording already applied the money.
    """
    reference = reference.strip()
    lock_customers([customer.pk])
    if reference:
        existing = Payment.objects.filter(customer=customer, reference=reference).first()
        if existing is not None:
            if _same_payment(existing, amount=amount, received_on=received_on, method=method):
                return existing
            raise ValidationError(
                {
                    "reference": (
                        f"{customer.number} already has payment {reference!r}: "
                        f"{existing.amount} received {existing.received_on} by "
                        f"{existing.get_method_display().lower()}; this one says {amount} "
                        f"received {received_on} by {method}. Use another reference for a "
                        f"different payment."
                    )
                }
            )
    named = None
    if invoices:
        # Re-read under the lock: the check must see the balances the application will use.
        locked = {
            invoice.pk: invoice
            for invoice in Invoice.objects.filter(pk__in=[invoice.pk for invoice in invoices])
            .order_by("pk")
            .select_for_update()
        }
        named = [locked[invoice.pk] for invoice in invoices]
    payment_check(
        customer=customer,
        amount=amount,
        received_on=received_on,
        method=method,
        reference=reference,
        invoices=named,
    )
    payment = Payment.objects.create(
        customer=customer,
        amount=amount,
        received_on=received_on,
        method=method,
        reference=reference,
        note=note,
        unapplied=amount.amount,
        recorded_by=recorded_by,
    )
    if named is not None:
        targets = [invoice.pk for invoice in named]
        open_invoices = named
    else:
        targets = None
        open_invoices = _locked_open_invoices(customer=customer, currency=amount.currency.code)
    _apply(payment=payment, invoices=open_invoices, targets=targets, on=received_on)
    return payment


@transaction.atomic
def payment_apply_credit(
    *,
    customer: Customer,
    invoices: Sequence[Invoice] | None = None,
    applied_on: date | None = None,
) -> list[PaymentApplication]:
    """Apply the customer's unapplied payments to its open invoices, oldest payments first.

    Each payment goes to the open invoices in its own currency, oldest due first, or to the
    ``invoices`` named, in order. Applications are dated ``applied_on`` (today by default), or
    later when the payment or the invoice is later. Returns the applications made.
    """
    on = applied_on or timezone.localdate()
    if on > timezone.localdate():
        raise ValidationError({"applied_on": f"{on} is in the future."})
    lock_customers([customer.pk])
    named_pks = None
    if invoices:
        named_pks = [invoice.pk for invoice in invoices]
        locked = {invoice.pk: invoice for invoice in Invoice.objects.filter(pk__in=named_pks)}
        problems = _check_invoices(
            customer=customer,
            invoices=[locked[pk] for pk in named_pks],
            currency=None,
        )
        if problems:
            raise ValidationError({"invoices": problems})
    open_invoices = _locked_open_invoices(customer=customer, pks=named_pks)
    if named_pks is not None:
        order = {pk: position for position, pk in enumerate(named_pks)}
        open_invoices.sort(key=lambda invoice: order[invoice.pk])
    payments = (
        Payment.objects.filter(customer=customer, unapplied__gt=0)
        .order_by("received_on", "pk")
        .select_for_update()
    )
    applications = []
    for payment in payments:
        currency = payment.amount.currency.code
        candidates = [invoice for invoice in open_invoices if invoice.currency == currency]
        applications += _apply(
            payment=payment,
            invoices=candidates,
            targets=None if named_pks is None else [invoice.pk for invoice in candidates],
            on=max(on, payment.received_on),
        )
    return applications
