"""Browser test of Contract 360: open it from the contract page, see the position chart drawn
(Chart.js, from the page's own figures), download the CSV, and achieve a milestone in place.

The story: Contoso's 2026 analytics platform. A 36,000.00 USD yearly subscription billed
quarterly in arrears (revenue runs ahead of billing: a contract asset), an onboarding fee on
order, a 24,000.00 implementation project on 40/30/30 milestones (none achieved yet) and, from
July, 12,000.00 of premium support billed a year in advance (billing runs ahead: a contract
liability). Billed monthly and recognized through October 2026, the first invoice paid.
"""

import csv
import io
from datetime import date
from pathlib import Path

import pytest
from djmoney.money import Money
from playwright.sync_api import Page, expect

from billing.models import Invoice
from billing.payments import payment_record
from billing.runs import bill_run_start
from contracts.models import BillingModel, BillTiming, Milestone, RevenuePolicy
from contracts.services import contract_activate
from revenue.runs import revenue_recognize

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def usd(amount: str) -> Money:
    return Money(amount, "USD")


@pytest.fixture
def platform_deal(contract_factory, contract_line_factory, product_factory, customer_factory):
    """Activate, bill and recognize the story's contract; pay its first invoice."""
    customer = customer_factory(legal_name="Contoso Pharmaceuticals", delivery_method="none")
    contract = contract_factory(
        number="K-2026-360",
        title="Analytics platform 2026",
        customer=customer,
        signed_date=date(2025, 12, 12),
        start_date=date(2026, 1, 1),
        end_date=date(2026, 12, 31),
    )

    def product(name: str, ssp: str, model: str, policy: str):
        return product_factory(
            name=name, ssp=usd(ssp), default_billing_model=model, revenue_policy=policy
        )

    contract_line_factory(
        contract=contract,
        product=product("Analytics platform", "3000", BillingModel.SUBSCRIPTION, "ratable"),
        quantity=3,
        unit_price=usd("3000"),
        interval_months=3,
        bill_timing=BillTiming.ARREARS,
    )
    contract_line_factory(
        contract=contract,
        one_time=True,
        product=product("Onboarding", "2500", BillingModel.ONE_TIME, RevenuePolicy.POINT_IN_TIME),
        unit_price=usd("2000"),
    )
    project = contract_line_factory(
        contract=contract,
        milestone=True,
        product=product("Implementation", "24000", BillingModel.MILESTONE, RevenuePolicy.MILESTONE),
        unit_price=usd("24000"),
    )
    contract_line_factory(
        contract=contract,
        product=product("Premium support", "12000", BillingModel.SUBSCRIPTION, "ratable"),
        unit_price=usd("12000"),
        interval_months=12,
        service_start=date(2026, 7, 1),
        service_end=date(2027, 6, 30),
    )
    plan = [("Design sign-off", 40, date(2026, 2, 16)), ("Build complete", 30, date(2026, 6, 15))]
    plan.append(("Go-live", 30, date(2027, 1, 15)))
    for sequence, (name, percent, planned) in enumerate(plan, start=1):
        Milestone.objects.create(
            line=project,
            sequence=sequence,
            name=name,
            planned_date=planned,
            percent=percent,
            amount=usd("24000") * percent / 100,
        )
    # A transactional test really commits, so the on-commit work runs by itself.
    contract_activate(contract=contract)
    for month in range(1, 11):
        bill_run_start(as_of=date(2026, month, 1), triggered_by="tests")
    revenue_recognize(as_of=date(2026, 10, 31), triggered_by="tests")
    first = Invoice.objects.filter(customer=customer).order_by("invoice_date", "pk").first()
    payment_record(
        customer=customer,
        amount=first.total,
        received_on=date(2026, 2, 2),
        method="bank_transfer",
        reference="WIRE-5521",
        invoices=[first],
    )
    return contract


def test_open_contract_360_from_the_contract_page_and_see_its_position(
    admin_page: Page, live_server, screenshots: Path, platform_deal
):
    page = admin_page
    page.goto(f"{live_server.url}/admin/contracts/contract/{platform_deal.pk}/change/")

    page.get_by_role("link", name="Contract 360").click()

    expect(page).to_have_url(f"{live_server.url}/admin/contracts/contract/{platform_deal.pk}/360/")
    expect(page.locator("h1.c360-title")).to_contain_text("K-2026-360")
    expect(page.locator(".c360-meta")).to_contain_text("Contoso Pharmaceuticals")
    chart = page.locator("#position-chart")
    expect(chart).to_have_attribute("data-rendered", "true")
    drawn = chart.evaluate(
        "canvas => canvas.chart.data.datasets.map(d => [d.label, d.data.length])"
    )
    months = page.locator("#position-table tbody tr")
    labels = months.locator("td:first-child").all_inner_texts()
    assert labels == [f"{date(2026, month, 1):%b %Y}" for month in range(1, 11)]
    assert drawn == [["Billed to date", 10], ["Recognized to date", 10]]
    # Both sides of the balance sheet appear: arrears billing runs behind, support ahead.
    sides = page.locator("#position-table td.rev-side").all_inner_texts()
    assert "asset" in sides and "liability" in sides
    expect(page.locator("#invoice-table tbody tr").first).to_contain_text("INV-2026-")
    expect(page.locator("#payments")).to_contain_text("WIRE-5521")
    expect(page.locator("#milestones")).to_contain_text("Go-live")
    expect(page.locator("#position-card")).to_contain_text("Contract liability")
    page.screenshot(path=screenshots / "contract-360.png", full_page=True)
    page.locator("#position").screenshot(path=screenshots / "contract-360-position.png")

    with page.expect_download() as download:
        page.locator("#position-csv").click()
    rows = list(csv.reader(io.StringIO(Path(download.value.path()).read_text())))
    assert rows[0][:3] == ["month", "currency", "billed"]
    assert [row[0] for row in rows[1:]] == [f"2026-{month:02d}" for month in range(1, 11)]
    assert rows[1][:3] == ["2026-01", "USD", "2000.00"]  # the onboarding fee, billed on order
    last = page.locator("#position-table tbody tr").last.locator("td")
    expect(last.nth(5)).to_have_text(f"{abs(float(rows[-1][6])):,.2f}")


def test_achieve_a_milestone_from_contract_360_and_come_back_to_it(
    admin_page: Page, live_server, platform_deal
):
    page = admin_page
    page.goto(f"{live_server.url}/admin/contracts/contract/{platform_deal.pk}/360/")

    design = page.locator("#milestones tr.ms-row", has_text="Design sign-off")
    design.get_by_role("button", name="Achieve").click()

    expect(page).to_have_url(
        f"{live_server.url}/admin/contracts/contract/{platform_deal.pk}/360/#milestones"
    )
    invoice = Invoice.objects.exclude(number="").order_by("-pk").first()
    expect(page.locator(".messagelist .success")).to_contain_text(
        f"Design sign-off is invoiced: invoice {invoice.number}"
    )
    design = page.locator("#milestones tr.ms-row", has_text="Design sign-off")
    expect(design.get_by_role("link", name=invoice.number)).to_be_visible()
    expect(page.locator("#invoice-table")).to_contain_text(invoice.number)
