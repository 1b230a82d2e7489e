"""Write objects out in a layout's own format, so an export imports back as no change."""

import csv
import io
from collections.abc import Iterator

from django.db import models

from imports.engine import Layout, escape_formula


def export_lines(layout: Layout, queryset: models.QuerySet) -> Iterator[str]:
    """Yield the CSV text of ``queryset`` line by line (header first), for streaming.

    Cells a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@`` first) are written
    with a leading apostrophe, so opening the export cannot execute anything.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    names = layout.column_names()
    writer.writerow(names)
    for row in layout.export_rows(queryset):
        writer.writerow([escape_formula(row.get(name, "")) for name in names])
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def export_csv(layout: Layout, queryset: models.QuerySet) -> str:
    """Return the whole CSV text of ``queryset`` in ``layout``."""
    return "".join(export_lines(layout, queryset))
