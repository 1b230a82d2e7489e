"""Browser tests of the finance paths through the contracts admin.

Each test drives Debian's Chromium against ``live_server`` as a finance user would: the login form,
the autocomplete (select2) pickers, the stacked contract-line inline and the money inputs (an
amount box plus a currency select). Outcomes are checked where they matter: the rows in the
database and the text on the page.
"""

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from djmoney.money import Money
from playwright.sync_api import Page, expect

from contracts.models import (
    BillDayMode,
    BillingModel,
    BillTiming,
    Contract,
    ContractLine,
)
from tests.e2e.conftest import FINANCE_USERNAME, admin_login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def pick_autocomplete(page: Page, field_id: str, typed: str, option: str) -> None:
    """Open the select2 box of ``field_id``, type ``typed`` and click the result ``option``."""
    # The real <select> is hidden; select2 draws its own box right after it.
    page.locator(f"#{field_id} + .select2 .select2-selection").click()
    search = page.locator(".select2-container--open .select2-search__field")
    search.press_sequentially(typed, delay=20)
    # The results come from the admin's autocomplete view; wait for the one we want, not a spinner.
    page.locator(".select2-results__option", has_text=option).click()
    expect(page.locator(f"#{field_id} + .select2 .select2-selection__rendered")).to_have_text(
        option
    )


def fill_contract_header(page: Page, *, number: str, customer_search: str, customer: str) -> None:
    page.get_by_label("Number").fill(number)
    pick_autocomplete(page, "id_customer", customer_search, customer)
    page.locator("#id_currency").fill("EUR")
    page.locator("#id_start_date").fill("2026-01-01")
    page.locator("#id_end_date").fill("2026-12-31")


def add_subscription_line(page: Page, *, product_search: str, product: str, currency: str) -> None:
    """Add one line in the stacked inline and fill a quarterly, in-advance subscription."""
    # Django 5.2 renders this link with role="button".
    page.get_by_role("button", name="Add another Contract line").click()
    prefix = "id_lines-0-"
    expect(page.locator(f"#{prefix}product")).to_be_attached()
    pick_autocomplete(page, f"{prefix}product", product_search, product)
    page.locator(f"#{prefix}billing_model").select_option(label="Subscription")
    page.locator(f"#{prefix}quantity").fill("12")
    page.locator(f"#{prefix}unit_price_0").fill("250.50")
    page.locator(f"#{prefix}unit_price_1").select_option(currency)
    page.locator(f"#{prefix}interval_months").fill("3")
    page.locator(f"#{prefix}bill_timing").select_option(label="In advance (period start)")
    page.locator(f"#{prefix}bill_day_mode").select_option(label="Anniversary of the service start")


def test_finance_user_logs_in_and_sees_the_contracts_app(page: Page, live_server, finance_user):
    admin_login(page, live_server.url)

    expect(page.locator("#user-tools")).to_contain_text(f"Welcome, {FINANCE_USERNAME}")
    contracts_app = page.locator(".app-contracts.module")
    expect(contracts_app.locator("caption")).to_have_text("Contracts")
    for row, model in [
        ("contract", "Contracts"),
        ("customer", "Customers"),
        ("product", "Products"),
        ("paymentterms", "Payment terms"),
    ]:
        link = contracts_app.locator(f"th#contracts-{row} a")
        expect(link).to_have_text(model)
        expect(link).to_have_attribute("href", f"/admin/contracts/{row}/")


def test_create_contract_with_a_subscription_line(
    admin_page: Page, live_server, customer_factory, product_factory
):
    customer_factory(number="CUST-ACME", legal_name="Acme Corporation", currency="EUR")
    product = product_factory(sku="PLAT-01", name="Platform", ssp=Money("1000.00", "EUR"))
    page = admin_page

    page.goto(f"{live_server.url}/admin/contracts/contract/add/")
    fill_contract_header(
        page, number="K-2026-001", customer_search="acme", customer="Acme Corporation (CUST-ACME)"
    )
    add_subscription_line(page, product_search="plat", product="PLAT-01 · Platform", currency="EUR")
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.locator(".messagelist .success")).to_have_text(
        "The contract “K-2026-001” was added successfully."
    )
    expect(page).to_have_url(f"{live_server.url}/admin/contracts/contract/")

    contract = Contract.objects.get(number="K-2026-001")
    assert contract.customer.number == "CUST-ACME"
    assert contract.currency == "EUR"
    assert (contract.start_date, contract.end_date) == (date(2026, 1, 1), date(2026, 12, 31))
    assert contract.status == Contract.Status.DRAFT
    line = ContractLine.objects.get(contract=contract)
    assert line.product == product
    assert line.billing_model == BillingModel.SUBSCRIPTION
    assert line.quantity == Decimal("12")
    assert line.unit_price == Money("250.50", "EUR")
    assert line.interval_months == 3
    assert line.bill_timing == BillTiming.ADVANCE
    assert line.bill_day_mode == BillDayMode.ANNIVERSARY
    # Left empty in the form: the line's service period defaults to the contract's term.
    assert (line.service_start, line.service_end) == (date(2026, 1, 1), date(2026, 12, 31))


def test_line_priced_in_another_currency_is_refused_on_the_page(
    admin_page: Page, live_server, customer_factory, product_factory
):
    customer_factory(number="CUST-ACME", legal_name="Acme Corporation", currency="EUR")
    product_factory(sku="PLAT-01", name="Platform", ssp=Money("1000.00", "EUR"))
    page = admin_page

    page.goto(f"{live_server.url}/admin/contracts/contract/add/")
    fill_contract_header(
        page, number="K-2026-002", customer_search="acme", customer="Acme Corporation (CUST-ACME)"
    )
    add_subscription_line(page, product_search="plat", product="PLAT-01 · Platform", currency="USD")
    page.get_by_role("button", name="Save", exact=True).click()

    # The page comes back with the error at the unit price, and the typed values kept.
    expect(page.locator(".errornote")).to_be_visible()
    expect(page.locator(".errorlist")).to_have_count(1)
    expect(page.locator("#lines-0 .field-unit_price .errorlist")).to_have_text(
        "This contract is in EUR; enter the amount in EUR, not USD."
    )
    expect(page.locator("#id_lines-0-unit_price_0")).to_have_value("250.50")
    expect(page.locator(".messagelist .success")).to_have_count(0)
    assert not Contract.objects.exists()
    assert not ContractLine.objects.exists()


def test_contract_change_page_shows_every_line_inline(
    admin_page: Page,
    live_server,
    contract_factory,
    contract_line_factory,
    customer_factory,
    product_factory,
):
    contract = contract_factory(number="K-2026-100", title="Platform and onboarding")
    lines = [
        contract_line_factory(
            contract=contract, sequence=1, product=product_factory(name="Platform")
        ),
        contract_line_factory(
            contract=contract,
            sequence=2,
            product=product_factory(name="Onboarding"),
            one_time=True,
            unit_price=Money("5000.00", "USD"),
        ),
        contract_line_factory(
            contract=contract,
            sequence=3,
            product=product_factory(name="Data migration"),
            milestone=True,
            unit_price=Money("12000.00", "USD"),
        ),
    ]
    contract_factory(
        number="K-2025-007",
        title="Evergreen support, on hold",
        customer=customer_factory(legal_name="Beta GmbH", currency="EUR"),
        status=Contract.Status.ACTIVE,
        start_date=date(2025, 7, 1),
        end_date=None,
        evergreen=True,
        billing_hold=True,
    )
    page = admin_page

    page.goto(f"{live_server.url}/admin/contracts/contract/{contract.pk}/change/")
    expect(page.locator("#id_number")).to_have_value("K-2026-100")
    forms = page.locator("#lines-group .inline-related:not(.empty-form)")
    expect(forms).to_have_count(3)
    expect(forms.locator(".inline_label")).to_have_text(
        [str(line) for line in lines]  # "K-2026-100 #1 Platform", ...
    )
    # Amounts keep the model's four decimal places in the form.
    expected = [
        ("subscription", "100.0000", "1"),
        ("one_time", "5000.0000", ""),
        ("milestone", "12000.0000", ""),
    ]
    for i, (model, price, interval) in enumerate(expected):
        expect(page.locator(f"#id_lines-{i}-billing_model")).to_have_value(model)
        expect(page.locator(f"#id_lines-{i}-unit_price_0")).to_have_value(price)
        expect(page.locator(f"#id_lines-{i}-unit_price_1")).to_have_value("USD")
        expect(page.locator(f"#id_lines-{i}-interval_months")).to_have_value(interval)
    expect(page.locator("#id_lines-1-one_time_trigger")).to_have_value("on_order")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "admin-contract-change.png", full_page=True)

    page.goto(f"{live_server.url}/admin/contracts/contract/")
    rows = page.locator("#result_list tbody tr")
    # Newest start first.
    expect(rows.locator(".field-number")).to_have_text(["K-2026-100", "K-2025-007"])
    first, second = rows.nth(0), rows.nth(1)
    expect(first.locator(".field-title")).to_have_text("Platform and onboarding")
    expect(first.locator(".field-billing_models")).to_have_text("Milestone, One-time, Subscription")
    expect(second.locator(".field-currency")).to_have_text("EUR")
    expect(second.locator(".field-end_or_evergreen")).to_have_text("Evergreen")
    expect(second.locator(".field-status")).to_have_text("Active")
    expect(second.locator(".field-holds_badge")).to_have_text("billing")
    # At 1400 px the nav sidebar pushes the last columns out of view; hide it, as a user would,
    # so that the screenshot shows every column.
    page.locator("#toggle-nav-sidebar").click()
    expect(second.locator(".field-holds_badge")).to_be_in_viewport()
    page.screenshot(path=SCREENSHOTS / "admin-contract-list.png", full_page=True)
