"""Browser tests of issue #8's contract changes: renewals, modifications, variable consideration.

Each test drives the admin as a finance user would (the worklist and its actions, the contract's
"Modify…" page and its preview, the revenue page's variable consideration section) and checks
the figures the user reads, worked by hand in the comments. Each saves the screenshot that the
matching page of docs/ shows (renewals.md, modifications.md, variable-consideration.md).
"""

import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from djmoney.money import Money
from playwright.sync_api import Page, expect

from billing.runs import bill_run_start
from contracts.models import RenewalTerms
from contracts.services import contract_activate
from revenue.runs import period_close
from tests.e2e.test_revenue_pages import hide_nav_sidebar

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def usd(amount: str) -> Money:
    return Money(amount, "USD")


def success_messages(page: Page):
    return page.locator(".messagelist .success")


# --- Renewals ------------------------------------------------------------------------------------


@pytest.fixture
def renewals_due(contract_factory, contract_line_factory, product_factory, customer_factory):
    """Two USD subscriptions whose term ends on 31 December 2026, both with renewal terms.

    Northwind: 1,200.00 a year billed yearly, auto-renews with a 3.5 % uplift, 60 days' notice.
    Contoso: 250.00 a month, no uplift, 30 days' notice; it will be marked as not renewing.
    """
    northwind = contract_factory(
        number="K-2026-042", customer=customer_factory(legal_name="Northwind Traders Inc.")
    )
    contract_line_factory(
        contract=northwind,
        sequence=1,
        description="Platform subscription (annual)",
        interval_months=12,
        unit_price=usd("1200.00"),
        product=product_factory(name="Platform", ssp=usd("1200.00")),
    )
    contoso = contract_factory(
        number="K-2026-051", customer=customer_factory(legal_name="Contoso Ltd")
    )
    contract_line_factory(
        contract=contoso,
        sequence=1,
        description="Analytics (monthly)",
        interval_months=1,
        unit_price=usd("250.00"),
        product=product_factory(name="Analytics", ssp=usd("250.00")),
    )
    # A transactional test really commits, so the on-commit work runs by itself.
    for contract in (northwind, contoso):
        contract_activate(contract=contract)
    RenewalTerms.objects.create(
        contract=northwind, auto_renew=True, uplift_percent=Decimal("3.5"), notice_days=60
    )
    RenewalTerms.objects.create(contract=contoso, uplift_percent=Decimal(0), notice_days=30)
    return northwind, contoso


def test_renewal_worklist_marks_one_not_renewing_and_renews_the_other_with_its_uplift(
    admin_page: Page, live_server, screenshots: Path, renewals_due
):
    northwind, contoso = renewals_due
    page = admin_page

    page.get_by_role("link", name="Renewal worklist").click()
    expect(page.locator("h1")).to_have_text("Select renewal to change")
    # The default window (terms ending within 90 days of today, or already ended) moves with
    # the clock; "Any time" lists every active fixed-term contract, earliest term end first.
    page.locator("#changelist-filter").get_by_role("link", name="Any time").click()
    expect(page).to_have_url(re.compile(r"within=any"))
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(2)
    nw_row = rows.filter(has=page.get_by_role("link", name="K-2026-042", exact=True))
    co_row = rows.filter(has=page.get_by_role("link", name="K-2026-051", exact=True))
    # Both terms end on 31 Dec 2026, so the rows follow the contract number.
    expect(rows.nth(0).locator(".field-contract_link")).to_have_text("K-2026-042")
    expect(nw_row.locator(".field-customer")).to_contain_text("Northwind Traders Inc.")
    # Notice by: 31 Dec 2026 minus 60 days = 1 Nov 2026; annual value 1,200.00 x 12 / 12.
    expect(nw_row.locator(".field-notice_by")).to_have_text("Nov. 1, 2026")
    expect(nw_row.locator(".field-auto_renews img")).to_have_attribute("alt", "True")
    expect(nw_row.locator(".field-yearly_value")).to_have_text("1,200.00 USD")
    expect(nw_row.locator(".field-uplift")).to_have_text("3.5%")
    expect(nw_row.locator(".field-decision")).to_have_text("Pending")
    # Contoso: 31 Dec minus 30 days = 1 Dec 2026; 250.00 a month x 12 / 1 = 3,000.00 a year.
    expect(co_row.locator(".field-notice_by")).to_have_text("Dec. 1, 2026")
    expect(co_row.locator(".field-auto_renews img")).to_have_attribute("alt", "False")
    expect(co_row.locator(".field-yearly_value")).to_have_text("3,000.00 USD")
    expect(co_row.locator(".field-uplift")).to_have_text("0%")

    # Contoso's customer is not renewing: the action asks why before it records the decision.
    co_row.locator("input.action-select").check()
    page.locator("select[name=action]").select_option(label="Mark selected as not renewing…")
    page.get_by_role("button", name="Go").click()
    expect(page.locator("h1")).to_have_text("Mark contracts as not renewing")
    expect(page.locator("#content-main li")).to_have_text(
        "K-2026-051 · Contoso Ltd · ends 2026-12-31"
    )
    page.get_by_label("Reason").fill("Budget cut for 2027")
    page.get_by_role("button", name="Mark as not renewing").click()
    expect(success_messages(page)).to_have_text("Marked 1 contract(s) as not renewing.")
    expect(co_row.locator(".field-decision")).to_have_text("Not renewing: Budget cut for 2027")

    # Renew Northwind: the confirmation proposes 1,200.00 x 1.035 = 1,242.00 for the new term.
    nw_row.locator("input.action-select").check()
    page.locator("select[name=action]").select_option(label="Renew selected contracts…")
    page.get_by_role("button", name="Go").click()
    expect(page.locator("h1")).to_have_text("Renew contracts")
    [line] = northwind.lines.all()
    confirm_row = page.locator("#content-main table tbody tr")
    expect(confirm_row).to_have_count(1)
    expect(confirm_row).to_contain_text("K-2026-042")
    expect(confirm_row).to_contain_text("2026-12-31")
    expect(confirm_row).to_contain_text("12 months")
    expect(confirm_row).to_contain_text("1 · Platform subscription (annual)")
    expect(confirm_row.locator("td").nth(5)).to_contain_text("1,200.00")
    expect(page.locator(f"input[name=price_{line.pk}]")).to_have_value("1242.00")
    expect(page.get_by_label("Uplift (%) for every contract")).to_have_value("")
    hide_nav_sidebar(page)
    page.screenshot(path=screenshots / "renewal-worklist.png", full_page=True)

    page.get_by_role("button", name="Renew", exact=True).click()
    # Prices left as proposed: renewed at the contract's own uplift, for 12 more months.
    expect(success_messages(page)).to_have_text("K-2026-042 renewed to 2027-12-31 (+3.5%).")
    # Renewed, the contract's term now ends 31 Dec 2027 (listed after Contoso's 2026 end) and
    # the new term's decision is pending again.
    expect(rows).to_have_count(2)
    expect(rows.nth(1).locator(".field-contract_link")).to_have_text("K-2026-042")
    expect(nw_row.locator(".field-end_date")).to_have_text("Dec. 31, 2027")
    expect(nw_row.locator(".field-notice_by")).to_have_text("Nov. 1, 2027")
    expect(nw_row.locator(".field-decision")).to_have_text("Pending")
    # Its annual value is now the new line's: 1,242.00 x 12 / 12.
    expect(nw_row.locator(".field-yearly_value")).to_have_text("1,242.00 USD")

    # The contract page lists the renewal: the new line 2 continues line 1 at 1,242.00.
    page.goto(f"{live_server.url}/admin/contracts/contract/{northwind.pk}/change/")
    renewals = page.locator("#renewals-group")
    expect(renewals).to_contain_text("line 2: 1200.00 → 1242.00")
    expect(renewals).to_contain_text("finance")
    northwind.refresh_from_db()
    assert northwind.end_date == date(2027, 12, 31)
    new_line = northwind.lines.get(sequence=2)
    assert (new_line.service_start, new_line.unit_price) == (date(2027, 1, 1), usd("1242.00"))
    contoso.refresh_from_db()
    assert contoso.end_date == date(2026, 12, 31)


# --- Contract modifications ----------------------------------------------------------------------


@pytest.fixture
def seats_and_support(contract_factory, contract_line_factory, product_factory, customer_factory):
    """10 seats at 100.00 USD a month and premium support at 500.00 a month, both billed monthly
    in advance from 1 April 2026 to 31 March 2027; April is billed on 1 April (1,500.00)."""
    contract = contract_factory(
        number="K-2026-077",
        customer=customer_factory(legal_name="Fabrikam Inc."),
        start_date=date(2026, 4, 1),
        end_date=date(2027, 3, 31),
    )
    seats = contract_line_factory(
        contract=contract,
        sequence=1,
        description="Seats",
        quantity=Decimal(10),
        unit_price=usd("100.00"),
        product=product_factory(name="Seats", ssp=usd("100.00")),
    )
    support = contract_line_factory(
        contract=contract,
        sequence=2,
        description="Premium support",
        unit_price=usd("500.00"),
        product=product_factory(name="Premium support", ssp=usd("500.00")),
    )
    contract_activate(contract=contract)
    bill_run_start(as_of=date(2026, 4, 1))
    return contract, seats, support


def test_modification_is_entered_previewed_with_its_prorated_charge_and_credit_then_applied(
    admin_page: Page, live_server, screenshots: Path, seats_and_support
):
    contract, seats, support = seats_and_support
    page = admin_page

    page.goto(f"{live_server.url}/admin/contracts/contract/{contract.pk}/change/")
    page.get_by_role("link", name="Modify…").click()
    expect(page.locator("h1")).to_have_text("Add modification")
    # Opened from the contract, the modification is already for it.
    expect(page.locator("#id_contract + .select2 .select2-selection__rendered")).to_contain_text(
        "K-2026-077"
    )
    page.get_by_label("Reference").fill("A-1")
    page.get_by_label("Effective date").fill("2026-04-16")
    page.locator("#id_description").fill("Five more seats; support repriced to 400.00")
    # First change: 15 seats from 16 April.
    page.locator("#id_changes-0-kind").select_option(label="Change quantity")
    page.locator("#id_changes-0-line").select_option(label="K-2026-077 #1 Seats")
    page.locator("#id_changes-0-quantity").fill("15")
    # Second change: support at 400.00 from 16 April.
    changes = page.locator("#changes-group .inline-related:not(.empty-form)")
    page.locator("#changes-group .add-row a").click()
    expect(changes).to_have_count(2)
    page.locator("#id_changes-1-kind").select_option(label="Change unit price")
    page.locator("#id_changes-1-line").select_option(label="K-2026-077 #2 Premium support")
    page.locator("#id_changes-1-unit_price").fill("400")
    page.get_by_role("button", name="Save", exact=True).click()

    # Saving opens the preview; nothing has changed yet.
    expect(page.locator("h1")).to_have_text("Modification A-1 of K-2026-077")
    preview = page.locator(".modification-preview")
    expect(preview).to_contain_text("Effective 16 Apr 2026")
    expect(preview).to_contain_text("Proposed: prospective")
    expect(preview).to_contain_text("Line 1 Seats now ends 2026-04-15")
    expect(preview).to_contain_text("Line 2 Premium support now ends 2026-04-15")
    charges = page.locator("h2", has_text="Charges from the effective date").locator(
        "xpath=following-sibling::ul[1]"
    )
    # April (30 days) was billed in advance. The 15 seats' 16-30 April are worth
    # 15 x 100.00 x 15/30 = 750.00, less the 10 x 100.00 x 15/30 = 500.00 already billed for
    # those days: 250.00 on the next run. Support at 400.00 is worth 400.00 x 15/30 = 200.00 for
    # 16-30 April against 250.00 billed: nothing to charge, credited below.
    expect(charges.locator("li").nth(0)).to_contain_text(
        "Line 3 Seats: 16 Apr 2026 \u2013 30 Apr 2026 (prorated 15/30 days), less 500.00 USD "
        "billed before the change: 250.00 USD, billed on 2026-04-16"
    )
    expect(charges.locator("li").nth(1)).to_contain_text(
        "Line 4 Premium support: 16 Apr 2026 \u2013 30 Apr 2026 (prorated 15/30 days)"
    )
    expect(charges.locator("li").nth(1)).to_contain_text("nothing (credited below)")
    credits = page.locator("h2", has_text="Credit notes").locator("xpath=following-sibling::ul[1]")
    # 250.00 billed for support's 16-30 April less the 200.00 they are now worth: 50.00.
    expect(credits.locator("li")).to_have_count(1)
    expect(credits.locator("li")).to_contain_text("50.00 USD")
    assert contract.lines.count() == 2  # the preview changed nothing
    hide_nav_sidebar(page)
    page.screenshot(path=screenshots / "modification-preview.png", full_page=True)

    page.get_by_role("button", name="Apply from 16 Apr 2026").click()
    expect(success_messages(page)).to_have_text("Applied modification A-1 from 2026-04-16.")
    expect(page).to_have_url(f"{live_server.url}/admin/contracts/contract/{contract.pk}/change/")
    expect(page.locator("#modifications-group")).to_contain_text("A-1")

    # As of 15 April the contract stood as signed; from 16 April lines 3 and 4 continue 1 and 2.
    page.get_by_role("link", name="As of date…").click()
    page.get_by_label("As of").fill("2026-04-15")
    page.get_by_role("button", name="Show").click()
    lines = page.locator("#as-of-lines tbody tr")
    expect(lines).to_have_count(2)
    expect(lines.nth(0)).to_contain_text("10")
    expect(lines.nth(1)).to_contain_text("500.00")
    page.get_by_label("As of").fill("2026-04-16")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("h1")).to_have_text("Contract K-2026-077 as of 2026-04-16")
    expect(lines).to_have_count(2)
    expect(lines.nth(0)).to_contain_text("Seats")
    expect(lines.nth(0).locator("td").nth(3)).to_have_text("15")
    expect(lines.nth(0).locator("td").nth(6)).to_have_text("line 1")
    expect(lines.nth(1).locator("td").nth(4)).to_contain_text("400.00")
    expect(lines.nth(1).locator("td").nth(6)).to_have_text("line 2")
    seats.refresh_from_db()
    support.refresh_from_db()
    assert seats.service_end == support.service_end == date(2026, 4, 15)


# --- Variable consideration ----------------------------------------------------------------------


@pytest.fixture
def managed_service(contract_factory, contract_line_factory, product_factory, customer_factory):
    """The worked example of docs/variable-consideration.md: a 12-month managed service for
    120,000.00 USD from 1 January 2026, billed for the year on 1 January, earned ratably by days,
    recognized and closed through May.
    """
    contract = contract_factory(
        number="K-2026-090", customer=customer_factory(legal_name="Tailspin Toys Corp.")
    )
    contract_line_factory(
        contract=contract,
        sequence=1,
        description="Managed service",
        interval_months=12,
        unit_price=usd("120000.00"),
        product=product_factory(name="Managed service", ssp=usd("120000.00")),
    )
    contract_activate(contract=contract)
    bill_run_start(as_of=date(2026, 1, 1))
    # Closing recognizes through 31 May first: 49,643.84 earned in the closed months at 120,000
    # (10,191.78 + 9,205.48 + 10,191.78 + 9,863.02 + 10,191.78).
    period_close(through=date(2026, 5, 31), closed_by="e2e")
    return contract


def test_variable_consideration_is_added_assessed_and_caught_up_on_the_revenue_page(
    admin_page: Page, live_server, screenshots: Path, managed_service
):
    contract = managed_service
    page = admin_page
    revenue_page = (
        f"{live_server.url}/admin/revenue/performanceobligation/contract/{contract.pk}/"
        "?as_of=2026-06-30"
    )

    page.goto(revenue_page)
    expect(page.locator("h1")).to_have_text("Revenue of K-2026-090")
    expect(page.locator("#transaction-price")).to_have_text("120,000.00")
    section = page.locator("h2", has_text="Variable consideration").locator("xpath=..")
    section.get_by_role("link", name="Add an item").click()

    # The contract is already chosen from its revenue page.
    expect(page.locator("#id_contract + .select2 .select2-selection__rendered")).to_contain_text(
        "K-2026-090"
    )
    page.get_by_label("Kind").select_option(label="Performance bonus")
    page.get_by_label("Description").fill("Completion bonus on go-live by 30 Sep")
    page.get_by_label("Method").select_option(label="Most likely amount")
    page.get_by_role("button", name="Save", exact=True).click()

    # Saved, it opens its assessment.
    expect(page.locator("h1")).to_have_text("Assess performance bonus of K-2026-090")
    expect(page.locator(".messagelist .info")).to_have_text(
        "Now assess it for the current period: it counts from then."
    )
    page.get_by_label("Period").fill("2026-06-30")
    page.get_by_label("Scenarios").fill("12000 @ 0.95\n0 @ 0.05")
    reason = "Constraint lifted: migration finished, go-live highly probable"
    page.get_by_label("Reason").fill(reason)
    page.get_by_role("button", name="Assess", exact=True).click()
    # Most likely amount: 12,000 (0.95 against 0.05), all of it included (no constraint).
    expect(success_messages(page)).to_have_text(
        "Assessed for June 2026: estimate 12,000.00, 12,000.00 USD included in the price. It "
        "counts from that month's revenue run."
    )

    # June's month-end close: the contract is recognized through 30 June at 132,000 first.
    page.goto(f"{live_server.url}/admin/revenue/revenueperiod/close/")
    page.get_by_label("Close through").fill("2026-06-30")
    page.get_by_role("button", name="Review the close").click()
    page.get_by_role("button", name="Yes, close through June 2026").click()
    expect(success_messages(page)).to_contain_text("Closed 1 period(s) through June 2026")

    page.goto(revenue_page)
    # 120,000.00 + the 12,000.00 bonus.
    expect(page.locator("#transaction-price")).to_have_text("132,000.00")
    items = page.locator("#variable-items tbody tr")
    expect(items).to_have_count(2)  # the item and its one assessment
    expect(items.nth(0)).to_contain_text("Performance bonus: Completion bonus on go-live by 30 Sep")
    expect(items.nth(0)).to_contain_text("All obligations (relative SSP)")
    expect(items.nth(0).locator("td.num")).to_have_text("12,000.00")
    expect(items.nth(0)).to_contain_text("Open")
    expect(items.nth(1)).to_contain_text("Jun 2026 · finance")
    expect(items.nth(1)).to_contain_text("estimate 12,000.00")
    expect(items.nth(1)).to_contain_text(reason)
    # January to May at 132,000 by days: 11,210.96 x 3 + 10,126.03 + 10,849.32 = 54,608.23,
    # less the 49,643.84 they earned at 120,000: 4,964.39 caught up on 1 June (12,000 x 151/365
    # = 4,964.38, plus the cent the months' largest-remainder rounding moves).
    catch_ups = page.locator("#variable-catch-ups tbody tr")
    expect(catch_ups).to_have_count(1)
    expect(catch_ups.nth(0).locator("td").nth(0)).to_have_text("Jun 2026")
    expect(catch_ups.nth(0).locator("td").nth(1)).to_have_text("Managed service")
    expect(catch_ups.nth(0).locator("td").nth(2)).to_have_text("4,964.39")
    # Recognized through June: the closed 49,643.84 + the 4,964.39 catch-up + June's own
    # 10,849.31 at 132,000 = 65,457.54 (= January to June at 132,000, 54,608.23 + 10,849.31).
    expect(page.locator("#recognized-to-date")).to_have_text("65,457.54")
    # Billed 120,000.00 for the year on 1 January (the bonus is not invoiced until earned):
    # 120,000.00 - 65,457.54 = 54,542.46 billed ahead of the work.
    expect(page.locator("#billed-to-date")).to_have_text("120,000.00")
    expect(page.locator("#position .rev-card-label")).to_have_text("Contract liability")
    expect(page.locator("#position .rev-card-figure")).to_have_text("54,542.46")
    hide_nav_sidebar(page)
    page.screenshot(path=screenshots / "variable-consideration.png", full_page=True)
