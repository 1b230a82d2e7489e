"""``manage.py import_csv LAYOUT FILE``: import a CSV file here and now, with its progress shown.

The per-layout commands (``import_contracts FILE`` and the others) are this one with the layout
fixed. The file is imported in this process, not by a worker, as the admin's upload would be.
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from imports.engine import Mode, Status, import_csv
from imports.jobs import problem_lines
from imports.registry import LAYOUTS, layout_class
from rms.audit import acting_as

# Problems listed when the command fails; --errors-file has every bad row.
SHOWN_PROBLEMS = 50


class Command(BaseCommand):
    # Set by the per-layout commands; empty, the layout is the first argument.
    layout = ""

    @property
    def help(self) -> str:
        what = f"in the {self.layout} layout" if self.layout else "in one of the layouts"
        return (
            f"Import a CSV file {what} (see docs/imports.md). All or nothing: a file with a bad "
            "row imports nothing, and every bad row is listed. Exits with an error when a row "
            "had errors or the file could not be read."
        )

    def add_arguments(self, parser) -> None:
        if not self.layout:
            parser.add_argument("layout", choices=list(LAYOUTS), help="The file's layout.")
        parser.add_argument("file", type=Path, help="CSV file with a header row.")
        parser.add_argument(
            "--keep-good-rows",
            action="store_true",
            help="Import the good rows even when others have errors (a contract's lines are "
            "imported together or not at all).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Check every row and report; write nothing."
        )
        parser.add_argument(
            "--errors-file",
            type=Path,
            help="Write the rows with errors there, as sent, with a column saying what is wrong.",
        )

    def handle(
        self,
        *args,
        file: Path,
        keep_good_rows: bool,
        dry_run: bool,
        errors_file: Path | None,
        layout: str = "",
        **options,
    ) -> None:
        name = self.layout or layout
        try:
            data = file.read_bytes()
        except OSError as error:
            raise CommandError(f"Cannot read {file}: {error}") from error
        command = f"import_{name}" if self.layout else f"import_csv {name}"
        with acting_as(user=None, via=f"command {command}"):
            report = import_csv(
                layout_class(name)(),
                data,
                mode=Mode.KEEP_GOOD_ROWS if keep_good_rows else Mode.ALL_OR_NOTHING,
                dry_run=dry_run,
                progress=self._progress,
            )
        self.stderr.write("", style_func=str)  # ends the progress line
        bad_rows = report.errors_csv()
        if errors_file is not None and bad_rows:
            errors_file.write_text(bad_rows, encoding="utf-8-sig")
            self.stderr.write(f"The rows with errors are in {errors_file}.", style_func=str)
        if report.file_error or report.counts[Status.ERROR]:
            lines = problem_lines(report.problems, SHOWN_PROBLEMS)
            raise CommandError("\n".join([report.summary(), *lines]))
        self.stdout.write(report.summary())

    def _progress(self, rows: int) -> None:
        self.stderr.write(f"\r{rows} rows read", ending="", style_func=str)
