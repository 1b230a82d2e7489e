"""The import pipeline every CSV layout shares: read, check, write in chunks, all or nothing.

A ``Layout`` describes one file format (its columns, the columns naming a row's external id,
and how a chunk of checked rows is written). ``import_csv`` runs it:

1. The file is decoded and its header checked (``imports.reading``): a file that cannot be
   read, or lacks a required column, imports nothing and says why.
2. Rows are read in chunks of ``Layout.chunk_size``. Each cell is parsed by its column; a key
   seen before in the file is refused, naming the row that had it first.
3. The layout checks the chunk against the books with a few queries per chunk (never one per
   row) and writes it with bulk statements, marking each row new, updated or unchanged.
4. Everything runs in one transaction. **All or nothing** (the default): any bad row rolls the
   whole file back, and every bad row is reported, not only the first. **Keep good rows**: a
   first pass (rolled back) finds the bad rows; a second writes the others, leaving out every
   row of a *group* (a contract's lines) that has a bad row, so no contract is half imported.
   A dry run is the first pass alone.

Upserting by external id makes a second import of the same file change nothing. Rows are
numbered as a spreadsheet shows them (header = row 1).
"""

import csv
import io
import itertools
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from django.db import IntegrityError, models, transaction

from imports.cells import CellError, Parser
from imports.reading import CsvRow, CsvTable, FileError, open_table

# How many preview rows a report keeps for the admin's dry-run page (the counts cover all).
PREVIEW_ROWS = 200
ERRORS_COLUMN = "errors"


class Mode(StrEnum):
    ALL_OR_NOTHING = "all_or_nothing"
    KEEP_GOOD_ROWS = "keep_good_rows"


class Status(StrEnum):
    NEW = "new"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    ERROR = "error"


@dataclass(frozen=True)
class Column:
    """One column of a layout: how its cells are read, and whether it must be filled."""

    name: str
    parse: Parser
    required: bool = False
    help: str = ""


@dataclass
class Row:
    """A data row as a layout sees it: its parsed values, its problems and its outcome."""

    source: CsvRow
    values: dict[str, Any]
    errors: list[tuple[str, str]] = field(default_factory=list)
    status: Status | None = None
    # The first bad row of this row's group, when the group cannot be written (whole_groups).
    blocked_by: int | None = None

    @property
    def number(self) -> int:
        return self.source.number

    def present(self, column: str) -> bool:
        """Whether the file has this column (an absent column leaves a stored value alone)."""
        return column in self.values

    def refuse(self, column: str, message: str) -> None:
        self.errors.append((column, message))

    def refuse_all(self, errors: dict[str, list[str]], columns: dict[str, str]) -> None:
        """Refuse with a model's errors, each under the column a field is read from."""
        for field_name, messages in errors.items():
            column = columns.get(field_name, "")
            for message in messages:
                self.refuse(column, message)


class Layout:
    """A CSV format: subclasses name their columns and write chunks of checked rows."""

    name: ClassVar[str]
    title: ClassVar[str]
    model: ClassVar[type[models.Model]]
    columns: ClassVar[tuple[Column, ...]]
    # The columns that name a row's external id (unique within a file).
    key: ClassVar[tuple[str, ...]]
    # The columns that tie rows together (a contract's lines): imported together or not at all.
    group: ClassVar[tuple[str, ...]] = ()
    # What a group is, in a refusal: "this contract has errors on row 12".
    group_label: ClassVar[str] = "row"
    # Whether a group is only checked whole (a schedule's sum): its rows that reach ``write``
    # carry ``blocked_by`` when a row of the group was refused before it, so the layout checks
    # each row on its own but neither checks nor writes the group.
    whole_groups: ClassVar[bool] = False
    # Rows per chunk: each chunk costs a few lookups and one bulk write per table.
    chunk_size: ClassVar[int] = 2000

    def __init__(self) -> None:
        self.touched: set[int] = set()

    def write(self, rows: list[Row]) -> None:
        """Check ``rows`` (cells parsed, keys unique) against the books and write the good ones.

        Set each row's ``status``, or ``refuse`` it. Rows refused stay unwritten; in a group,
        one refused row keeps the group's other rows of the chunk out too.
        """
        raise NotImplementedError

    def after_commit(self) -> None:
        """Tell the rest of the system about what the import changed (after it committed)."""

    def export_rows(self, queryset: models.QuerySet) -> Iterator[dict[str, str]]:
        """Yield each object of ``queryset`` as one or more rows of this layout."""
        raise NotImplementedError

    @classmethod
    def required_columns(cls) -> list[str]:
        return [c.name for c in cls.columns if c.required]

    @classmethod
    def optional_columns(cls) -> list[str]:
        return [c.name for c in cls.columns if not c.required]

    @classmethod
    def column_names(cls) -> list[str]:
        return [c.name for c in cls.columns]


@dataclass
class Problem:
    row: int
    column: str
    message: str

    def __str__(self) -> str:
        where = f"Row {self.row}, column {self.column}" if self.column else f"Row {self.row}"
        return f"{where}: {self.message}"


@dataclass
class ImportReport:
    """What an import did (or, in a dry run, would do), row by row and in total."""

    layout: str
    mode: Mode
    dry_run: bool
    counts: Counter = field(default_factory=Counter)
    problems: list[Problem] = field(default_factory=list)
    file_error: str = ""
    preview: list[tuple[int, Status, list[str]]] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    _bad_rows: io.StringIO = field(default_factory=io.StringIO)
    _bad_writer: Any = None

    @property
    def imported(self) -> bool:
        """Whether the good rows were written (not a dry run, nothing stopped the file)."""
        if self.dry_run or self.file_error:
            return False
        return self.mode == Mode.KEEP_GOOD_ROWS or not self.counts[Status.ERROR]

    @property
    def rows(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> str:
        """One sentence for a message, an email subject line or a command's output."""
        if self.file_error:
            return f"Nothing imported: {self.file_error}"
        c = self.counts
        figures = (
            f"{c[Status.NEW]} new, {c[Status.UPDATED]} updated, {c[Status.UNCHANGED]} unchanged"
        )
        if self.dry_run:
            return (
                f"Dry run of {self.rows} rows: {figures}, {c[Status.ERROR]} with errors; nothing "
                "was written."
            )
        if not self.imported:
            return f"Nothing imported: {c[Status.ERROR]} of {self.rows} rows have errors."
        if c[Status.ERROR]:
            return (
                f"Imported {self.rows - c[Status.ERROR]} of {self.rows} rows ({figures}); "
                f"{c[Status.ERROR]} with errors left out."
            )
        return f"Imported {self.rows} rows: {figures}."

    def errors_csv(self) -> str:
        """The bad rows as they were sent, plus a column saying what is wrong with each.

        Fix them in a spreadsheet and import this file again.
        """
        return self._bad_rows.getvalue()

    def _record(self, row: Row) -> None:
        self.counts[row.status] += 1
        if row.status == Status.ERROR:
            found = [Problem(row.number, column, message) for column, message in row.errors]
            self.problems += found
            if self._bad_writer is None:
                self._bad_writer = csv.writer(self._bad_rows)
                self._bad_writer.writerow([*self.header, ERRORS_COLUMN])
            cells = [row.source.cells.get(name, "") for name in self.header]
            self._bad_writer.writerow(
                [*(escape_formula(c) for c in cells), "; ".join(map(str, found))]
            )
        if len(self.preview) < PREVIEW_ROWS:
            cells = [row.source.cells.get(name, "") for name in self.header]
            self.preview.append((row.number, row.status, cells))


def escape_formula(cell: str) -> str:
    """Make a cell that a spreadsheet would run as a formula read as text (CSV injection)."""
    if cell and cell[0] in "=+-@\t\r" and not _is_number(cell):
        return "'" + cell
    return cell


def unescape_formula(cell: str) -> str:
    """Undo ``escape_formula``: an exported cell imports back as the text it was."""
    if cell[:1] == "'" and cell[1:2] and cell[1] in "=+-@\t\r":
        return cell[1:]
    return cell


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _parse(layout: Layout, source: CsvRow) -> Row:
    row = Row(source=source, values={})
    cells, values = source.cells, row.values
    if "__extra__" in cells:
        row.refuse("", f"has {cells['__extra__']}; remove the extra cells.")
    for column in layout.columns:
        text = cells.get(column.name)
        if text is None:
            continue
        text = text.strip()
        if text[:1] == "'":
            text = unescape_formula(text)
        if not text:
            if column.required:
                row.refuse(column.name, "is empty; it is required.")
            values[column.name] = None
            continue
        try:
            values[column.name] = column.parse(text)
        except CellError as error:
            row.refuse(column.name, str(error))
    return row


class _Pass:
    """One pass over a file: parse, check keys, let the layout write each chunk."""

    def __init__(
        self,
        layout: Layout,
        table: CsvTable,
        *,
        skip_groups: dict[tuple, int] | None = None,
        earlier_errors: dict[int, list] | None = None,
    ):
        self.layout, self.table = layout, table
        self.skip_groups = skip_groups or {}
        self.earlier_errors = earlier_errors or {}
        self.keys: dict[tuple, int] = {}
        # Each group with a bad row, and the first such row; each bad row's problems.
        self.bad_groups: dict[tuple, int] = {}
        self.errors: dict[int, list] = {}

    def chunks(self) -> Iterator[list[Row]]:
        """Yield chunks of parsed rows; a chunk never splits the consecutive rows of a group."""
        rows = self.table.rows()
        held: list[CsvRow] = []
        while chunk := held + list(itertools.islice(rows, self.layout.chunk_size)):
            held = []
            last = self._group_of(chunk[-1])
            for source in rows:
                if self._group_of(source) != last:
                    held = [source]
                    break
                chunk.append(source)
            yield [_parse(self.layout, source) for source in chunk]

    def run(self, report: ImportReport, progress: Callable[[int], None] | None) -> None:
        for chunk in self.chunks():
            self._check_keys(chunk)
            for row in chunk:
                self._hold_back(row)
            if self.layout.whole_groups:
                self._hold_back_group_mates(chunk)
            good = [row for row in chunk if not row.errors]
            if good:
                self._write(good)
            for row in chunk:
                if row.errors:
                    row.status = Status.ERROR
                    self.errors[row.number] = row.errors
                    self.bad_groups.setdefault(self._group(row), row.number)
                report._record(row)
            if progress is not None:
                progress(report.rows)

    def _write(self, rows: list[Row]) -> None:
        """Let the layout write the chunk; a row another import wrote meanwhile stops the file.

        Two imports of overlapping files at once: the second waits on the first's new rows and
        then finds them taken. Nothing of it stays; imported again, its rows are unchanged.
        """
        try:
            self.layout.write(rows)
        except IntegrityError as error:
            raise FileError(
                "Another import or change wrote some of these rows at the same moment; nothing "
                "was imported. Import the file again: what is in place already shows as "
                "unchanged."
            ) from error

    def _hold_back_group_mates(self, chunk: list[Row]) -> None:
        """Tell ``write`` which rows belong to a group with a row it will not see (bad cells)."""
        first_bad: dict[tuple, int] = {}
        for row in chunk:
            if row.errors:
                first_bad.setdefault(self._group(row), row.number)
        for row in chunk:
            if not row.errors:
                row.blocked_by = first_bad.get(self._group(row))

    def _hold_back(self, row: Row) -> None:
        """Keep out a row of a group the first pass found bad, with the first pass's reason."""
        first_bad = self.skip_groups.get(self._group(row))
        if first_bad is None:
            return
        row.errors = list(self.earlier_errors.get(row.number, ())) or [
            ("", f"not imported: this {self.layout.group_label} has errors on row {first_bad}.")
        ]

    def _group(self, row: Row) -> tuple:
        return self._group_of(row.source)

    def _group_of(self, source: CsvRow) -> tuple:
        names = self.layout.group or self.layout.key
        return tuple(source.cells.get(name, "").strip() for name in names)

    def _check_keys(self, chunk: list[Row]) -> None:
        for row in chunk:
            key = tuple(row.source.cells.get(name, "").strip() for name in self.layout.key)
            if not all(key):
                continue  # the empty required cell is refused already
            first = self.keys.setdefault(key, row.number)
            if first != row.number:
                names = " and ".join(self.layout.key)
                row.refuse(self.layout.key[0], f"repeats the {names} of row {first}.")


def import_csv(
    layout: Layout,
    data: bytes,
    *,
    mode: Mode = Mode.ALL_OR_NOTHING,
    dry_run: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import ``data`` (a CSV file's bytes) with ``layout``; see the module docstring.

    Rows are really written even in a dry run (so a later chunk sees what an earlier one
    created, and the database's own constraints have their say), then rolled back.
    """
    report = ImportReport(layout=layout.name, mode=mode, dry_run=dry_run)
    try:
        with transaction.atomic():
            with transaction.atomic():
                first = _Pass(layout, _table(layout, data, report))
                first.run(report, progress)
                again = mode == Mode.KEEP_GOOD_ROWS and first.bad_groups and not dry_run
                if again:
                    transaction.set_rollback(True)
            if again:
                layout.touched.clear()
                report = ImportReport(layout=layout.name, mode=mode, dry_run=dry_run)
                second = _Pass(
                    layout,
                    _table(layout, data, report),
                    skip_groups=first.bad_groups,
                    earlier_errors=first.errors,
                )
                second.run(report, progress)
                if second.bad_groups.keys() - first.bad_groups.keys():
                    raise FileError(
                        "The books changed while the file was being imported (rows that "
                        "passed the check failed when written); nothing was imported. Import "
                        "it again."
                    )
            if not report.imported:
                transaction.set_rollback(True)
    except FileError as error:
        report = ImportReport(layout=layout.name, mode=mode, dry_run=dry_run)
        report.file_error = str(error)
        return report
    if report.imported:
        transaction.on_commit(layout.after_commit)
    return report


def _table(layout: Layout, data: bytes, report: ImportReport) -> CsvTable:
    # A file of bad rows sent back after fixing keeps its "errors" column: read past it.
    table = open_table(
        data,
        required=layout.required_columns(),
        optional=layout.optional_columns(),
        ignored=[ERRORS_COLUMN],
    )
    report.header = [name for name in table.columns if name != ERRORS_COLUMN]
    return table
