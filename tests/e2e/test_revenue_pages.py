"""Browser tests of the revenue finance pages: a contract's revenue and the trial balance.

One contract carries the story: a 12,000.00 platform subscription billed yearly in advance, a
quarterly support plan (6,000.00 a year) and a 3,000.00 onboarding sold below its 4,000.00 SSP,
so relative SSP spreads the discount. Billed and recognized through June 2026, it shows a
contract liability (billed ahead of the work) and a schedule half recognized, half planned.
"""

from datetime import date
from pathlib import Path

import pytest
from djmoney.money import Money
from playwright.sync_api import Page, expect

from billing.runs import bill_run_start
from contracts.models import BillingModel, RevenuePolicy
from contracts.services import contract_activate
from revenue.runs import revenue_recognize

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def usd(amount: str) -> Money:
    return Money(amount, "USD")


@pytest.fixture
def platform_deal(contract_factory, contract_line_factory, product_factory, customer_factory):
    """Activate, bill and recognize the story's contract through 30 June 2026."""
    contract = contract_factory(
        number="K-2026-042",
        title="Platform, support and onboarding",
        customer=customer_factory(legal_name="Northwind Traders Inc."),
    )
    contract_line_factory(
        contract=contract,
        sequence=1,
        description="Platform subscription (annual)",
        interval_months=12,
        unit_price=usd("12000.00"),
        product=product_factory(name="Platform", ssp=usd("12000.00")),
    )
    contract_line_factory(
        contract=contract,
        sequence=2,
        description="Premium support (quarterly)",
        interval_months=3,
        unit_price=usd("1500.00"),
        product=product_factory(name="Premium support", ssp=usd("1500.00")),
    )
    contract_line_factory(
        contract=contract,
        sequence=3,
        description="Onboarding",
        one_time=True,
        unit_price=usd("3000.00"),
        product=product_factory(
            name="Onboarding",
            ssp=usd("4000.00"),
            default_billing_model=BillingModel.ONE_TIME,
            revenue_policy=RevenuePolicy.POINT_IN_TIME,
        ),
    )
    # And a EUR customer with 19 % tax, so the trial balance has two currencies and a tax line.
    emea = contract_factory(
        number="K-2026-051",
        customer=customer_factory(legal_name="Contoso GmbH", currency="EUR", tax_rate=19),
    )
    contract_line_factory(
        contract=emea,
        description="Data migration",
        one_time=True,
        unit_price=Money("8000.00", "EUR"),
        product=product_factory(
            name="Data migration",
            ssp=Money("8000.00", "EUR"),
            default_billing_model=BillingModel.ONE_TIME,
            revenue_policy=RevenuePolicy.POINT_IN_TIME,
        ),
    )
    # A transactional test really commits, so the on-commit work runs by itself.
    contract_activate(contract=contract)
    contract_activate(contract=emea)
    # Each run on its own day, so every invoice is dated (and posted) when it fell due.
    for day in (date(2026, 1, 1), date(2026, 4, 1)):
        bill_run_start(as_of=day)
    revenue_recognize(as_of=date(2026, 6, 30), triggered_by="e2e")
    return contract


def hide_nav_sidebar(page: Page) -> None:
    """Fold the admin's app list away, as a user reading wide tables would, for the screenshot."""
    page.locator("#toggle-nav-sidebar").click()
    expect(page.locator("#nav-sidebar")).to_be_hidden()


def test_contract_revenue_page_shows_allocation_schedule_and_position(
    admin_page: Page, live_server, screenshots: Path, platform_deal
):
    page = admin_page

    page.goto(f"{live_server.url}/admin/revenue/performanceobligation/")
    page.get_by_role("link", name="Contract revenue page").first.click()
    expect(page.locator("h1")).to_have_text("Revenue of K-2026-042")
    page.get_by_label("Position as of").fill("2026-06-30")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(
        f"{live_server.url}/admin/revenue/performanceobligation/contract/{platform_deal.pk}/?as_of=2026-06-30"
    )

    expect(page.locator("#transaction-price")).to_have_text("21,000.00")
    expect(page.locator("#billed-to-date")).to_have_text("18,000.00")
    expect(page.locator("#position .rev-card-label")).to_have_text("Contract liability")
    expect(page.locator("h2", has_text="Performance obligations")).to_be_visible()
    obligations = page.locator("#obligations tbody tr")
    expect(obligations).to_have_count(3)
    expect(obligations.nth(2)).to_contain_text("Onboarding")
    expect(page.locator("#allocation-inputs")).to_contain_text("Relative SSP")
    expect(page.locator(".rev-chart svg rect.bar.billed").first).to_be_visible()
    expect(page.locator(".rev-chart svg polyline.position")).to_have_count(1)
    expect(page.locator("#schedule tbody tr")).to_have_count(12)
    expect(page.locator("#schedule .planned").first).to_be_visible()
    hide_nav_sidebar(page)
    page.screenshot(path=screenshots / "revenue-contract.png", full_page=True)


def test_trial_balance_balances_and_switches_to_one_month(
    admin_page: Page, live_server, screenshots: Path, platform_deal
):
    page = admin_page

    page.goto(f"{live_server.url}/admin/revenue/journalentry/")
    page.get_by_role("link", name="Trial balance").click()
    page.get_by_label("Cumulative through").fill("2026-06-30")
    page.get_by_role("button", name="Show balance").click()

    expect(page.locator("#content h2")).to_have_text("Cumulative through 30 June 2026")
    # EUR: 8,000.00 + 19 % tax billed and earned at once; USD: billed ahead of the work.
    eur, usd_table = page.locator("#trial-balance-EUR"), page.locator("#trial-balance-USD")
    expect(eur.locator("tbody tr")).to_have_count(4)
    expect(eur.locator("tbody tr", has_text="Sales tax payable")).to_contain_text("1,520.00")
    expect(usd_table.locator("tbody tr")).to_have_count(3)
    expect(usd_table.locator("tbody tr").first).to_contain_text("Accounts receivable")
    for table in (eur, usd_table):
        expect(table.locator("tfoot")).to_contain_text("balanced")
        debit, credit = table.locator("tfoot td.num").all_text_contents()
        assert debit == credit
    hide_nav_sidebar(page)
    page.screenshot(path=screenshots / "trial-balance.png", full_page=True)

    page.get_by_label("One month").fill("2026-04")
    page.get_by_role("button", name="Show month").click()
    expect(page.locator("#content h2")).to_have_text("April 2026")
    expect(eur).to_have_count(0)  # nothing in EUR posted to April
    expect(usd_table.locator("tfoot")).to_contain_text("balanced")
