"""The worklists: each lists the rows waiting on it and no others, and each action does what it
says once (a second click changes nothing and says why)."""

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse

from billing.models import DeliveryAttempt, Invoice, InvoiceSequence
from contracts.models import Contract, Customer, Milestone
from imports.models import ImportJob
from integrations.roles import FINANCE_ADMIN

pytestmark = pytest.mark.django_db


def page_of(client, slug: str) -> str:
    response = client.get(reverse("admin:workspace_worklist", args=[slug]))
    assert response.status_code == 200
    return response.content.decode()


def act(client, slug: str, action: str, pk: int, **data) -> list[tuple[str, str]]:
    """Post an action; return the messages the list shows after the redirect, (level, text)."""
    url = reverse("admin:workspace_worklist_action", args=[slug, action, pk])
    response = client.post(url, data, follow=True)
    assert response.redirect_chain == [(reverse("admin:workspace_worklist", args=[slug]), 302)]
    return [(m.level_tag, str(m)) for m in response.context["messages"]]


def rows(html: str) -> list[str]:
    """The text of each body row of the page's tables, tags stripped."""
    bodies = re.findall(r"<tbody>(.*?)</tbody>", html, re.S)
    found = re.findall(r"<tr>(.*?)</tr>", "".join(bodies), re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", row).split()) for row in found]


# --- What each list holds -------------------------------------------------------------------


def test_milestones_to_achieve_are_the_due_ones_of_active_contracts(staff_client, book, today):
    listed = rows(page_of(staff_client, "milestones"))

    assert [row.split(" ")[0] for row in listed] == [
        str(today - timedelta(days=30)),
        str(today),
    ]
    assert "Design" in listed[0] and "overdue" in listed[0] and "30,000.00 USD" in listed[0]
    assert "Build" in listed[1] and "overdue" not in listed[1]
    page = "\n".join(listed)
    # Not yet due, achieved already, or of a contract that is not active.
    for absent in ("Go-live", "Kick-off", "Not active"):
        assert absent not in page


def test_milestones_to_approve_are_the_achieved_ones_awaiting_approval(staff_client, book):
    (row,) = rows(page_of(staff_client, "approvals"))

    assert "Kick-off" in row and "pm" in row and "PSA-7" in row and "K-WL-2" in row
    assert "100,000.00 USD" in row


def test_invoices_to_review_are_the_drafts(staff_client, book):
    (row,) = rows(page_of(staff_client, "drafts"))

    assert f"Draft #{book.draft.pk}" in row and "Northwind Traders" in row
    assert "1,200.00 USD" in row


def test_failed_deliveries_are_invoices_whose_last_attempt_failed(staff_client, book):
    (row,) = rows(page_of(staff_client, "deliveries"))

    # The delivered invoice failed once too, then went out: it is not listed.
    assert book.undelivered.number in row and book.delivered.number not in row
    assert "SMTPServerDisconnected: gone" in row and "500.00 USD" in row


def test_holds_list_customers_and_contracts_with_what_they_keep_back(
    staff_client, book, contract_factory, contract_line_factory, activate, today
):
    # A contract on billing hold with a one-time charge due: kept back, with its amount.
    held = contract_factory(
        number="K-WL-6", start_date=today, end_date=today.replace(year=today.year + 1)
    )
    contract_line_factory(contract=held, one_time=True, unit_price=book.draft.total * 2)
    activate(held)
    Contract.objects.filter(pk=held.pk).update(
        billing_hold=True, delivery_hold=True, hold_reason="Disputed"
    )
    # An invoice issued under its delivery hold, not sent.
    Invoice.objects.filter(pk=book.undelivered.pk).update(delivery_held=True)
    book.undelivered.lines.update(contract_line=held.lines.get())

    html = page_of(staff_client, "holds")
    customers, contracts = html.split("Contracts on hold")

    (customer,) = rows(customers)
    assert "Blue Yonder Airlines" in customer and "Credit review" in customer
    assert "billing" in customer and "No charge due yet" in customer
    listed = {row.split(" ")[0]: row for row in rows(contracts)}
    assert set(listed) == {"K-WL-5", "K-WL-6"}
    assert "delivery" in listed["K-WL-5"] and "No invoice waiting to be sent" in listed["K-WL-5"]
    assert "1 charge due: 2,400.00 USD" in listed["K-WL-6"]
    assert "1 invoice not sent" in listed["K-WL-6"]
    assert "Release billing hold" in html and "Release delivery hold" in html


def test_import_jobs_with_errors_are_the_recent_real_imports_that_failed_or_left_rows_out(
    staff_client, book
):
    html = page_of(staff_client, "imports")
    listed = rows(html)

    assert len(listed) == 2
    assert "usage-feb.csv" in listed[0] and "Row 3: quantity: not a number" in listed[0]
    assert "customers-march.csv" in listed[1] and "Bad header" in listed[1]
    # Its errors file is one click away; the clean, the dry run and the old one are not listed.
    job = ImportJob.objects.get(file_name="usage-feb.csv")
    assert reverse("admin:imports_importjob_download", args=[job.pk, "errors"]) in html
    for absent in ("usage-clean.csv", "usage-preview.csv", "usage-2025.csv"):
        assert absent not in html


def test_the_hub_counts_every_list_and_links_to_it(staff_client, book):
    response = staff_client.get(reverse("admin:workspace_worklists"))
    html = response.content.decode()

    cards = re.findall(
        r'<a class="fig-card wl-card[^"]*" href="([^"]+)">\s*<span class="fig-card-label">([^<]+)'
        r'</span>\s*<span class="fig-card-figure wl-count">(\d+)</span>',
        html,
    )
    assert [(title, int(count)) for _, title, count in cards] == [
        ("Milestones to achieve", 2),
        ("Milestones to approve", 1),
        ("Invoices to review", 1),
        ("Holds", 2),
        ("Failed deliveries", 1),
        ("Import jobs with errors", 2),
        ("Renewals due", 0),
    ]
    links = {title: url for url, title, _ in cards}
    assert links["Renewals due"] == reverse("admin:contracts_contractrenewal_changelist")
    assert links["Holds"] == reverse("admin:workspace_worklist", args=["holds"])


def test_the_renewals_count_is_what_the_renewal_worklist_lists(
    staff_client, book, contract_factory, today
):
    # Active terms ending in 60 days (listed) and in 400 days (not); the book's end in 245.
    for number, days in (("K-R-1", 60), ("K-R-2", 400)):
        contract_factory(
            number=number,
            status=Contract.Status.ACTIVE,
            start_date=today - timedelta(days=300),
            end_date=today + timedelta(days=days),
        )
    html = staff_client.get(reverse("admin:workspace_worklists")).content.decode()
    renewals = staff_client.get(reverse("admin:contracts_contractrenewal_changelist"))

    assert re.search(r"Renewals due</span>\s*<span[^>]*>1<", html)
    assert renewals.context["cl"].result_count == 1


# --- The actions, once and twice ------------------------------------------------------------


def test_achieve_invoices_the_milestone_once(staff_client, book):
    design = Milestone.objects.get(name="Design")

    [(level, text)] = act(staff_client, "milestones", "achieve", design.pk)

    design.refresh_from_db()
    invoice = Invoice.objects.exclude(number="").get(
        lines__event__source_key__endswith=f":{design.pk}"
    )
    assert design.status == Milestone.Status.INVOICED and design.achieved_by == "finance"
    assert level == "success"
    assert f">{invoice.number}</a> for 30,000.00 USD" in text
    assert reverse("admin:billing_invoice_change", args=[invoice.pk]) in text
    assert "Design" not in "\n".join(rows(page_of(staff_client, "milestones")))

    invoices = Invoice.objects.count()
    [(level, text)] = act(staff_client, "milestones", "achieve", design.pk)

    assert level == "error"
    assert "was already achieved" in text and "Nothing was changed." in text
    assert Invoice.objects.count() == invoices


def test_approve_invoices_the_milestone_once(staff_client, book):
    kick_off = Milestone.objects.get(name="Kick-off")

    [(level, text)] = act(staff_client, "approvals", "approve", kick_off.pk)

    kick_off.refresh_from_db()
    assert level == "success" and "Kick-off is invoiced: invoice" in text
    assert kick_off.status == Milestone.Status.INVOICED and kick_off.approved_by == "finance"
    invoices = Invoice.objects.count()

    [(level, text)] = act(staff_client, "approvals", "approve", kick_off.pk)

    assert level == "error" and "is not waiting for approval" in text
    assert Invoice.objects.count() == invoices


def test_whoever_achieved_a_milestone_cannot_approve_it(role_client, book):
    client = role_client(FINANCE_ADMIN, username="pm")
    kick_off = Milestone.objects.get(name="Kick-off")

    [(level, text)] = act(client, "approvals", "approve", kick_off.pk)

    assert level == "error" and "pm achieved this milestone; someone else approves it." in text
    kick_off.refresh_from_db()
    assert kick_off.awaiting_approval


def test_issue_numbers_the_draft_once(staff_client, book, mailoutbox):
    [(level, text)] = act(staff_client, "drafts", "issue", book.draft.pk)

    book.draft.refresh_from_db()
    assert book.draft.status == Invoice.Status.ISSUED and book.draft.number
    assert level == "success"
    assert f">{book.draft.number}</a> to Northwind Traders for 1,200.00 USD, due" in text
    numbers = list(InvoiceSequence.objects.values_list("last_number", flat=True))

    [(level, text)] = act(staff_client, "drafts", "issue", book.draft.pk)

    assert level == "error" and "only drafts are issued" in text
    assert list(InvoiceSequence.objects.values_list("last_number", flat=True)) == numbers
    assert rows(page_of(staff_client, "drafts")) == ["No draft invoice waits for review."]


def test_releasing_a_billing_hold_invoices_the_milestone_it_kept_back(
    staff_client, book, django_capture_on_commit_callbacks
):
    Contract.objects.filter(pk=book.project.pk).update(billing_hold=True, hold_reason="PO")
    design = Milestone.objects.get(name="Design")
    [(level, text)] = act(staff_client, "milestones", "achieve", design.pk)
    assert level == "warning" and "on billing hold (PO)" in text

    with django_capture_on_commit_callbacks(execute=True):
        [(level, text)] = act(
            staff_client, "holds", "release", book.project.pk, holder="contract", hold="billing"
        )

    assert level == "success"
    assert text.startswith("Released the billing hold on contract K-WL-1.")
    design.refresh_from_db()
    assert design.status == Milestone.Status.INVOICED
    book.project.refresh_from_db()
    assert not book.project.billing_hold and book.project.hold_reason == ""
    invoices = Invoice.objects.count()

    [(level, text)] = act(
        staff_client, "holds", "release", book.project.pk, holder="contract", hold="billing"
    )

    assert level == "warning" and "not on billing hold (released already): no change" in text
    assert Invoice.objects.count() == invoices


def test_releasing_a_customer_hold(staff_client, book):
    [(level, text)] = act(
        staff_client, "holds", "release", book.held_customer.pk, holder="customer", hold="billing"
    )

    book.held_customer.refresh_from_db()
    assert level == "success" and "customer " + book.held_customer.number in text
    assert not book.held_customer.billing_hold
    assert "Blue Yonder" not in page_of(staff_client, "holds")


def test_a_release_must_say_which_hold(staff_client, book):
    [(level, text)] = act(staff_client, "holds", "release", book.held_contract.pk, holder="x")

    assert level == "error" and "Say which hold to release" in text
    assert Contract.objects.get(pk=book.held_contract.pk).delivery_hold


def test_retry_sends_a_failed_delivery_once(staff_client, book, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        [(level, text)] = act(staff_client, "deliveries", "retry", book.undelivered.pk)

    assert level == "success" and f">{book.undelivered.number}</a> to be emailed again" in text
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["Accounts Payable <ap@example.com>"]
    last = book.undelivered.deliveries.order_by("-started_at", "-id").first()
    assert (last.status, last.trigger) == (DeliveryAttempt.Status.SENT, "retry")

    with django_capture_on_commit_callbacks(execute=True):
        [(level, text)] = act(staff_client, "deliveries", "retry", book.undelivered.pk)

    assert level == "warning" and "last delivery attempt is sent, not failed" in text
    assert len(mail.outbox) == 1
    assert rows(page_of(staff_client, "deliveries")) == [
        "No failed delivery: every email went out or is still being tried."
    ]


def test_retrying_twice_before_the_worker_runs_sends_once(
    staff_client, book, django_capture_on_commit_callbacks
):
    # Both clicks queue (the first has not run yet); the second task finds the invoice sent.
    with django_capture_on_commit_callbacks(execute=False) as queued:
        act(staff_client, "deliveries", "retry", book.undelivered.pk)
        act(staff_client, "deliveries", "retry", book.undelivered.pk)
    for callback in queued:
        callback()

    assert len(mail.outbox) == 1
    assert book.undelivered.deliveries.filter(status=DeliveryAttempt.Status.SENT).count() == 1


def test_a_customer_row_is_released_only_by_a_hold_it_has(staff_client, book):
    [(level, _)] = act(
        staff_client, "holds", "release", book.held_customer.pk, holder="customer", hold="delivery"
    )

    assert level == "warning"
    assert Customer.objects.get(pk=book.held_customer.pk).billing_hold
