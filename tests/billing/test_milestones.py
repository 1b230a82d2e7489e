"""Achieving milestones: invoiced at once, unless approval, a hold or the cap stops it."""

from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError
from djmoney.money import Money

from billing.milestones import milestone_achieve, milestone_approve, milestone_cancel
from billing.models import BillingEvent, Invoice
from contracts.models import Contract, Milestone
from contracts.services import HoldKind, hold_set

pytestmark = pytest.mark.django_db

TODAY = date.today


@pytest.fixture
def project(milestone_project) -> list[Milestone]:
    return milestone_project()


@pytest.fixture
def achieve(django_capture_on_commit_callbacks):
    """Achieve a milestone as a request would: committed, so its after-commit work runs."""

    def achieve(milestone, on=date(2026, 3, 10), by="pm", reference="", **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return milestone_achieve(
                milestone=milestone, achieved_on=on, achieved_by=by, reference=reference, **kwargs
            )

    return achieve


def milestone_invoices() -> list[Invoice]:
    return list(Invoice.objects.filter(lines__event__kind=BillingEvent.Kind.MILESTONE).distinct())


def test_an_achieved_milestone_is_invoiced_at_once_and_marked_invoiced(project, achieve):
    design = project[0]
    achieve(design, reference="PSA-1")

    [invoice] = milestone_invoices()
    assert invoice.status == Invoice.Status.ISSUED and invoice.number
    assert invoice.total == Money(30_000, "USD")
    assert invoice.invoice_date == TODAY()
    [line] = invoice.lines.all()
    assert line.event.bill_date == date(2026, 3, 10)
    assert "Design (achieved 10 Mar 2026)" in line.description
    design.refresh_from_db()
    assert design.status == Milestone.Status.INVOICED
    assert (design.approved_by, design.external_reference) == ("pm", "PSA-1")


def test_the_next_bill_run_finds_nothing_left_to_bill_for_it(project, achieve, bill):
    achieve(project[0])
    run = bill(TODAY())
    assert run.events_invoiced == 0
    assert len(milestone_invoices()) == 1


def test_achieving_twice_is_refused_unless_the_same_reference_retries(project, achieve):
    design = project[0]
    achieve(design, reference="T-1", by="psa")
    again = achieve(design, on=date(2026, 3, 11), reference="T-1", by="psa")
    assert again.achieved_on == date(2026, 3, 10)
    assert BillingEvent.objects.filter(kind=BillingEvent.Kind.MILESTONE).count() == 1
    assert len(milestone_invoices()) == 1
    with pytest.raises(ValidationError, match="already achieved on 2026-03-10"):
        achieve(design, on=date(2026, 3, 12), reference="T-2")


def test_cancelled_future_and_pre_service_achievements_are_refused(project, achieve):
    build, go_live = project[1], project[2]
    milestone_cancel(milestone=go_live, cancelled_by="finance", reason="descoped")
    with pytest.raises(ValidationError, match="cancelled"):
        achieve(go_live, on=date(2026, 9, 1))
    with pytest.raises(ValidationError, match="service starts on 2026-01-01"):
        achieve(build, on=date(2025, 12, 31))
    with pytest.raises(ValidationError, match="in the future"):
        achieve(build, on=TODAY() + timedelta(days=1))
    assert not BillingEvent.objects.filter(kind=BillingEvent.Kind.MILESTONE).exists()


def test_a_contract_that_goes_in_order_refuses_a_milestone_ahead_of_its_turn(project, achieve):
    design, build, go_live = project
    Contract.objects.filter(pk=design.line.contract_id).update(milestones_in_order=True)
    with pytest.raises(ValidationError, match="in order: 'Design' comes first"):
        achieve(build)
    # A cancelled milestone no longer stands in the way.
    milestone_cancel(milestone=design, cancelled_by="finance")
    achieve(build)
    with pytest.raises(ValidationError, match="cancelled"):
        achieve(design)
    assert build.__class__.objects.get(pk=build.pk).status == Milestone.Status.INVOICED
    assert go_live.__class__.objects.get(pk=go_live.pk).status == Milestone.Status.PLANNED


def test_cancelling_is_for_planned_milestones_only(project, achieve):
    design, build, _ = project
    achieve(design)
    with pytest.raises(ValidationError, match="Reverse an invoiced one with a credit note"):
        milestone_cancel(milestone=design, cancelled_by="finance")
    cancelled = milestone_cancel(milestone=build, cancelled_by="finance", reason="descoped")
    assert cancelled.status == Milestone.Status.CANCELLED
    assert "Cancelled by finance" in cancelled.evidence and "descoped" in cancelled.evidence


class TestApproval:
    @pytest.fixture
    def approval(self, project):
        Contract.objects.filter(pk=project[0].line.contract_id).update(milestone_approval=True)
        return project

    def test_an_achieved_milestone_waits_for_approval_then_is_invoiced(
        self, approval, achieve, django_capture_on_commit_callbacks
    ):
        design = achieve(approval[0], by="pm")
        assert design.awaiting_approval
        assert not BillingEvent.objects.filter(kind=BillingEvent.Kind.MILESTONE).exists()
        assert milestone_invoices() == []

        with pytest.raises(ValidationError, match="pm achieved this milestone"):
            milestone_approve(milestone=design, approved_by="pm")
        with django_capture_on_commit_callbacks(execute=True):
            approved = milestone_approve(milestone=design, approved_by="controller")

        assert approved.approved_by == "controller" and not approved.awaiting_approval
        [invoice] = milestone_invoices()
        assert invoice.total == Money(30_000, "USD")
        approved.refresh_from_db()
        assert approved.status == Milestone.Status.INVOICED
        with pytest.raises(ValidationError, match="not waiting for approval"):
            milestone_approve(milestone=approved, approved_by="controller")

    def test_a_bill_run_does_not_invoice_an_unapproved_milestone(self, approval, achieve, bill):
        achieve(approval[0])
        assert bill(TODAY()).events_invoiced == 0
        assert milestone_invoices() == []


class TestHolds:
    def test_a_milestone_achieved_under_a_billing_hold_is_invoiced_when_it_is_released(
        self, project, achieve, django_capture_on_commit_callbacks
    ):
        contract = project[0].line.contract
        hold_set(target=contract, kind=HoldKind.BILLING, on=True, reason="dispute")
        design = achieve(project[0])
        assert design.status == Milestone.Status.ACHIEVED
        assert milestone_invoices() == []

        with django_capture_on_commit_callbacks(execute=True):
            hold_set(target=contract, kind=HoldKind.BILLING, on=False)

        [invoice] = milestone_invoices()
        assert invoice.total == Money(30_000, "USD")
        design.refresh_from_db()
        assert design.status == Milestone.Status.INVOICED

    def test_releasing_a_contract_hold_leaves_what_the_customer_hold_keeps(
        self, project, achieve, django_capture_on_commit_callbacks
    ):
        contract = project[0].line.contract
        hold_set(target=contract.customer, kind=HoldKind.BILLING, on=True)
        hold_set(target=contract, kind=HoldKind.BILLING, on=True)
        achieve(project[0])
        with django_capture_on_commit_callbacks(execute=True):
            hold_set(target=contract, kind=HoldKind.BILLING, on=False)
        assert milestone_invoices() == []
        with django_capture_on_commit_callbacks(execute=True):
            hold_set(target=contract.customer, kind=HoldKind.BILLING, on=False)
        assert len(milestone_invoices()) == 1

    def test_under_a_delivery_hold_the_invoice_is_issued_but_not_sent(
        self, project, achieve, mailoutbox
    ):
        hold_set(target=project[0].line.contract, kind=HoldKind.DELIVERY, on=True)
        achieve(project[0])
        [invoice] = milestone_invoices()
        assert invoice.status == Invoice.Status.ISSUED and invoice.delivery_held
        assert invoice.sent_at is None
        assert not any(invoice.number in m.subject for m in mailoutbox)


class TestNotifications:
    @pytest.fixture
    def followers(self, project, django_user_model):
        contract = project[0].line.contract
        owner = django_user_model.objects.create_user("owner", "owner@example.com")
        manager = django_user_model.objects.create_user("manager", "pm@example.com")
        watcher = django_user_model.objects.create_user("watcher", "watch@example.com")
        silent = django_user_model.objects.create_user("silent", "")
        contract.finance_owner, contract.project_manager = owner, manager
        contract.save()
        contract.subscribers.set([watcher, silent, owner])
        return contract

    def milestone_mail(self, mailoutbox):
        return [m for m in mailoutbox if "Milestone" in m.subject]

    def test_followers_hear_once_each_that_the_milestone_was_invoiced(
        self, followers, project, achieve, mailoutbox
    ):
        achieve(project[0], reference="PSA-9")
        [mail] = self.milestone_mail(mailoutbox)
        invoice = milestone_invoices()[0]
        assert mail.to == ["owner@example.com", "pm@example.com", "watch@example.com"]
        assert mail.subject == (
            f"[{followers.number}] Milestone achieved: Design ($30,000.00), invoiced as "
            f"{invoice.number}"
        )
        assert f"Invoice {invoice.number} was issued" in mail.body
        assert "Reference:   PSA-9" in mail.body

    def test_they_hear_when_a_milestone_waits_for_approval_and_when_it_is_approved(
        self, followers, project, achieve, mailoutbox, django_capture_on_commit_callbacks
    ):
        Contract.objects.filter(pk=followers.pk).update(milestone_approval=True)
        design = achieve(project[0])
        [waiting] = self.milestone_mail(mailoutbox)
        assert waiting.subject.endswith("awaiting approval")
        assert "/admin/contracts/milestone/?awaiting=approval" in waiting.body
        with django_capture_on_commit_callbacks(execute=True):
            milestone_approve(milestone=design, approved_by="owner")
        approved = self.milestone_mail(mailoutbox)[1]
        assert approved.subject.startswith(f"[{followers.number}] Milestone approved: Design")
        assert "Approved by: owner" in approved.body

    def test_a_held_milestone_says_so(self, followers, project, achieve, mailoutbox):
        hold_set(target=followers, kind=HoldKind.BILLING, on=True, reason="PO expired")
        achieve(project[0])
        [mail] = self.milestone_mail(mailoutbox)
        assert mail.subject.endswith("on billing hold")
        assert "(PO expired)" in mail.body and "as soon as the hold is released" in mail.body

    def test_nobody_following_means_no_mail(self, project, achieve, mailoutbox):
        achieve(project[0])
        assert self.milestone_mail(mailoutbox) == []


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
