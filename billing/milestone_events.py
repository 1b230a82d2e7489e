"""The link between a milestone and the billing event that bills it (kept apart so that
invoicing can follow milestones without importing the achievement services, which invoice)."""

from collections.abc import Iterable

from billing.models import BillingEvent
from contracts.models import Milestone
from rms.audit import history_record_bulk

# A milestone's billing event has the source key "milestone:<milestone id>".
SOURCE_PREFIX = "milestone:"


def milestones_follow_events(*, event_ids: Iterable[int], invoiced: bool) -> int:
    """Move the milestones billed by ``event_ids`` to invoiced (or back to achieved on a void)."""
    keys = BillingEvent.objects.filter(
        pk__any=list(event_ids), kind=BillingEvent.Kind.MILESTONE
    ).values_list("source_key", flat=True)
    ids = [int(key.removeprefix(SOURCE_PREFIX)) for key in keys]
    if not ids:
        return 0
    before, after = (
        (Milestone.Status.ACHIEVED, Milestone.Status.INVOICED)
        if invoiced
        else (Milestone.Status.INVOICED, Milestone.Status.ACHIEVED)
    )
    moved = Milestone.objects.filter(pk__in=ids, status=before).update(status=after)
    if moved:
        history_record_bulk(Milestone, ids)
    return moved
