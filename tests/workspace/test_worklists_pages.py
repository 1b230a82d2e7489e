"""The worklists' pages: who may see and act, POST with CSRF only, paging, and query counts
that stay the same however many rows wait."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing.milestones import milestone_achieve
from billing.models import DeliveryAttempt, Invoice
from contracts.models import Contract, Customer, Milestone
from imports.models import ImportJob
from integrations.roles import AUDITOR, BILLING_CLERK, PROJECT_MANAGER
from tests.workspace.conftest import _attempt
from workspace.worklists.lists import WORKLISTS

pytestmark = pytest.mark.django_db

SLUGS = list(WORKLISTS)
HUB = reverse("admin:workspace_worklists")


def list_url(slug: str) -> str:
    return reverse("admin:workspace_worklist", args=[slug])


def action_url(slug: str, action: str, pk: int) -> str:
    return reverse("admin:workspace_worklist_action", args=[slug, action, pk])


# --- Who may see and act --------------------------------------------------------------------


def test_anonymous_users_are_sent_to_log_in(client):
    for url in (HUB, list_url("milestones")):
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith("/admin/login/")


@pytest.mark.parametrize("role", [None, PROJECT_MANAGER])
def test_staff_without_the_workspace_permission_are_refused(role_client, role, book):
    client = role_client(role)

    assert client.get(HUB).status_code == 403
    for slug in SLUGS:
        assert client.get(list_url(slug)).status_code == 403
    design = Milestone.objects.get(name="Design")
    assert client.post(action_url("milestones", "achieve", design.pk)).status_code == 403
    assert Milestone.objects.get(pk=design.pk).status == Milestone.Status.PLANNED


def test_auditors_see_every_list_and_change_nothing(role_client, book):
    client = role_client(AUDITOR)

    assert client.get(HUB).status_code == 200
    for slug in SLUGS:
        page = client.get(list_url(slug)).content.decode()
        assert 'class="wl-action"' not in page
    assert "may see these milestones but not mark them achieved" in (
        client.get(list_url("milestones")).content.decode()
    )
    refused = [
        ("milestones", "achieve", Milestone.objects.get(name="Design").pk, {}),
        ("approvals", "approve", Milestone.objects.get(name="Kick-off").pk, {}),
        ("drafts", "issue", book.draft.pk, {}),
        ("deliveries", "retry", book.undelivered.pk, {}),
        ("holds", "release", book.held_contract.pk, {"holder": "contract", "hold": "delivery"}),
        ("holds", "release", book.held_customer.pk, {"holder": "customer", "hold": "billing"}),
    ]
    for slug, action, pk, data in refused:
        assert client.post(action_url(slug, action, pk), data).status_code == 403
    assert Milestone.objects.get(name="Design").status == Milestone.Status.PLANNED
    assert Milestone.objects.get(name="Kick-off").awaiting_approval
    assert Invoice.objects.get(pk=book.draft.pk).status == Invoice.Status.DRAFT
    assert not book.undelivered.deliveries.filter(status=DeliveryAttempt.Status.SENT).exists()
    assert Contract.objects.get(pk=book.held_contract.pk).delivery_hold
    assert Customer.objects.get(pk=book.held_customer.pk).billing_hold


def test_billing_clerks_work_the_lists(role_client, book):
    client = role_client(BILLING_CLERK)

    assert 'class="wl-action"' in client.get(list_url("drafts")).content.decode()
    response = client.post(action_url("drafts", "issue", book.draft.pk))

    assert response.status_code == 302
    assert Invoice.objects.get(pk=book.draft.pk).status == Invoice.Status.ISSUED


def test_seeing_a_list_does_not_open_its_action(staff_with, book):
    client = staff_with(
        "workspace.view_workspace", "contracts.view_milestone", "contracts.view_contract"
    )

    hub = client.get(HUB).content.decode()
    page = client.get(list_url("milestones")).content.decode()

    # Only the lists of what the user may view are on the hub.
    assert "Milestones to achieve" in hub and "Invoices to review" not in hub
    assert client.get(list_url("drafts")).status_code == 403
    assert "Design" in page and 'class="wl-action"' not in page
    design = Milestone.objects.get(name="Design")
    assert client.post(action_url("milestones", "achieve", design.pk)).status_code == 403


def test_releasing_a_hold_needs_the_permission_to_change_its_holder(staff_with, book):
    client = staff_with(
        "workspace.view_workspace", "contracts.view_contract", "contracts.change_contract"
    )

    page = client.get(list_url("holds")).content.decode()
    customer = client.post(
        action_url("holds", "release", book.held_customer.pk),
        {"holder": "customer", "hold": "billing"},
    )
    contract = client.post(
        action_url("holds", "release", book.held_contract.pk),
        {"holder": "contract", "hold": "delivery"},
    )

    assert "may see these holds but not release them" in page
    assert customer.status_code == 403
    assert Customer.objects.get(pk=book.held_customer.pk).billing_hold
    assert contract.status_code == 302
    assert not Contract.objects.get(pk=book.held_contract.pk).delivery_hold


def test_actions_are_posts_with_the_csrf_token(staff_client, book, django_user_model):
    design = Milestone.objects.get(name="Design")
    url = action_url("milestones", "achieve", design.pk)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(django_user_model.objects.get(username="finance"))

    assert staff_client.get(url).status_code == 405
    assert strict.post(url).status_code == 403
    assert Milestone.objects.get(pk=design.pk).status == Milestone.Status.PLANNED
    # The page's own button carries the token.
    page = strict.get(list_url("milestones"))
    token = page.context["csrf_token"]
    assert f'value="{token}"' in page.content.decode()
    assert strict.post(url, {"csrfmiddlewaretoken": str(token)}).status_code == 302
    assert Milestone.objects.get(pk=design.pk).status == Milestone.Status.INVOICED


def test_unknown_lists_and_actions_are_not_found(staff_client, book):
    assert staff_client.get(list_url("everything")).status_code == 404
    assert staff_client.post(action_url("imports", "delete", 1)).status_code == 404
    assert staff_client.post(action_url("milestones", "approve", 1)).status_code == 404
    assert staff_client.post(action_url("milestones", "achieve", 99999)).status_code == 404


# --- Paging ---------------------------------------------------------------------------------


def test_long_lists_come_a_page_at_a_time(staff_client, book, monkeypatch, today):
    monkeypatch.setattr("workspace.worklists.views.PAGE_SIZE", 1)

    first = staff_client.get(list_url("milestones")).content.decode()
    second = staff_client.get(list_url("milestones") + "?page=2").content.decode()
    beyond = staff_client.get(list_url("milestones") + "?page=99").content.decode()
    junk = staff_client.get(list_url("milestones") + "?page=x").content.decode()

    assert "Design" in first and "Build" not in first and "Rows 1 to 1 of 2" in first
    assert "Build" in second and "Design" not in second and "Rows 2 to 2 of 2" in second
    assert "Build" in beyond  # past the end: the last page
    assert "Design" in junk  # not a number: the first page
    # Acting on page 2 comes back to page 2.
    build = Milestone.objects.get(name="Build")
    response = staff_client.post(action_url("milestones", "achieve", build.pk), {"page": "2"})
    assert response.url == list_url("milestones") + "?page=2"


def test_holds_beyond_a_page_point_to_the_admin_list(staff_client, book, monkeypatch):
    monkeypatch.setattr("workspace.worklists.views.PAGE_SIZE", 1)
    Contract.objects.filter(number="K-WL-4").update(billing_hold=True)

    page = staff_client.get(list_url("holds")).content.decode()

    assert "And 1 more: see the" in page
    assert reverse("admin:contracts_contract_changelist") in page


# --- Query counts ---------------------------------------------------------------------------


def _queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured)


@pytest.fixture
def more_rows(
    milestone_contract,
    activate,
    issued_invoice,
    bill,
    customer_factory,
    contract_factory,
    contract_line_factory,
    today,
):
    """Add three more rows to every list."""

    def add() -> None:
        for n in range(3):
            due = milestone_contract(
                f"K-MORE-{n}", [("Extra", today - timedelta(days=n + 1), 100_000)]
            )
            approval = milestone_contract(
                f"K-APPR-{n}",
                [("Extra kick-off", today - timedelta(days=3), 100_000)],
                milestone_approval=True,
            )
            activate(due, approval)
            milestone_achieve(
                milestone=approval.lines.get().milestones.get(),
                achieved_on=today,
                achieved_by="pm",
            )
            reviewed = customer_factory(invoice_review="review")
            drafted = contract_factory(customer=reviewed, start_date=today, end_date=today)
            contract_line_factory(contract=drafted, one_time=True)
            activate(drafted)
            failed = issued_invoice("100.00", issued_on=today)
            _attempt(failed, DeliveryAttempt.Status.FAILED, "refused")
            customer_factory(delivery_hold=True)
            held = contract_factory(billing_hold=True, delivery_hold=True)
            contract_line_factory(contract=held, one_time=True)
            activate(held)
            ImportJob.objects.create(layout="usage", file_name=f"more-{n}.csv", status="failed")
        bill(today)

    return add


def test_every_page_takes_as_many_queries_for_many_rows_as_for_few(
    staff_client, book, more_rows, django_assert_max_num_queries
):
    urls = [HUB, *(list_url(slug) for slug in SLUGS)]
    few = {url: _queries(staff_client, url) for url in urls}

    more_rows()

    counts = {url: _queries(staff_client, url) for url in urls}
    assert counts == few
    assert max(few.values()) <= 12, few
    assert Milestone.objects.filter(name="Extra").count() == 3  # the rows did grow
    assert Invoice.objects.filter(status=Invoice.Status.DRAFT).count() == 4
    with django_assert_max_num_queries(few[list_url("holds")]):
        staff_client.get(list_url("holds"))


def test_nothing_waiting_says_so(staff_client):
    for slug, empty in [
        ("milestones", "No milestone is due"),
        ("approvals", "No milestone waits for approval"),
        ("drafts", "No draft invoice waits for review"),
        ("deliveries", "No failed delivery"),
        ("imports", "No import of the last 30 days had errors"),
        ("holds", "No customer is on hold"),
    ]:
        assert empty in staff_client.get(list_url(slug)).content.decode()
