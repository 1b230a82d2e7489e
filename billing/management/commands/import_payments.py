"""``manage.py import_payments FILE``: record the payments of a CSV file, all of them or none."""

from pathlib import Path

import tablib
from django.core.management.base import BaseCommand, CommandError

from billing.imports import PaymentResource, import_problems


class Command(BaseCommand):
    help = (
        "Record and apply the payments of a CSV file (columns: customer_number, amount, "
        "currency, received_on, method, reference, invoice_numbers). A file with a bad row "
        "imports nothing."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path, help="CSV file with a header row")
        parser.add_argument(
            "--dry-run", action="store_true", help="Check every row and report; write nothing."
        )

    def handle(self, *args, file: Path, dry_run: bool, **options) -> None:
        try:
            text = file.read_text(encoding="utf-8-sig")
        except OSError as error:
            raise CommandError(f"Cannot read {file}: {error}") from error
        dataset = tablib.Dataset().load(text, format="csv")
        result = PaymentResource().import_data(dataset, dry_run=dry_run, raise_errors=False)
        problems = import_problems(result)
        if problems:
            for problem in problems:
                self.stderr.write(problem)
            raise CommandError(f"{len(problems)} problem(s) in {file}; nothing was imported.")
        totals = result.totals
        verb = "would be recorded" if dry_run else "recorded"
        self.stdout.write(
            f"{totals['new']} payment(s) {verb}, {totals['skip']} already recorded (skipped)"
            f"{' (dry run: nothing written)' if dry_run else ''}."
        )
