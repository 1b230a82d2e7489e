"""The finance dashboard: the admin's landing page for those who hold ``view_workspace``.

Filters come from the query string (currency, customer, the months shown, and the day the aging
and the milestones are read on), so a view can be bookmarked and shared. ``?format=csv&block=``
downloads one block's tables as CSV, under the same filters.
"""

from datetime import date

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from moneyed import Money

from imports.engine import escape_formula
from reports.admin import ReportFilterForm
from reports.tables import Filters, Table
from revenue.pages.shared import csv_response, figure
from rms.money import round_money
from workspace.dashboard.blocks import BLOCKS, Block, Dashboard, Link, LinkedAmount
from workspace.dashboard.selectors import last_bill_run

PERMISSION = "workspace.view_workspace"
# Each month is a column of the MRR query and a point on every chart: a bound keeps both sane.
MAX_MONTHS = 36


def may_view(user) -> bool:
    """Say whether ``user`` sees the dashboard (superusers hold every permission)."""
    return user.has_perm(PERMISSION)


class DashboardFilterForm(ReportFilterForm):
    """The reports' filters: a currency, a customer, a month range, and an as-of day."""

    def clean(self) -> dict:
        cleaned = super().clean()
        first, last = cleaned.get("first"), cleaned.get("last")
        if (
            first
            and last
            and (last.year - first.year) * 12 + last.month - first.month >= MAX_MONTHS
        ):
            self.add_error("first", f"Show at most {MAX_MONTHS} months at a time.")
        return cleaned


def dashboard(site, request: HttpRequest) -> HttpResponse:
    """Show the dashboard, or download one block as CSV (``?format=csv&block=<key>``)."""
    if not may_view(request.user):
        raise PermissionDenied
    form = DashboardFilterForm(request.GET)
    filters = form.filters(timezone.localdate())
    board = Dashboard(filters)
    if request.GET.get("format") == "csv":
        return _download(request, form, filters, board)
    blocks = [build(board) for build in BLOCKS.values()]
    context = {
        **site.each_context(request),
        "title": "Dashboard",
        "form": form,
        "errors": form.error_texts(),
        "filters": filters,
        "customer": form.cleaned_data.get("customer"),
        "blocks": [_display(request, block) for block in blocks],
        "headlines": [
            {
                "currency": headline["currency"],
                "figures": [
                    {"label": label, "text": figure(amount), "key": key}
                    for label, amount, key in headline["figures"]
                ],
            }
            for headline in board.headlines()
        ],
        "bill_run": last_bill_run(),
        "apps_url": reverse("admin:workspace_apps"),
    }
    return TemplateResponse(request, "workspace/dashboard/dashboard.html", context)


def _download(request: HttpRequest, form, filters: Filters, board: Dashboard) -> HttpResponse:
    """Return one block as CSV; refuse, naming the parameter, rather than export other data."""
    key = request.GET.get("block", "")
    if key not in BLOCKS:
        return HttpResponseBadRequest(
            f"block: choose one of {', '.join(BLOCKS)} (got {key!r}).", content_type="text/plain"
        )
    if form.errors:
        return HttpResponseBadRequest(" ".join(form.error_texts()), content_type="text/plain")
    block = BLOCKS[key](board)
    scope = f"{filters.first:%Y-%m}-to-{filters.last:%Y-%m}"
    return csv_response(f"dashboard-{key}-{scope}.csv", *_csv(block))


def _csv(block: Block) -> tuple[list[str], list[list[str]]]:
    """Return a block's CSV: every currency's rows under one header, the currency first.

    Amounts are plain numbers on the currency's minor unit; text a spreadsheet would run as a
    formula is escaped as the imports' exports escape it.
    """

    def value(cell) -> str:
        if isinstance(cell, LinkedAmount):
            cell = cell.amount
        if isinstance(cell, Money):
            return f"{round_money(cell).amount}"
        if isinstance(cell, date):
            return cell.isoformat()
        return escape_formula(str(cell))

    columns = block.tables[0].columns if block.tables else []
    rows = [
        [table.currency, *(value(cell) for cell in row)]
        for table in block.tables
        for row in [*table.rows, *([table.totals] if table.totals else [])]
    ]
    return ["currency", *columns], rows


def _cell(value) -> dict:
    """Return a cell's text, whether it is a figure (right-aligned), and where it links."""
    if isinstance(value, LinkedAmount):
        return {**_cell(value.amount), "url": value.url}
    if isinstance(value, Money):
        return {"text": figure(value), "num": True, "negative": value.amount < 0}
    if isinstance(value, int):
        return {"text": f"{value:,}", "num": True}
    if isinstance(value, date):
        return {"text": date_format(value), "num": True}
    if isinstance(value, Link):
        return {"text": value.text, "url": value.url}
    return {"text": str(value)}


def _td(value) -> SafeString:
    """Return a table cell's HTML, as ``reports/cell.html`` prints one.

    Built here rather than in the template: a year of six blocks in three currencies is some
    1,500 cells, and a template loop over them costs more than the page's queries.
    """
    cell = _cell(value)
    classes = ("num" if cell.get("num") else "txt") + (
        " rep-negative" if cell.get("negative") else ""
    )
    if cell.get("url"):
        return format_html(
            '<td class="{}"><a href="{}">{}</a></td>', classes, cell["url"], cell["text"]
        )
    return format_html('<td class="{}">{}</td>', classes, cell["text"])


def _tds(row: list) -> SafeString:
    return format_html_join("", "{}", ((_td(value),) for value in row))


def _table(table: Table) -> dict:
    first = table.rows[0] if table.rows else []
    return {
        "currency": table.currency,
        "head": [
            {"text": column, "num": _cell(cell).get("num", False)}
            for column, cell in zip(table.columns, first or table.columns, strict=True)
        ],
        "rows": [_tds(row) for row in table.rows],
        "totals": _tds(table.totals),
    }


def _display(request: HttpRequest, block: Block) -> dict:
    query = request.GET.copy()
    query["format"], query["block"] = "csv", block.key
    return {
        "key": block.key,
        "title": block.title,
        "explain": block.explain,
        "source": block.source,
        "csv_url": f"?{query.urlencode()}",
        "tables": [_table(table) for table in block.tables],
        "charts": [chart.as_json() for chart in block.charts],
    }
