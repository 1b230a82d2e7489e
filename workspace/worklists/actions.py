"""The one-click actions of the worklists, each a thin call to the service that owns the change.

An action loads its row, checks the permission of what it changes, calls the service and says
what came of it as ``(level, message)``. A row that moved on meanwhile (achieved, issued,
released, delivered by someone else or by a double click) is refused by the service, or found
done beforehand, and the message says so: nothing happens twice.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from billing.admin_milestones import achievement_message
from billing.delivery import Trigger, invoices_queue_delivery
from billing.invoicing import invoice_issue
from billing.milestone_billing import milestones_billing
from billing.milestones import milestone_achieve, milestone_approve
from billing.models import DeliveryAttempt, Invoice
from contracts.models import Contract, Customer, Milestone
from contracts.services import HoldKind, hold_set
from contracts.visibility import scoped_to_own_contracts
from rms.money import money_text

Outcome = tuple[int, SafeString | str]


def _invoice_link(invoice: Invoice) -> SafeString:
    url = reverse("admin:billing_invoice_change", args=[invoice.pk])
    return format_html('<a href="{}">{}</a>', url, invoice.number or "draft invoice")


def _milestone_step(request: HttpRequest, pk: int, step: Callable[..., Milestone]) -> Outcome:
    """Move a milestone on and say, as its admin does, whether and how it was invoiced."""
    milestones = scoped_to_own_contracts(Milestone.objects.all(), request.user, "line__contract")
    milestone = step(milestone=get_object_or_404(milestones, pk=pk))
    billing = milestones_billing(
        [Milestone.objects.select_related("line__contract__customer").get(pk=milestone.pk)]
    )
    return achievement_message(milestone, billing[milestone.pk])


def achieve(request: HttpRequest, pk: int) -> Outcome:
    """Mark the milestone achieved today, by the user."""
    by = request.user.get_username()
    step = partial(milestone_achieve, achieved_on=timezone.localdate(), achieved_by=by)
    return _milestone_step(request, pk, step)


def approve(request: HttpRequest, pk: int) -> Outcome:
    """Approve an achieved milestone for invoicing."""
    step = partial(milestone_approve, approved_by=request.user.get_username())
    return _milestone_step(request, pk, step)


def issue(request: HttpRequest, pk: int) -> Outcome:
    """Issue a reviewed draft, dated today (a second click finds it issued and is refused)."""
    invoice = invoice_issue(invoice=get_object_or_404(Invoice, pk=pk))
    return messages.SUCCESS, format_html(
        "Issued invoice {} to {} for {}, due {}; it is emailed unless a hold or the customer's "
        "delivery method says otherwise.",
        _invoice_link(invoice),
        invoice.bill_to_name,
        money_text(invoice.total),
        invoice.due_date,
    )


def retry(request: HttpRequest, pk: int) -> Outcome:
    """Queue a failed invoice email again, unless its last attempt did not fail."""
    invoice = get_object_or_404(Invoice.objects.select_related("customer"), pk=pk)
    last = invoice.deliveries.order_by("-started_at", "-id").first()
    if invoice.status != Invoice.Status.ISSUED or last is None:
        raise ValidationError(f"Invoice {invoice.number or invoice.pk} has no delivery to retry.")
    if last.status != DeliveryAttempt.Status.FAILED:
        return messages.WARNING, format_html(
            "Invoice {}'s last delivery attempt is {}, not failed: nothing to retry.",
            _invoice_link(invoice),
            last.get_status_display().lower(),
        )
    invoices_queue_delivery(invoice_ids=[invoice.pk], trigger=Trigger.RETRY)
    return messages.SUCCESS, format_html(
        "Queued invoice {} to be emailed again; its delivery log shows the outcome.",
        _invoice_link(invoice),
    )


HOLDERS: dict[str, type[Customer] | type[Contract]] = {"customer": Customer, "contract": Contract}
HOLD_KINDS = {"billing": HoldKind.BILLING, "delivery": HoldKind.DELIVERY}
AFTER_RELEASE = {
    HoldKind.BILLING: "Achieved milestones it kept back are invoiced now; its other charges go "
    "out with the next bill run.",
    HoldKind.DELIVERY: "The invoices it kept back are being sent, unless another hold applies.",
}


def release(request: HttpRequest, pk: int) -> Outcome:
    """Release one hold (``hold``: billing or delivery) of a customer or contract (``holder``)."""
    holder, hold = request.POST.get("holder"), request.POST.get("hold")
    if holder not in HOLDERS or hold not in HOLD_KINDS:
        raise ValidationError("Say which hold to release: holder and hold are missing or wrong.")
    if not request.user.has_perm(f"contracts.change_{holder}"):
        raise PermissionDenied
    row = get_object_or_404(HOLDERS[holder], pk=pk)
    name = f"{holder} {row.number}"
    kind = HOLD_KINDS[hold]
    if not getattr(row, kind):
        return messages.WARNING, f"The {name} is not on {hold} hold (released already): no change."
    hold_set(target=row, kind=kind, on=False)
    return messages.SUCCESS, f"Released the {hold} hold on {name}. {AFTER_RELEASE[kind]}"


@dataclass(frozen=True)
class Action:
    """A button on a worklist's rows: its label, the permission it needs, what it does.

    ``permission`` is None when the row says which permission applies (a hold's customer or
    contract); the action then checks it itself.
    """

    name: str
    label: str
    permission: str | None
    perform: Callable[[HttpRequest, int], Outcome]


ACTIONS: dict[str, dict[str, Action]] = {
    "milestones": {"achieve": Action("achieve", "Achieve", "contracts.achieve_milestone", achieve)},
    "approvals": {"approve": Action("approve", "Approve", "contracts.approve_milestone", approve)},
    "drafts": {"issue": Action("issue", "Issue", "billing.change_invoice", issue)},
    "holds": {"release": Action("release", "Release", None, release)},
    "deliveries": {"retry": Action("retry", "Retry", "billing.change_invoice", retry)},
}
