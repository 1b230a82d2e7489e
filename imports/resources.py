"""django-import-export's side of the CSV layouts: the file format and the resource it imports.

The admin's upload, dry-run and confirm pages are import-export's; reading, checking and writing a
file are ``imports.engine``'s, so a dry run in the admin reports what ``manage.py import_*`` and
the import jobs report, row for row. ``LayoutCSV`` hands the upload's bytes over as they are
(``imports.reading`` decodes them and finds the delimiter), and hands the layout's own CSV text
back on export. ``LayoutResource`` runs a layout over a file and turns its ``ImportReport`` into
the ``Result`` import-export's pages read, and exports a queryset in the layout's columns, so an
export imports back as no change.
"""

from collections import defaultdict

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models
from import_export.fields import Field
from import_export.formats.base_formats import CSV
from import_export.resources import Resource
from import_export.results import Error, Result, RowResult

from imports.engine import ImportReport, Mode, Status, import_csv
from imports.export import export_csv
from imports.reading import FileError
from imports.registry import layout_class

IMPORT_TYPES = {
    Status.NEW: RowResult.IMPORT_TYPE_NEW,
    Status.UPDATED: RowResult.IMPORT_TYPE_UPDATE,
    Status.UNCHANGED: RowResult.IMPORT_TYPE_SKIP,
    Status.ERROR: RowResult.IMPORT_TYPE_INVALID,
}
ROW_COLUMN = "row"


class LayoutCSV(CSV):
    """CSV as the layouts read and write it: bytes in, the layout's own text out.

    Binary, so import-export neither decodes the upload (Excel's UTF-8 with a BOM, Windows-1252
    and ``;`` are ``imports.reading``'s to detect) nor re-encodes the export.
    """

    def is_binary(self) -> bool:
        return True

    def get_read_mode(self) -> str:
        return "rb"

    def create_dataset(self, in_stream: bytes) -> bytes:
        # The bytes themselves: empty, they are falsy, which is import-export's "no data" check.
        return in_stream

    def export_data(self, dataset: str, **kwargs) -> str:
        # ``LayoutResource.export`` has written the CSV already.
        return dataset


class LayoutResult(Result):
    """A layout's ``ImportReport`` as import-export's ``Result``.

    Totals count every row; ``rows`` are the report's preview (the first rows), their cells as
    the ``diff`` after the row number; each bad row is an invalid row with its messages under
    their columns; a file that cannot be read is a base error. ``report`` keeps the original.
    """

    def __init__(self, report: ImportReport) -> None:
        super().__init__()
        self.report = report
        self.diff_headers = [ROW_COLUMN, *report.header]
        self.total_rows = report.rows
        for status, count in report.counts.items():
            self.totals[IMPORT_TYPES[status]] = count
        shown = {}
        for number, status, cells in report.preview:
            row = RowResult()
            row.import_type = IMPORT_TYPES[status]
            row.diff = [number, *cells]
            self.append_row_result(row)
            shown[number] = dict(zip(self.diff_headers, row.diff, strict=True))
        errors: dict[int, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        for problem in report.problems:
            errors[problem.row][problem.column or NON_FIELD_ERRORS].append(problem.message)
        for number, messages in errors.items():
            self.append_invalid_row(number, shown.get(number, {}), ValidationError(messages))
        if report.file_error:
            self.append_base_error(Error(FileError(report.file_error)))


class LayoutResource(Resource):
    """Imports and exports the CSV layout called ``layout`` (a name in ``imports.registry``)."""

    def __init__(self, *, layout: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.layout = layout_class(layout)

    @classmethod
    def get_display_name(cls) -> str:
        # import-export's forms name each resource they offer; an admin offers just this one.
        return cls.__name__

    def get_user_visible_fields(self) -> list[Field]:
        """Name the layout's columns, which import-export lists on the upload page."""
        return [Field(column_name=name) for name in self.layout.column_names()]

    def import_data(
        self, dataset: bytes, dry_run: bool = False, *, mode: str = Mode.ALL_OR_NOTHING, **kwargs
    ) -> LayoutResult:
        """Import the file's bytes with the layout; import-export's other options do not apply
        (the engine has its own transactions and reports every bad row)."""
        report = import_csv(self.layout(), dataset, mode=Mode(mode), dry_run=dry_run)
        return LayoutResult(report)

    def export(self, queryset: models.QuerySet, **kwargs) -> str:
        """Return ``queryset``'s rows as the layout's CSV, formula cells escaped.

        The layout reads the rows its own way: the changelist's joins, prefetches and
        annotations are the list's, so only its filters are kept.
        """
        rows = queryset.model._default_manager.filter(pk__in=queryset.values("pk"))
        return export_csv(self.layout(), rows)
