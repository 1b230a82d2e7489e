"""Browser tests of the finance paths through the contracts admin.

Each test drives Debian's Chromium against ``live_server`` as a finance user would: the login form,
the autocomplete (select2) pickers, the stacked contract-line inline, plain amount boxes (the
contract's currency is attached by the form, none is chosen per amount) and the script that shows
each line only the terms of its billing model. Outcomes are checked where they matter: the rows in
the database and the text on the page.
"""

import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from djmoney.money import Money
from playwright.sync_api import Locator, Page, expect

from contracts.models import (
    BillDayMode,
    BillingModel,
    BillTiming,
    Contract,
    ContractLine,
    OneTimeTrigger,
)
from tests.e2e.conftest import FINANCE_USERNAME, admin_login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ACME = "Acme Corporation (CUST-ACME)"
PLATFORM = "PLAT-01 · Platform"


@pytest.fixture
def acme_and_platform(customer_factory, product_factory):
    """A EUR customer and a EUR-priced subscription product, to pick on the add-contract page."""
    customer = customer_factory(number="CUST-ACME", legal_name="Acme Corporation", currency="EUR")
    product = product_factory(sku="PLAT-01", name="Platform", ssp=Money("1000.00", "EUR"))
    return customer, product


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


def fill_contract_header(page: Page, *, number: str) -> None:
    """Fill the header for Acme, leaving the currency empty: it is taken from the customer."""
    page.get_by_label("Number").fill(number)
    pick_autocomplete(page, "id_customer", "acme", ACME)
    expect(page.locator("#id_currency")).to_have_value("")
    page.locator("#id_start_date").fill("2026-01-01")
    page.locator("#id_end_date").fill("2026-12-31")


def add_line(page: Page, *, product_search: str = "plat", product: str = PLATFORM) -> str:
    """Click "Add another Contract line", pick the product, and return the new line's id prefix."""
    lines = page.locator("#lines-group .inline-related:not(.empty-form)")
    index = lines.count()
    # Django 5.2 renders this link with role="button".
    page.get_by_role("button", name="Add another Contract line").click()
    expect(lines).to_have_count(index + 1)
    prefix = f"id_lines-{index}-"
    pick_autocomplete(page, f"{prefix}product", product_search, product)
    return prefix


def fill_subscription_terms(
    page: Page, prefix: str, *, unit_price: str, bill_day_mode: str, bill_day: str = ""
) -> None:
    """Make the line a quarterly, in-advance subscription of 12 units at ``unit_price``."""
    page.locator(f"#{prefix}billing_model").select_option(label="Subscription")
    page.locator(f"#{prefix}quantity").fill("12")
    page.locator(f"#{prefix}unit_price").fill(unit_price)
    page.locator(f"#{prefix}interval_months").fill("3")
    page.locator(f"#{prefix}bill_timing").select_option(label="In advance (period start)")
    page.locator(f"#{prefix}bill_day_mode").select_option(label=bill_day_mode)
    page.locator(f"#{prefix}bill_day").fill(bill_day)


def terms_fieldsets(page: Page, line: int) -> tuple[Locator, Locator]:
    """Return the line's "Subscription terms" and "One-time terms" fieldsets, checked to exist.

    ``to_be_hidden()`` also passes for a locator that matches nothing, so each fieldset is first
    proved to be in the page, with its heading.
    """
    found = []
    for css_class, heading in [
        ("terms-subscription", "Subscription terms"),
        ("terms-one_time", "One-time terms"),
    ]:
        fieldset = page.locator(f"#lines-{line} fieldset.{css_class}")
        expect(fieldset).to_have_count(1)
        expect(fieldset.locator(".fieldset-heading")).to_have_text(heading)
        found.append(fieldset)
    return found[0], found[1]


def expect_shown(locator: Locator, shown: bool) -> None:
    if shown:
        expect(locator).to_be_visible()
    else:
        expect(locator).to_be_hidden()


def save(page: Page) -> None:
    page.get_by_role("button", name="Save", exact=True).click()


def expect_refused(page: Page, *, number: str) -> None:
    """The add page came back with one field in error, and no contract or line was stored."""
    expect(page.locator(".errornote")).to_have_text("Please correct the error below.")
    expect(page.locator(".errorlist")).to_have_count(1)
    expect(page.locator(".messagelist .success")).to_have_count(0)
    # Still the add page, with the typed number kept.
    expect(page.locator("#id_number")).to_have_value(number)
    assert not Contract.objects.exists()
    assert not ContractLine.objects.exists()


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


def test_create_contract_in_the_customers_currency_with_plain_amounts(
    admin_page: Page, live_server, acme_and_platform
):
    _, product = acme_and_platform
    page = admin_page

    page.goto(f"{live_server.url}/admin/contracts/contract/add/")
    # The currency is a list of ISO codes, with an empty choice meaning "the customer's".
    currency = page.locator("#id_currency")
    expect(currency.locator("option:checked")).to_have_text("———")
    expect(currency.locator("option[value=EUR]")).to_have_text("EUR · Euro")
    fill_contract_header(page, number="K-2026-001")
    # Budget amounts are single number boxes: no currency select beside them.
    expect(page.locator("#id_not_to_exceed")).to_have_attribute("type", "number")
    budget = page.locator("fieldset", has=page.locator("#id_not_to_exceed"))
    expect(budget.locator("input[type=number]")).to_have_count(2)
    expect(budget.locator("select")).to_have_count(0)
    page.locator("#id_not_to_exceed").fill("30000")
    prefix = add_line(page)
    fill_subscription_terms(
        page, prefix, unit_price="250.50", bill_day_mode="Anniversary of the service start"
    )
    page.locator(f"#{prefix}ssp_override").fill("240.1250")
    expect(page.locator("#lines-0 select[id*=unit_price], #lines-0 select[id*=ssp]")).to_have_count(
        0
    )
    save(page)

    expect(page.locator(".messagelist .success")).to_have_text(
        "The contract “K-2026-001” was added successfully."
    )
    expect(page).to_have_url(f"{live_server.url}/admin/contracts/contract/")

    contract = Contract.objects.get(number="K-2026-001")
    assert contract.customer.number == "CUST-ACME"
    assert contract.currency == "EUR"  # left empty: the customer's
    assert contract.not_to_exceed == Money("30000", "EUR")
    assert contract.cost_budget is None
    assert (contract.start_date, contract.end_date) == (date(2026, 1, 1), date(2026, 12, 31))
    assert contract.status == Contract.Status.DRAFT
    line = ContractLine.objects.get(contract=contract)
    assert line.product == product
    assert line.billing_model == BillingModel.SUBSCRIPTION
    assert line.quantity == Decimal("12")
    assert line.unit_price == Money("250.50", "EUR")
    assert line.ssp_override == Money("240.125", "EUR")
    assert line.interval_months == 3
    assert line.bill_timing == BillTiming.ADVANCE
    assert line.bill_day_mode == BillDayMode.ANNIVERSARY
    assert line.bill_day is None
    # Left empty in the form: the line's service period defaults to the contract's term.
    assert (line.service_start, line.service_end) == (date(2026, 1, 1), date(2026, 12, 31))

    # Back on the change page the amounts read as typed: two places unless more are needed.
    page.goto(f"{live_server.url}/admin/contracts/contract/{contract.pk}/change/")
    expect(page.locator("#id_currency option:checked")).to_have_text("EUR · Euro")
    expect(page.locator("#id_not_to_exceed")).to_have_value("30000.00")
    expect(page.locator("#id_lines-0-unit_price")).to_have_value("250.50")
    expect(page.locator("#id_lines-0-ssp_override")).to_have_value("240.1250")


def test_calendar_day_billing_without_a_bill_day_is_refused_on_its_line(
    admin_page: Page, live_server, acme_and_platform
):
    page = admin_page

    page.goto(f"{live_server.url}/admin/contracts/contract/add/")
    fill_contract_header(page, number="K-2026-002")
    prefix = add_line(page)
    fill_subscription_terms(
        page, prefix, unit_price="250.50", bill_day_mode="Fixed day of the month"
    )
    save(page)

    expect_refused(page, number="K-2026-002")
    bill_day = page.locator("#lines-0").get_by_role("spinbutton", name="Bill day")
    expect(bill_day).to_have_attribute("aria-invalid", "true")
    message = "Calendar-day billing needs a bill day (1-31)."
    expect(page.locator(f"#lines-0 #{prefix}bill_day_error")).to_have_text(message)
    # Linked to the input (after its help text), so a screen reader reads it with the field.
    expect(bill_day).to_have_accessible_description(re.compile(rf"{re.escape(message)}$"))
    # The line comes back as typed, and still shows only its subscription terms.
    expect(page.locator(f"#{prefix}bill_day_mode")).to_have_value(BillDayMode.CALENDAR_DAY)
    expect(page.locator(f"#{prefix}unit_price")).to_have_value("250.50")
    subscription, one_time = terms_fieldsets(page, 0)
    expect(subscription).to_be_visible()
    expect(one_time).to_be_hidden()

    # Giving the day is all it takes.
    bill_day.fill("15")
    save(page)
    expect(page.locator(".messagelist .success")).to_have_text(
        "The contract “K-2026-002” was added successfully."
    )
    line = ContractLine.objects.get(contract__number="K-2026-002")
    assert (line.bill_day_mode, line.bill_day) == (BillDayMode.CALENDAR_DAY, 15)


def test_negative_unit_price_is_refused_at_the_unit_price(
    admin_page: Page, live_server, acme_and_platform
):
    page = admin_page

    page.goto(f"{live_server.url}/admin/contracts/contract/add/")
    fill_contract_header(page, number="K-2026-003")
    prefix = add_line(page)
    fill_subscription_terms(
        page, prefix, unit_price="-5", bill_day_mode="Anniversary of the service start"
    )
    save(page)

    expect_refused(page, number="K-2026-003")
    message = "Ensure this value is greater than or equal to 0."
    # The message sits in the unit price's own box, under the label "Unit price", and is the
    # accessible description of the input (so a screen reader reads it with the field).
    unit_price = page.locator("#lines-0").get_by_role("spinbutton", name="Unit price")
    expect(unit_price).to_have_id(f"{prefix}unit_price")
    expect(unit_price).to_have_value("-5")
    expect(unit_price).to_have_attribute("aria-invalid", "true")
    errors = page.locator(f"#lines-0 #{prefix}unit_price_error li")
    # First, and only the first: the model's "A subscription line needs a unit price." follows
    # it, as the refused amount never reaches the line (reported; not pinned here).
    expect(errors.first).to_have_text(message)
    expect(unit_price).to_have_accessible_description(re.compile(re.escape(message)))
    box = page.locator(f"#{prefix}unit_price_error").locator("xpath=..")
    expect(box.locator("label")).to_have_text("Unit price:")
    # Not pinned on the quantity beside it.
    expect(page.locator(f"#{prefix}quantity")).not_to_have_attribute("aria-invalid", "true")


def test_terms_sections_follow_the_billing_model(admin_page: Page, live_server, acme_and_platform):
    page = admin_page

    page.goto(f"{live_server.url}/admin/contracts/contract/add/")
    prefix = add_line(page)
    billing_model = page.locator(f"#{prefix}billing_model")
    subscription, one_time = terms_fieldsets(page, 0)
    # No model chosen yet (the product's default will apply): every section is offered.
    expect(billing_model).to_have_value("")
    expect(subscription).to_be_visible()
    expect(one_time).to_be_visible()

    billing_model.select_option(label="One-time")
    expect(subscription).to_be_hidden()
    expect(one_time).to_be_visible()
    expect(page.locator(f"#{prefix}one_time_trigger")).to_be_visible()
    expect(page.locator(f"#{prefix}interval_months")).to_be_hidden()

    billing_model.select_option(label="Subscription")
    expect(subscription).to_be_visible()
    expect(one_time).to_be_hidden()
    expect(page.locator(f"#{prefix}interval_months")).to_be_visible()

    # A model with terms of neither kind hides both; back to empty shows both again.
    billing_model.select_option(label="Milestone")
    expect(subscription).to_be_hidden()
    expect(one_time).to_be_hidden()
    billing_model.select_option(value="")
    expect(subscription).to_be_visible()
    expect(one_time).to_be_visible()

    # Each line follows its own select: a second line starts with everything shown.
    billing_model.select_option(label="One-time")
    add_line(page)
    second_subscription, second_one_time = terms_fieldsets(page, 1)
    expect(second_subscription).to_be_visible()
    expect(second_one_time).to_be_visible()
    expect(subscription).to_be_hidden()
    expect(one_time).to_be_visible()


def test_empty_billing_model_takes_the_products_default(
    admin_page: Page, live_server, acme_and_platform, product_factory
):
    product = product_factory(
        sku="ONB-01",
        name="Onboarding",
        ssp=Money("5000.00", "EUR"),
        default_billing_model=BillingModel.ONE_TIME,
    )
    page = admin_page

    page.goto(f"{live_server.url}/admin/contracts/contract/add/")
    fill_contract_header(page, number="K-2026-004")
    prefix = add_line(page, product_search="onb", product="ONB-01 · Onboarding")
    expect(page.locator(f"#{prefix}billing_model")).to_have_value("")
    page.locator(f"#{prefix}unit_price").fill("5000")
    page.locator(f"#{prefix}one_time_trigger").select_option(label="On shipment / delivery")
    save(page)

    expect(page.locator(".messagelist .success")).to_have_text(
        "The contract “K-2026-004” was added successfully."
    )
    line = ContractLine.objects.get(contract__number="K-2026-004")
    assert line.product == product
    assert line.billing_model == BillingModel.ONE_TIME
    assert line.one_time_trigger == OneTimeTrigger.ON_SHIPMENT
    assert line.unit_price == Money("5000", "EUR")


def test_contract_change_page_shows_every_line_inline(
    admin_page: Page,
    screenshots: Path,
    live_server,
    contract_factory,
    contract_line_factory,
    customer_factory,
    product_factory,
):
    contract = contract_factory(
        number="K-2026-100",
        title="Platform and onboarding",
        not_to_exceed=Money("50000.00", "USD"),
    )
    lines = [
        contract_line_factory(
            contract=contract,
            sequence=1,
            product=product_factory(name="Platform"),
            ssp_override=Money("99.1250", "USD"),
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
    expect(page.locator("#id_currency option:checked")).to_have_text("USD · US Dollar")
    expect(page.locator("#id_not_to_exceed")).to_have_value("50000.00")
    # The customer picker keeps its add/change links but not the one that deletes the customer.
    customer_row = page.locator(".form-row.field-customer")
    expect(customer_row.locator(".change-related")).to_have_count(1)
    expect(customer_row.locator(".delete-related")).to_have_count(0)
    forms = page.locator("#lines-group .inline-related:not(.empty-form)")
    expect(forms).to_have_count(3)
    expect(forms.locator(".inline_label")).to_have_text(
        [str(line) for line in lines]  # "K-2026-100 #1 Platform", ...
    )
    expect(forms.locator(".field-product .change-related")).to_have_count(3)
    expect(page.locator("#lines-group .delete-related")).to_have_count(0)
    # Amounts are plain number boxes in the contract's currency: no currency select on any line;
    # two decimal places unless the stored amount needs all four.
    expect(forms.locator("select[id$=_1], select[id*=price], select[id*=ssp]")).to_have_count(0)
    expected = [
        ("subscription", "100.00", "99.1250", "1", (True, False)),
        ("one_time", "5000.00", "", "", (False, True)),
        ("milestone", "12000.00", "", "", (False, False)),
    ]
    for i, (model, price, ssp, interval, (shows_subscription, shows_one_time)) in enumerate(
        expected
    ):
        expect(page.locator(f"#id_lines-{i}-billing_model")).to_have_value(model)
        expect(page.locator(f"#id_lines-{i}-unit_price")).to_have_value(price)
        expect(page.locator(f"#id_lines-{i}-ssp_override")).to_have_value(ssp)
        expect(page.locator(f"#id_lines-{i}-interval_months")).to_have_value(interval)
        subscription, one_time = terms_fieldsets(page, i)
        expect_shown(subscription, shows_subscription)
        expect_shown(one_time, shows_one_time)
    expect(page.locator("#id_lines-1-one_time_trigger")).to_have_value("on_order")
    expect(page.locator("#id_lines-1-one_time_trigger")).to_be_visible()
    page.screenshot(path=screenshots / "admin-contract-change.png", full_page=True)

    page.goto(f"{live_server.url}/admin/contracts/contract/")
    rows = page.locator("#result_list tbody tr")
    # Newest start first.
    expect(rows.locator(".field-number")).to_have_text(["K-2026-100", "K-2025-007"])
    first, second = rows.nth(0), rows.nth(1)
    expect(first.locator(".field-title")).to_have_text("Platform and onboarding")
    expect(first.locator(".field-currency")).to_have_text("USD")
    expect(first.locator(".field-end_or_evergreen")).to_have_text("Dec. 31, 2026")
    expect(first.locator(".field-billing_models")).to_have_text("Milestone, One-time, Subscription")
    expect(second.locator(".field-currency")).to_have_text("EUR")
    expect(second.locator(".field-end_or_evergreen")).to_have_text("Evergreen")
    expect(second.locator(".field-status")).to_have_text("Active")
    expect(second.locator(".field-holds_badge")).to_have_text("billing")
    # At 1400 px the nav sidebar pushes the last columns out of view; hide it, as a user would,
    # so that the screenshot shows every column.
    page.locator("#toggle-nav-sidebar").click()
    expect(second.locator(".field-holds_badge")).to_be_in_viewport()
    page.screenshot(path=screenshots / "admin-contract-list.png", full_page=True)
