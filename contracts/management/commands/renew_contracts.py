"""``manage.py renew_contracts``: the daily renewals and renewal notices, without Celery beat."""

from datetime import date

from django.core.management.base import BaseCommand
from django.utils import timezone

from contracts.renewal_notices import renewal_notices_send
from contracts.renewals import contracts_due_for_renewal, renewals_renew_due


class Command(BaseCommand):
    help = (
        "Renew the auto-renew contracts whose term ends on or before --as-of (default: today), "
        "then email the renewal notices due. Safe to run twice: a renewed term or a sent notice "
        "is not repeated."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--as-of", type=date.fromisoformat, help="YYYY-MM-DD; default today")

    def handle(self, *args, as_of: date | None, **options) -> None:
        as_of = as_of or timezone.localdate()
        ids = list(contracts_due_for_renewal(as_of=as_of).values_list("pk", flat=True))
        run = renewals_renew_due(contract_ids=ids, as_of=as_of)
        for contract_id, error in run.errors.items():
            self.stderr.write(f"Contract {contract_id} not renewed: {error}")
        sent = renewal_notices_send(as_of=as_of)
        self.stdout.write(
            f"As of {as_of}: {run.renewed} term(s) renewed, {len(run.errors)} refused; "
            f"{sent} renewal notice(s) sent."
        )
