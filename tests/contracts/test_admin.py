"""The back office as a finance user meets it: every page renders, lists stay cheap, actions act."""

from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from djmoney.money import Money

from contracts.models import (
    BillingContact,
    Contract,
    ContractLine,
    Customer,
    Product,
)
from tests.admin_urls import admin_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def book(contract_line_factory, billing_contact_factory):
    """Contracts with lines of every billing model, and a billing contact per customer."""
    lines = [
        contract_line_factory(),
        contract_line_factory(one_time=True),
        contract_line_factory(milestone=True),
        contract_line_factory(usage=True),
    ]
    for line in lines:
        billing_contact_factory(customer=line.contract.customer)
    return lines


def test_customer_page_lists_its_billing_contacts_inline(staff_client, book):
    contact = BillingContact.objects.first()
    page = staff_client.get(admin_url(Customer, "change", contact.customer.pk)).content.decode()
    assert f'value="{contact.email}"' in page


def test_contract_page_shows_every_line_inline(staff_client, contract_line_factory):
    first = contract_line_factory(description="Seats")
    contract_line_factory(contract=first.contract, one_time=True, description="Activation fee")
    response = staff_client.get(admin_url(Contract, "change", first.contract.pk))
    page = response.content.decode()
    assert 'value="Seats"' in page
    assert 'value="Activation fee"' in page
    lines_formset = response.context["inline_admin_formsets"][0].formset
    assert lines_formset.prefix == "lines"
    assert lines_formset.total_form_count() == 2


@pytest.mark.parametrize(
    ("model", "search"), [(Customer, "CUST"), (Contract, "K-"), (Product, "SKU")]
)
def test_changelists_cost_the_same_few_queries_for_many_rows(
    staff_client, contract_line_factory, model, search
):
    """A list page must not query once per row (no N+1): 3 rows and 15 rows cost the same."""
    url = admin_url(model, "changelist")

    def queries_for(rows: int) -> int:
        while model.objects.count() < rows:
            contract_line_factory()
        with CaptureQueriesContext(connection) as queries:
            response = staff_client.get(url, {"q": search})
        assert response.status_code == 200
        assert response.context["cl"].result_count == rows
        return len(queries)

    assert queries_for(3) == queries_for(15)


def test_customer_with_email_delivery_needs_a_billing_contact(staff_client, payment_terms):
    form = {
        "number": "CUST-9",
        "legal_name": "Globex",
        "currency": "USD",
        "payment_terms": payment_terms.pk,
        "delivery_method": "email",
        "invoice_review": "default",
        "tax_rate": "0",
        "contacts-TOTAL_FORMS": "1",
        "contacts-INITIAL_FORMS": "0",
        "contacts-0-name": "",
        "contacts-0-email": "",
    }
    response = staff_client.post(admin_url(Customer, "add"), form)
    assert response.status_code == 200
    assert "add at least one billing contact" in response.content.decode()
    assert not Customer.objects.exists()

    form["contacts-0-email"] = "ap@globex.example"
    response = staff_client.post(admin_url(Customer, "add"), form)
    assert response.status_code == 302
    assert Customer.objects.get().contacts.get().email == "ap@globex.example"


@pytest.fixture
def contract_form(customer_factory, product):
    """The add-contract form as the admin posts it: one one-time line, amounts without currency."""
    customer = customer_factory(currency="EUR")
    return {
        "number": "K-EUR",
        "customer": customer.pk,
        "currency": "",
        "status": "draft",
        "start_date": "2026-01-01",
        "end_date": "2026-12-31",
        "not_to_exceed": "20000",
        "cost_budget": "",
        "lines-TOTAL_FORMS": "1",
        "lines-INITIAL_FORMS": "0",
        "lines-0-sequence": "1",
        "lines-0-product": product.pk,
        "lines-0-billing_model": "one_time",
        "lines-0-quantity": "2",
        "lines-0-unit_price": "500",
        "lines-0-ssp_override": "450.1234",
        "lines-0-one_time_trigger": "on_shipment",
        # The renewal terms inline, left as proposed (a contract that does not renew).
        "renewal_terms-TOTAL_FORMS": "0",
        "renewal_terms-INITIAL_FORMS": "0",
        # The read-only billing schedule inline still posts its management form.
        "billing_events-TOTAL_FORMS": "0",
        "billing_events-INITIAL_FORMS": "0",
    }


def test_amounts_are_entered_in_the_contract_currency_taken_from_the_customer(
    staff_client, contract_form
):
    response = staff_client.post(admin_url(Contract, "add"), contract_form)
    assert response.status_code == 302, response.context["errors"]
    line = ContractLine.objects.select_related("contract").get()
    assert line.contract.currency == "EUR"
    assert line.contract.not_to_exceed == Money("20000", "EUR")
    assert line.contract.cost_budget is None
    assert (line.unit_price, line.ssp_override) == (Money("500", "EUR"), Money("450.1234", "EUR"))
    assert line.service_end == date(2026, 12, 31)

    page = staff_client.get(admin_url(Contract, "change", line.contract.pk)).content.decode()
    assert 'name="lines-0-unit_price" value="500.00"' in page  # not 500.0000
    assert 'name="lines-0-ssp_override" value="450.1234"' in page  # 4 places kept


def test_empty_billing_model_takes_the_products_default(staff_client, contract_form, product):
    contract_form["lines-0-billing_model"] = ""
    product.default_billing_model = "one_time"
    product.save()
    assert staff_client.post(admin_url(Contract, "add"), contract_form).status_code == 302
    assert ContractLine.objects.get().billing_model == "one_time"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("currency", "eur", "Select a valid choice. eur is not one of the available choices."),
        ("lines-0-unit_price", "-1", "Ensure this value is greater than or equal to 0."),
        ("not_to_exceed", "abc", "Enter a number."),
        ("lines-0-one_time_trigger", "", "Choose whether this line bills on order or shipment."),
    ],
)
def test_bad_input_is_named_on_the_page_and_nothing_is_saved(
    staff_client, contract_form, field, value, message
):
    contract_form[field] = value
    response = staff_client.post(admin_url(Contract, "add"), contract_form)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Contract.objects.exists()
    assert not ContractLine.objects.exists()


def test_hold_actions_place_and_release_holds(staff_client, contract_factory):
    contracts = contract_factory.create_batch(2)
    url = admin_url(Contract, "changelist")
    selected = [c.pk for c in contracts]
    staff_client.post(url, {"action": "place_billing_hold", "_selected_action": selected})
    assert set(Contract.objects.values_list("billing_hold", "hold_reason")) == {
        (True, "Placed by finance from the admin")
    }
    staff_client.post(url, {"action": "release_billing_hold", "_selected_action": selected})
    assert set(Contract.objects.values_list("billing_hold", "hold_reason")) == {(False, "")}


def test_activate_action_reports_contracts_it_cannot_activate(
    staff_client, contract_factory, contract_line_factory
):
    ready = contract_line_factory().contract
    empty = contract_factory()
    response = staff_client.post(
        admin_url(Contract, "changelist"),
        {"action": "activate", "_selected_action": [ready.pk, empty.pk]},
        follow=True,
    )
    page = response.content.decode()
    assert "Activated 1 contract(s)." in page
    assert f"Contract {empty.number} has no lines; add one before activating." in page
    assert dict(Contract.objects.values_list("number", "status")) == {
        ready.number: "active",
        empty.number: "draft",
    }


def test_refused_amount_is_not_also_reported_as_missing(staff_client, contract_form):
    contract_form.update(
        {
            "lines-0-billing_model": "subscription",
            "lines-0-unit_price": "-5",
            "lines-0-interval_months": "1",
            "lines-0-bill_timing": "advance",
            "lines-0-bill_day_mode": "anniversary",
        }
    )
    response = staff_client.post(admin_url(Contract, "add"), contract_form)
    line_errors = response.context["inline_admin_formsets"][0].formset.errors[0]
    assert line_errors == {"unit_price": ["Ensure this value is greater than or equal to 0."]}


def test_without_customer_or_currency_only_the_contract_form_complains(staff_client, contract_form):
    contract_form.update({"customer": "", "currency": ""})
    response = staff_client.post(admin_url(Contract, "add"), contract_form)
    page = response.content.decode()
    assert response.context["adminform"].form.errors["customer"] == ["This field is required."]
    assert response.context["inline_admin_formsets"][0].formset.errors == [{}]
    assert "this contract is in :" not in page.lower()
    assert not Contract.objects.exists()


def test_currency_pickers_preselect_nothing_and_keep_what_is_stored(staff_client, customer_factory):
    page = staff_client.get(admin_url(Customer, "add")).content.decode()
    assert '<option value="" selected>———</option>' in page
    # A current code that an outdated list might lack survives a save of the untouched form.
    customer = customer_factory(currency="MRU")
    page = staff_client.get(admin_url(Customer, "change", customer.pk)).content.decode()
    assert '<option value="MRU" selected>' in page
