"""``__any`` finds exactly the rows ``__in`` finds, and on PostgreSQL sends one array parameter."""

from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from contracts.models import Contract, ContractLine, Customer
from tests.contracts.factories import ContractLineFactory
from webhooks.models import WebhookEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def lines() -> list[ContractLine]:
    return [
        ContractLineFactory(service_start=date(2026, month, 1), description=f"line {month}")
        for month in (1, 2, 3)
    ]


def both(queryset, field: str, values) -> tuple[list, list]:
    """Return the primary keys ``field__any`` and ``field__in`` select, in order."""
    ordered = queryset.order_by("pk")
    return (
        list(ordered.filter(**{f"{field}__any": values}).values_list("pk", flat=True)),
        list(ordered.filter(**{f"{field}__in": values}).values_list("pk", flat=True)),
    )


def test_any_selects_the_rows_in_selects_whatever_the_field(lines):
    first, second, third = lines
    customers = [first.contract.customer, third.contract.customer]
    cases = [
        (ContractLine.objects, "pk", [first.pk, third.pk, None]),
        (ContractLine.objects, "contract_id", [second.contract_id]),
        (ContractLine.objects, "contract__customer", customers),  # model instances
        (ContractLine.objects, "contract__customer_id", [c.pk for c in customers]),
        (ContractLine.objects, "service_start", [date(2026, 2, 1), date(2026, 3, 1)]),
        (ContractLine.objects, "description", ["line 1", "line 9"]),
        (ContractLine.objects, "pk", []),
        (Contract.objects, "customer", Customer.objects.filter(pk=customers[0].pk)),  # subquery
    ]
    for queryset, field, values in cases:
        found, expected = both(queryset, field, values)
        assert found == expected, field
    assert both(ContractLine.objects, "pk", [first.pk, third.pk])[0] == [first.pk, third.pk]
    assert list(ContractLine.objects.exclude(pk__any=[first.pk]).order_by("pk")) == [
        second,
        third,
    ]


def test_text_keys_are_matched_whole():
    event = WebhookEvent.objects.create(id="evt_22ab", type="invoice.paid", data={})
    assert list(WebhookEvent.objects.filter(id__any=["evt_22ab", "evt_"])) == [event]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the array form is PostgreSQL's")
def test_on_postgresql_a_thousand_values_are_one_parameter(lines):
    ids = [*range(-1000, 0), lines[0].pk]
    with CaptureQueriesContext(connection) as queries:
        found = list(ContractLine.objects.filter(pk__any=ids))
    assert found == [lines[0]]
    (sql,) = [q["sql"] for q in queries.captured_queries]
    assert '"contracts_contractline"."id" = ANY(' in sql
    assert sql.count("-1000") == 1 and "%s" not in sql
