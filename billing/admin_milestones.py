"""Milestones and budgets in the back office.

- The milestones list across contracts: what is overdue, due in the next 30 days or waiting for
  a finance approver, with actions to achieve, approve and cancel.
- On each contract's page: a progress widget per milestone line (with one-click achieve and
  approve) and the budget panel (cap, cost budget, scheduled, billed, remaining), whose figures
  ``billing.contract_progress`` gathers.
- A schedule editor per milestone line: the planned milestones as a formset, or a template.
- Change orders gain their approval (an action, and a button on the contract page).

Every write goes through the services (``billing.milestones``, ``contracts.milestones``,
``billing.change_orders``); the pages only gather figures and report what the services said.
"""

from collections.abc import Callable, Sequence
from datetime import date, timedelta
from functools import partial

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import SafeString
from django.utils.translation import to_locale
from django.views.decorators.http import require_POST
from djmoney.money import Money

from billing.budgets import budgets_of, contracts_over_budget
from billing.change_orders import change_order_approve
from billing.contract_progress import KEPT_BACK, budget_panel, milestone_progress, percent_text
from billing.milestone_billing import BillingState, MilestoneBilling, milestones_billing
from billing.milestones import milestone_achieve, milestone_approve, milestone_cancel
from contracts.admin import ChangeOrderAdmin, ChangeOrderInline
from contracts.forms import amount_for_display
from contracts.milestones import (
    MilestonePlan,
    line_value,
    milestone_schedule_apply_template,
    milestone_schedule_set,
    schedule_history,
)
from contracts.models import (
    BillingModel,
    ChangeOrder,
    Contract,
    ContractLine,
    Milestone,
    MilestoneTemplate,
)
from contracts.visibility import scoped_to_own_contracts
from imports.admin_mixin import LayoutImportExportMixin
from rms.admin_audit import AuditHistoryAdmin
from rms.money import money_text

Status = Milestone.Status

# How far ahead the "Next 30 days" view of the milestones list looks.
UPCOMING_DAYS = 30

# A step a milestone takes: a service called with the milestone by keyword, its other arguments
# bound beforehand (functools.partial), returning the milestone moved on.
Step = Callable[..., Milestone]


def money_locale() -> str:
    """The back office's locale, for the ``money`` filter (staff pages speak its language)."""
    return to_locale(settings.LANGUAGE_CODE)


def _username(request: HttpRequest) -> str:
    """Who acts, as the services record it (achieved_by, approved_by, cancelled_by)."""
    return request.user.get_username()


def _contract_url(contract_id: int, anchor: str = "") -> str:
    url = reverse("admin:contracts_contract_change", args=[contract_id])
    return f"{url}#{anchor}" if anchor else url


def _back(request: HttpRequest, contract_id: int) -> str:
    """Where a widget's button returns: the page it was pressed on (``next``: the contract's
    360 page), if that is on this site, else the contract page's widget."""
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return _contract_url(contract_id, "milestones")


def achievement_message(milestone: Milestone, billing: MilestoneBilling) -> tuple[int, SafeString]:
    """Say what became of a milestone just achieved or approved, and how loudly.

    Invoiced (with the invoice's number, or its draft awaiting review), waiting for approval, or
    not invoiced: kept back by a billing hold or stopped by the not-to-exceed cap.
    """
    name = str(milestone)
    if billing.state == BillingState.INVOICED:
        invoice = billing.invoice
        url = reverse("admin:billing_invoice_change", args=[invoice.pk])
        if invoice.number:
            return messages.SUCCESS, format_html(
                '{} is invoiced: invoice <a href="{}">{}</a> for {} (tax included).',
                name,
                url,
                invoice.number,
                money_text(invoice.total),
            )
        return messages.SUCCESS, format_html(
            '{} is invoiced: a <a href="{}">draft invoice</a> for {} waits for review.',
            name,
            url,
            money_text(invoice.total),
        )
    if billing.state == BillingState.AWAITING_APPROVAL:
        return messages.SUCCESS, format_html(
            "{} is achieved and waits for a finance approver before it is invoiced.", name
        )
    if billing.state == BillingState.HELD:
        return messages.WARNING, format_html(
            "{} is not invoiced yet: the contract or customer is on billing hold{}. It is "
            "invoiced when the hold is released.",
            name,
            f" ({billing.reason})" if billing.reason else "",
        )
    if billing.state == BillingState.BLOCKED:
        return messages.WARNING, format_html("{} is not invoiced yet. {}", name, billing.reason)
    return messages.WARNING, format_html("{} is invoiced by the next bill run.", name)


# The milestones list --------------------------------------------------------------------------


class MilestoneActionForm(ActionForm):
    # Read by the action, not by the form: a date the form refused would make the admin answer
    # "No action selected" instead of saying what is wrong with the date.
    achieved_on = forms.CharField(
        required=False,
        label="Achieved on (default today)",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    reference = forms.CharField(required=False, label="Reference (to achieve)")
    reason = forms.CharField(required=False, label="Reason (to cancel)")


class DueFilter(admin.SimpleListFilter):
    """Overdue, due in the next 30 days, or waiting for approval.

    The approval choice is also reached as ``?awaiting=approval``: the link milestone emails
    give approvers, which must keep working.
    """

    title = "due"
    parameter_name = "due"
    AWAITING = "awaiting"  # the emails' parameter, whose one value is "approval"

    def __init__(self, request, params, model, model_admin) -> None:
        awaiting = params.pop(self.AWAITING, None)
        super().__init__(request, params, model, model_admin)
        if awaiting is not None:
            self.used_parameters[self.AWAITING] = awaiting[-1]

    def lookups(self, request, model_admin):
        return [
            ("overdue", "Overdue"),
            ("next_30_days", f"Next {UPCOMING_DAYS} days"),
            ("approval", "Awaiting approval"),
        ]

    def expected_parameters(self) -> list[str]:
        return [self.parameter_name, self.AWAITING]

    def value(self) -> str | None:
        due = self.used_parameters.get(self.parameter_name)
        if due is None and self.used_parameters.get(self.AWAITING) == "approval":
            return "approval"
        return due

    def choices(self, changelist):
        # One choice at a time: picking one drops the other parameter.
        counts = self.get_facet_queryset(changelist) if changelist.add_facets else {}
        yield {
            "selected": self.value() is None,
            "query_string": changelist.get_query_string(remove=self.expected_parameters()),
            "display": "All",
        }
        for index, (lookup, title) in enumerate(self.lookup_choices):
            chosen = (
                {self.AWAITING: "approval"}
                if lookup == "approval"
                else {self.parameter_name: lookup}
            )
            if changelist.add_facets:
                title = f"{title} ({counts.get(f'{index}__c', '-')})"
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string(
                    chosen,
                    remove=[name for name in self.expected_parameters() if name not in chosen],
                ),
                "display": title,
            }

    def queryset(self, request, queryset):
        today = timezone.localdate()
        match self.value():
            case "overdue":
                return queryset.filter(status=Status.PLANNED, planned_date__lt=today)
            case "next_30_days":
                return queryset.filter(
                    status=Status.PLANNED,
                    planned_date__gte=today,
                    planned_date__lte=today + timedelta(days=UPCOMING_DAYS),
                )
            case "approval":
                return queryset.filter(status=Status.ACHIEVED, approved_at__isnull=True)
        return queryset


@admin.register(Milestone)
class MilestoneAdmin(LayoutImportExportMixin, AuditHistoryAdmin):
    """Milestones across contracts; achieving one invoices it at once (or asks for approval)."""

    import_layout = "milestones"

    list_display = [
        "name",
        "contract_link",
        "customer",
        "planned",
        "amount",
        "state",
        "achieved_on",
        "achieved_by",
        "invoice",
        "reference",
    ]
    list_display_links = ["name"]
    list_filter = [DueFilter, "status", "planned_date"]
    search_fields = ["name", "line__contract__number", "external_reference"]
    list_select_related = ["line__contract__customer"]
    ordering = ["planned_date", "line__contract__number", "line__sequence", "sequence"]
    raw_id_fields = ["line"]
    readonly_fields = [
        "status",
        "achieved_on",
        "achieved_by",
        "external_reference",
        "approved_at",
        "approved_by",
    ]
    action_form = MilestoneActionForm
    actions = ["achieve", "approve", "cancel"]

    class Media:
        css = {"all": ["css/milestones.css"]}

    def get_queryset(self, request: HttpRequest):
        """A project manager's list holds only the milestones of the contracts they manage."""
        return scoped_to_own_contracts(
            super().get_queryset(request), request.user, "line__contract"
        )

    def changelist_view(self, request: HttpRequest, extra_context=None):
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}).get("cl")
        if changelist is not None:
            # The page's billing states and invoices in two queries, before the rows render.
            rows = list(changelist.result_list)
            billing = milestones_billing(rows)
            for milestone in rows:
                milestone.billing = billing[milestone.pk]
        return response

    def _billing(self, milestone: Milestone) -> MilestoneBilling:
        billing = getattr(milestone, "billing", None)
        return billing or milestones_billing([milestone])[milestone.pk]

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        # Achieved and invoiced milestones are history, reversed by a credit note.
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or obj.status == Status.PLANNED)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or obj.status == Status.PLANNED)

    def has_achieve_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("contracts.achieve_milestone")

    def has_approve_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("contracts.approve_milestone")

    # Columns

    @admin.display(description="Contract", ordering="line__contract__number")
    def contract_link(self, milestone: Milestone) -> SafeString:
        contract = milestone.line.contract
        return format_html(
            '<a href="{}">{}</a> #{}',
            _contract_url(contract.pk, "milestones"),
            contract.number,
            milestone.line.sequence,
        )

    @admin.display(description="Customer", ordering="line__contract__customer__legal_name")
    def customer(self, milestone: Milestone) -> str:
        return milestone.line.contract.customer.legal_name

    @admin.display(description="Planned", ordering="planned_date")
    def planned(self, milestone: Milestone) -> SafeString | date:
        if milestone.status == Status.PLANNED and milestone.planned_date < timezone.localdate():
            return format_html(
                '<span class="ms-overdue" title="Overdue">{}</span>',
                date_format(milestone.planned_date),
            )
        return milestone.planned_date

    @admin.display(description="Status", ordering="status")
    def state(self, milestone: Milestone) -> SafeString | str:
        billing = self._billing(milestone)
        if billing.state == BillingState.AWAITING_APPROVAL:
            return format_html('<span class="ms-awaiting">{}</span>', "Awaiting approval")
        if billing.state in KEPT_BACK:
            return format_html(
                '{} <span class="ms-awaiting" title="{}">({})</span>',
                milestone.get_status_display(),
                billing.reason,
                KEPT_BACK[billing.state],
            )
        return milestone.get_status_display()

    @admin.display(description="Reference", ordering="external_reference")
    def reference(self, milestone: Milestone) -> str:
        return milestone.external_reference or "—"

    @admin.display(description="Invoice")
    def invoice(self, milestone: Milestone) -> SafeString | str:
        invoice = self._billing(milestone).invoice
        if invoice is None:
            return "—"
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:billing_invoice_change", args=[invoice.pk]),
            invoice.number or "draft",
        )

    # Actions

    def _refused(self, request: HttpRequest, milestone: Milestone, error: ValidationError) -> None:
        self.message_user(request, f"{milestone}: {' '.join(error.messages)}", messages.ERROR)

    def _report_outcomes(self, request: HttpRequest, milestones: Sequence[Milestone]) -> None:
        """Say what became of each milestone moved on (their billing read in two queries)."""
        billing = milestones_billing(milestones)
        for milestone in milestones:
            level, text = achievement_message(milestone, billing[milestone.pk])
            self.message_user(request, text, level)

    def _take_step(self, request: HttpRequest, queryset: QuerySet, step: Step) -> list[Milestone]:
        """Move each selected milestone on by ``step``; report refusals, return those moved."""
        moved = []
        for milestone in queryset.select_related("line__contract").order_by("pk"):
            try:
                moved.append(step(milestone=milestone))
            except ValidationError as error:
                self._refused(request, milestone, error)
        return moved

    @admin.action(
        description="Mark selected achieved (invoices them at once, or asks for approval)",
        permissions=["achieve"],
    )
    def achieve(self, request: HttpRequest, queryset: QuerySet) -> None:
        raw_date = request.POST.get("achieved_on") or ""
        try:
            achieved_on = forms.DateField().clean(raw_date) if raw_date else timezone.localdate()
        except ValidationError:
            self.message_user(request, f"Achieved on: '{raw_date}' is not a date.", messages.ERROR)
            return
        step = partial(
            milestone_achieve,
            achieved_on=achieved_on,
            achieved_by=_username(request),
            reference=request.POST.get("reference", "").strip(),
        )
        if achieved := self._take_step(request, queryset, step):
            self.message_user(
                request, f"Marked {len(achieved)} milestone(s) achieved.", messages.SUCCESS
            )
            self._report_outcomes(request, achieved)

    @admin.action(
        description="Approve selected achieved milestones (invoices them at once)",
        permissions=["approve"],
    )
    def approve(self, request: HttpRequest, queryset: QuerySet) -> None:
        step = partial(milestone_approve, approved_by=_username(request))
        if approved := self._take_step(request, queryset, step):
            self.message_user(request, f"Approved {len(approved)} milestone(s).", messages.SUCCESS)
            self._report_outcomes(request, approved)

    @admin.action(
        description="Cancel selected planned milestones (no longer due)", permissions=["change"]
    )
    def cancel(self, request: HttpRequest, queryset: QuerySet) -> None:
        step = partial(
            milestone_cancel,
            cancelled_by=_username(request),
            reason=request.POST.get("reason", "").strip(),
        )
        if cancelled := self._take_step(request, queryset, step):
            self.message_user(
                request, f"Cancelled {len(cancelled)} milestone(s).", messages.SUCCESS
            )

    # The contract page's buttons and the schedule editor

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "<int:milestone_id>/achieve/",
                view(require_POST(self.achieve_view)),
                name="contracts_milestone_achieve",
            ),
            path(
                "<int:milestone_id>/approve/",
                view(require_POST(self.approve_view)),
                name="contracts_milestone_approve",
            ),
            path(
                "schedule/<int:line_id>/",
                view(partial(milestone_schedule_view, self)),
                name="contracts_milestone_schedule",
            ),
            *super().get_urls(),
        ]

    def achieve_view(self, request: HttpRequest, milestone_id: int) -> HttpResponse:
        """Achieve one milestone today, by the user (the contract page's button)."""
        if not self.has_achieve_permission(request):
            raise PermissionDenied
        today = timezone.localdate()
        step = partial(milestone_achieve, achieved_on=today, achieved_by=_username(request))
        return self._one_click(request, milestone_id, step)

    def approve_view(self, request: HttpRequest, milestone_id: int) -> HttpResponse:
        """Approve one achieved milestone for invoicing (the contract page's button)."""
        if not self.has_approve_permission(request):
            raise PermissionDenied
        return self._one_click(
            request, milestone_id, partial(milestone_approve, approved_by=_username(request))
        )

    def _one_click(self, request: HttpRequest, milestone_id: int, step: Step) -> HttpResponse:
        """Move one milestone on, say what came of it, and go back to its contract's widget."""
        milestone = get_object_or_404(
            self.get_queryset(request).select_related("line__contract__customer"), pk=milestone_id
        )
        try:
            milestone = step(milestone=milestone)
        except ValidationError as error:
            self._refused(request, milestone, error)
        else:
            self._report_outcomes(request, [milestone])
        return HttpResponseRedirect(_back(request, milestone.line.contract_id))


# The schedule editor ---------------------------------------------------------------------------


class MilestonePlanForm(forms.Form):
    """One planned milestone: a fixed amount or a percent of the line's value."""

    name = forms.CharField(max_length=255)
    planned_date = forms.DateField(
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    amount = forms.DecimalField(required=False, min_value=0, max_digits=19, decimal_places=4)
    percent = forms.DecimalField(
        required=False, min_value=0, max_value=100, max_digits=7, decimal_places=4
    )
    description = forms.CharField(required=False)
    external_reference = forms.CharField(required=False, max_length=128, label="Reference")

    def clean(self) -> dict:
        cleaned = super().clean()
        if "amount" in self.errors or "percent" in self.errors:
            return cleaned
        amount, percent = cleaned.get("amount"), cleaned.get("percent")
        if amount is not None and percent is not None:
            self.add_error("amount", "Give an amount or a percent, not both.")
        elif amount is None and percent is None:
            self.add_error("amount", "Give an amount or a percent of the line's value.")
        return cleaned


PlanFormSet = forms.formset_factory(MilestonePlanForm, extra=1, can_delete=True)


class ApplyTemplateForm(forms.Form):
    template = forms.ModelChoiceField(
        queryset=MilestoneTemplate.objects.filter(active=True),
        empty_label="——— choose a template ———",
    )


def _plan_initial(milestone: Milestone) -> dict:
    return {
        "name": milestone.name,
        "planned_date": milestone.planned_date,
        "amount": None if milestone.percent is not None else amount_for_display(milestone.amount),
        "percent": percent_text(milestone.percent) or None,
        "description": milestone.description,
        "external_reference": milestone.external_reference,
    }


def _plans(formset, currency: str) -> list[MilestonePlan]:
    """Read the formset's kept rows, in order, as plans (blank extra rows are skipped)."""
    return [
        MilestonePlan(
            name=row["name"],
            planned_date=row["planned_date"],
            amount=Money(row["amount"], currency) if row["amount"] is not None else None,
            percent=row["percent"],
            description=row["description"],
            external_reference=row["external_reference"],
        )
        for row in formset.cleaned_data
        if row and not row.get("DELETE")
    ]


def milestone_schedule_view(
    model_admin: MilestoneAdmin, request: HttpRequest, line_id: int
) -> HttpResponse:
    """Edit a milestone line's planned schedule, or lay a template over it."""
    if not model_admin.has_change_permission(request):
        raise PermissionDenied
    line = get_object_or_404(
        ContractLine.objects.select_related("contract__customer", "product"),
        pk=line_id,
        billing_model=BillingModel.MILESTONE,
    )
    contract = line.contract
    here = reverse("admin:contracts_milestone_schedule", args=[line.pk])
    milestones = list(line.milestones.order_by("sequence"))
    planned = [m for m in milestones if m.status == Status.PLANNED]
    errors: list[str] = []
    template_form = ApplyTemplateForm()
    formset = PlanFormSet(prefix="milestones", initial=[_plan_initial(m) for m in planned])
    if request.method == "POST" and "apply_template" in request.POST:
        template_form = ApplyTemplateForm(request.POST)
        if template_form.is_valid():
            template = template_form.cleaned_data["template"]
            try:
                laid = milestone_schedule_apply_template(line=line, template=template)
            except ValidationError as error:
                template_form.add_error(None, " ".join(error.messages))
            else:
                model_admin.message_user(
                    request,
                    f"Applied {template.name} to line {line.sequence}: {len(laid)} planned "
                    "milestone(s). Adjust their dates below, or go back to the contract.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(here)
    elif request.method == "POST":
        formset = PlanFormSet(request.POST, prefix="milestones")
        if formset.is_valid():
            try:
                saved = milestone_schedule_set(line=line, plans=_plans(formset, contract.currency))
            except ValidationError as error:
                errors = error.messages
            else:
                model_admin.message_user(
                    request,
                    f"Saved the schedule of line {line.sequence}: {len(saved)} planned "
                    "milestone(s).",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(_contract_url(contract.pk, "milestones"))
    value = line_value(line)
    history, used = schedule_history(milestones, contract.currency)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": f"Milestone schedule of {contract.number}, line {line.sequence}",
        "subtitle": contract.customer.legal_name,
        "contract": contract,
        "line": line,
        "value": value,
        "used": used,
        "to_schedule": value - used,
        "history": history,
        "formset": formset,
        "errors": errors,
        "template_form": template_form,
        "contract_url": _contract_url(contract.pk, "milestones"),
        "money_locale": money_locale(),
        # The admin's inlines.js gives the rows "Add another milestone" (see the template).
        "media": model_admin.media
        + formset.media
        + forms.Media(js=["admin/js/jquery.init.js", "admin/js/inlines.js"]),
    }
    return TemplateResponse(request, "admin/contracts/milestone/schedule.html", context)


# The contract page: milestone progress and budget ----------------------------------------------


def contract_progress_context(request: HttpRequest, contract: Contract) -> dict:
    """What the contract page's milestone widgets and budget panel show, and who may act."""
    milestone_admin = admin.site.get_model_admin(Milestone)
    today = timezone.localdate()
    return {
        "today": today,
        "milestone_lines": milestone_progress(contract, today),
        "budget_panel": budget_panel(contract),
        "money_locale": money_locale(),
        # Only an active contract's milestones are achieved: no button that can only refuse.
        "may_achieve": contract.status == Contract.Status.ACTIVE
        and milestone_admin.has_achieve_permission(request),
        "may_approve": milestone_admin.has_approve_permission(request),
        "may_edit_schedule": milestone_admin.has_change_permission(request),
    }


class OverBudgetFilter(admin.SimpleListFilter):
    """Active contracts whose scheduled value exceeds their not-to-exceed cap (scope creep)."""

    title = "budget"
    parameter_name = "budget"

    def lookups(self, request, model_admin):
        return [("over", "Over budget")]

    def queryset(self, request, queryset):
        if self.value() == "over":
            return queryset.filter(pk__in=contracts_over_budget())
        return queryset


# Change orders ---------------------------------------------------------------------------------


def may_approve_change_orders(request: HttpRequest) -> bool:
    """Whether the user may approve change orders (raise a contract's budgets)."""
    return request.user.has_perm("contracts.approve_changeorder")


def _approve_change_order(
    model_admin: admin.ModelAdmin, request: HttpRequest, change_order: ChangeOrder
) -> bool:
    """Approve through the service; report the raised cap, or the refusal, as a message."""
    try:
        approved = change_order_approve(change_order=change_order, approved_by=_username(request))
    except ValidationError as error:
        model_admin.message_user(request, " ".join(error.messages), messages.ERROR)
        return False
    contract = approved.contract
    cap = budgets_of([contract])[contract.pk].not_to_exceed
    model_admin.message_user(
        request,
        f"Approved change order {approved.reference} of {contract.number}"
        + (f": its not-to-exceed is now {money_text(cap)}." if cap is not None else "."),
        messages.SUCCESS,
    )
    return True


class ChangeOrderApprovalAdmin(ChangeOrderAdmin):
    """The change orders list, with approval (declared here: approving invoices what waited)."""

    actions = ["approve"]

    def has_approve_permission(self, request: HttpRequest) -> bool:
        return may_approve_change_orders(request)

    @admin.action(
        description="Approve selected change orders (raise the budgets)", permissions=["approve"]
    )
    def approve(self, request: HttpRequest, queryset: QuerySet) -> None:
        for change_order in queryset.select_related("contract").order_by("pk"):
            _approve_change_order(self, request, change_order)

    def get_urls(self):
        approve = path(
            "<int:change_order_id>/approve/",
            self.admin_site.admin_view(require_POST(self.approve_view)),
            name="contracts_changeorder_approve",
        )
        return [approve, *super().get_urls()]

    def approve_view(self, request: HttpRequest, change_order_id: int) -> HttpResponse:
        """Approve one change order (the contract page's button), then go back to the contract."""
        if not self.has_approve_permission(request):
            raise PermissionDenied
        change_order = get_object_or_404(
            ChangeOrder.objects.select_related("contract"), pk=change_order_id
        )
        _approve_change_order(self, request, change_order)
        return HttpResponseRedirect(_contract_url(change_order.contract_id, "budget"))


class ChangeOrderApprovalInline(ChangeOrderInline):
    """The contract page's change orders, with an Approve button for whoever may approve."""

    def get_fields(self, request: HttpRequest, obj=None) -> list[str]:
        return self._with_approval(request, super().get_fields(request, obj))

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> list[str]:
        return self._with_approval(request, super().get_readonly_fields(request, obj))

    def _with_approval(self, request: HttpRequest, fields) -> list[str]:
        """Add the Approve button's column (read-only) for whoever may approve."""
        return [*fields, "approval"] if may_approve_change_orders(request) else list(fields)

    @admin.display(description="Approval")
    def approval(self, change_order: ChangeOrder) -> SafeString | str:
        if change_order.pk is None or change_order.approved:
            return "—"
        # form= ties the button to the page's separate actions form (see the contract's
        # change_form.html), so Enter in a contract field never approves anything.
        return format_html(
            '<button type="submit" class="button" form="contract-actions" formaction="{}">'
            "Approve</button>",
            reverse("admin:contracts_changeorder_approve", args=[change_order.pk]),
        )


admin.site.unregister(ChangeOrder)
admin.site.register(ChangeOrder, ChangeOrderApprovalAdmin)
