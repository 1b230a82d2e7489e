"""Billing's follow-up of a contract modification: credits for what the new terms leave unused.

The schedule does most of the work by itself: when a modification ends a line early, the line's
pending events are prorated or withdrawn (``billing.schedules``), and a line that continues
another bills only what its predecessors did not (``billing.continuations``): a seat increase
from the 16th bills the added seats' remainder on the next run. What no schedule can undo is an
invoiced period the customer no longer receives, or no longer receives at that price: a period
billed in advance past a seat or price decrease, a shortened term, an early termination. This
module credits that unused part with a credit note on the invoice that billed it.

What to credit is worked out per period of the billing cycle (``billing.continuations``): what
was billed, net of what modifications already credited (``ModificationCredit``), beyond what the
period is now worth. So a follow-up run twice, or after a crash, credits once; and a second
modification in the same period credits (or bills) only its own difference. An early
termination credits the unused prepaid fees only when the modification says the terms refund
them (``refund_on_termination``): by default a terminated customer keeps what was paid for, as
most subscription terms say.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from fractions import Fraction

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from djmoney.money import Money

from billing.continuations import Chains, chains_for, charges_net_of_prior
from billing.credit_notes import credit_note_create, credit_note_issue
from billing.invoicing import needs_review
from billing.models import CreditNoteLine, Invoice, InvoiceLine, ModificationCredit
from billing.schedules import line_charges, lock_customers, schedule_horizon
from contracts.models import BillingModel, Contract, Modification
from rms.money import money_text, round_fraction

ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class Credit:
    """An amount to credit on one invoice line, and why."""

    invoice_line: InvoiceLine
    amount: Money


def credit_targets(contract: Contract) -> dict[int, Fraction]:
    """Return, per invoiced event of the contract's subscription lines, what to credit now.

    Per chain of continuing lines (a line alone is a chain of one) and per period of its cycle
    that has invoiced events: the carry left after the chain's last line is billed beyond what
    the period is now worth. The credit is what was billed less the worth rounded once, taken
    from the period's invoiced events from the last line back, never more than one billed.
    Credits already given are net of what was billed, so asking again gives nothing more.
    """
    lines = list(
        contract.lines.filter(billing_model=BillingModel.SUBSCRIPTION).select_related(
            "contract", "product"
        )
    )
    chains = Chains(lines)
    continued = {line.continues_id for line in lines}
    targets: dict[int, Fraction] = defaultdict(Fraction)
    for leaf in (line for line in lines if line.pk not in continued):
        chain = chains.chain(leaf)
        members = {line.pk for line in chain}
        cycles = sorted({cycle for line_id, cycle in chains.invoiced if line_id in members})
        for cycle in cycles:
            carry, billed = chains.walk(chain, cycle)
            kept = round_fraction(billed - carry, contract.currency).amount
            credit = billed - Fraction(kept)
            for line in reversed(chain):
                for event_id, net in chains.invoiced.get((line.pk, cycle), []):
                    taken = min(credit, net)
                    if taken > 0:
                        targets[event_id] += taken
                        credit -= taken
    return targets


def credits_due(modification: Modification) -> list[Credit]:
    """Return what is still to credit after ``modification``, per issued invoice line.

    Invoice lines on drafts are left out: a draft is corrected by voiding it, not credited.
    """
    contract = modification.contract
    if contract.terminated_on is not None and not modification.refund_on_termination:
        return []  # the customer keeps what was paid for: nothing is refunded
    targets = credit_targets(contract)
    if not targets:
        return []
    invoice_lines = list(
        InvoiceLine.objects.filter(
            event_id__in=targets, voided=False, invoice__status=Invoice.Status.ISSUED
        ).select_related("invoice")
    )
    taken = dict(
        CreditNoteLine.objects.filter(invoice_line__in=invoice_lines)
        .values("invoice_line")
        .annotate(total=Sum("amount"))
        .values_list("invoice_line", "total")
    )
    credits = []
    for invoice_line in invoice_lines:
        currency = invoice_line.amount.currency.code
        due = round_fraction(targets[invoice_line.event_id], currency).amount
        # Never more than the line still holds (a clerk may have credited it by hand).
        due = min(due, invoice_line.amount.amount - taken.get(invoice_line.pk, 0))
        if due > 0:
            credits.append(Credit(invoice_line, Money(due, currency)))
    return credits


@transaction.atomic
def modification_credits_issue(*, modification_id: int, on: date | None = None) -> list:
    """Credit what a modification left unused on issued invoices; return the credit notes.

    Runs under the customer's lock (every billing writer's first lock) and the modification's,
    so a second or concurrent follow-up sees the first one's ``ModificationCredit`` rows and
    credits nothing more. Credit notes are issued at once unless the customer's invoices are
    reviewed as drafts, in which case they wait as drafts like the invoices do.
    """
    modification = Modification.objects.select_related("contract__customer").get(pk=modification_id)
    lock_customers([modification.contract.customer_id])
    modification = (
        Modification.objects.select_for_update()
        .select_related("contract__customer")
        .get(pk=modification_id)
    )
    by_invoice: dict[int, list[Credit]] = defaultdict(list)
    for credit in credits_due(modification):
        by_invoice[credit.invoice_line.invoice_id].append(credit)
    reason = (
        f"Contract {modification.contract.number} modification {modification.reference}, "
        f"effective {modification.effective_date}: unused part of fees billed in advance"
    )
    review = needs_review(modification.contract.customer)
    today = on or timezone.localdate()
    notes = []
    for credits in by_invoice.values():
        note = credit_note_create(
            invoice=credits[0].invoice_line.invoice,
            reason=reason[:255],
            lines=[(credit.invoice_line, credit.amount) for credit in credits],
            created_by=modification.applied_by or "modification",
        )
        ModificationCredit.objects.bulk_create(
            ModificationCredit(
                modification=modification,
                invoice_line=credit.invoice_line,
                credit_note=note,
                amount=credit.amount,
            )
            for credit in credits
        )
        if not review:
            # Never dated before the invoice it credits (one issued ahead, by a run for a later
            # date), which credit_note_issue refuses: the refund would be lost after commit.
            issue_date = max(today, note.invoice.issue_date)
            note = credit_note_issue(credit_note=note, issue_date=issue_date)
        notes.append(note)
    return notes


def modification_billing_preview(*, modification: Modification) -> list[tuple[str, list[str]]]:
    """Say what billing will charge and credit once ``modification`` (applied, uncommitted) is.

    Used inside the preview's rolled-back transaction: the lines are as the modification leaves
    them, and the first period of each line it starts is shown as the next bill run bills it.
    """
    started = [
        change.result_line
        for change in modification.changes.select_related(
            "result_line__contract__customer", "result_line__product"
        )
        if change.result_line is not None
    ]
    chains = chains_for(started)
    rows = []
    for line in started:
        if line.billing_model != BillingModel.SUBSCRIPTION:
            continue
        charges = line_charges(line, through=schedule_horizon(line, as_of=line.service_start))
        if not charges:
            continue
        first_key = min(charges, key=lambda key: charges[key][1].period.start)
        first = charges[first_key][1]
        netted = charges_net_of_prior(charges, line, chains).get(first_key)
        amount = money_text(netted[1].amount) if netted else "nothing (credited below)"
        description = netted[1].description if netted else first.description
        rows.append(
            f"Line {line.sequence} {line.product.name}: {description}: {amount}, "
            f"billed on {first.bill_date}"
        )
    credits = [
        f"Invoice {credit.invoice_line.invoice}, {credit.invoice_line.description}: "
        f"{money_text(credit.amount)}"
        for credit in credits_due(modification)
    ]
    if modification.contract.terminated_on and not modification.refund_on_termination:
        credits.append("No refund on termination: prepaid fees beyond it are not credited.")
    return [
        ("Charges from the effective date", rows or ["No new charges."]),
        ("Credit notes", credits or ["Nothing to credit."]),
    ]
