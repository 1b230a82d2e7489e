"""Browser tests of the worklists: open the hub, achieve a milestone from its list and follow
the message to its invoice, and release a billing hold, each in place.

The book: Fabrikam's 100,000.00 USD project with "Build complete" overdue and Tailspin's with
"Design sign-off" due, a contract of Blue Yonder on billing hold with a charge kept back, a
customer on delivery hold, a draft to review and a failed import.
Dates are relative to today, as the lists' "due" is.
"""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from djmoney.money import Money
from playwright.sync_api import Page, expect

from billing.models import Invoice
from billing.runs import bill_run_start
from contracts.models import Milestone
from contracts.services import contract_activate, hold_set
from imports.models import ImportJob

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def usd(amount: str) -> Money:
    return Money(amount, "USD")


@pytest.fixture
def book(settings, contract_factory, contract_line_factory, customer_factory):
    settings.RMS_AUTO_DELIVERY = False  # no PDFs or emails to wait for
    today = timezone.localdate()
    projects = []
    for number, customer, plan in [
        (
            "K-2026-031",
            "Fabrikam Industries Ltd.",
            [("Build complete", "40000.00", -12), ("Go-live", "60000.00", 40)],
        ),
        (
            "K-2026-036",
            "Tailspin Toys Corporation",
            [("Design sign-off", "25000.00", -2), ("Rollout", "75000.00", 90)],
        ),
    ]:
        project = contract_factory(
            number=number,
            customer=customer_factory(legal_name=customer),
            start_date=today - timedelta(days=150),
            end_date=today + timedelta(days=215),
        )
        line = contract_line_factory(
            contract=project, sequence=1, milestone=True, unit_price=usd("100000.00")
        )
        for sequence, (name, amount, days) in enumerate(plan, start=1):
            Milestone.objects.create(
                line=line,
                sequence=sequence,
                name=name,
                planned_date=today + timedelta(days=days),
                amount=usd(amount),
            )
        projects.append(project)
    held = contract_factory(
        number="K-2026-044",
        customer=customer_factory(legal_name="Blue Yonder Airlines Inc."),
        start_date=today - timedelta(days=10),
        end_date=today + timedelta(days=355),
    )
    contract_line_factory(contract=held, one_time=True, unit_price=usd("2500.00"))
    reviewed = contract_factory(
        number="K-2026-052",
        customer=customer_factory(legal_name="Northwind Traders", invoice_review="review"),
        start_date=today - timedelta(days=3),
        end_date=today + timedelta(days=362),
    )
    contract_line_factory(contract=reviewed, one_time=True, unit_price=usd("1200.00"))
    for contract in (*projects, held, reviewed):
        contract_activate(contract=contract)
    hold_set(target=held, kind="billing_hold", on=True, reason="Waiting for the PO number")
    hold_set(
        target=customer_factory(legal_name="Margie's Travel Ltd"),
        kind="delivery_hold",
        on=True,
        reason="AP mailbox bounces; waiting for a new billing address",
    )
    bill_run_start(as_of=today, triggered_by="tests")
    ImportJob.objects.create(
        layout="usage",
        file_name="usage-november.csv",
        status=ImportJob.Status.FAILED,
        error_rows=3,
        problems="Row 4: quantity: 'twelve' is not a number",
    )
    return held


def test_the_hub_and_achieving_a_milestone_in_place(
    admin_page: Page, live_server, screenshots: Path, book
):
    page = admin_page
    page.goto(f"{live_server.url}/admin/worklists/")

    expect(page.locator("h1")).to_have_text("Worklists")
    cards = page.locator(".wl-card")
    page.locator("#toggle-nav-sidebar").click()  # folded on every page from here on
    expect(cards.filter(has_text="Milestones to achieve").locator(".wl-count")).to_have_text("2")
    expect(cards.filter(has_text="Invoices to review").locator(".wl-count")).to_have_text("1")
    expect(cards.filter(has_text="Holds").locator(".wl-count")).to_have_text("2")
    expect(cards.filter(has_text="Import jobs with errors").locator(".wl-count")).to_have_text("1")
    expect(cards.filter(has_text="Failed deliveries").locator(".wl-count")).to_have_text("0")
    page.screenshot(path=screenshots / "worklists.png", full_page=True)

    cards.filter(has_text="Milestones to achieve").click()
    row = page.locator("#worklist tbody tr", has_text="Build complete")
    expect(row).to_contain_text("overdue")
    expect(row).to_contain_text("40,000.00 USD")
    row.get_by_role("button", name="Achieve").click()

    message = page.locator(".messagelist .success")
    expect(message).to_contain_text(re.compile(r"Build complete is invoiced: invoice INV-\S+"))
    expect(page).to_have_url(f"{live_server.url}/admin/worklists/milestones/")
    rows = page.locator("#worklist tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Design sign-off")
    page.screenshot(path=screenshots / "worklists-achieved.png", full_page=True)

    invoice = Invoice.objects.exclude(number="").get()
    message.get_by_role("link", name=invoice.number).click()
    expect(page).to_have_url(f"{live_server.url}/admin/billing/invoice/{invoice.pk}/change/")
    expect(page.locator(".field-number")).to_contain_text(invoice.number)
    expect(page.locator(".field-total")).to_contain_text("40,000.00")


def test_releasing_a_billing_hold_in_place(admin_page: Page, live_server, screenshots, book):
    page = admin_page
    page.goto(f"{live_server.url}/admin/worklists/holds/")
    page.locator("#toggle-nav-sidebar").click()

    row = page.locator("#holds-contracts tbody tr", has_text="K-2026-044")
    expect(row).to_contain_text("Waiting for the PO number")
    expect(row).to_contain_text("1 charge due: 2,500.00 USD")
    row.get_by_role("button", name="Release billing hold").click()

    expect(page.locator(".messagelist .success")).to_have_text(
        "Released the billing hold on contract K-2026-044. Achieved milestones it kept back "
        "are invoiced now; its other charges go out with the next bill run."
    )
    expect(page.locator("#holds-contracts tbody")).to_contain_text("No contract is on hold")
    customer = page.locator("#holds-customers tbody tr", has_text="Margie's Travel Ltd")
    expect(customer.get_by_role("button", name="Release delivery hold")).to_be_visible()
    page.screenshot(path=screenshots / "worklists-hold-released.png", full_page=True)
