"""Achieving milestones: the invoice follows at once, unless approval, a hold or the cap stops it.

Achieving a milestone (admin, API or a PSA) records who and when and, once it is cleared for
invoicing, turns it into a billing event and invoices that event at once through the same
machinery as a bill run. Cleared means: at achievement, or when a finance approver approves it
if its contract requires approval. A billing hold or the contract's not-to-exceed cap leaves the
event pending: it is invoiced when the hold is released, or the change order approved, or by
the next bill run. The people who follow the contract hear of each achievement by email.
"""

from datetime import date
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from billing.domain.subscriptions import format_day
from billing.milestone_events import SOURCE_PREFIX
from billing.models import BillingEvent, Invoice
from billing.runs import events_invoice_now
from billing.schedules import lock_customers
from billing.signals import milestone_achieved, obligations_satisfied
from contracts.models import BillingModel, Contract, Milestone


def _locked(milestone: Milestone) -> Milestone:
    """Lock the milestone's customer (as bill runs do), then the milestone, and reload it."""
    customer_id = (
        Milestone.objects.filter(pk=milestone.pk)
        .values_list("line__contract__customer_id", flat=True)
        .get()
    )
    lock_customers([customer_id])
    return (
        Milestone.objects.select_for_update(of=("self",))
        .select_related("line__contract", "line__product")
        .get(pk=milestone.pk)
    )


@transaction.atomic
def milestone_achieve(
    *,
    milestone: Milestone,
    achieved_on: date,
    achieved_by: str,
    reference: str = "",
    evidence: str = "",
) -> Milestone:
    """Mark a planned milestone achieved and, unless it needs approval, invoice it at once.

    Achieving it again with the same external reference returns it unchanged (a PSA retrying
    its call); any other second achievement, achieving a cancelled one, one dated in the future
    or one ahead of its turn (on a contract whose milestones go in order) is refused.
    """
    milestone = _locked(milestone)
    if milestone.status in (Milestone.Status.ACHIEVED, Milestone.Status.INVOICED):
        if reference and reference == milestone.external_reference:
            return milestone
        raise ValidationError(
            {
                "status": f"Milestone {milestone.name!r} was already achieved on "
                f"{milestone.achieved_on}."
            }
        )
    _check_achievable(milestone, achieved_on)
    contract = milestone.line.contract
    milestone.status = Milestone.Status.ACHIEVED
    milestone.achieved_on = achieved_on
    milestone.achieved_by = achieved_by
    milestone.external_reference = reference or milestone.external_reference
    milestone.evidence = evidence or milestone.evidence
    if not contract.milestone_approval:
        milestone.approved_at = timezone.now()
        milestone.approved_by = achieved_by
    milestone.save()
    if milestone.approved_at is not None:
        _bill(milestone)
    obligations_satisfied.send(sender=Milestone, contract_ids=[contract.pk], on=achieved_on)
    milestone_achieved.send(sender=Milestone, milestone=milestone)
    _notify(milestone, "achieved")
    return milestone


def _check_achievable(milestone: Milestone, achieved_on: date) -> None:
    line = milestone.line
    if milestone.status == Milestone.Status.CANCELLED:
        raise ValidationError({"status": f"Milestone {milestone.name!r} is cancelled."})
    if line.billing_model != BillingModel.MILESTONE:
        raise ValidationError({"line": "Only milestone lines have milestones to achieve."})
    if line.contract.status != Contract.Status.ACTIVE:
        raise ValidationError(
            {"line": f"Contract {line.contract.number} is {line.contract.status}, not active."}
        )
    if achieved_on < line.service_start:
        raise ValidationError(
            {
                "achieved_on": f"The line's service starts on {line.service_start}; a milestone "
                "cannot be achieved before it."
            }
        )
    if achieved_on > timezone.localdate():
        raise ValidationError(
            {"achieved_on": f"{achieved_on} is in the future; a milestone is achieved once done."}
        )
    if line.contract.milestones_in_order:
        earlier = (
            line.milestones.filter(sequence__lt=milestone.sequence, status=Milestone.Status.PLANNED)
            .order_by("sequence")
            .first()
        )
        if earlier is not None:
            raise ValidationError(
                {
                    "status": f"Contract {line.contract.number} achieves its milestones in "
                    f"order: {earlier.name!r} comes first."
                }
            )


@transaction.atomic
def milestone_approve(*, milestone: Milestone, approved_by: str) -> Milestone:
    """Clear an achieved milestone waiting for approval, and invoice it at once.

    The approver cannot be the person who achieved it: approval is a second pair of eyes.
    """
    milestone = _locked(milestone)
    if not milestone.awaiting_approval:
        state = "already approved" if milestone.approved_at else milestone.get_status_display()
        raise ValidationError(
            {"status": f"Milestone {milestone.name!r} is not waiting for approval ({state})."}
        )
    if approved_by == milestone.achieved_by:
        raise ValidationError(
            {"approved_by": f"{approved_by} achieved this milestone; someone else approves it."}
        )
    milestone.approved_at = timezone.now()
    milestone.approved_by = approved_by
    milestone.save(update_fields=["approved_at", "approved_by"])
    _bill(milestone)
    _notify(milestone, "approved")
    return milestone


@transaction.atomic
def milestone_cancel(*, milestone: Milestone, cancelled_by: str, reason: str = "") -> Milestone:
    """Drop a planned milestone from what is due; an achieved one is reversed by a credit note."""
    milestone = _locked(milestone)
    if milestone.status != Milestone.Status.PLANNED:
        raise ValidationError(
            {
                "status": f"Milestone {milestone.name!r} is {milestone.get_status_display()}"
                "; only a planned milestone is cancelled. Reverse an invoiced one with a credit "
                "note."
            }
        )
    milestone.status = Milestone.Status.CANCELLED
    note = f"Cancelled by {cancelled_by} on {timezone.localdate()}" + (
        f": {reason}" if reason else "."
    )
    milestone.evidence = f"{milestone.evidence}\n{note}".strip()
    milestone.save(update_fields=["status", "evidence"])
    contract_id = milestone.line.contract_id
    obligations_satisfied.send(
        sender=Milestone, contract_ids=[contract_id], on=timezone.localdate()
    )
    return milestone


def _bill(milestone: Milestone) -> None:
    """Create the milestone's billing event and invoice it now, if nothing keeps it back."""
    line = milestone.line
    event = BillingEvent.objects.create(
        line=line,
        contract=line.contract,
        customer_id=line.contract.customer_id,
        kind=BillingEvent.Kind.MILESTONE,
        source_key=f"{SOURCE_PREFIX}{milestone.pk}",
        bill_date=milestone.achieved_on,
        period_start=milestone.achieved_on,
        period_end=milestone.achieved_on,
        quantity=Decimal(1),
        unit_price=milestone.amount,
        amount=milestone.amount,
        description=(
            f"{line.description or line.product.name}: {milestone.name} "
            f"(achieved {format_day(milestone.achieved_on)})"
        )[:255],
    )
    events_invoice_now(event_ids=[event.pk], on=timezone.localdate())
    milestone.refresh_from_db(fields=["status"])


def milestones_invoice_pending(
    *, customer_id: int | None = None, contract_id: int | None = None
) -> list[Invoice]:
    """Invoice the milestone events a hold or a cap kept back (of a customer or a contract).

    Called when a billing hold is released or a change order approved: an achieved milestone
    is invoiced then, not at the next bill run. What another hold still keeps back stays.
    """
    events = BillingEvent.objects.filter(
        kind=BillingEvent.Kind.MILESTONE, status=BillingEvent.Status.PENDING
    )
    if customer_id is not None:
        events = events.filter(customer_id=customer_id)
    if contract_id is not None:
        events = events.filter(contract_id=contract_id)
    event_ids = list(events.values_list("pk", flat=True))
    if not event_ids:
        return []
    return events_invoice_now(event_ids=event_ids, on=timezone.localdate())


def _notify(milestone: Milestone, what: str) -> None:
    """Email the contract's followers after commit (see ``billing.notifications``)."""
    from billing.tasks import milestone_notify_task  # tasks import this module

    pk = milestone.pk
    transaction.on_commit(lambda: milestone_notify_task.delay(pk, what))
