"""Achieving milestones: each becomes due for billing once, on its achievement date."""

from datetime import date

import pytest
from django.core.exceptions import ValidationError
from djmoney.money import Money

from billing.milestones import milestone_achieve
from billing.models import BillingEvent, Invoice
from contracts.models import Milestone
from tests.admin_urls import admin_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(contract_factory, contract_line_factory, activate):
    """An active project of 100,000 USD with a 30/40/30 milestone schedule."""
    contract = contract_factory()
    line = contract_line_factory(
        contract=contract, milestone=True, unit_price=Money(100_000, "USD")
    )
    milestones = [
        Milestone.objects.create(
            line=line, sequence=n, name=name, planned_date=date(2026, m, 1), amount=Money(a, "USD")
        )
        for n, (name, m, a) in enumerate(
            [("Design", 3, 30_000), ("Build", 6, 40_000), ("Go-live", 9, 30_000)], start=1
        )
    ]
    activate(contract)
    return milestones


def test_an_achieved_milestone_is_invoiced_by_the_next_run_and_marked_invoiced(project, bill):
    design = project[0]
    milestone_achieve(milestone=design, achieved_on=date(2026, 3, 10), achieved_by="pm")
    event = BillingEvent.objects.get(kind=BillingEvent.Kind.MILESTONE)
    assert (event.bill_date, event.amount) == (date(2026, 3, 10), Money(30_000, "USD"))

    bill(date(2026, 3, 10))

    invoice = Invoice.objects.get()
    assert invoice.total == Money(30_000, "USD")
    design.refresh_from_db()
    assert design.status == Milestone.Status.INVOICED


def test_achieving_twice_is_refused_unless_the_same_reference_retries(project):
    design = project[0]
    milestone_achieve(
        milestone=design, achieved_on=date(2026, 3, 10), achieved_by="psa", reference="T-1"
    )
    again = milestone_achieve(
        milestone=design, achieved_on=date(2026, 3, 11), achieved_by="psa", reference="T-1"
    )
    assert again.achieved_on == date(2026, 3, 10)
    assert BillingEvent.objects.filter(kind=BillingEvent.Kind.MILESTONE).count() == 1
    with pytest.raises(ValidationError, match="already achieved on 2026-03-10"):
        milestone_achieve(milestone=design, achieved_on=date(2026, 3, 12), achieved_by="pm")


def test_a_cancelled_milestone_or_a_date_before_the_service_cannot_be_achieved(project):
    build, go_live = project[1], project[2]
    Milestone.objects.filter(pk=go_live.pk).update(status=Milestone.Status.CANCELLED)
    with pytest.raises(ValidationError, match="cancelled"):
        milestone_achieve(milestone=go_live, achieved_on=date(2026, 9, 1), achieved_by="pm")
    with pytest.raises(ValidationError, match="service starts on 2026-01-01"):
        milestone_achieve(milestone=build, achieved_on=date(2025, 12, 31), achieved_by="pm")
    assert not BillingEvent.objects.filter(kind=BillingEvent.Kind.MILESTONE).exists()


def test_the_admin_action_achieves_on_the_date_given(project, staff_client):
    design = project[0]
    response = staff_client.post(
        admin_url(Milestone, "changelist"),
        {
            "action": "achieve",
            "_selected_action": [design.pk],
            "achieved_on": "2026-03-15",
            "reference": "PSA-7",
        },
        follow=True,
    )
    assert "Marked 1 milestone(s) achieved." in response.content.decode()
    design.refresh_from_db()
    assert (design.status, design.achieved_on, design.achieved_by, design.external_reference) == (
        Milestone.Status.ACHIEVED,
        date(2026, 3, 15),
        "finance",
        "PSA-7",
    )
    # History is read-only: an achieved milestone cannot be edited or deleted.
    page = staff_client.get(admin_url(Milestone, "change", design.pk)).content.decode()
    assert 'name="planned_date"' not in page


def test_a_milestone_on_a_subscription_line_or_in_another_currency_is_refused(
    contract_line_factory,
):
    subscription = contract_line_factory()
    milestone = Milestone(
        line=subscription,
        sequence=1,
        name="x",
        planned_date=date(2026, 3, 1),
        amount=Money(1, "USD"),
    )
    with pytest.raises(ValidationError, match="Only milestone lines"):
        milestone.full_clean()
    project = contract_line_factory(milestone=True, unit_price=Money(10, "USD"))
    milestone = Milestone(
        line=project, sequence=1, name="x", planned_date=date(2026, 3, 1), amount=Money(1, "EUR")
    )
    with pytest.raises(ValidationError, match="enter the amount in USD"):
        milestone.full_clean()
