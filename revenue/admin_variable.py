"""Variable consideration in the back office: record an item, assess it each period, resolve it.

Assessments and resolutions are history, so they are made through their own forms (which call
the services and show their refusals under the field at fault) and are never edited afterwards.
The contract's revenue page lists the items beside their assessments and the catch-ups.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Max, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from djmoney.money import Money

from billing.admin import ReadOnlyInline
from revenue.models import PerformanceObligation, VariableAssessment, VariableConsideration
from revenue.pages.shared import admin_page, date_input, figure
from revenue.variable_consideration import (
    obligation_check,
    parse_scenarios,
    variable_consideration_assess,
    variable_consideration_create,
    variable_consideration_resolve,
)


def _show_errors(form: forms.Form, error: ValidationError) -> None:
    """Put a service's refusal under the field it names, or above the form."""
    for field, messages_ in error.message_dict.items():
        form.add_error(field if field in form.fields else None, messages_)


class VariableConsiderationForm(forms.ModelForm):
    class Meta:
        model = VariableConsideration
        fields = ["contract", "kind", "description", "obligation", "method"]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("contract"):
            try:
                obligation_check(contract=cleaned["contract"], obligation=cleaned.get("obligation"))
            except ValidationError as error:
                _show_errors(self, error)
        return cleaned


class AssessForm(forms.Form):
    period = forms.DateField(
        widget=date_input(),
        help_text="Any day of the accounting month assessed; it must be open.",
    )
    scenarios = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4, "cols": 40}),
        help_text="One outcome a line, as amount @ probability (e.g. 12000 @ 0.6); the "
        "probabilities sum to 1. Penalties and rebates are negative amounts.",
    )
    constrained = forms.DecimalField(
        label="Included in the price",
        required=False,
        max_digits=19,
        decimal_places=4,
        help_text="Leave empty to include the whole estimate; a lower amount is the constraint "
        "and needs a reason.",
    )
    reason = forms.CharField(
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text="Why this amount is included (disclosed, ASC 606-10-32-12).",
    )


class ResolveForm(forms.Form):
    actual = forms.DecimalField(
        max_digits=19, decimal_places=4, help_text="The amount now known; negative for a penalty."
    )
    period = forms.DateField(widget=date_input(), help_text="Any day of an open month.")
    note = forms.CharField(required=False, max_length=255)


class AssessmentInline(ReadOnlyInline):
    model = VariableAssessment
    fields = ["period", "method", "scenarios", "estimate", "constrained", "reason", "assessed_by"]
    ordering = ["-period", "-id"]


@admin.register(VariableConsideration)
class VariableConsiderationAdmin(admin.ModelAdmin):
    """Uncertain amounts of contracts' prices, each with its assessments by period."""

    form = VariableConsiderationForm
    list_display = [
        "contract",
        "kind",
        "description",
        "allocated_to",
        "method",
        "included_figure",
        "last_assessed",
        "status",
    ]
    list_filter = ["kind", "method", ("actual_currency", admin.EmptyFieldListFilter)]
    list_select_related = ["contract", "obligation"]
    search_fields = ["contract__number", "description"]
    autocomplete_fields = ["contract"]
    inlines = [AssessmentInline]
    readonly_fields = [
        "included",
        "actual",
        "resolved_period",
        "resolved_at",
        "resolved_by",
        "resolution_note",
        "created_by",
        "actions_links",
    ]

    def get_inlines(self, request: HttpRequest, obj=None) -> list:
        return self.inlines if obj is not None else []  # nothing assessed before it exists

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> list[str]:
        if obj is None:
            return []
        # What an assessment was made for stays what it was: record a new item instead.
        return ["contract", "kind", "obligation", "method", *self.readonly_fields]

    def get_fields(self, request: HttpRequest, obj=None) -> list[str]:
        base = ["contract", "kind", "description", "obligation", "method"]
        return base if obj is None else [*base, *self.readonly_fields]

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # The month last assessed, so that items not yet re-assessed this period stand out.
        return (
            super()
            .get_queryset(request)
            .select_related("contract", "obligation")
            .annotate(last_period=Max("assessments__period"))
        )

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "obligation":
            kwargs["queryset"] = PerformanceObligation.objects.select_related("contract")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description="Allocated to")
    def allocated_to(self, item: VariableConsideration) -> str:
        return item.obligation.name if item.obligation else "All obligations (relative SSP)"

    @admin.display(description="In the price", ordering="included")
    def included_figure(self, item: VariableConsideration) -> str:
        return f"{figure(item.included)} {item.included.currency}"

    @admin.display(description="Last assessed", ordering="last_period")
    def last_assessed(self, item: VariableConsideration) -> str:
        return f"{item.last_period:%b %Y}" if item.last_period else "Never"

    @admin.display(description="Status")
    def status(self, item: VariableConsideration) -> str:
        if item.resolved:
            return f"Resolved {item.resolved_period:%b %Y}"
        return "Open"

    @admin.display(description="Actions")
    def actions_links(self, item: VariableConsideration) -> str:
        if item.pk is None or item.resolved:
            return "—"
        return format_html(
            '<a class="button" href="{}">Assess</a> <a class="button" href="{}">Resolve</a>',
            reverse("admin:revenue_variableconsideration_assess", args=[item.pk]),
            reverse("admin:revenue_variableconsideration_resolve", args=[item.pk]),
        )

    def save_model(self, request, obj, form, change):
        if change:
            obj.save(update_fields=["description"])
            return
        created = variable_consideration_create(
            contract=obj.contract,
            kind=obj.kind,
            description=obj.description,
            method=obj.method,
            obligation=obj.obligation,
            created_by=request.user.get_username(),
        )
        obj.pk = created.pk

    def response_add(self, request, obj, post_url_continue=None):
        messages.info(request, "Now assess it for the current period: it counts from then.")
        return HttpResponseRedirect(
            reverse("admin:revenue_variableconsideration_assess", args=[obj.pk])
        )

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "<int:item_id>/assess/",
                view(self.assess_view),
                name="revenue_variableconsideration_assess",
            ),
            path(
                "<int:item_id>/resolve/",
                view(self.resolve_view),
                name="revenue_variableconsideration_resolve",
            ),
            *super().get_urls(),
        ]

    def _item(self, request: HttpRequest, item_id: int) -> VariableConsideration:
        if not self.has_change_permission(request):
            raise PermissionDenied
        return get_object_or_404(
            VariableConsideration.objects.select_related("contract", "obligation"), pk=item_id
        )

    def _done(self, request: HttpRequest, item: VariableConsideration, text: str) -> HttpResponse:
        messages.success(request, text)
        return HttpResponseRedirect(
            reverse("admin:revenue_variableconsideration_change", args=[item.pk])
        )

    def _page(self, request, item, form, action: str) -> HttpResponse:
        return admin_page(
            request,
            self,
            "revenue/variable_form.html",
            title=f"{action} {item.get_kind_display().lower()} of {item.contract.number}",
            item=item,
            form=form,
            action=action,
            assessments=item.assessments.order_by("-period", "-id"),
        )

    def assess_view(self, request: HttpRequest, item_id: int) -> HttpResponse:
        item = self._item(request, item_id)
        currency = str(item.contract.currency)
        form = AssessForm(request.POST or None, initial={"period": timezone.localdate()})
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                assessment = variable_consideration_assess(
                    item=item,
                    period=data["period"],
                    scenarios=parse_scenarios(data["scenarios"], currency),
                    constrained=(
                        None
                        if data["constrained"] is None
                        else Money(data["constrained"], currency)
                    ),
                    reason=data["reason"],
                    assessed_by=request.user.get_username(),
                )
            except ValidationError as error:
                _show_errors(form, error)
            else:
                return self._done(
                    request,
                    item,
                    f"Assessed for {assessment.period:%B %Y}: estimate "
                    f"{figure(assessment.estimate)}, {figure(assessment.constrained)} {currency} "
                    "included in the price. It counts from that month's revenue run.",
                )
        return self._page(request, item, form, "Assess")

    def resolve_view(self, request: HttpRequest, item_id: int) -> HttpResponse:
        item = self._item(request, item_id)
        currency = str(item.contract.currency)
        form = ResolveForm(request.POST or None, initial={"period": timezone.localdate()})
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                variable_consideration_resolve(
                    item=item,
                    actual=Money(data["actual"], currency),
                    period=data["period"],
                    note=data["note"],
                    resolved_by=request.user.get_username(),
                )
            except ValidationError as error:
                _show_errors(form, error)
            else:
                return self._done(
                    request,
                    item,
                    f"Resolved at {figure(Money(data['actual'], currency))} {currency}: the "
                    f"difference posts as a catch-up from {data['period']:%B %Y}'s revenue run.",
                )
        return self._page(request, item, form, "Resolve")
