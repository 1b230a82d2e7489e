"""``manage.py recognize_revenue``: post earned revenue through a date, optionally closing it."""

from datetime import date

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from revenue.runs import period_close, revenue_recognize


class Command(BaseCommand):
    help = (
        "Recognize revenue earned through --as-of (default: today). With --close, also close "
        "every accounting month through --as-of's month."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--as-of", type=date.fromisoformat, help="YYYY-MM-DD; default today")
        parser.add_argument(
            "--close", action="store_true", help="Close the periods through --as-of's month."
        )

    def handle(self, *args, as_of: date | None, close: bool, **options) -> None:
        today = timezone.localdate()
        as_of = as_of or today
        if as_of > today:
            # Revenue recognized ahead of its days could never be taken back: runs only move on.
            raise CommandError(f"--as-of {as_of} is in the future; revenue is earned up to today.")
        if close:
            try:
                periods = period_close(through=as_of, closed_by="manage.py recognize_revenue")
            except ValidationError as error:
                raise CommandError("; ".join(error.messages)) from error
            months = ", ".join(f"{p.start:%Y-%m}" for p in periods)
            self.stdout.write(f"Closed {months or 'nothing new'}.")
            return
        run = revenue_recognize(as_of=as_of, triggered_by="manage.py recognize_revenue")
        self.stdout.write(
            f"{run}: {run.entries_posted} revenue entries posted across {run.contracts} contracts."
        )
