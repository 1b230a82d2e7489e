"""Browser test of the contract import: upload, a dry run that names each bad row, confirm.

A finance user opens Import on the contracts list, uploads a file with one bad row, reads the
problem by row and column, uploads it again keeping the good rows, confirms, and lands on the
import job's page with the outcome.
"""

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from contracts.models import BillingModel, Contract

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

TERMS = "1,advance,anniversary"
FILE = (
    "contract_number,customer_number,title,start_date,end_date,line_sequence,sku,unit_price,"
    "interval_months,bill_timing,bill_day_mode\n"
    f"ACME-2026-001,ACME,Acme platform,2026-01-01,2026-12-31,1,PLAT-SUB,40.00,{TERMS}\n"
    f"ACME-2026-001,ACME,Acme platform,2026-01-01,2026-12-31,2,SUPPORT,15.00,{TERMS}\n"
    f"ACME-2026-002,ACME,Acme support,2026-13-01,2026-12-31,1,SUPPORT,90.00,{TERMS}\n"
    f"ACME-2026-003,ACME,Acme analytics,2026-03-01,2027-02-28,1,PLAT-SUB,25.00,{TERMS}\n"
)
PROBLEM = "Row 4, column start_date: 2026-13-01 is not a date (use YYYY-MM-DD, e.g. 2026-01-31)."


@pytest.fixture
def contracts_file(tmp_path, customer_factory, product_factory) -> Path:
    customer_factory(number="ACME", legal_name="Acme Corporation", currency="USD")
    for sku in ("PLAT-SUB", "SUPPORT"):
        product_factory(sku=sku, default_billing_model=BillingModel.SUBSCRIPTION)
    path = tmp_path / "acme-contracts.csv"
    path.write_text(FILE)
    return path


def dry_run(page: Page, file: Path, mode: str) -> None:
    page.locator("#id_import_file").set_input_files(file)
    page.get_by_label(mode).check()
    page.get_by_role("button", name="Submit").click()
    heading = f"Dry run of {file.name}: nothing has been written yet"
    expect(page.get_by_role("heading", name=heading)).to_be_visible()


def test_a_bad_row_is_named_in_the_dry_run_and_the_good_rows_import_on_confirm(
    admin_page: Page, live_server, contracts_file: Path, screenshots: Path
):
    page = admin_page
    page.goto(f"{live_server.url}/admin/contracts/contract/")
    page.get_by_role("link", name="Import", exact=True).click()
    expect(page.get_by_role("heading", name="Import: Contracts with their lines")).to_be_visible()

    dry_run(page, contracts_file, "All or nothing")
    counts = page.locator(".import-counts li")
    expect(counts).to_have_text(["3 new", "0 updated", "0 unchanged", "1 with errors"])
    expect(page.locator(".import-problems li")).to_have_text([PROBLEM])
    expect(page.get_by_text("Nothing is imported while rows have errors")).to_be_visible()
    expect(page.get_by_role("button", name="Confirm import")).to_have_count(0)
    page.screenshot(path=screenshots / "import-errors.png", full_page=True)

    # The upload form is still there: the same file again, keeping the good rows.
    dry_run(page, contracts_file, "Keep good rows")
    expect(page.locator(".import-problems li")).to_have_text([PROBLEM])
    expect(page.locator("tr.invalid")).to_have_count(1)
    expect(page.locator("tr.new")).to_have_count(3)
    page.screenshot(path=screenshots / "import-preview.png", full_page=True)
    assert not Contract.objects.exists()

    page.get_by_role("button", name="Confirm import").click()
    expect(page.locator(".messagelist")).to_contain_text(
        "The import of acme-contracts.csv has started."
    )
    expect(page.locator(".field-status")).to_contain_text("Succeeded")
    page.screenshot(path=screenshots / "import-job.png", full_page=True)
    assert sorted(Contract.objects.values_list("number", flat=True)) == [
        "ACME-2026-001",
        "ACME-2026-003",
    ]
