"""The admin's CSV import and export of a layout: upload, dry run, confirm as a job, export.

Driven through the contracts list with Django's test client; the other lists use the same mixin
with their own layout.
"""

import csv
import io
import re

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from billing.models import Payment, UsageRecord
from contracts.imports.contracts import ContractsLayout
from contracts.models import BillingModel, Contract, ContractLine, Customer, Milestone, Product
from imports.engine import Mode, import_csv
from imports.models import ImportJob
from imports.registry import layout_class
from tests.admin_urls import admin_url

pytestmark = pytest.mark.django_db

HEAD = "contract_number,customer_number,title,start_date,end_date,line_sequence,sku,unit_price,"
HEAD += "interval_months,bill_timing,bill_day_mode\n"
GOOD = (
    HEAD
    + "K-1,ACME,Platform,2026-01-01,2026-12-31,1,PLAT-SUB,40.00,1,advance,anniversary\n"
    + "K-1,ACME,Platform,2026-01-01,2026-12-31,2,PLAT-SUB,15.00,1,advance,anniversary\n"
    # A title a spreadsheet would run as a formula: stored as text, exported escaped.
    + "K-2,ACME,=1+1,2026-02-01,2027-01-31,1,PLAT-SUB,99.00,1,advance,anniversary\n"
)
# One good row, then a bad date, an unknown product and an amount that is not a number.
BAD = (
    HEAD
    + "K-1,ACME,Platform,2026-01-01,2026-12-31,1,PLAT-SUB,40.00,1,advance,anniversary\n"
    + "K-2,ACME,Support,2026-13-01,2026-12-31,1,PLAT-SUB,40.00,1,advance,anniversary\n"
    + "K-3,ACME,Support,2026-01-01,2026-12-31,1,NOPE,40.00,1,advance,anniversary\n"
    + "K-4,ACME,Support,2026-01-01,2026-12-31,1,PLAT-SUB,forty,1,advance,anniversary\n"
)
BAD_PROBLEMS = [
    "Row 3, column start_date: 2026-13-01 is not a date (use YYYY-MM-DD, e.g. 2026-01-31).",
    "Row 4, column sku: no product has the SKU NOPE.",
    "Row 5, column unit_price: forty is not a number (e.g. 1250.00).",
]


@pytest.fixture
def book(customer_factory, product_factory):
    customer_factory(number="ACME", currency="USD")
    product_factory(sku="PLAT-SUB", default_billing_model=BillingModel.SUBSCRIPTION)


def upload(client, text: str, mode: str = Mode.ALL_OR_NOTHING):
    return client.post(
        admin_url(Contract, "import"),
        {
            "format": "0",
            "resource": "0",
            "mode": mode,
            "import_file": SimpleUploadedFile("contracts.csv", text.encode(), "text/csv"),
        },
    )


def counts(page: str) -> list[str]:
    """The dry run's counts as the page shows them."""
    return re.findall(r'<li class="(?:new|update|skip|invalid)">([^<]*)</li>', page)


def confirm(client, dry_run):
    form = dry_run.context["confirm_form"]
    return client.post(
        admin_url(Contract, "process_import"),
        {name: form[name].value() for name in form.fields},
    )


def test_a_good_file_is_previewed_then_imported_by_a_job_once_confirmed(
    book, staff_client, django_capture_on_commit_callbacks
):
    dry_run = upload(staff_client, GOOD)

    page = dry_run.content.decode()
    assert counts(page) == ["3 new", "0 updated", "0 unchanged", "0 with errors"]
    assert [row.diff[:4] for row in dry_run.context["result"].rows] == [
        [2, "K-1", "ACME", "Platform"],
        [3, "K-1", "ACME", "Platform"],
        [4, "K-2", "ACME", "=1+1"],
    ]
    assert "Confirm import" in page
    assert not Contract.objects.exists()  # a dry run writes nothing

    with django_capture_on_commit_callbacks(execute=True):
        confirmed = confirm(staff_client, dry_run)

    job = ImportJob.objects.get()
    assert confirmed.url == reverse("admin:imports_importjob_change", args=[job.pk])
    assert (job.layout, job.mode, job.status, job.new_rows) == (
        "contracts",
        Mode.ALL_OR_NOTHING,
        ImportJob.Status.SUCCEEDED,
        3,
    )
    assert job.uploaded_by.username == "finance"
    assert sorted(ContractLine.objects.values_list("contract__number", "sequence")) == [
        ("K-1", 1),
        ("K-1", 2),
        ("K-2", 1),
    ]
    assert Contract.objects.get(number="K-2").title == "=1+1"
    job_page = staff_client.get(confirmed.url).content.decode()
    assert "The import of contracts.csv has started." in job_page


def test_every_bad_row_is_listed_and_all_or_nothing_offers_no_confirm(book, staff_client):
    dry_run = upload(staff_client, BAD)

    page = dry_run.content.decode()
    assert dry_run.context["problems"] == BAD_PROBLEMS
    assert all(problem in page for problem in BAD_PROBLEMS)
    assert counts(page) == ["1 new", "0 updated", "0 unchanged", "3 with errors"]
    assert "confirm_form" not in dry_run.context and "Confirm import" not in page
    assert "Nothing is imported while rows have errors" in page

    errors_file = staff_client.get(dry_run.context["errors_file_url"])
    rows = list(csv.reader(io.StringIO(errors_file.content.decode("utf-8-sig"))))
    assert rows[0] == [*HEAD.strip().split(","), "errors"]
    assert [(row[0], row[-1]) for row in rows[1:]] == [
        ("K-2", BAD_PROBLEMS[0]),
        ("K-3", BAD_PROBLEMS[1]),
        ("K-4", BAD_PROBLEMS[2]),
    ]
    assert errors_file["Content-Disposition"] == 'attachment; filename="contracts-errors.csv"'


def test_keep_good_rows_confirms_despite_bad_rows_and_imports_the_others(
    book, staff_client, django_capture_on_commit_callbacks
):
    dry_run = upload(staff_client, BAD, mode=Mode.KEEP_GOOD_ROWS)

    page = dry_run.content.decode()
    assert dry_run.context["problems"] == BAD_PROBLEMS
    assert "Confirm to import the 1 row without errors; the 3 with errors are left out." in (
        " ".join(page.split())
    )
    assert not Contract.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        confirm(staff_client, dry_run)

    job = ImportJob.objects.get()
    assert (job.mode, job.new_rows, job.error_rows) == (Mode.KEEP_GOOD_ROWS, 1, 3)
    assert list(Contract.objects.values_list("number", flat=True)) == ["K-1"]


def test_a_file_that_cannot_be_read_says_why_and_offers_no_confirm(book, staff_client):
    dry_run = upload(staff_client, "contract_number;sku\nK-1;PLAT-SUB\n", Mode.KEEP_GOOD_ROWS)

    page = dry_run.content.decode()
    assert "Nothing can be imported: Row 1 (the header): missing column(s): customer_number" in (
        page
    )
    assert "confirm_form" not in dry_run.context


def test_the_export_has_the_layout_columns_and_imports_back_as_no_change(book, staff_client):
    import_csv(ContractsLayout(), GOOD.encode())

    everything = staff_client.get(admin_url(Contract, "export"))
    only_k1 = staff_client.get(admin_url(Contract, "export"), {"q": "K-1"})

    assert everything["Content-Disposition"] == (
        f'attachment; filename="contracts-{timezone.localdate():%Y-%m-%d}.csv"'
    )
    rows = list(csv.DictReader(io.StringIO(everything.content.decode())))
    assert list(rows[0]) == ContractsLayout.column_names()
    assert [(row["contract_number"], row["line_sequence"], row["title"]) for row in rows] == [
        ("K-1", "1", "Platform"),
        ("K-1", "2", "Platform"),
        ("K-2", "1", "'=1+1"),  # escaped, so a spreadsheet shows it rather than runs it
    ]
    assert [
        row["contract_number"] for row in csv.DictReader(io.StringIO(only_k1.content.decode()))
    ] == [
        "K-1",
        "K-1",
    ]

    again = upload(staff_client, everything.content.decode())
    totals = again.context["result"].totals
    assert (totals["new"], totals["update"], totals["skip"], totals["invalid"]) == (0, 0, 3, 0)


def test_importing_takes_the_add_permission(book, django_user_model, staff_client):
    client = Client()
    clerk = django_user_model.objects.create_user("clerk", is_staff=True)
    clerk.user_permissions.set(
        Permission.objects.filter(codename__in=["view_contract", "change_contract"])
    )
    client.force_login(clerk)

    assert client.get(admin_url(Contract, "import")).status_code == 403
    assert upload(client, GOOD).status_code == 403
    changelist = client.get(admin_url(Contract, "changelist")).content.decode()
    assert 'class="import_link"' not in changelist and 'class="export_link"' in changelist

    # A dry run's errors file is the uploader's: another importer cannot fetch it.
    errors_file_url = upload(staff_client, BAD).context["errors_file_url"]
    clerk.user_permissions.add(Permission.objects.get(codename="add_contract"))
    clerk = django_user_model.objects.get(pk=clerk.pk)  # a fresh permission cache
    client.force_login(clerk)
    assert client.get(admin_url(Contract, "import")).status_code == 200
    assert client.get(errors_file_url).status_code == 403


@pytest.mark.parametrize(
    ("model", "layout"),
    [
        (Customer, "customers"),
        (Product, "products"),
        (Contract, "contracts"),
        (Milestone, "milestones"),
        (UsageRecord, "usage"),
        (Payment, "payments"),
    ],
)
def test_each_list_imports_and_exports_its_layout(model, layout, staff_client):
    columns = layout_class(layout).column_names()

    upload_page = staff_client.get(admin_url(model, "import"))
    export = staff_client.get(admin_url(model, "export"))

    assert upload_page.context["layout"] is layout_class(layout)
    assert export.content.decode() == ",".join(columns) + "\r\n"
    changelist = staff_client.get(admin_url(model, "changelist")).content.decode()
    assert 'class="import_link"' in changelist  # usage records too, read-only as they are


def test_a_long_list_of_problems_is_cut_short_and_points_to_the_errors_file(
    book, staff_client, monkeypatch
):
    monkeypatch.setattr("imports.admin_mixin.PROBLEMS_SHOWN", 2)

    dry_run = upload(staff_client, BAD)

    page = " ".join(dry_run.content.decode().split())
    assert dry_run.context["problems"] == BAD_PROBLEMS[:2]
    assert BAD_PROBLEMS[2] not in page
    assert "… and 1 more: <a href=" in page
