"""What the pages share with each other and with the revenue admin's lists: how figures and dates
read, the date input, CSV downloads and the admin frame around a page.
"""

import csv
from collections.abc import Iterable
from datetime import date
from itertools import chain

from django import forms
from django.contrib import admin
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.template.response import TemplateResponse
from djmoney.money import Money

from rms.money import round_money


def figure(money: Money) -> str:
    """Format an amount for a finance table: grouped, on the currency's minor unit, no symbol.

    The currency is stated once per page or column, as statements do, so that columns of
    figures line up.
    """
    return f"{round_money(money).amount:,}"


def long_date(day: date) -> str:
    """Format a date as statements head their columns: 31 March 2026."""
    return f"{day.day} {day:%B %Y}"


def date_input() -> forms.DateInput:
    """Return the browser's date picker, which sends dates as ISO 8601 whatever the locale."""
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class _Echo:
    """A file that hands back what is written, so csv.writer can feed a streaming response."""

    def write(self, value: str) -> str:
        return value


def csv_response(filename: str, header: list[str], rows: Iterable[list[str]]) -> HttpResponse:
    """Stream ``rows`` under ``header`` as a CSV download: a whole journal never sits in memory."""
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in chain([header], rows)), content_type="text/csv"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def admin_page(
    request: HttpRequest, model_admin: admin.ModelAdmin, template: str, **context
) -> TemplateResponse:
    """Render a page of ``model_admin``'s in the admin's frame: its header, sidebar and
    breadcrumbs back to the model's list."""
    frame = {**model_admin.admin_site.each_context(request), "opts": model_admin.model._meta}
    return TemplateResponse(request, template, {**frame, **context})
