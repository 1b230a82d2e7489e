"""``manage.py seed_demo``: build or refresh the demo book (see ``contracts.demo``)."""

from django.core.management.base import BaseCommand

from contracts.demo import BookSummary, demo_book_seed, demo_book_summary


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{key} {n}" for key, n in counts.items()) or "none"


class Command(BaseCommand):
    help = (
        "Build a realistic demo book: about 20 customers in several currencies, a catalog and "
        "about 50 contracts using all four billing models. Safe to run again: a second run "
        "changes nothing."
    )

    def handle(self, *args, **options) -> None:
        result = demo_book_seed()
        summary = demo_book_summary()
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo book seeded: {result.created} rows created, {result.updated} updated, "
                f"{result.unchanged} unchanged."
            )
        )
        self.stdout.write(self._report(summary))

    @staticmethod
    def _report(summary: BookSummary) -> str:
        return "\n".join(
            [
                f"Customers: {summary.customers} ({_counts(summary.customers_by_currency)}); "
                f"on hold: {summary.customers_on_hold}",
                f"Products: {summary.products}",
                f"Contracts: {summary.contracts} ({_counts(summary.contracts_by_status)})",
                f"Contracts per billing model: {_counts(summary.contracts_by_billing_model)}",
                f"Contracts on hold: {summary.contracts_on_hold} "
                f"(billing hold {summary.contracts_on_billing_hold}, "
                f"delivery hold {summary.contracts_on_delivery_hold})",
            ]
        )
