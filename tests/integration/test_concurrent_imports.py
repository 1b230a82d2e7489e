"""Imports that run at the same moment on PostgreSQL: nothing is imported twice or half.

Each thread has its own connection, as two workers would.
"""

import pytest
from django.core.files.base import ContentFile

from contracts.imports.contracts import ContractsLayout
from contracts.models import Contract, ContractLine
from imports.engine import Mode, import_csv
from imports.jobs import import_job_run
from imports.models import ImportJob
from tests.contracts.factories import CustomerFactory, ProductFactory
from tests.integration.support import run_together

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

HEAD = "contract_number,customer_number,start_date,end_date,line_sequence,sku,unit_price,"
HEAD += "interval_months,bill_timing,bill_day_mode\n"


@pytest.fixture
def contracts_file() -> bytes:
    CustomerFactory(number="ACME")
    ProductFactory(sku="PLAT-SUB")
    rows = [
        f"K-{n},ACME,2026-01-01,2026-12-31,{seq},PLAT-SUB,40,1,advance,anniversary\n"
        for n in range(50)
        for seq in (1, 2)
    ]
    return (HEAD + "".join(rows)).encode()


def test_one_job_run_by_two_workers_at_once_imports_once(contracts_file):
    job = ImportJob.objects.create(layout="contracts", file_name="k.csv", mode=Mode.ALL_OR_NOTHING)
    job.file.save("k.csv", ContentFile(contracts_file))

    run_together(*[lambda: import_job_run(job_id=job.pk)] * 2)

    job.refresh_from_db()
    assert (job.status, job.new_rows) == (ImportJob.Status.SUCCEEDED, 100)
    assert ContractLine.objects.count() == 100
    assert ContractLine.history.filter(history_type="+").count() == 100


def test_two_uploads_of_one_file_at_once_import_it_once(contracts_file):
    reports = run_together(*[lambda: import_csv(ContractsLayout(), contracts_file)] * 2)

    assert Contract.objects.count() == 50 and ContractLine.objects.count() == 100
    assert sorted(bool(report.file_error) for report in reports) in ([False, False], [False, True])
    for report in reports:
        assert report.file_error in (
            "",
            "Another import or change wrote some of these rows at the same moment; nothing was "
            "imported. Import the file again: what is in place already shows as unchanged.",
        )
    again = import_csv(ContractsLayout(), contracts_file)
    assert again.summary() == "Imported 100 rows: 0 new, 0 updated, 100 unchanged."
