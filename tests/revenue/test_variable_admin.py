"""Variable consideration in the browser: a finance admin adds, assesses and resolves an item,
bad input comes back under its field with nothing changed, an auditor only reads, and the pages
cost the same queries for one item as for many.
"""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from djmoney.money import Money

from integrations.roles import AUDITOR, FINANCE_ADMIN
from revenue.domain.variable_consideration import Scenario
from revenue.models import Allocation, VariableAssessment, VariableConsideration
from revenue.variable_consideration import (
    variable_consideration_assess,
    variable_consideration_create,
)
from tests.admin_urls import admin_url

pytestmark = pytest.mark.django_db

Kind = VariableConsideration.Kind


def usd(amount: str) -> Money:
    return Money(Decimal(amount), "USD")


@pytest.fixture(autouse=True)
def in_june():
    with time_machine.travel(datetime(2026, 6, 15, 12, tzinfo=UTC), tick=False):
        yield


@pytest.fixture
def contract(product_factory, contract_line_factory, contract_factory, activate):
    contract = contract_factory()
    product = product_factory(name="Managed service", ssp=usd("120000"))
    contract_line_factory(
        contract=contract, product=product, interval_months=12, unit_price=usd("120000")
    )
    activate(contract)
    return contract


def login(client, django_user_model, role: str):
    user = django_user_model.objects.create_user(role, password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    client.force_login(user)
    return client


@pytest.fixture
def finance(client, django_user_model):
    return login(client, django_user_model, FINANCE_ADMIN)


def assess_url(item) -> str:
    return reverse("admin:revenue_variableconsideration_assess", args=[item.pk])


def resolve_url(item) -> str:
    return reverse("admin:revenue_variableconsideration_resolve", args=[item.pk])


def test_a_finance_admin_adds_assesses_and_resolves_an_item(finance, contract):
    added = finance.post(
        admin_url(VariableConsideration, "add"),
        {
            "contract": contract.pk,
            "kind": Kind.PERFORMANCE_BONUS,
            "description": "Go-live bonus",
            "obligation": "",
            "method": "most_likely",
        },
    )
    item = VariableConsideration.objects.get()
    assert added.status_code == 302 and added.url == assess_url(item)
    assert (item.created_by, item.included) == (FINANCE_ADMIN, usd("0"))

    done = finance.post(
        assess_url(item),
        {
            "period": "2026-06-15",
            "scenarios": "12000 @ 0.6\n0 @ 0.4",
            "constrained": "0",
            "reason": "Outside our influence",
        },
    )
    assert done.status_code == 302
    [assessment] = item.assessments.all()
    assert (assessment.period, assessment.estimate, assessment.constrained) == (
        date(2026, 6, 1),
        usd("12000"),
        usd("0"),
    )
    assert assessment.assessed_by == FINANCE_ADMIN

    page = finance.get(admin_url(VariableConsideration, "change", item.pk))
    assert page.status_code == 200
    assert "Outside our influence" in page.content.decode()

    resolved = finance.post(
        resolve_url(item), {"actual": "12000", "period": "2026-06-20", "note": "Went live"}
    )
    assert resolved.status_code == 302
    item.refresh_from_db()
    assert (item.actual, item.resolved_period, item.included) == (
        usd("12000"),
        date(2026, 6, 1),
        usd("12000"),
    )
    assert contract.obligations.get().allocated == usd("132000")
    # A resolved item cannot be assessed again: the form says why, above its fields.
    again = finance.post(assess_url(item), {"period": "2026-06-15", "scenarios": "1 @ 1"})
    assert again.status_code == 200
    assert "was resolved at 12,000.00 USD" in " ".join(again.context["form"].non_field_errors())


@pytest.mark.parametrize(
    ("form", "field", "text"),
    [
        ({"scenarios": "0 @ 0.2\n10000 @ 0.5\n20000 @ 0.2"}, "scenarios", "not exactly 1"),
        ({"scenarios": "12000 @ 1", "constrained": "5000"}, "reason", "Say why 5,000.00 USD"),
        ({"scenarios": "12000 @ 1", "constrained": "15000", "reason": "x"}, "constrained", "more"),
        ({"scenarios": "twelve thousand"}, "scenarios", "Line 1"),
        ({"scenarios": "12000 @ 1", "period": "2026-02-01"}, "period", "February 2026 is closed"),
    ],
)
def test_bad_input_comes_back_under_its_field_and_changes_nothing(
    finance, contract, close, form, field, text
):
    close(date(2026, 3, 31))
    item = variable_consideration_create(
        contract=contract, kind=Kind.PERFORMANCE_BONUS, description="Bonus", method="most_likely"
    )
    allocations = Allocation.objects.count()
    response = finance.post(assess_url(item), {"period": "2026-06-15", **form})
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert list(errors) == [field]
    assert text in " ".join(errors[field])
    assert not VariableAssessment.objects.exists()
    assert Allocation.objects.count() == allocations


def test_an_auditor_reads_but_cannot_assess(client, django_user_model, contract):
    item = variable_consideration_create(
        contract=contract, kind=Kind.PENALTY, description="SLA credits", method="expected_value"
    )
    auditor = login(client, django_user_model, AUDITOR)
    assert auditor.get(admin_url(VariableConsideration, "changelist")).status_code == 200
    assert auditor.get(assess_url(item)).status_code == 403
    assert auditor.post(
        resolve_url(item), {"actual": "-1", "period": "2026-06-01"}
    ).status_code == (403)
    assert auditor.get(admin_url(VariableConsideration, "add")).status_code == 403


def add_items(contract, count: int) -> None:
    for number in range(count):
        item = variable_consideration_create(
            contract=contract,
            kind=Kind.PERFORMANCE_BONUS,
            description=f"Bonus {number}",
            method="expected_value",
        )
        for month in (4, 5, 5):
            variable_consideration_assess(
                item=item,
                period=date(2026, month, 1),
                scenarios=[Scenario(amount=usd("1000"), probability=Decimal(1))],
                constrained=usd("500"),
                reason=f"Half, as of month {month}",
            )


def queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_the_pages_cost_the_same_queries_for_one_item_or_many(finance, contract, contract_factory):
    add_items(contract, 1)
    revenue_page = reverse("admin:revenue_contract", args=[contract.pk])
    listing = admin_url(VariableConsideration, "changelist")
    page = finance.get(revenue_page).content.decode()
    # The items, their history (the second May assessment supersedes the first) and the link
    # to assess each one.
    assert (
        "Bonus 0" in page
        and "superseded" in page
        and assess_url(VariableConsideration.objects.get()) in page
    )
    assert "May 2026" in finance.get(listing).content.decode()  # last assessed
    one = (queries(finance, revenue_page), queries(finance, listing))
    add_items(contract, 4)
    assert (queries(finance, revenue_page), queries(finance, listing)) == one


def test_adding_an_item_for_another_contracts_obligation_is_refused_under_the_field(
    finance, contract, contract_factory
):
    other = contract_factory()
    response = finance.post(
        admin_url(VariableConsideration, "add"),
        {
            "contract": other.pk,
            "kind": Kind.PENALTY,
            "description": "SLA credits",
            "obligation": contract.obligations.get().pk,
            "method": "expected_value",
        },
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["obligation"]
    assert f"is not an obligation of contract {other.number}" in errors["obligation"][0]
    assert not VariableConsideration.objects.exists()
