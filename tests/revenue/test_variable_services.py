"""The variable consideration services refuse bad input, naming the field, and change nothing;
and the assessment that counts is the latest one for a month on or before the run's date.
"""

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from djmoney.money import Money

from revenue.domain.variable_consideration import Scenario
from revenue.models import Allocation, VariableAssessment, VariableConsideration
from revenue.obligations import obligations_sync
from revenue.variable_consideration import (
    included_as_of,
    parse_scenarios,
    variable_consideration_assess,
    variable_consideration_create,
    variable_consideration_resolve,
    variable_items,
)
from tests.revenue.variable import after_the_year, scenarios, usd  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db

D = date
Kind = VariableConsideration.Kind
Method = VariableConsideration.Method


@pytest.fixture
def contract(product_factory, contract_line_factory, contract_factory, activate):
    contract = contract_factory()
    product = product_factory(ssp=usd("12000"))
    contract_line_factory(
        contract=contract, product=product, interval_months=12, unit_price=usd("12000")
    )
    activate(contract)
    return contract


@pytest.fixture
def bonus(contract):
    return variable_consideration_create(
        contract=contract,
        kind=Kind.PERFORMANCE_BONUS,
        description="Uptime bonus",
        method=Method.EXPECTED_VALUE,
    )


def snapshot(contract) -> tuple:
    """What a refused call must leave unchanged."""
    return (
        list(VariableAssessment.objects.values_list("id", "constrained")),
        list(VariableConsideration.objects.values_list("id", "actual", "included")),
        list(Allocation.objects.values_list("id", "transaction_price")),
        list(contract.obligations.values_list("id", "allocated")),
    )


def refused(call, contract) -> dict:
    before = snapshot(contract)
    with pytest.raises(ValidationError) as error:
        call()
    assert snapshot(contract) == before
    return error.value.message_dict


def test_probabilities_that_do_not_sum_to_one_are_refused(bonus, contract):
    errors = refused(
        lambda: variable_consideration_assess(
            item=bonus, period=D(2026, 1, 1), scenarios=scenarios(("1000", "0.5"), ("0", "0.4"))
        ),
        contract,
    )
    assert list(errors) == ["scenarios"]
    assert "sum to 0.9, not exactly 1" in errors["scenarios"][0]


def test_a_constraint_without_a_reason_is_refused(bonus, contract):
    errors = refused(
        lambda: variable_consideration_assess(
            item=bonus,
            period=D(2026, 1, 1),
            scenarios=scenarios(("1000", "1")),
            constrained=usd("500"),
        ),
        contract,
    )
    assert list(errors) == ["reason"]
    assert "rather than the estimate 1,000.00 USD" in errors["reason"][0]


def test_a_constraint_above_the_estimate_is_refused(bonus, contract):
    errors = refused(
        lambda: variable_consideration_assess(
            item=bonus,
            period=D(2026, 1, 1),
            scenarios=scenarios(("1000", "1")),
            constrained=usd("1500"),
            reason="Optimistic",
        ),
        contract,
    )
    assert list(errors) == ["constrained"]


@pytest.mark.parametrize("field", ["scenarios", "constrained"])
def test_an_amount_in_another_currency_is_refused(bonus, contract, field):
    eur = field == "scenarios"
    errors = refused(
        lambda: variable_consideration_assess(
            item=bonus,
            period=D(2026, 1, 1),
            scenarios=scenarios(("1000", "1"), currency="EUR" if eur else "USD"),
            constrained=None if eur else Money(500, "EUR"),
            reason="Partly",
        ),
        contract,
    )
    assert list(errors) == [field]
    assert f"contract {contract.number} is in USD" in errors[field][0]


def test_a_bonus_entered_negative_or_a_penalty_positive_is_refused(bonus, contract):
    errors = refused(
        lambda: variable_consideration_assess(
            item=bonus, period=D(2026, 1, 1), scenarios=scenarios(("-1000", "1"))
        ),
        contract,
    )
    assert list(errors) == ["scenarios"]
    penalty = variable_consideration_create(
        contract=contract, kind=Kind.PENALTY, description="SLA", method=Method.MOST_LIKELY
    )
    errors = refused(
        lambda: variable_consideration_resolve(
            item=penalty, actual=usd("500"), period=D(2026, 1, 1)
        ),
        contract,
    )
    assert errors == {
        "actual": ["A penalty reduces the price: enter its amounts as negative numbers."]
    }


def test_a_resolved_item_cannot_be_assessed_or_resolved_again(bonus, contract):
    variable_consideration_resolve(item=bonus, actual=usd("800"), period=D(2026, 3, 1))
    for call in (
        lambda: variable_consideration_assess(
            item=bonus, period=D(2026, 4, 1), scenarios=scenarios(("1000", "1"))
        ),
        lambda: variable_consideration_resolve(item=bonus, actual=usd("900"), period=D(2026, 4, 1)),
    ):
        errors = refused(call, contract)
        assert list(errors) == ["item"]
        assert "800.00 USD" in errors["item"][0]


def test_a_closed_period_cannot_be_assessed_or_resolved_in(bonus, contract, close):
    close(D(2026, 2, 28))
    errors = refused(
        lambda: variable_consideration_assess(
            item=bonus, period=D(2026, 2, 1), scenarios=scenarios(("1000", "1"))
        ),
        contract,
    )
    assert errors == {
        "period": [
            "February 2026 is closed; a closed period is never changed. Assess in the first open "
            "period, March 2026, and the change posts there."
        ]
    }
    errors = refused(
        lambda: variable_consideration_resolve(
            item=bonus, actual=usd("1000"), period=D(2026, 1, 20)
        ),
        contract,
    )
    assert list(errors) == ["period"]


def test_an_obligation_of_another_contract_is_refused(contract, contract_factory):
    other = contract_factory()
    foreign = contract.obligations.get()
    before = VariableConsideration.objects.count()
    with pytest.raises(ValidationError) as error:
        variable_consideration_create(
            contract=other,
            kind=Kind.OTHER,
            description="Misfiled",
            method=Method.MOST_LIKELY,
            obligation=foreign,
        )
    assert list(error.value.message_dict) == ["obligation"]
    assert VariableConsideration.objects.count() == before


def test_a_tie_under_most_likely_is_refused_naming_the_scenarios(contract):
    item = variable_consideration_create(
        contract=contract, kind=Kind.OTHER, description="Award fee", method=Method.MOST_LIKELY
    )
    errors = refused(
        lambda: variable_consideration_assess(
            item=item, period=D(2026, 1, 1), scenarios=scenarios(("0", "0.5"), ("900", "0.5"))
        ),
        contract,
    )
    assert list(errors) == ["scenarios"]
    assert "use the expected value" in errors["scenarios"][0]


def test_scenarios_typed_one_a_line_are_read_or_refused_by_line():
    assert parse_scenarios("12,000 @ 0.6\n\n0@0.4", "USD") == [
        Scenario(amount=usd("12000"), probability=Decimal("0.6")),
        Scenario(amount=usd("0"), probability=Decimal("0.4")),
    ]
    with pytest.raises(ValidationError) as error:
        parse_scenarios("12000 @ 0.6\ntwelve @ 0.4", "USD")
    assert error.value.message_dict == {
        "scenarios": ["Line 2 ('twelve @ 0.4') is not 'amount @ probability'."]
    }


def test_the_latest_assessment_of_a_month_on_or_before_the_date_counts(bonus, contract):
    for period, amount in [
        (D(2026, 1, 1), "100"),
        (D(2026, 3, 1), "300"),
        (D(2026, 3, 1), "350"),  # the same month again: supersedes 300, which stays as history
        (D(2026, 5, 1), "500"),
    ]:
        variable_consideration_assess(item=bonus, period=period, scenarios=scenarios((amount, "1")))
    [item] = variable_items([contract.pk])[contract.pk]
    assert [
        included_as_of(item, day).amount
        for day in (D(2025, 12, 31), D(2026, 2, 28), D(2026, 3, 1), D(2026, 4, 30), D(2026, 5, 31))
    ] == [usd("0"), usd("100"), usd("350"), usd("350"), usd("500")]
    assert item.assessments.count() == 4
    variable_consideration_resolve(item=bonus, actual=usd("450"), period=D(2026, 7, 4))
    [item] = variable_items([contract.pk])[contract.pk]
    # The actual replaces the estimates from its month on.
    assert [included_as_of(item, day).amount for day in (D(2026, 6, 30), D(2026, 7, 1))] == [
        usd("500"),
        usd("450"),
    ]


@pytest.fixture
def with_usage(contract, product_factory, contract_line_factory):
    """The contract plus API calls billed as used (recognized as billed)."""
    calls = product_factory(
        name="API calls", ssp=usd("0"), revenue_policy="as_consumed", default_billing_model="usage"
    )
    contract_line_factory(contract=contract, product=calls, usage=True)
    obligations_sync(contract=contract)
    subscription, usage = contract.obligations.order_by("sequence")
    return contract, subscription, usage


def test_usage_never_carries_variable_consideration(with_usage):
    contract, subscription, usage = with_usage
    # Tied to usage it would never be earned (usage earns what it bills): refused.
    with pytest.raises(ValidationError) as error:
        variable_consideration_create(
            contract=contract,
            kind=Kind.USAGE_COMMITMENT,
            description="Overage",
            method=Method.MOST_LIKELY,
            obligation=usage,
        )
    assert list(error.value.message_dict) == ["obligation"]
    # Pooled, it goes to the subscription alone: 12,000 + 600 = 12,600, usage keeps 0.
    item = variable_consideration_create(
        contract=contract, kind=Kind.USAGE_COMMITMENT, description="Overage", method="most_likely"
    )
    variable_consideration_assess(
        item=item, period=D(2026, 1, 1), scenarios=scenarios(("600", "1"))
    )
    subscription.refresh_from_db()
    usage.refresh_from_db()
    assert (subscription.allocated, usage.allocated) == (usd("12600"), usd("0"))
