"""Browser tests of milestone billing in the admin: the contract page's progress widget and its
one-click Achieve, the milestones list across contracts and a line's schedule editor.

One project carries the story: Fabrikam's 120,000.00 USD ERP implementation on the 30/40/30
template. Design sign-off was achieved and invoiced; Build complete is past its planned date
(overdue); Go-live is planned. A 10,000.00 data migration line is split in halves. The contract is
capped at 130,000.00, raised by an approved 10,000.00 change order. Dates are relative to today,
as the widget's "overdue" and the button's "achieved today" are.
"""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from djmoney.money import Money
from playwright.sync_api import Page, expect

from billing.milestones import milestone_achieve
from billing.models import Invoice
from contracts.models import BillingModel, ChangeOrder, Milestone
from contracts.services import contract_activate

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def usd(amount: str) -> Money:
    return Money(amount, "USD")


@pytest.fixture
def erp_project(contract_factory, contract_line_factory, product_factory, customer_factory):
    """Activate the story's project and achieve (and invoice) its first milestone."""
    today = timezone.localdate()
    contract = contract_factory(
        number="K-2026-077",
        title="ERP implementation",
        customer=customer_factory(legal_name="Fabrikam Industries Ltd."),
        start_date=today - timedelta(days=150),
        end_date=today + timedelta(days=215),
        not_to_exceed=usd("130000.00"),
        cost_budget=usd("90000.00"),
    )
    product = product_factory(
        name="Implementation services",
        ssp=usd("120000.00"),
        default_billing_model=BillingModel.MILESTONE,
    )
    # Each line: its description, its value, and its milestones (name, percent, days from today).
    lines = [
        (
            "ERP implementation",
            "120000.00",
            [("Design sign-off", 30, -120), ("Build complete", 40, -10), ("Go-live", 30, 60)],
        ),
        ("Data migration", "10000.00", [("Migration plan", 50, 12), ("Cutover", 50, 70)]),
    ]
    for line_sequence, (description, value, plan) in enumerate(lines, start=1):
        line = contract_line_factory(
            contract=contract,
            sequence=line_sequence,
            milestone=True,
            product=product,
            description=description,
            unit_price=usd(value),
        )
        for sequence, (name, percent, offset) in enumerate(plan, start=1):
            Milestone.objects.create(
                line=line,
                sequence=sequence,
                name=name,
                planned_date=today + timedelta(days=offset),
                percent=percent,
                amount=line.unit_price * percent / 100,
            )
    ChangeOrder.objects.create(
        contract=contract,
        reference="CO-1",
        reason="Two more interfaces",
        not_to_exceed_increase=usd("10000.00"),
        requested_by="pm",
        approved_by="cfo",
        approved_at=timezone.now(),
    )
    # A transactional test really commits, so the on-commit work runs by itself.
    contract_activate(contract=contract)
    milestone_achieve(
        milestone=Milestone.objects.get(name="Design sign-off"),
        achieved_on=today - timedelta(days=118),
        achieved_by="pm",
        reference="PSA-1041",
    )
    return contract


def test_the_contract_page_shows_the_widget_and_achieves_a_milestone_in_one_click(
    admin_page: Page, live_server, screenshots: Path, erp_project
):
    page = admin_page

    page.goto(f"{live_server.url}/admin/contracts/contract/{erp_project.pk}/change/")

    widget = page.locator("#milestones")
    expect(widget).to_be_visible()
    erp = widget.locator("section.ms-line").first
    expect(erp.locator("h3")).to_have_text("Line 1 · ERP implementation")
    expect(erp.locator(".ms-done")).to_have_text("30% achieved")
    expect(erp.locator(".ms-tally-invoiced .ms-tally-figure")).to_have_text("$36,000.00")
    expect(erp.locator(".ms-tally-next .ms-next-name")).to_have_text("Build complete")
    expect(erp.locator(".ms-tally-overdue")).to_contain_text("1 planned milestone past its date")
    build = erp.locator("tr.ms-row", has_text="Build complete")
    expect(build.locator("td.ms-overdue")).to_contain_text("overdue")
    expect(build.locator("td.ms-overdue")).to_have_css("color", "rgb(186, 33, 33)")
    expect(erp.locator("tr.ms-row", has_text="Design sign-off")).to_contain_text("Invoiced")
    expect(page.locator("#budget .ms-budget-nte .ms-tally-figure")).to_have_text("$140,000.00")
    expect(page.locator("#budget .ms-budget-scheduled .ms-tally-figure")).to_have_text(
        "$130,000.00"
    )
    page.locator(".ms").screenshot(path=screenshots / "milestones-widget.png")

    build.get_by_role("button", name="Achieve").click()

    message = page.locator(".messagelist .success")
    expect(message).to_contain_text(re.compile(r"Build complete is invoiced: invoice \S+"))
    invoice = Invoice.objects.exclude(number=None).order_by("-pk").first()
    expect(message.get_by_role("link", name=invoice.number)).to_be_visible()
    expect(page).to_have_url(
        f"{live_server.url}/admin/contracts/contract/{erp_project.pk}/change/#milestones"
    )
    build = page.locator("#milestones tr.ms-row", has_text="Build complete")
    expect(build).to_contain_text("Invoiced")
    expect(build.get_by_role("link", name=invoice.number)).to_be_visible()
    expect(page.locator("#milestones .ms-line").first.locator(".ms-done")).to_have_text(
        "70% achieved"
    )


def test_the_milestones_list_and_the_schedule_editor(
    admin_page: Page, live_server, screenshots: Path, erp_project
):
    page = admin_page

    page.goto(f"{live_server.url}/admin/contracts/milestone/")
    page.get_by_role("link", name="Overdue").click()
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Build complete")
    expect(rows.first.locator(".ms-overdue")).to_be_visible()
    page.locator("#changelist-filter details", has_text="By due").get_by_role(
        "link", name="All", exact=True
    ).click()
    expect(rows).to_have_count(5)
    page.locator("#toggle-nav-sidebar").click()  # folded on every page from here on
    page.screenshot(path=screenshots / "milestones-list.png", full_page=True)

    page.goto(f"{live_server.url}/admin/contracts/contract/{erp_project.pk}/change/")
    page.locator("#milestones .ms-line").nth(1).get_by_role("link", name="Edit schedule").click()
    expect(page.locator("h1")).to_have_text("Milestone schedule of K-2026-077, line 2")
    # Two planned rows and a blank one; the admin's inlines.js adds a fourth, left blank rows
    # are skipped.
    page.get_by_role("button", name="Add another milestone").click()
    page.locator("#id_milestones-3-name").fill("Hypercare")
    page.locator("#id_milestones-3-planned_date").fill(
        (timezone.localdate() + timedelta(days=100)).isoformat()
    )
    page.locator("#id_milestones-3-amount").fill("1000")
    page.get_by_role("button", name="Save schedule").click()

    # 50% + 50% + 1,000.00 is more than the line's 10,000.00: refused with both figures.
    expect(page.locator("#schedule-errors")).to_contain_text(
        "The milestones sum to 11,000.00 USD but the line's value is 10,000.00 USD"
    )
    page.screenshot(path=screenshots / "milestones-schedule.png", full_page=True)
    page.locator("#id_milestones-1-percent").fill("40")
    page.get_by_role("button", name="Save schedule").click()

    expect(page.locator(".messagelist .success")).to_have_text(
        "Saved the schedule of line 2: 3 planned milestone(s)."
    )
    migration = page.locator("#milestones .ms-line").nth(1)
    expect(migration.locator("tr.ms-row")).to_have_count(3)
    expect(migration.locator("tr.ms-row", has_text="Hypercare")).to_contain_text("$1,000.00")
    expect(migration.locator(".ms-warning")).to_have_count(0)
