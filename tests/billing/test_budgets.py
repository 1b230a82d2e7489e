"""Not-to-exceed caps stop billing past them until an approved change order covers it."""

from datetime import date

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from djmoney.money import Money

from billing.budgets import budgets_of, contracts_over_budget
from billing.change_orders import change_order_approve
from billing.milestones import milestone_achieve
from billing.models import BillingEvent, Invoice
from billing.runs import bill_run_preview
from contracts.models import ChangeOrder, Contract, Milestone
from tests.admin_urls import admin_url

pytestmark = pytest.mark.django_db


def usd(amount) -> Money:
    return Money(amount, "USD")


@pytest.fixture
def capped_project(milestone_project) -> Contract:
    """A 100,000 USD project (30/40/30) whose contract may bill 50,000 at most."""
    design, _, _ = milestone_project(not_to_exceed=usd(50_000), cost_budget=usd(60_000))
    return design.line.contract


@pytest.fixture
def achieve(django_capture_on_commit_callbacks):
    def achieve(contract: Contract, name: str, on=date(2026, 4, 1)):
        milestone = Milestone.objects.get(line__contract=contract, name=name)
        with django_capture_on_commit_callbacks(execute=True):
            milestone_achieve(milestone=milestone, achieved_on=on, achieved_by="pm")
        milestone.refresh_from_db()
        return milestone

    return achieve


@pytest.fixture
def approve(django_capture_on_commit_callbacks):
    def approve(contract: Contract, reference: str, increase, by="cfo"):
        order = ChangeOrder.objects.create(
            contract=contract,
            reference=reference,
            reason="Extra integration work",
            not_to_exceed_increase=usd(increase),
            cost_budget_increase=usd(increase / 2),
            requested_by="pm",
        )
        with django_capture_on_commit_callbacks(execute=True):
            return change_order_approve(change_order=order, approved_by=by)

    return approve


def blocked_event(contract: Contract) -> BillingEvent:
    return BillingEvent.objects.exclude(blocked_reason="").get(contract=contract)


def test_a_milestone_that_would_cross_the_cap_is_stopped_with_its_reason(capped_project, achieve):
    assert achieve(capped_project, "Design").status == Milestone.Status.INVOICED
    build = achieve(capped_project, "Build")

    assert build.status == Milestone.Status.ACHIEVED
    assert Invoice.objects.count() == 1
    assert blocked_event(capped_project).blocked_reason == (
        f"Stopped by contract {capped_project.number}'s not-to-exceed of 50,000.00 USD: "
        "30,000.00 USD is billed and this charge of 40,000.00 USD would bring it to 70,000.00 "
        "USD. A change order raising the cap by at least 20,000.00 USD lets it bill."
    )


def test_the_budget_shows_cap_billed_scheduled_and_remaining(capped_project, achieve):
    achieve(capped_project, "Design")
    achieve(capped_project, "Build")
    budget = budgets_of([capped_project])[capped_project.pk]
    assert (budget.not_to_exceed, budget.billed, budget.scheduled, budget.remaining) == (
        usd(50_000),
        usd(30_000),
        usd(100_000),
        usd(20_000),
    )
    assert budget.cost_budget == usd(60_000)
    assert budget.over_budget
    assert contracts_over_budget() == [capped_project.pk]


def test_a_bill_run_leaves_the_stopped_event_pending_and_counts_it(capped_project, achieve, bill):
    achieve(capped_project, "Design")
    achieve(capped_project, "Build")
    run = bill(date(2026, 11, 1))
    assert (run.events_invoiced, run.events_blocked) == (0, 1)
    assert blocked_event(capped_project).status == BillingEvent.Status.PENDING


def test_an_approved_change_order_releases_what_it_covers_at_once(capped_project, achieve, approve):
    achieve(capped_project, "Design")
    build = achieve(capped_project, "Build")

    approve(capped_project, "CO-1", 15_000)  # cap 65,000: 30,000 + 40,000 still does not fit
    reason = blocked_event(capped_project).blocked_reason
    assert "raising the cap by at least 5,000.00 USD" in reason
    approve(capped_project, "CO-2", 5_000)  # cap 70,000: it fits exactly

    build.refresh_from_db()
    assert build.status == Milestone.Status.INVOICED
    assert not BillingEvent.objects.exclude(blocked_reason="").exists()
    budget = budgets_of([capped_project])[capped_project.pk]
    assert (budget.not_to_exceed, budget.billed, budget.remaining) == (
        usd(70_000),
        usd(70_000),
        usd(0),
    )
    assert budget.cost_budget == usd(70_000)


def test_a_change_order_counts_only_once_approved_by_someone_else(capped_project, approve):
    order = ChangeOrder.objects.create(
        contract=capped_project,
        reference="CO-9",
        reason="More rooms",
        not_to_exceed_increase=usd(10_000),
        requested_by="pm",
    )
    assert budgets_of([capped_project])[capped_project.pk].not_to_exceed == usd(50_000)
    with pytest.raises(ValidationError, match="pm requested change order CO-9"):
        change_order_approve(change_order=order, approved_by="pm")
    change_order_approve(change_order=order, approved_by="cfo")
    with pytest.raises(ValidationError, match="already approved by cfo"):
        change_order_approve(change_order=order, approved_by="controller")
    assert budgets_of([capped_project])[capped_project.pk].not_to_exceed == usd(60_000)
    # The database refuses a self-approval whatever the entry point.
    with pytest.raises(IntegrityError), transaction.atomic():
        ChangeOrder.objects.filter(pk=order.pk).update(approved_by="pm")


def test_a_capped_subscription_bills_in_date_order_and_later_periods_wait(
    contract_factory, contract_line_factory, activate, bill
):
    contract = contract_factory(not_to_exceed=usd(2_500))
    contract_line_factory(contract=contract, unit_price=usd(1_000))  # monthly in advance
    activate(contract)

    # A dry run shows the same invoice and writes no reasons.
    [proposed], _ = bill_run_preview(as_of=date(2026, 4, 1))
    assert proposed.subtotal == usd(2_000)
    assert not BillingEvent.objects.exclude(blocked_reason="").exists()

    run = bill(date(2026, 4, 1))

    assert (run.events_invoiced, run.events_blocked) == (2, 2)  # Jan, Feb; Mar and Apr stop
    march, april = BillingEvent.objects.exclude(blocked_reason="").order_by("bill_date")
    assert march.blocked_reason.startswith(f"Stopped by contract {contract.number}'s")
    assert "at least 500.00 USD" in march.blocked_reason
    assert april.blocked_reason == (
        f"Waits behind an earlier charge of contract {contract.number} stopped by its "
        "not-to-exceed of 2,500.00 USD."
    )
    assert Invoice.objects.get().subtotal == usd(2_000)


def test_contracts_without_a_cap_are_never_stopped(
    contract_factory, contract_line_factory, activate, bill
):
    contract = contract_factory()
    contract_line_factory(contract=contract, unit_price=usd(1_000))
    activate(contract)
    run = bill(date(2026, 12, 1))
    assert (run.events_invoiced, run.events_blocked) == (12, 0)
    assert not budgets_of([contract])[contract.pk].over_budget


def test_the_charges_list_shows_what_a_cap_stopped_and_why(capped_project, achieve, staff_client):
    achieve(capped_project, "Design")
    achieve(capped_project, "Build")
    page = staff_client.get(admin_url(BillingEvent, "changelist") + "?held=cap").content.decode()
    assert "Build (achieved" in page and "Design (achieved" not in page
    assert "would bring it to 70,000.00 USD" in page
