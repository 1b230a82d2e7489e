"""Write objects out in a layout's own format, so an export imports back as no change."""

import csv
import io

from django.db import models

from imports.engine import Layout, escape_formula


def export_csv(layout: Layout, queryset: models.QuerySet) -> str:
    """Return the CSV text of ``queryset`` in ``layout``, header first.

    Cells a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@`` first) are written
    with a leading apostrophe, so opening the export cannot execute anything; the import drops
    the apostrophe again.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    names = layout.column_names()
    writer.writerow(names)
    for row in layout.export_rows(queryset):
        writer.writerow([escape_formula(row.get(name, "")) for name in names])
    return buffer.getvalue()
