"""What each worklist holds: the rows waiting for someone, most urgent first.

Every list is a queryset (so the hub counts it with one ``COUNT`` and a page slices it), plus,
for the holds, what each hold keeps back, read for a page of holders in a fixed number of
grouped queries. The actions on the rows are in ``workspace.worklists.actions``.
"""

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.contrib import admin
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery, Sum
from django.http import HttpRequest
from django.utils import timezone
from djmoney.money import Money

from billing.models import BillingEvent, DeliveryAttempt, Invoice
from contracts.admin_renewals import ExpiringWithinFilter
from contracts.models import Contract, ContractRenewal, Customer, Milestone
from contracts.visibility import scoped_to_own_contracts
from imports.models import ImportJob

# Import jobs with errors stay on the list this long: a file is fixed and imported again
# within days, and older failures are history, still on the import jobs page.
IMPORT_WINDOW_DAYS = 30

ON_HOLD = Q(billing_hold=True) | Q(delivery_hold=True)


def milestones_to_achieve(*, user, today: date) -> QuerySet:
    """Planned milestones of active contracts whose date has come (today or overdue)."""
    planned = Milestone.objects.filter(
        status=Milestone.Status.PLANNED,
        planned_date__lte=today,
        line__contract__status=Contract.Status.ACTIVE,
    )
    return (
        scoped_to_own_contracts(planned, user, "line__contract")
        .select_related("line__contract__customer")
        .order_by("planned_date", "line__contract__number", "line__sequence", "sequence")
    )


def milestones_to_approve(*, user, today: date) -> QuerySet:
    """Achieved milestones waiting for a finance approver before they are invoiced."""
    waiting = Milestone.objects.filter(status=Milestone.Status.ACHIEVED, approved_at__isnull=True)
    return (
        scoped_to_own_contracts(waiting, user, "line__contract")
        .select_related("line__contract__customer")
        .order_by("achieved_on", "line__contract__number", "line__sequence", "sequence")
    )


def invoices_to_review(*, user, today: date) -> QuerySet:
    """Draft invoices (customers whose invoices are reviewed before they are issued)."""
    return (
        Invoice.objects.filter(status=Invoice.Status.DRAFT)
        .select_related("customer")
        .annotate(line_count=Count("lines"))
        .order_by("invoice_date", "pk")
    )


def failed_deliveries(*, user, today: date) -> QuerySet:
    """Issued invoices whose last email attempt failed (after the task's own retries).

    An attempt interrupted mid-send (left ``sending``) is not here: it may have reached the
    customer, so a person checks and resends it from the invoice page.
    """
    last = DeliveryAttempt.objects.filter(invoice=OuterRef("pk")).order_by("-started_at", "-id")
    return (
        Invoice.objects.filter(status=Invoice.Status.ISSUED)
        .annotate(
            last_status=Subquery(last.values("status")[:1]),
            last_error=Subquery(last.values("error")[:1]),
            last_tried=Subquery(last.values("started_at")[:1]),
            last_recipients=Subquery(last.values("recipients")[:1]),
        )
        .filter(last_status=DeliveryAttempt.Status.FAILED)
        .select_related("customer")
        .order_by("last_tried", "pk")
    )


def import_jobs_with_errors(*, user, today: date) -> QuerySet:
    """Imports of the last 30 days that failed or left rows out (dry runs are previews)."""
    since = timezone.now() - timedelta(days=IMPORT_WINDOW_DAYS)
    return ImportJob.objects.filter(
        Q(status=ImportJob.Status.FAILED) | Q(error_rows__gt=0),
        dry_run=False,
        created_at__gte=since,
    ).order_by("-created_at", "-pk")


def customers_on_hold(*, user, today: date) -> QuerySet:
    return Customer.objects.filter(ON_HOLD).order_by("legal_name", "pk")


def contracts_on_hold(*, user, today: date) -> QuerySet:
    return Contract.objects.filter(ON_HOLD).select_related("customer").order_by("number")


def renewals_due(request: HttpRequest) -> QuerySet:
    """The renewal worklist's own rows under its default filter (terms ending within 90 days).

    Read through its admin and filter, so the count on the hub is what the linked page lists.
    """
    model_admin = admin.site.get_model_admin(ContractRenewal)
    rows = model_admin.get_queryset(request)
    return ExpiringWithinFilter(request, {}, ContractRenewal, model_admin).queryset(request, rows)


# --- What a hold keeps back ------------------------------------------------------------------


@dataclass
class KeptBack:
    """What one holder's holds keep back: charges due and not invoiced, invoices not sent."""

    charges: int = 0
    amounts: list[Money] = field(default_factory=list)
    unsent: int = 0


def kept_back(
    holders: Iterable[Customer | Contract], *, key: str, today: date
) -> dict[int, KeptBack]:
    """Read what the holds of ``holders`` (customers or contracts, ``key`` their id field on a
    billing event) keep back, in two grouped queries for any number of holders.

    Charges are the pending events due by today, per currency; invoices are those issued under
    a delivery hold and not sent since.
    """
    ids = [holder.pk for holder in holders]
    found: dict[int, KeptBack] = defaultdict(KeptBack)
    if not ids:
        return found
    due = (
        BillingEvent.objects.filter(
            **{f"{key}__in": ids}, status=BillingEvent.Status.PENDING, bill_date__lte=today
        )
        .values(key, "amount_currency")
        .annotate(n=Count("pk"), total=Sum("amount"))
        .order_by(key, "amount_currency")
    )
    for row in due:
        kept = found[row[key]]
        kept.charges += row["n"]
        kept.amounts.append(Money(row["total"], row["amount_currency"]))
    invoice_key = "customer_id" if key == "customer_id" else "lines__contract_line__contract_id"
    unsent = (
        Invoice.objects.filter(
            **{f"{invoice_key}__in": ids},
            status=Invoice.Status.ISSUED,
            delivery_held=True,
            sent_at__isnull=True,
        )
        .values(invoice_key)
        .annotate(n=Count("pk", distinct=True))
        .order_by(invoice_key)
    )
    for row in unsent:
        found[row[invoice_key]].unsent = row["n"]
    return found


# --- The registry ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Worklist:
    """One worklist: its page's slug and words, who may see it, and its rows.

    ``sections`` are the row querysets (called with ``user`` and ``today``): one for most
    lists, customers then contracts for the holds.
    """

    slug: str
    title: str
    summary: str
    view_permission: str
    sections: tuple[Callable[..., QuerySet], ...]

    def count(self, *, user, today: date) -> int:
        return sum(rows(user=user, today=today).count() for rows in self.sections)


MILESTONES = Worklist(
    "milestones",
    "Milestones to achieve",
    "Planned milestones of active contracts dated today or earlier. Achieving one invoices it "
    "at once, unless the contract wants approval or a hold or the cap stops it.",
    "contracts.view_milestone",
    (milestones_to_achieve,),
)
APPROVALS = Worklist(
    "approvals",
    "Milestones to approve",
    "Achieved milestones of contracts that require a finance approver; approving one invoices "
    "it. Whoever achieved a milestone cannot approve it.",
    "contracts.view_milestone",
    (milestones_to_approve,),
)
DRAFTS = Worklist(
    "drafts",
    "Invoices to review",
    "Draft invoices of customers whose invoices are reviewed before they go out. Issuing one "
    "numbers and dates it today and emails it.",
    "billing.view_invoice",
    (invoices_to_review,),
)
HOLDS = Worklist(
    "holds",
    "Holds",
    "Customers and contracts on billing hold (no invoices made) or delivery hold (invoices "
    "made, not sent), with what each hold keeps back.",
    "contracts.view_contract",
    (customers_on_hold, contracts_on_hold),
)
DELIVERIES = Worklist(
    "deliveries",
    "Failed deliveries",
    "Issued invoices whose last email attempt failed, after the automatic retries. Retrying "
    "sends one unless it went out meanwhile.",
    "billing.view_invoice",
    (failed_deliveries,),
)
IMPORTS = Worklist(
    "imports",
    "Import jobs with errors",
    f"Imports of the last {IMPORT_WINDOW_DAYS} days that failed or left rows out, each with "
    "its file of rows with errors.",
    "imports.view_importjob",
    (import_jobs_with_errors,),
)

WORKLISTS = {w.slug: w for w in (MILESTONES, APPROVALS, DRAFTS, HOLDS, DELIVERIES, IMPORTS)}
