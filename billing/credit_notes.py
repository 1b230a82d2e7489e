"""Credit notes: taking back all or part of an issued invoice, with a reason and a CN number.

A credit note is created as a draft against an issued invoice, either whole (every live line for
what is still creditable on it) or per line (an amount of the line's net amount). What is still
creditable on a line is its amount less every credit note on it, issued or draft, so two drafts
can never together take back more than the line billed.

Tax is credited in proportion to the net amount, cumulatively: after a credit the line's credited
tax is its tax x (net credited so far / line amount), rounded half-up once, and this credit note
carries the increase. Rounding each partial credit on its own could take back a cent more or less
than the line's tax over several credits; cumulative rounding makes a full credit, in one note or
many, return exactly the line's tax.

Issuing numbers the credit note in its own gapless series (``CN-2026-000001``), adds its total to
the invoice's ``amount_credited`` and settles the invoice's payment status. A credit note may
exceed what is still unpaid (a paid invoice can be credited): the invoice's balance due then
goes below zero, and that negative balance is the customer's credit. Nothing else records it, so
there is one figure to trust: the aging and ``customer_credit`` (``billing.receivables``) show an
invoice balance below zero as customer credit, beside unapplied payments. Refunding it or moving
it to another invoice is a later feature; until then it shows on every report.
"""

from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from djmoney.money import Money

from billing.delivery import credit_note_queue_delivery
from billing.domain.invoices import format_invoice_number
from billing.invoicing import _take_numbers
from billing.models import CreditNote, CreditNoteLine, Invoice, InvoiceLine
from billing.payments import invoice_payment_status
from billing.schedules import lock_customers
from billing.signals import credit_note_issued
from rms.money import round_fraction, round_money

# The stored scale of quantities (InvoiceLine.quantity has four decimal places).
QUANTITY_STEP = Decimal("0.0001")


class _Credited:
    """What credit notes already take back from one invoice line, issued and draft apart."""

    def __init__(self, currency: str):
        self.issued = Money(0, currency)
        self.draft = Money(0, currency)
        self.tax = Money(0, currency)

    @property
    def amount(self) -> Money:
        return self.issued + self.draft


def _credited_by_line(lines: Sequence[InvoiceLine], currency: str) -> dict[int, _Credited]:
    """Sum, in one query, the credit already taken on each line, issued and draft apart."""
    credited: dict[int, _Credited] = defaultdict(lambda: _Credited(currency))
    rows = (
        CreditNoteLine.objects.filter(invoice_line__in=lines)
        .values("invoice_line_id", "credit_note__status")
        .annotate(amount=Sum("amount"), tax=Sum("tax_amount"))
        .order_by()
    )
    for row in rows:
        entry = credited[row["invoice_line_id"]]
        amount = round_money(row["amount"], currency)
        if row["credit_note__status"] == CreditNote.Status.ISSUED:
            entry.issued += amount
        else:
            entry.draft += amount
        entry.tax += round_money(row["tax"], currency)
    return credited


def _line_tax_credit(line: InvoiceLine, credited: _Credited, amount: Money) -> Money:
    """Return the tax a credit of ``amount`` on ``line`` takes back (see the module docstring)."""
    currency = line.amount.currency.code
    line_tax = round_money(line.tax_amount)
    share = Fraction((credited.amount + amount).amount) / Fraction(line.amount.amount)
    cumulative = round_fraction(Fraction(line_tax.amount) * share, currency)
    # A draft deleted between two credits can leave the others a cent off the cumulative figure;
    # never credit negative tax, nor more than the line's tax in all.
    return min(max(cumulative - credited.tax, Money(0, currency)), line_tax - credited.tax)


def _credited_quantity(line: InvoiceLine, amount: Money) -> Decimal:
    """Return the share of the line's quantity that ``amount`` of its net amount stands for."""
    exact = line.quantity * amount.amount / line.amount.amount
    return exact.quantize(QUANTITY_STEP, rounding=ROUND_HALF_UP)


def _remaining_message(line: InvoiceLine, credited: _Credited, asked: Money | None = None) -> str:
    remaining = round_money(line.amount) - credited.amount
    message = (
        f"Line {line.position} ({line.description}) has {remaining.amount} still creditable: "
        f"{round_money(line.amount).amount} billed, less {credited.issued.amount} on issued "
        f"credit notes and {credited.draft.amount} on draft credit notes"
    )
    return f"{message}; {asked.amount} asked." if asked is not None else f"{message}."


def _requested_lines(
    invoice: Invoice,
    live: list[InvoiceLine],
    credited: dict[int, _Credited],
    lines: Sequence[tuple[InvoiceLine, Money]] | None,
) -> list[tuple[InvoiceLine, Money]]:
    """Return the (line, net amount) pairs to credit, refusing any the invoice cannot give."""
    currency = invoice.currency
    if lines is None:
        whole = [
            (line, round_money(line.amount) - credited[line.pk].amount)
            for line in live
            if round_money(line.amount) > credited[line.pk].amount
        ]
        if not whole:
            raise ValidationError(
                {"invoice": f"Nothing on invoice {invoice} is left to credit (issued or draft)."}
            )
        return whole
    if not lines:
        raise ValidationError({"lines": "Name at least one line and the amount to credit."})
    by_pk = {line.pk: line for line in live}
    problems = []
    seen = set()
    requested = []
    for line, amount in lines:
        what = f"Line {line.position} ({line.description})"
        if line.invoice_id != invoice.pk:
            problems.append(f"{what} is on invoice {line.invoice}, not on {invoice}.")
        elif line.pk not in by_pk:
            problems.append(f"{what} is void and cannot be credited.")
        elif line.pk in seen:
            problems.append(f"{what} is named twice.")
        elif not isinstance(amount, Money) or amount.currency.code != currency:
            problems.append(f"{what}: give the amount in {currency}, not {amount!r}.")
        elif amount.amount <= 0:
            problems.append(f"{what}: the amount to credit is more than zero, not {amount.amount}.")
        elif round_money(amount) != amount:
            problems.append(f"{what}: {amount.amount} has more decimals than {currency} has.")
        elif amount > round_money(line.amount) - credited[line.pk].amount:
            problems.append(_remaining_message(line, credited[line.pk], asked=amount))
        else:
            requested.append((by_pk[line.pk], amount))
        seen.add(line.pk)
    if problems:
        raise ValidationError({"lines": problems})
    return requested


@transaction.atomic
def credit_note_create(
    *,
    invoice: Invoice,
    reason: str,
    lines: Sequence[tuple[InvoiceLine, Money]] | None = None,
    created_by: str = "",
) -> CreditNote:
    """Create a draft credit note against an issued invoice, whole or for some of its lines.

    ``lines`` is a list of (invoice line, net amount to credit); ``None`` credits every live
    line for what is still creditable on it. Tax follows the net amount (see the module
    docstring). Nothing changes the invoice until the credit note is issued.
    """
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": "Say why the invoice is credited."})
    # The lock order of every billing writer: customer, then invoice. Two drafts for one invoice
    # are thus created one after the other and each sees what the other took.
    lock_customers([invoice.customer_id])
    locked = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if locked.status != Invoice.Status.ISSUED:
        raise ValidationError(
            {"invoice": f"Invoice {locked} is {locked.status}; only issued invoices are credited."}
        )
    live = list(locked.lines.filter(voided=False).order_by("position"))
    credited = _credited_by_line(live, locked.currency)
    requested = _requested_lines(locked, live, credited, lines)

    currency = locked.currency
    credit_lines = []
    for position, (line, amount) in enumerate(requested, start=1):
        credit_lines.append(
            CreditNoteLine(
                invoice_line=line,
                position=position,
                description=line.description,
                quantity=_credited_quantity(line, amount),
                amount=amount,
                tax_amount=_line_tax_credit(line, credited[line.pk], amount),
            )
        )
    subtotal = sum((line.amount for line in credit_lines), Money(0, currency))
    tax_total = sum((line.tax_amount for line in credit_lines), Money(0, currency))
    note = CreditNote.objects.create(
        invoice=locked,
        customer_id=locked.customer_id,
        currency=currency,
        reason=reason,
        subtotal=subtotal,
        tax_total=tax_total,
        total=subtotal + tax_total,
        created_by=created_by,
    )
    for line in credit_lines:
        line.credit_note = note
    CreditNoteLine.objects.bulk_create(credit_lines)
    return note


@transaction.atomic
def credit_note_issue(*, credit_note: CreditNote, issue_date: date) -> CreditNote:
    """Issue a draft credit note: number it, reduce what the invoice's customer owes, send it.

    The number comes from the CN series of the issue year, gapless as invoice numbers are. The
    invoice's ``amount_credited`` grows by the credit note's total and its payment status
    follows; revenue hears of it through ``credit_note_issued`` in this transaction, and the
    document is queued for delivery once it commits.
    """
    lock_customers([credit_note.customer_id])
    note = CreditNote.objects.select_for_update().get(pk=credit_note.pk)
    if note.status != CreditNote.Status.DRAFT:
        raise ValidationError({"status": f"Credit note {note} is already issued."})
    invoice = Invoice.objects.select_for_update().get(pk=note.invoice_id)
    if invoice.status != Invoice.Status.ISSUED:
        raise ValidationError(
            {"invoice": f"Invoice {invoice} is {invoice.status}; its credit notes cannot issue."}
        )
    if issue_date < invoice.issue_date:
        raise ValidationError(
            {
                "issue_date": (
                    f"{issue_date} is before invoice {invoice} was issued ({invoice.issue_date})."
                )
            }
        )
    (number,) = _take_numbers(series=note.series, year=issue_date.year, count=1)
    note.status = CreditNote.Status.ISSUED
    note.year = issue_date.year
    note.sequence_number = number
    note.number = format_invoice_number(
        series=note.series, year=issue_date.year, sequence_number=number
    )
    note.issue_date = issue_date
    note.issued_at = timezone.now()
    note.save(
        update_fields=["status", "year", "sequence_number", "number", "issue_date", "issued_at"]
    )
    invoice.amount_credited += note.total.amount
    invoice.payment_status = invoice_payment_status(invoice)
    invoice.save(update_fields=["amount_credited", "payment_status"])
    credit_note_issued.send(sender=CreditNote, credit_note=note)
    credit_note_queue_delivery(note)
    return note
