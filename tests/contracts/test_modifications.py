"""Contract modifications on the contracts side: the treatment rule, checks, applying, as-of."""

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from djmoney.money import Money

from contracts.domain.modifications import ChangeFacts, propose_treatment
from contracts.models import (
    Contract,
    ContractLine,
    Milestone,
    Modification,
    ModificationChange,
    RevenuePolicy,
)
from contracts.modifications import (
    contract_as_of,
    modification_apply,
    modification_preview,
    modification_proposed_treatment,
    modification_validate,
)
from contracts.signals import contract_modified

pytestmark = pytest.mark.django_db

Kind = ModificationChange.Kind


def usd(amount) -> Money:
    return Money(amount, "USD")


@pytest.fixture
def seats(contract_factory, contract_line_factory, django_capture_on_commit_callbacks):
    """10 seats x 100.00 USD a month, in advance, 1 April 2026 to 31 March 2027, active."""
    contract = contract_factory(
        start_date=date(2026, 4, 1), end_date=date(2027, 3, 31), status=Contract.Status.ACTIVE
    )
    return contract_line_factory(
        contract=contract, sequence=1, quantity=Decimal(10), unit_price=usd("100.00")
    )


def draft(contract, effective, *changes, **fields) -> Modification:
    modification = Modification.objects.create(
        contract=contract,
        reference=f"A-{Modification.objects.count() + 1}",
        effective_date=effective,
        description="Customer asked",
        **fields,
    )
    for change in changes:
        ModificationChange.objects.create(modification=modification, **change)
    return modification


@pytest.fixture
def announced():
    """Record what ``contract_modified`` sends."""
    calls = []

    def receiver(sender, **kwargs):
        calls.append(kwargs)

    contract_modified.connect(receiver, dispatch_uid="test-modified")
    yield calls
    contract_modified.disconnect(dispatch_uid="test-modified")


# --- The treatment rule (pure) ------------------------------------------------------------------


def test_rule_only_added_lines_at_ssp_are_a_separate_contract():
    added = ChangeFacts(adds_line=True, at_ssp=True, policies=frozenset())
    assert propose_treatment([added, added])[0] == "separate_contract"


def test_rule_a_discounted_addition_or_a_subscription_change_is_prospective():
    discounted = ChangeFacts(adds_line=True, at_ssp=False, policies=frozenset())
    seats = ChangeFacts(adds_line=False, at_ssp=False, policies=frozenset({"ratable"}))
    at_ssp = ChangeFacts(adds_line=True, at_ssp=True, policies=frozenset())
    assert propose_treatment([discounted])[0] == "prospective"
    assert propose_treatment([seats, at_ssp])[0] == "prospective"


@pytest.mark.parametrize("policy", ["milestone", "percent_complete"])
def test_rule_a_change_to_a_project_measured_by_progress_is_a_catch_up(policy):
    scope = ChangeFacts(adds_line=False, at_ssp=False, policies=frozenset({policy, "ratable"}))
    treatment, why = propose_treatment([scope])
    assert treatment == "catch_up"
    assert "25-13b" in why


def test_proposal_reads_prices_against_the_product_ssp(seats, product_factory):
    addon = product_factory(ssp=usd("40.00"))
    add = {"kind": Kind.ADD_LINE, "product": addon, "quantity": Decimal(1)}
    at_ssp = draft(seats.contract, date(2026, 5, 1), {**add, "unit_price": usd("40.00")})
    below = draft(seats.contract, date(2026, 5, 1), {**add, "unit_price": usd("35.00")})
    assert modification_proposed_treatment(modification=at_ssp)[0] == "separate_contract"
    assert modification_proposed_treatment(modification=below)[0] == "prospective"


# --- Checks -------------------------------------------------------------------------------------


def assert_refused(modification, field, fragment):
    before = list(ContractLine.objects.order_by("pk").values())
    with pytest.raises(ValidationError) as caught:
        modification_apply(modification=modification, by="finance")
    assert field in caught.value.message_dict, caught.value.message_dict
    assert fragment in " ".join(caught.value.message_dict[field])
    # Nothing changed: the lines as they were, the modification still a draft.
    assert list(ContractLine.objects.order_by("pk").values()) == before
    modification.refresh_from_db()
    assert modification.status == Modification.Status.DRAFT


def test_effective_date_outside_the_term_is_refused(seats):
    change = {"kind": Kind.CHANGE_QUANTITY, "line": seats, "quantity": Decimal(12)}
    assert_refused(draft(seats.contract, date(2027, 4, 1), change), "effective_date", "term")


def test_price_in_another_currency_is_refused(seats):
    change = {"kind": Kind.CHANGE_PRICE, "line": seats, "unit_price": Money("90", "EUR")}
    assert_refused(draft(seats.contract, date(2026, 5, 1), change), "unit_price", "in USD")


def test_quantity_must_be_positive_naming_the_field(seats):
    modification = draft(seats.contract, date(2026, 5, 1))
    change = ModificationChange(
        modification=modification, kind=Kind.CHANGE_QUANTITY, line=seats, quantity=Decimal(0)
    )
    with pytest.raises(ValidationError) as caught:
        modification_validate(modification=modification, changes=[change])
    assert "greater than zero" in caught.value.message_dict["quantity"][0]


def test_a_line_not_in_service_on_the_effective_date_is_refused(seats, contract_line_factory):
    later = contract_line_factory(
        contract=seats.contract, sequence=2, service_start=date(2026, 9, 1)
    )
    change = {"kind": Kind.CHANGE_QUANTITY, "line": later, "quantity": Decimal(3)}
    assert_refused(draft(seats.contract, date(2026, 5, 1), change), "line", "not in service")


def test_overriding_the_treatment_needs_a_reason(seats):
    change = {"kind": Kind.CHANGE_QUANTITY, "line": seats, "quantity": Decimal(12)}
    modification = draft(seats.contract, date(2026, 5, 1), change, treatment="catch_up")
    assert_refused(modification, "treatment_reason", "prospective")
    modification.treatment_reason = "The seats are one integrated service in this deal."
    modification.save()
    assert modification_apply(modification=modification).treatment == "catch_up"


def test_a_draft_contract_is_edited_directly_not_modified(contract_factory, contract_line_factory):
    line = contract_line_factory(contract=contract_factory())
    change = {"kind": Kind.CHANGE_QUANTITY, "line": line, "quantity": Decimal(3)}
    assert_refused(draft(line.contract, date(2026, 5, 1), change), "contract", "draft")


# --- Applying -----------------------------------------------------------------------------------


def test_a_seat_change_splits_the_line_at_the_effective_date(
    seats, announced, django_capture_on_commit_callbacks
):
    change = {"kind": Kind.CHANGE_QUANTITY, "line": seats, "quantity": Decimal(15)}
    modification = draft(seats.contract, date(2026, 4, 16), change)
    with django_capture_on_commit_callbacks(execute=True):
        applied = modification_apply(modification=modification, by="ana")

    seats.refresh_from_db()
    successor = seats.continued_by.get()
    assert seats.service_end == date(2026, 4, 15)
    assert (successor.sequence, successor.quantity, successor.unit_price) == (
        2,
        Decimal(15),
        usd("100.00"),
    )
    assert (successor.service_start, successor.service_end) == (
        date(2026, 4, 16),
        date(2027, 3, 31),
    )
    assert successor.billing_anchor == date(2026, 4, 1)  # keeps the 1st-of-month cycle
    assert applied.status == "applied" and applied.applied_by == "ana"
    assert applied.changes.get().result_line == successor
    assert announced == [
        {
            "signal": contract_modified,
            "contract": seats.contract,
            "modification_id": modification.pk,
            "effective_date": date(2026, 4, 16),
            "treatment": "prospective",
        }
    ]


def test_applying_twice_applies_once(seats, announced, django_capture_on_commit_callbacks):
    change = {"kind": Kind.CHANGE_QUANTITY, "line": seats, "quantity": Decimal(15)}
    modification = draft(seats.contract, date(2026, 4, 16), change)
    with django_capture_on_commit_callbacks(execute=True):
        modification_apply(modification=modification, by="ana")
        modification_apply(modification=modification, by="ben")

    assert seats.contract.lines.count() == 2
    assert Modification.objects.get().applied_by == "ana"
    assert len(announced) == 1


def test_a_milestone_project_value_change_is_a_catch_up_in_place(
    contract_factory, contract_line_factory, announced, django_capture_on_commit_callbacks
):
    contract = contract_factory(status=Contract.Status.ACTIVE)
    line = contract_line_factory(
        contract=contract,
        milestone=True,
        unit_price=usd("100000"),
        revenue_policy_override=RevenuePolicy.MILESTONE,
    )
    change = {"kind": Kind.CHANGE_PRICE, "line": line, "unit_price": usd("120000")}
    with django_capture_on_commit_callbacks(execute=True):
        modification_apply(modification=draft(contract, date(2026, 6, 1), change))

    line.refresh_from_db()
    # One obligation, re-valued: no split, the catch-up treatment announced.
    assert contract.lines.count() == 1 and line.unit_price == usd("120000")
    assert announced[0]["treatment"] == "catch_up"


def test_termination_ends_lines_cancels_unstarted_ones_and_planned_milestones(
    seats, contract_line_factory
):
    later = contract_line_factory(
        contract=seats.contract, sequence=2, service_start=date(2026, 9, 1)
    )
    project = contract_line_factory(contract=seats.contract, sequence=3, milestone=True)
    planned = Milestone.objects.create(
        line=project, sequence=1, name="Go-live", planned_date=date(2026, 8, 1), amount=usd(100)
    )
    modification_apply(
        modification=draft(seats.contract, date(2026, 7, 1), {"kind": Kind.TERMINATE})
    )

    contract = Contract.objects.get()
    assert (contract.status, contract.terminated_on, contract.end_date) == (
        "terminated",
        date(2026, 7, 1),
        date(2026, 6, 30),
    )
    assert not ContractLine.objects.filter(pk=later.pk).exists()
    assert set(contract.lines.values_list("service_end", flat=True)) == {date(2026, 6, 30)}
    planned.refresh_from_db()
    assert planned.status == Milestone.Status.CANCELLED


# --- Preview and the contract as of a date ------------------------------------------------------


def test_preview_says_what_applying_would_do_and_changes_nothing(seats):
    change = {"kind": Kind.CHANGE_QUANTITY, "line": seats, "quantity": Decimal(15)}
    modification = draft(seats.contract, date(2026, 4, 16), change)

    preview = modification_preview(modification=modification)

    assert preview.treatment == preview.proposed_treatment == "prospective"
    assert preview.ending == [f"Line 1 {seats.product.name} now ends 2026-04-15"]
    assert preview.starting == [
        f"Line 2 {seats.product.name}: 15 x $100.00, 2026-04-16 to 2027-03-31"
    ]
    assert seats.contract.lines.count() == 1
    modification.refresh_from_db()
    assert modification.status == "draft"


def test_contract_as_of_shows_the_lines_and_end_in_effect_on_each_date(seats):
    seats_change = {"kind": Kind.CHANGE_QUANTITY, "line": seats, "quantity": Decimal(15)}
    first = modification_apply(modification=draft(seats.contract, date(2026, 4, 16), seats_change))
    extension = {"kind": Kind.CHANGE_TERM, "new_end_date": date(2027, 6, 30)}
    second = modification_apply(modification=draft(seats.contract, date(2026, 10, 1), extension))

    seats.contract.refresh_from_db()
    before = contract_as_of(contract=seats.contract, on=date(2026, 4, 15))
    assert [(line.sequence, line.quantity) for line in before.lines] == [(1, Decimal(10))]
    assert before.end_date == date(2027, 3, 31)
    assert before.modifications == [] and before.later_modifications == [first, second]

    between = contract_as_of(contract=seats.contract, on=date(2026, 4, 16))
    assert [(line.sequence, line.quantity) for line in between.lines] == [(2, Decimal(15))]
    assert between.end_date == date(2027, 3, 31)
    assert between.modifications == [first]

    after = contract_as_of(contract=seats.contract, on=date(2027, 5, 1))
    assert [line.sequence for line in after.lines] == [2]
    assert (after.end_date, after.status) == (date(2027, 6, 30), "In effect")
