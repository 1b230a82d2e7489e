"""Browser test of the finance reports: from the admin's index to the waterfall and its CSV.

The book: Northwind's 12,000.00 annual platform subscription and 6,000.00 a year of support
billed quarterly (USD), and Contoso's 24,000.00 two-year EUR subscription, all from
1 January 2026, billed on that day and recognized through January.
"""

import csv
from datetime import date
from pathlib import Path

import pytest
from djmoney.money import Money
from playwright.sync_api import Page, expect

from billing.runs import bill_run_start
from contracts.services import contract_activate
from revenue.runs import revenue_recognize
from tests.e2e.test_revenue_pages import hide_nav_sidebar

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def book(contract_factory, contract_line_factory, product_factory, customer_factory):
    northwind = contract_factory(
        number="K-2026-042", customer=customer_factory(legal_name="Northwind Traders Inc.")
    )
    for description, months, price in (("Platform", 12, "12000.00"), ("Support", 3, "1500.00")):
        contract_line_factory(
            contract=northwind,
            description=description,
            interval_months=months,
            unit_price=Money(price, "USD"),
            product=product_factory(name=description, ssp=Money(price, "USD")),
        )
    contoso = contract_factory(
        number="K-2026-051",
        end_date=date(2027, 12, 31),
        customer=customer_factory(legal_name="Contoso GmbH", currency="EUR"),
    )
    contract_line_factory(
        contract=contoso,
        description="Analytics",
        interval_months=12,
        unit_price=Money("12000.00", "EUR"),
        product=product_factory(name="Analytics", ssp=Money("12000.00", "EUR")),
    )
    # A transactional test really commits, so the on-commit work runs by itself.
    contract_activate(contract=northwind)
    contract_activate(contract=contoso)
    bill_run_start(as_of=date(2026, 1, 1))
    revenue_recognize(as_of=date(2026, 1, 31), triggered_by="e2e")


def test_waterfall_opens_from_the_index_and_downloads_its_csv(
    admin_page: Page, live_server, screenshots: Path, book, tmp_path
):
    page = admin_page

    page.get_by_role("link", name="Finance reports").click()
    expect(page.locator("h1")).to_have_text("Finance reports")
    page.get_by_role("link", name="Revenue waterfall").click()
    page.get_by_label("As of").fill("2026-01-15")
    page.get_by_role("button", name="Show").click()

    expect(page.locator("h1")).to_have_text("Revenue waterfall")
    usd, eur = page.locator("#report-USD"), page.locator("#report-EUR")
    # USD: the platform's 12,000.00 and the support's 6,000.00, all in 2026; EUR: 12,000.00 in
    # 2026 and 12,000.00 later (the 730 days split evenly between the two years).
    expect(usd.locator("tfoot td").last).to_have_text("18,000.00")
    expect(eur.locator("tfoot td").last).to_have_text("24,000.00")
    expect(eur.locator("tfoot td").nth(-2)).to_have_text("12,000.00")
    expect(usd.locator("tbody tr")).to_have_count(1)
    expect(usd.locator("tbody tr").first).to_contain_text("Northwind Traders Inc.")
    hide_nav_sidebar(page)
    page.screenshot(path=screenshots / "report-waterfall.png", full_page=True)

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download CSV").click()
    download = download_info.value
    assert download.suggested_filename == "waterfall-2026-01-15.csv"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    with saved.open(newline="") as file:
        rows = {(row[0], row[1]): row for row in csv.reader(file)}
    assert rows[("USD", "K-2026-042")][-1] == "18000.00"
    assert rows[("EUR", "Total")][-2:] == ["12000.00", "24000.00"]
