"""``manage.py run_billing``: bill everything due, or preview it with ``--dry-run``."""

import time
from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from billing.models import BillRun
from billing.runs import bill_run_preview, bill_run_start


class Command(BaseCommand):
    help = "Invoice every billing event due on or before --as-of (default: today)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--as-of", type=date.fromisoformat, help="YYYY-MM-DD; default today")
        parser.add_argument(
            "--dry-run", action="store_true", help="Show what would be billed; write nothing."
        )
        parser.add_argument(
            "--wait",
            type=int,
            default=0,
            metavar="SECONDS",
            help="With Celery workers: wait up to this long for the run to finish.",
        )

    def handle(self, *args, as_of: date | None, dry_run: bool, wait: int, **options) -> None:
        as_of = as_of or timezone.localdate()
        if dry_run:
            self._preview(as_of)
            return
        run = bill_run_start(as_of=as_of, triggered_by="manage.py run_billing")
        deadline = time.monotonic() + wait
        while run.status == BillRun.Status.RUNNING and time.monotonic() < deadline:
            time.sleep(0.5)
            run.refresh_from_db()
        self.stdout.write(
            f"{run}: {run.status}; {run.invoices_created} invoices ({run.invoices_issued} "
            f"issued) billing {run.events_invoiced} events in {run.chunks_total} chunks; "
            f"{run.events_held} due events on billing hold"
            + (
                f", {run.events_blocked} stopped by a not-to-exceed cap."
                if run.events_blocked
                else "."
            )
        )
        if run.status == BillRun.Status.FAILED:
            raise CommandError(f"{len(run.errors)} chunk(s) failed: {run.errors}")

    def _preview(self, as_of: date) -> None:
        invoices, held = bill_run_preview(as_of=as_of)
        self.stdout.write(f"Dry run as of {as_of}: nothing is written.")
        for invoice in invoices:
            self.stdout.write(
                f"  customer {invoice.customer_id} {invoice.currency}: {len(invoice.lines)} "
                f"lines, subtotal {invoice.subtotal.amount}, tax {invoice.tax_total.amount}, "
                f"total {invoice.total.amount}"
            )
        self.stdout.write(f"{len(invoices)} invoices would be created; {held} due events held.")
