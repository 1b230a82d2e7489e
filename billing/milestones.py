"""Achieving milestones: the billing event each one bills, and its status as it is invoiced.

An achieved milestone becomes a billing event due on its achievement date, so the next bill run
invoices it with everything else that is due (and a billing hold keeps it waiting, not lost).
"""

from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction

from billing.domain.subscriptions import format_day
from billing.models import BillingEvent
from billing.schedules import lock_customers
from billing.signals import obligations_satisfied
from contracts.models import BillingModel, Contract, Milestone

SOURCE_PREFIX = "milestone:"


@transaction.atomic
def milestone_achieve(
    *,
    milestone: Milestone,
    achieved_on: date,
    achieved_by: str,
    reference: str = "",
    evidence: str = "",
) -> Milestone:
    """Mark a planned milestone achieved and make its amount due for billing on that date.

    Achieving it again with the same external reference returns it unchanged (a PSA retrying
    its call); any other second achievement, or achieving a cancelled one, is refused.
    """
    line = milestone.line
    lock_customers([line.contract.customer_id])
    milestone = (
        Milestone.objects.select_for_update()
        .select_related("line__contract", "line__product")
        .get(pk=milestone.pk)
    )
    line = milestone.line
    if milestone.status in (Milestone.Status.ACHIEVED, Milestone.Status.INVOICED):
        if reference and reference == milestone.external_reference:
            return milestone
        raise ValidationError(
            {
                "status": f"Milestone {milestone.name!r} was already achieved on "
                f"{milestone.achieved_on}."
            }
        )
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
    milestone.status = Milestone.Status.ACHIEVED
    milestone.achieved_on = achieved_on
    milestone.achieved_by = achieved_by
    milestone.external_reference = reference or milestone.external_reference
    milestone.evidence = evidence or milestone.evidence
    milestone.save()
    BillingEvent.objects.create(
        line=line,
        contract=line.contract,
        customer_id=line.contract.customer_id,
        kind=BillingEvent.Kind.MILESTONE,
        source_key=f"{SOURCE_PREFIX}{milestone.pk}",
        bill_date=achieved_on,
        period_start=achieved_on,
        period_end=achieved_on,
        quantity=Decimal(1),
        unit_price=milestone.amount,
        amount=milestone.amount,
        description=(
            f"{line.description or line.product.name}: {milestone.name} "
            f"(achieved {format_day(achieved_on)})"
        )[:255],
    )
    obligations_satisfied.send(sender=Milestone, contract_ids=[line.contract_id], on=achieved_on)
    return milestone


def milestones_follow_events(*, event_ids: Iterable[int], invoiced: bool) -> int:
    """Move the milestones billed by ``event_ids`` to invoiced (or back to achieved on a void)."""
    keys = BillingEvent.objects.filter(
        pk__in=list(event_ids), kind=BillingEvent.Kind.MILESTONE
    ).values_list("source_key", flat=True)
    ids = [int(key.removeprefix(SOURCE_PREFIX)) for key in keys]
    if not ids:
        return 0
    before, after = (
        (Milestone.Status.ACHIEVED, Milestone.Status.INVOICED)
        if invoiced
        else (Milestone.Status.INVOICED, Milestone.Status.ACHIEVED)
    )
    return Milestone.objects.filter(pk__in=ids, status=before).update(status=after)
