"""The renewal worklist and the renewal terms on the contract page, as finance users meet them."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import time_machine
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import connection
from django.test.utils import CaptureQueriesContext
from djmoney.money import Money

from contracts.models import Contract, ContractLine, ContractRenewal, Renewal, RenewalTerms
from contracts.renewals import contract_renew
from integrations.roles import AUDITOR, BILLING_CLERK
from tests.admin_urls import admin_url
from tests.contracts.factories import (
    ContractFactory,
    ContractLineFactory,
    CustomerFactory,
    ProductFactory,
)

pytestmark = pytest.mark.django_db

TODAY = date(2026, 11, 15)


@pytest.fixture(autouse=True)
def today():
    with time_machine.travel(datetime(2026, 11, 15, 12, tzinfo=UTC), tick=False):
        yield


def renewable(*, end: date = date(2026, 12, 31), price: str = "1200.00", **terms) -> Contract:
    contract = ContractFactory(
        customer=CustomerFactory(), status=Contract.Status.ACTIVE, end_date=end
    )
    ContractLineFactory(
        contract=contract,
        product=ProductFactory(),
        unit_price=Money(price, "USD"),
        interval_months=12,
    )
    RenewalTerms.objects.create(contract=contract, **{"uplift_percent": Decimal("3.5"), **terms})
    return contract


def worklist(client, **params):
    return client.get(admin_url(ContractRenewal, "changelist"), params)


def listed(response) -> list[str]:
    return [contract.number for contract in response.context["cl"].result_list]


def test_the_worklist_shows_terms_ending_within_90_days_by_default(staff_client):
    soon = renewable(auto_renew=True, notice_days=60)
    later = renewable(end=date(2027, 6, 30))
    ended = renewable(end=date(2026, 10, 31))
    ContractFactory(evergreen=True, end_date=None, status=Contract.Status.ACTIVE)

    response = worklist(staff_client)

    assert listed(response) == [ended.number, soon.number]
    page = response.content.decode()
    assert "1,200.00 USD" in page and "3.5%" in page
    assert "Nov. 1, 2026" in page  # notice by: 31 Dec minus 60 days
    assert listed(worklist(staff_client, within="365")) == [ended.number, soon.number, later.number]
    assert listed(worklist(staff_client, within="ended")) == [ended.number]
    assert listed(worklist(staff_client, within="30")) == [ended.number]


def test_the_worklist_costs_the_same_queries_for_many_rows(staff_client):
    def queries_for(rows: int) -> int:
        while ContractRenewal.objects.count() < rows:
            contract = renewable()
            ContractLineFactory(contract=contract, quantity=3)
        with CaptureQueriesContext(connection) as queries:
            response = worklist(staff_client)
        assert response.context["cl"].result_count == rows
        return len(queries)

    assert queries_for(3) == queries_for(12)


def post_action(client, action: str, contracts, **data):
    return client.post(
        admin_url(ContractRenewal, "changelist"),
        {"action": action, ACTION_CHECKBOX_NAME: [c.pk for c in contracts], **data},
    )


def test_renew_asks_first_proposing_the_uplifted_prices_then_renews(staff_client):
    contract = renewable()
    [line] = contract.lines.all()

    confirm = post_action(staff_client, "renew", [contract])

    assert confirm.status_code == 200
    assert f'name="price_{line.pk}" value="1242.00"' in confirm.content.decode()  # +3.5%
    assert not Renewal.objects.exists()

    done = post_action(staff_client, "renew", [contract], apply="1", **{f"price_{line.pk}": "1242"})

    assert done.status_code == 302
    [renewal] = Renewal.objects.all()
    # Prices left as proposed: renewed at the contract's uplift, recorded as such.
    assert (renewal.uplift_percent, renewal.renewed_by) == (Decimal("3.5"), "finance")
    assert Contract.objects.get(pk=contract.pk).end_date == date(2027, 12, 31)


def test_renew_with_a_new_price_typed_on_the_confirmation(staff_client):
    contract = renewable()
    [line] = contract.lines.all()

    post_action(staff_client, "renew", [contract], apply="1", **{f"price_{line.pk}": "1300"})

    [renewal] = Renewal.objects.all()
    assert renewal.uplift_percent is None
    new = ContractLine.objects.get(pk=renewal.prices[0]["new_line"])
    assert new.unit_price == Money("1300.00", "USD")


def test_renew_with_one_uplift_for_all(staff_client):
    first, second = renewable(), renewable(price="100.00")
    prices = {f"price_{c.lines.get().pk}": "1" for c in (first, second)}

    post_action(staff_client, "renew", [first, second], apply="1", uplift_percent="5", **prices)

    # 1,200.00 x 1.05 = 1,260.00 and 100.00 x 1.05 = 105.00: the typed uplift wins.
    new_prices = sorted(
        ContractLine.objects.filter(service_start=date(2027, 1, 1)).values_list(
            "unit_price", flat=True
        )
    )
    assert new_prices == [Decimal("105.00"), Decimal("1260.00")]


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"uplift_percent": "150"}, "uplift_percent", "less than or equal to 100"),
        ({"price": "-1"}, "price", "greater than or equal to 0"),
        ({"price": ""}, "price", "new unit price, or one uplift for all"),
    ],
)
def test_bad_renewal_input_is_named_and_renews_nothing(staff_client, data, field, message):
    contract = renewable()
    [line] = contract.lines.all()
    form = {f"price_{line.pk}": "1242", "uplift_percent": ""}
    form.update({f"price_{line.pk}" if key == "price" else key: v for key, v in data.items()})

    response = post_action(staff_client, "renew", [contract], apply="1", **form)

    assert response.status_code == 200
    name = f"price_{line.pk}" if field == "price" else field
    errors = response.context["form"].errors
    assert list(errors) == [name] and message in errors[name][0]
    assert not Renewal.objects.exists()


def test_mark_not_renewing_needs_a_reason_and_records_who(staff_client):
    contract = renewable(auto_renew=True)

    asked = post_action(staff_client, "mark_not_renewing", [contract], apply="1", reason=" ")
    assert asked.status_code == 200 and "reason" in asked.context["form"].errors

    post_action(staff_client, "mark_not_renewing", [contract], apply="1", reason="Budget cut")
    terms = RenewalTerms.objects.get(contract=contract)
    assert (terms.decision, terms.decision_reason, terms.decided_by) == (
        "not_renewing",
        "Budget cut",
        "finance",
    )
    assert terms.decided_at is not None
    assert "Not renewing: Budget cut" in worklist(staff_client).content.decode()


def test_an_auditor_reads_the_worklist_but_cannot_act(role_client):
    contract = renewable()
    client = role_client(AUDITOR)

    response = worklist(client)

    assert response.status_code == 200 and listed(response) == [contract.number]
    assert response.context["action_form"] is None  # every action needs to change contracts
    post_action(client, "renew", [contract], apply="1")
    assert not Renewal.objects.exists()


def test_a_billing_clerk_renews(role_client):
    contract = renewable()
    [line] = contract.lines.all()
    client = role_client(BILLING_CLERK, "billing")

    post_action(client, "renew", [contract], apply="1", **{f"price_{line.pk}": "1242"})

    assert Renewal.objects.get().renewed_by == "billing"


def contract_page_form(contract: Contract, **renewal) -> dict:
    """The contract's change form as posted, its line unchanged, with renewal terms."""
    [line] = contract.lines.all()
    return {
        "number": contract.number,
        "customer": contract.customer_id,
        "currency": contract.currency,
        "status": contract.status,
        "start_date": "2026-01-01",
        "end_date": "2026-12-31",
        "lines-TOTAL_FORMS": "1",
        "lines-INITIAL_FORMS": "1",
        "lines-0-id": line.pk,
        "lines-0-contract": contract.pk,
        "lines-0-sequence": line.sequence,
        "lines-0-product": line.product_id,
        "lines-0-billing_model": "subscription",
        "lines-0-quantity": "1",
        "lines-0-unit_price": "1200",
        "lines-0-service_start": "2026-01-01",
        "lines-0-service_end": "2026-12-31",
        "lines-0-interval_months": "12",
        "lines-0-bill_timing": "advance",
        "lines-0-bill_day_mode": "anniversary",
        "renewal_terms-TOTAL_FORMS": "1",
        "renewal_terms-INITIAL_FORMS": "0",
        "renewal_terms-0-contract": contract.pk,
        "renewal_terms-0-term_months": "12",
        "renewal_terms-0-uplift_percent": "0",
        "renewal_terms-0-notice_days": "30",
        **{f"renewal_terms-0-{key}": value for key, value in renewal.items()},
        "renewals-TOTAL_FORMS": "0",
        "renewals-INITIAL_FORMS": "0",
        "change_orders-TOTAL_FORMS": "0",
        "change_orders-INITIAL_FORMS": "0",
        "modifications-TOTAL_FORMS": "0",
        "modifications-INITIAL_FORMS": "0",
        "billing_events-TOTAL_FORMS": "0",
        "billing_events-INITIAL_FORMS": "0",
    }


def test_renewal_terms_are_set_on_the_contract_page(staff_client):
    contract = ContractFactory()
    ContractLineFactory(contract=contract, unit_price=Money("1200", "USD"), interval_months=12)
    form = contract_page_form(contract, auto_renew="on", uplift_percent="4.25", notice_days="60")

    response = staff_client.post(admin_url(Contract, "change", contract.pk), form)

    assert response.status_code == 302, response.context and response.context["errors"]
    terms = RenewalTerms.objects.get(contract=contract)
    assert (terms.auto_renew, terms.uplift_percent, terms.notice_days) == (
        True,
        Decimal("4.25"),
        60,
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"uplift_percent": "101"}, "Ensure this value is less than or equal to 100."),
        ({"term_months": "0"}, "Ensure this value is greater than or equal to 1."),
        ({"notice_days": "400"}, "Ensure this value is less than or equal to 365."),
        (
            {"evergreen": "on", "end_date": ""},
            "An evergreen contract runs until it is terminated and does not renew",
        ),
    ],
)
def test_bad_renewal_terms_are_named_on_the_contract_page(staff_client, change, message):
    contract = ContractFactory()
    ContractLineFactory(contract=contract, unit_price=Money("1200", "USD"), interval_months=12)
    form = contract_page_form(contract, auto_renew="on")
    for key, value in change.items():
        form[key if key in ("evergreen", "end_date") else f"renewal_terms-0-{key}"] = value
    if "evergreen" in change:
        form["lines-0-service_end"] = ""

    response = staff_client.post(admin_url(Contract, "change", contract.pk), form)

    assert response.status_code == 200
    assert message in response.content.decode()
    [inline] = [
        f for f in response.context["inline_admin_formsets"] if f.opts.model is RenewalTerms
    ]
    field = next(iter(change)) if "evergreen" not in change else "auto_renew"
    assert field in inline.formset.forms[0].errors
    assert not RenewalTerms.objects.exists()


def test_the_contract_page_lists_its_renewals(staff_client):
    contract = renewable()
    renewal, _ = contract_renew(contract=contract, by="ann")

    page = staff_client.get(admin_url(Contract, "change", contract.pk)).content.decode()

    successor = renewal.prices[0]["sequence"]
    assert f"line {successor}: 1200.00 → 1242.00" in page
    assert ">ann<" in page


def test_a_worklist_row_is_read_only_and_links_to_the_contract_page(staff_client):
    contract = renewable()
    url = admin_url(ContractRenewal, "change", contract.pk)

    page = staff_client.get(url).content.decode()
    staff_client.post(url, {"title": "Changed", "end_date": "2030-01-01"})

    assert f'href="{admin_url(Contract, "change", contract.pk)}"' in page
    assert 'name="end_date"' not in page
    contract.refresh_from_db()
    assert (contract.title, contract.end_date) == ("", date(2026, 12, 31))


def test_changes_to_the_terms_and_decisions_are_in_the_history(staff_client, token_client):
    contract = renewable(auto_renew=True)
    terms = RenewalTerms.objects.get(contract=contract)
    post_action(staff_client, "mark_not_renewing", [contract], apply="1", reason="Budget cut")

    history = staff_client.get(admin_url(Contract, "history", contract.pk)).content.decode()
    assert "Renewal terms" in history and "Budget cut" in history

    reader = token_client("reader", "view_renewalterms", "view_contract")
    response = reader.get(f"/api/v1/audit/renewal-terms/{terms.pk}/")
    assert response.status_code == 200
    assert [r["type"] for r in response.json()["results"]] == ["changed", "created"]
