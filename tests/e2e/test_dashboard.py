"""Browser test of the dashboard: log in, land on it, see its charts drawn, download a CSV.

The book, all from 2026: Northwind's 12,000.00 a year billed yearly, Contoso's 2,500.00 a month,
Fabrikam's 4,500.00 a quarter from February (USD); Litware's 1,800.00 a month (EUR); a USD
project with a milestone overdue and one due soon; a customer on billing hold. Billed on the
first of January, February and March, recognized through February.
"""

import csv
from datetime import date
from pathlib import Path

import pytest
from djmoney.money import Money
from playwright.sync_api import Page, expect

from billing.runs import bill_run_start
from contracts.models import Contract, Milestone
from contracts.services import contract_activate
from revenue.runs import revenue_recognize
from tests.e2e.conftest import admin_login
from tests.e2e.test_revenue_pages import hide_nav_sidebar

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def book(contract_factory, contract_line_factory, product_factory, customer_factory):
    def deal(customer, price, currency="USD", months=1, start=date(2026, 1, 1), **customer_kw):
        contract = contract_factory(
            customer=customer_factory(legal_name=customer, currency=currency, **customer_kw),
            start_date=start,
        )
        contract_line_factory(
            contract=contract,
            description="Platform subscription",
            interval_months=months,
            unit_price=Money(price, currency),
            product=product_factory(ssp=Money(price, currency) * 12 / months),
        )
        return contract

    contracts = [
        deal("Northwind Traders", "12000.00", months=12),
        deal("Contoso Ltd", "2500.00"),
        deal("Fabrikam Inc.", "4500.00", months=3, start=date(2026, 2, 1)),
        deal("Litware GmbH", "1800.00", currency="EUR"),
        deal("Tailspin Toys", "900.00", billing_hold=True),
    ]
    project = contract_factory(
        customer=customer_factory(legal_name="Proseware Analytics"), number="K-PROJ-7"
    )
    line = contract_line_factory(
        contract=project, milestone=True, unit_price=Money("30000.00", "USD")
    )
    for sequence, name, planned, amount in (
        (1, "Design signed off", date(2026, 2, 20), "9000.00"),
        (2, "Build complete", date(2026, 3, 18), "12000.00"),
        (3, "Go-live accepted", date(2026, 6, 1), "9000.00"),
    ):
        Milestone.objects.create(
            line=line,
            sequence=sequence,
            name=name,
            planned_date=planned,
            amount=Money(amount, "USD"),
        )
    # A transactional test really commits, so the on-commit work runs by itself.
    for contract in [*contracts, project]:
        contract_activate(contract=contract)
    for month in (1, 2, 3):
        bill_run_start(as_of=date(2026, month, 1))
    revenue_recognize(as_of=date(2026, 2, 28), triggered_by="e2e")
    return Contract.objects.all()


def test_log_in_land_on_the_dashboard_see_its_charts_and_download_a_csv(
    page: Page, live_server, finance_user, screenshots: Path, book, tmp_path
):
    admin_login(page, live_server.url)
    expect(page.locator("#content-main h1")).to_have_text("Dashboard")

    page.get_by_label("From", exact=True).fill("2025-10")
    page.get_by_label("To", exact=True).fill("2026-03")
    page.get_by_label("As of", exact=True).fill("2026-03-01")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(
        f"{live_server.url}/admin/?currency=&customer=&first=2025-10&last=2026-03&as_of=2026-03-01"
    )

    # Chart.js comes from the app's own static files, and has drawn every chart.
    assert page.evaluate("typeof window.Chart") == "function"
    script = page.locator("script[src*='chart.umd.min.js']")
    assert script.get_attribute("src").startswith("/static/vendor/chartjs/")
    canvases = page.locator("canvas[data-block]")
    # Billings, balances, MRR and aging in each of USD and EUR.
    expect(canvases).to_have_count(8)
    expect(page.locator("canvas[data-drawn='true']")).to_have_count(8)
    expect(page.locator("#headline-USD")).to_contain_text("MRR")
    # 1,000.00 + 2,500.00 + 1,500.00 (Tailspin's hold stops billing, not its MRR) + 900.00.
    expect(page.locator("#headline-USD .dash-card-mrr").first).to_contain_text("5,900.00")
    expect(page.locator("#table-milestones-USD")).to_contain_text("Design signed off")
    expect(page.locator("#table-held-USD")).to_contain_text("Charges on billing hold")

    hide_nav_sidebar(page)
    page.screenshot(path=screenshots / "dashboard.png", full_page=True)

    with page.expect_download() as download_info:
        page.locator("#csv-mrr").click()
    download = download_info.value
    assert download.suggested_filename == "dashboard-mrr-2025-10-to-2026-03.csv"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    with saved.open(newline="") as file:
        rows = {(row[0], row[1]): row for row in csv.reader(file)}
    assert rows[("USD", "Feb 2026")][3] == "1500.00"  # Fabrikam, new in February
    assert rows[("USD", "Mar 2026")][-2:] == ["5900.00", "70800.00"]
    assert rows[("EUR", "Mar 2026")][-2] == "1800.00"
