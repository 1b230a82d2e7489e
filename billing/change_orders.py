"""Change orders: raising a contract's not-to-exceed cap (and cost budget) by approval.

Requesting one records the scope change; approving it, by someone else, makes it count, and
what the old cap stopped is invoiced then: achieved milestones at once, other charges by the
next bill run (which sees the raised cap).
"""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from billing.milestones import milestones_invoice_pending
from contracts.models import ChangeOrder


@transaction.atomic
def change_order_approve(*, change_order: ChangeOrder, approved_by: str) -> ChangeOrder:
    """Approve a change order; refused if already approved or approved by its requester."""
    row = ChangeOrder.objects.select_for_update().get(pk=change_order.pk)
    if row.approved:
        raise ValidationError(
            f"Change order {row.reference} was already approved by {row.approved_by}."
        )
    if approved_by == row.requested_by:
        raise ValidationError(
            f"{approved_by} requested change order {row.reference}; someone else approves it."
        )
    row.approved_by = approved_by
    row.approved_at = timezone.now()
    row.save(update_fields=["approved_by", "approved_at"])
    contract_id = row.contract_id
    transaction.on_commit(lambda: milestones_invoice_pending(contract_id=contract_id))
    return row
