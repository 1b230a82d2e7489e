"""Contract 360: one read page per contract, gathering what the back office spreads over many.

Terms and lines, the billing schedule (billed and due), invoices, credit notes and payments,
the milestone widgets and budget, the revenue allocation and schedule, the position over time
(chart, table and CSV), holds and amendments. The figures come from the selectors and pages
that own them (``revenue.pages.contract_revenue``, ``billing.admin_milestones``,
``workspace.contract360.records``); this view only puts them side by side and links each to
its records.

Opening it needs ``workspace.view_workspace`` and ``contracts.view_contract``; its milestone
buttons post to the milestone admin, which checks the achieve and approve permissions itself.
"""

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from djmoney.money import Money

from billing.admin_milestones import contract_progress_context
from contracts.models import Contract
from revenue.pages.contract_revenue import contract_revenue
from revenue.pages.shared import csv_response, figure
from workspace.contract360 import records
from workspace.contract360.position import POSITION_CSV_HEADER, chart_data, position_months

PERMISSIONS = ("workspace.view_workspace", "contracts.view_contract")


def may_view(user: AbstractBaseUser) -> bool:
    """Whether ``user`` may open a contract's 360 page."""
    return user.has_perms(PERMISSIONS)


def contract360_view(site, request: HttpRequest, contract_id: int) -> HttpResponse:
    """Show one contract from every side, or download its position over time as CSV."""
    if not may_view(request.user):
        raise PermissionDenied
    contract = get_object_or_404(
        Contract.objects.select_related("customer", "renewal_terms"), pk=contract_id
    )
    today = timezone.localdate()
    revenue = contract_revenue(contract, today)
    months = position_months(contract.pk, revenue["history"])
    if request.GET.get("format") == "csv":
        return csv_response(
            f"{contract.number}-position.csv",
            POSITION_CSV_HEADER,
            (month.csv_row() for month in months),
        )
    holds = records.Holds(contract)
    invoices = records.contract_invoices(contract)
    context = {
        **site.each_context(request),
        **revenue,
        **contract_progress_context(request, contract),
        "title": f"{contract.number} · 360",
        "contract": contract,
        # The milestone widgets' template reads the contract as the change form names it.
        "original": contract,
        "today": today,
        "headline": headline(contract, revenue),
        "links": links(contract),
        "lines": lines(contract),
        "billing_schedule": records.billing_schedule(
            contract, today=today, held=holds.billing_held
        ),
        "invoices": invoices,
        "credit_notes": records.contract_credit_notes(contract),
        "payments": records.invoice_payments(invoices),
        "holds": holds,
        "delivery_held": records.delivery_held(invoices),
        "position_months": months,
        "position_chart": chart_data(months),
        **records.amendments(contract),
    }
    return TemplateResponse(request, "workspace/contract360/page.html", context)


def lines(contract: Contract) -> list:
    """The contract's lines in order, each knowing its contract (no query per line for it)."""
    found = list(contract.lines.select_related("product").order_by("sequence"))
    for line in found:
        line.contract = contract
    return found


def headline(contract: Contract, revenue: dict) -> dict[str, str]:
    """The header's figures: contract value, billed, recognized, the position and RPO."""
    zero = Money(0, contract.currency)
    tcv = sum((row.obligation.allocated for row in revenue["obligation_rows"]), zero)
    position = revenue["position"]
    return {
        "tcv": figure(tcv),
        "billed": figure(position.billed),
        "recognized": figure(position.revenue),
        "position": figure(abs(position.net)),
        "rpo": revenue["rpo_figures"]["total"],
        "rpo_within": revenue["rpo_figures"]["within_12_months"],
    }


def links(contract: Contract) -> dict[str, str]:
    """Where each figure's records are: admin lists filtered to the contract (or customer)."""
    of_contract = f"?contract__id__exact={contract.pk}"
    of_customer = f"?customer__id__exact={contract.customer_id}"
    return {
        "contract": reverse("admin:contracts_contract_change", args=[contract.pk]),
        "customer": reverse("admin:contracts_customer_change", args=[contract.customer_id]),
        "revenue": reverse("admin:revenue_contract", args=[contract.pk]),
        "journal": reverse("admin:revenue_journalentry_changelist") + of_contract,
        "recognized": reverse("admin:revenue_revenuescheduleentry_changelist")
        + f"{of_contract}&status__exact=recognized",
        "obligations": reverse("admin:revenue_performanceobligation_changelist")
        + f"?q={contract.number}",
        "events": reverse("admin:billing_billingevent_changelist") + of_contract,
        "invoices": reverse("admin:billing_invoice_changelist") + of_customer,
        "credit_notes": reverse("admin:billing_creditnote_changelist") + of_customer,
        "payments": reverse("admin:billing_payment_changelist") + of_customer,
        "milestones": reverse("admin:contracts_milestone_changelist") + f"?q={contract.number}",
        "modifications": reverse("admin:contracts_modification_changelist") + of_contract,
        "change_orders": reverse("admin:contracts_changeorder_changelist") + of_contract,
        "csv": "?format=csv",
    }
