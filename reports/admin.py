"""The finance reports in the admin: an index under "Reports", and one page per report.

Each page reads its filters from the query string and prints its tables; ``?format=csv``
downloads them and ``?format=pdf`` prints them on A4 landscape. Opening a report needs
``reports.view_report``, which the finance roles and the auditors hold.
"""

from datetime import date

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.core.validators import MaxValueValidator, MinValueValidator
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from moneyed import Money

from billing.documents import render_pdf
from billing.domain.periods import add_months
from contracts.models import Contract, Customer
from imports.engine import escape_formula
from reports.models import Report
from reports.tables import REPORTS, ContractCell, Filters, ReportSpec, Table
from revenue.domain.recognition import month_start
from revenue.pages.shared import csv_response, date_input, figure
from rms.money import round_money

# Range reports show the twelve months up to the current one unless asked otherwise.
DEFAULT_RANGE_MONTHS = 12
# A typo such as 0202 or 20260 is refused by name rather than run off the calendar's end.
SANE_DATES = [
    MinValueValidator(date(1900, 1, 1)),
    MaxValueValidator(date(2999, 12, 31)),
]


def _month_field(label: str) -> forms.DateField:
    return forms.DateField(
        required=False,
        label=label,
        input_formats=["%Y-%m"],
        validators=SANE_DATES,
        widget=forms.DateInput(attrs={"type": "month"}, format="%Y-%m"),
    )


class ReportFilterForm(forms.Form):
    """The filters every report takes; each report uses the date fields it needs."""

    currency = forms.ChoiceField(required=False)
    customer = forms.ModelChoiceField(
        queryset=Customer.objects.only("number", "legal_name").order_by("legal_name"),
        required=False,
        empty_label="All customers",
    )
    as_of = forms.DateField(
        required=False, label="As of", validators=SANE_DATES, widget=date_input()
    )
    first = _month_field("From")
    last = _month_field("To")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Only the currencies the book holds, so the list stays short.
        codes = Contract.objects.order_by("currency").values_list("currency", flat=True)
        self.fields["currency"].choices = [
            ("", "All currencies"),
            *((code, code) for code in codes.distinct()),
        ]

    def clean(self) -> dict:
        cleaned = super().clean()
        first, last = cleaned.get("first"), cleaned.get("last")
        if first and last and first > last:
            self.add_error("first", "The first month must not be after the last.")
        return cleaned

    def error_texts(self) -> list[str]:
        """Return each error with the label of the filter it is about."""
        return [
            f"{self.fields[name].label or name.title()}: {' '.join(errors)}"
            if name in self.fields
            else " ".join(errors)
            for name, errors in self.errors.items()
        ]

    def filters(self, today: date) -> Filters:
        """Return the filters given and valid; today and the last twelve months for the rest.

        A filter in error is left out of ``cleaned_data``, so the others still apply.
        """
        self.is_valid()
        data = self.cleaned_data
        last = month_start(data.get("last") or today)
        first = data.get("first")
        if first is None:
            first = add_months(last, 1 - DEFAULT_RANGE_MONTHS, anchor_day=1)
        customer = data.get("customer")
        return Filters(
            currency=data.get("currency") or "",
            customer_id=customer.pk if customer else None,
            as_of=data.get("as_of") or today,
            first=first,
            last=last,
        )


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin):
    """The "Reports" entry of the admin: its list is the index of the reports."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_urls(self):
        return [
            path(
                f"{slug}/",
                self.admin_site.admin_view(self.report_view),
                {"slug": slug},
                name=spec.url_name,
            )
            for slug, spec in REPORTS.items()
        ] + [
            path(
                "",
                self.admin_site.admin_view(self.changelist_view),
                name="reports_report_changelist",
            )
        ]

    def _frame(self, request: HttpRequest, title: str) -> dict:
        return {**self.admin_site.each_context(request), "opts": self.opts, "title": title}

    def changelist_view(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        """List the reports, each with what it shows."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        reports = [
            {"spec": spec, "url": reverse(f"admin:{spec.url_name}")} for spec in REPORTS.values()
        ]
        context = {**self._frame(request, "Finance reports"), "reports": reports}
        return TemplateResponse(request, "reports/index.html", context)

    def report_view(self, request: HttpRequest, slug: str) -> HttpResponse:
        """Show one report; ``format=csv`` downloads it, ``format=pdf`` prints it."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        spec = REPORTS[slug]
        form = ReportFilterForm(request.GET)
        filters = form.filters(timezone.localdate())
        tables = spec.build(filters)
        scope = _scope_text(spec, filters)
        export = request.GET.get("format")
        if export == "csv":
            return csv_response(f"{slug}-{_scope_slug(spec, filters)}.csv", *_csv(tables))
        context = {
            "spec": spec,
            "scope": scope,
            "tables": [_display(table) for table in tables],
            "customer": form.cleaned_data.get("customer"),
            "generated": timezone.localtime(),
        }
        if export == "pdf":
            response = HttpResponse(
                render_pdf(render_to_string("reports/report_pdf.html", context)),
                content_type="application/pdf",
            )
            response["Content-Disposition"] = (
                f'attachment; filename="{slug}-{_scope_slug(spec, filters)}.pdf"'
            )
            return response
        query = request.GET.copy()
        query["format"] = "csv"
        csv_url = f"?{query.urlencode()}"
        query["format"] = "pdf"
        context.update(
            self._frame(request, spec.title),
            form=form,
            errors=form.error_texts(),
            filters=filters,
            csv_url=csv_url,
            pdf_url=f"?{query.urlencode()}",
        )
        return TemplateResponse(request, "reports/report.html", context)


def _scope_text(spec: ReportSpec, filters: Filters) -> str:
    if spec.dated:
        return f"As of {filters.as_of.day} {filters.as_of:%B %Y}"
    return f"{filters.first:%B %Y} to {filters.last:%B %Y}"


def _scope_slug(spec: ReportSpec, filters: Filters) -> str:
    if spec.dated:
        return filters.as_of.isoformat()
    return f"{filters.first:%Y-%m}-to-{filters.last:%Y-%m}"


def _display(table: Table) -> dict:
    """Return a table's cells as the page prints them: text, figures right-aligned, links."""

    def cell(value) -> dict:
        if isinstance(value, Money):
            return {"text": figure(value), "num": True, "negative": value.amount < 0}
        if isinstance(value, int):
            return {"text": f"{value:,}", "num": True}
        if isinstance(value, ContractCell):
            url = reverse("admin:contracts_contract_change", args=[value.pk])
            return {"text": value.number, "url": url}
        return {"text": str(value)}

    return {
        "currency": table.currency,
        "head": [
            {"text": column, "num": isinstance(total, Money | int)}
            for column, total in zip(table.columns, table.totals, strict=True)
        ],
        "rows": [[cell(value) for value in row] for row in table.rows],
        "totals": [cell(value) for value in table.totals],
    }


def _csv(tables: list[Table]) -> tuple[list[str], list[list[str]]]:
    """Return the CSV's header and rows: every table under one header, a currency column first.

    Amounts are plain numbers on the currency's minor unit; text that a spreadsheet would run
    as a formula (a customer named "=1+1") is escaped as the imports' exports escape it.
    """

    def value(cell) -> str:
        if isinstance(cell, Money):
            return f"{round_money(cell).amount}"
        return escape_formula(str(cell))

    header = ["currency", *tables[0].columns] if tables else ["currency"]
    rows = []
    for table in tables:
        for row in [*table.rows, table.totals]:
            rows.append([table.currency, *(value(cell) for cell in row)])
    return header, rows
