"""Delivery by email: issued invoices reach every billing contact once, with their stored PDF.

Mail is read back from Django's test outbox (``mailoutbox``). Celery is eager, so a queued task
runs when the on-commit callbacks of the issuing transaction run, retries included.
"""

import io
import logging
import smtplib
from datetime import date

import pytest
from django.contrib import admin
from django.contrib.messages import get_messages
from django.contrib.messages.storage.cookie import CookieStorage
from django.core.mail.backends.locmem import EmailBackend
from djmoney.money import Money
from pypdf import PdfReader

from billing.admin_delivery import resend_invoices
from billing.credit_notes import credit_note_create, credit_note_issue
from billing.delivery import invoice_deliver
from billing.invoicing import invoice_issue
from billing.models import BillRun, Invoice
from billing.tasks import invoice_deliver_task
from contracts.models import Customer
from contracts.services import HoldKind, hold_set
from rms.celery import app as celery_app

pytestmark = pytest.mark.django_db

JAN = date(2026, 1, 1)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    """Rendered PDFs go to a folder of the test's own."""
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def customer_with_contacts(customer_factory, billing_contact_factory):
    """A customer with two billing contacts, emailed its invoices."""

    def make(**fields) -> Customer:
        customer = customer_factory(**fields)
        billing_contact_factory(customer=customer, name="Accounts Payable", email="ap@acme.test")
        billing_contact_factory(customer=customer, name="Jane Roe, CFO", email="cfo@acme.test")
        return customer

    return make


@pytest.fixture
def billed(contract_line_factory, activate, bill):
    """Activate a monthly line for ``customer`` (or contract fields) and bill January."""

    def billed(**contract_fields) -> Invoice:
        line = contract_line_factory(**{f"contract__{k}": v for k, v in contract_fields.items()})
        activate(line.contract)
        run = bill(JAN)
        assert run.status == BillRun.Status.COMPLETED
        return run.invoices.get(customer=line.contract.customer)

    return billed


def attempts(document) -> list[tuple[str, str]]:
    """The document's delivery log, oldest first: (status, trigger)."""
    return list(document.deliveries.order_by("pk").values_list("status", "trigger"))


def pdf_of(message) -> tuple[str, bytes, str]:
    (attachment,) = message.attachments
    return attachment.filename, attachment.content, attachment.mimetype


@pytest.fixture
def smtp_disconnects(monkeypatch):
    """Make the outbox backend fail ``times`` times as a dropped SMTP connection does.

    Eager Celery runs a task's retries inline (without the backoff's wait) only when it does not
    propagate errors: with propagation on, the first retry would be raised to the caller. The
    test-wide ``eager_celery`` fixture puts the setting back afterwards.
    """
    celery_app.conf.task_eager_propagates = False

    def fail(times: int) -> list[int]:
        calls = []
        send = EmailBackend.send_messages

        def flaky(self, messages):
            calls.append(len(messages))
            if len(calls) <= times:
                raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
            return send(self, messages)

        monkeypatch.setattr(EmailBackend, "send_messages", flaky)
        return calls

    return fail


# --- Sending ----------------------------------------------------------------------------------


def test_a_bill_run_emails_each_invoice_once_to_all_contacts_with_its_stored_pdf(
    customer_with_contacts,
    billing_contact_factory,
    contract_line_factory,
    activate,
    bill,
    mailoutbox,
):
    acme = customer_with_contacts(legal_name="Acme Ltd")
    globex = billing_contact_factory(email="billing@globex.test").customer
    lines = [contract_line_factory(contract__customer=c) for c in (acme, globex)]
    activate(*(line.contract for line in lines))

    run = bill(JAN)

    invoices = {invoice.customer_id: invoice for invoice in run.invoices.all()}
    assert len(invoices) == len(mailoutbox) == 2
    by_subject = {message.subject: message for message in mailoutbox}
    expected_to = {
        acme.pk: ["Accounts Payable <ap@acme.test>", '"Jane Roe, CFO" <cfo@acme.test>'],
        globex.pk: ["Accounts Payable <billing@globex.test>"],
    }
    for customer_id, invoice in invoices.items():
        message = by_subject[f"Invoice {invoice.number} from Your Company Ltd"]
        assert message.to == expected_to[customer_id]
        assert message.from_email == "billing@localhost"
        assert invoice.number in message.body
        assert "$100.00" in message.body  # the amount due, in the customer's locale
        ((html, mimetype),) = message.alternatives
        assert mimetype == "text/html" and invoice.number in html
        filename, content, mimetype = pdf_of(message)
        assert (filename, mimetype) == (f"{invoice.number}.pdf", "application/pdf")
        assert content.startswith(b"%PDF")
        with invoice.pdf.open("rb") as stored:
            assert content == stored.read()
        assert invoice.number in PdfReader(io.BytesIO(content)).pages[0].extract_text()
        assert attempts(invoice) == [("sent", "issue")]
        assert invoice.deliveries.get().recipients == ", ".join(expected_to[customer_id])
        assert invoice.sent_at is not None


def test_issuing_a_reviewed_draft_emails_it(
    customer_with_contacts, billed, django_capture_on_commit_callbacks, mailoutbox
):
    draft = billed(customer=customer_with_contacts(invoice_review="review"))
    assert (draft.status, mailoutbox) == (Invoice.Status.DRAFT, [])

    with django_capture_on_commit_callbacks(execute=True):
        invoice = invoice_issue(invoice=draft, issue_date=date(2026, 1, 5))

    (message,) = mailoutbox
    assert message.subject == f"Invoice {invoice.number} from Your Company Ltd"
    assert attempts(invoice) == [("sent", "issue")]


def test_delivery_method_none_sends_nothing_and_logs_why(
    customer_with_contacts, billed, mailoutbox
):
    invoice = billed(customer=customer_with_contacts(delivery_method="none"))

    assert mailoutbox == []
    attempt = invoice.deliveries.get()
    assert (attempt.status, attempt.trigger) == ("skipped", "issue")
    assert attempt.error == "The customer's delivery method is none (download only)."
    invoice.refresh_from_db()
    assert invoice.sent_at is None and not invoice.pdf


def test_a_customer_without_billing_contacts_is_skipped_with_a_clear_error(
    customer_factory, billed, mailoutbox
):
    customer = customer_factory(number="CUST-LONELY")

    invoice = billed(customer=customer)

    assert mailoutbox == []
    attempt = invoice.deliveries.get()
    assert attempt.status == "skipped"
    assert attempt.error.startswith("Customer CUST-LONELY has no billing contacts")


# --- Holds ------------------------------------------------------------------------------------


def release(django_capture_on_commit_callbacks, target, kind=HoldKind.DELIVERY):
    with django_capture_on_commit_callbacks(execute=True):
        hold_set(target=target, kind=kind, on=False)


def test_a_customer_delivery_hold_sends_nothing_until_released_then_once(
    customer_with_contacts, billed, django_capture_on_commit_callbacks, mailoutbox
):
    customer = customer_with_contacts(number="CUST-HELD", delivery_hold=True)
    invoice = billed(customer=customer)
    assert mailoutbox == []
    assert invoice.deliveries.get().error == (
        "Delivery hold on customer CUST-HELD; sent when the hold is released."
    )

    release(django_capture_on_commit_callbacks, customer)

    (message,) = mailoutbox
    assert pdf_of(message)[0] == f"{invoice.number}.pdf"
    assert attempts(invoice) == [("skipped", "issue"), ("sent", "hold released")]
    # Placing and releasing the hold again sends nothing more.
    hold_set(target=customer, kind=HoldKind.DELIVERY, on=True)
    release(django_capture_on_commit_callbacks, customer)
    assert len(mailoutbox) == 1
    assert attempts(invoice) == [("skipped", "issue"), ("sent", "hold released")]


def test_a_contract_hold_waits_for_every_hold_that_applies_to_be_released(
    customer_with_contacts, billed, django_capture_on_commit_callbacks, mailoutbox
):
    customer = customer_with_contacts()
    invoice = billed(customer=customer, number="K-HELD", delivery_hold=True)
    contract = invoice.lines.get().contract_line.contract
    assert invoice.deliveries.get().error.startswith("Delivery hold on contract K-HELD;")
    hold_set(target=customer, kind=HoldKind.DELIVERY, on=True)

    release(django_capture_on_commit_callbacks, contract)
    assert mailoutbox == []  # the customer's hold still applies

    release(django_capture_on_commit_callbacks, customer)
    assert len(mailoutbox) == 1
    assert attempts(invoice) == [("skipped", "issue"), ("sent", "hold released")]


def test_releasing_a_billing_hold_sends_nothing_held_for_delivery(
    customer_with_contacts, billed, django_capture_on_commit_callbacks, mailoutbox
):
    customer = customer_with_contacts(delivery_hold=True)
    invoice = billed(customer=customer)
    hold_set(target=customer, kind=HoldKind.BILLING, on=True)

    release(django_capture_on_commit_callbacks, customer, kind=HoldKind.BILLING)

    assert mailoutbox == []
    assert attempts(invoice) == [("skipped", "issue")]


def test_the_live_hold_decides_not_the_flag_set_at_issue(
    customer_with_contacts, billed, django_capture_on_commit_callbacks, mailoutbox
):
    draft = billed(customer=customer_with_contacts(invoice_review="review"))
    contract = draft.lines.get().contract_line.contract

    # Held after issue, before the delivery task ran: not sent, though not issued under a hold.
    with django_capture_on_commit_callbacks(execute=True):
        invoice = invoice_issue(invoice=draft, issue_date=date(2026, 1, 5))
        hold_set(target=contract, kind=HoldKind.DELIVERY, on=True)
    assert (invoice.delivery_held, mailoutbox) == (False, [])

    release(django_capture_on_commit_callbacks, contract)

    assert len(mailoutbox) == 1
    invoice.refresh_from_db()
    assert invoice.sent_at is not None


# --- Exactly once ----------------------------------------------------------------------------


def test_a_task_run_again_sends_nothing_more(customer_with_contacts, billed, mailoutbox):
    invoice = billed(customer=customer_with_contacts())
    sent_at = Invoice.objects.get(pk=invoice.pk).sent_at

    invoice_deliver_task.delay(invoice.pk)
    invoice_deliver_task.delay(invoice.pk, "issue")

    assert len(mailoutbox) == 1
    assert attempts(invoice) == [("sent", "issue")]
    assert Invoice.objects.get(pk=invoice.pk).sent_at == sent_at


def test_an_smtp_failure_is_logged_and_the_retry_sends_once(
    customer_with_contacts, billed, smtp_disconnects, mailoutbox
):
    calls = smtp_disconnects(times=1)

    invoice = billed(customer=customer_with_contacts())

    assert calls == [1, 1]  # the failed send and its retry, one message each
    (message,) = mailoutbox
    assert pdf_of(message)[0] == f"{invoice.number}.pdf"
    assert attempts(invoice) == [("failed", "issue"), ("sent", "issue")]
    failed = invoice.deliveries.order_by("pk").first()
    assert failed.error == "SMTPServerDisconnected: Connection unexpectedly closed"
    assert failed.finished_at is not None


def test_smtp_down_for_good_gives_up_after_the_retries_and_the_invoice_stays_issued(
    customer_with_contacts, billed, smtp_disconnects, mailoutbox, caplog
):
    calls = smtp_disconnects(times=100)

    with caplog.at_level(logging.ERROR):
        invoice = billed(customer=customer_with_contacts())

    # One try and five retries, each logged; the run and the invoice are unaffected.
    assert len(calls) == 6 and mailoutbox == []
    assert attempts(invoice) == [("failed", "issue")] * 6
    assert invoice.status == Invoice.Status.ISSUED and invoice.sent_at is None
    assert "SMTPServerDisconnected" in caplog.text


class WorkerKilled(BaseException):
    """What a worker dying mid-send looks like to the code: it never gets to record anything."""


def test_a_send_interrupted_by_a_crash_is_not_sent_again_by_the_task_but_by_resend(
    customer_with_contacts,
    billed,
    django_capture_on_commit_callbacks,
    monkeypatch,
    mailoutbox,
    caplog,
):
    draft = billed(customer=customer_with_contacts(invoice_review="review"))
    send = EmailBackend.send_messages

    def crash(self, messages):
        raise WorkerKilled

    monkeypatch.setattr(EmailBackend, "send_messages", crash)
    with pytest.raises(WorkerKilled), django_capture_on_commit_callbacks(execute=True):
        invoice = invoice_issue(invoice=draft, issue_date=date(2026, 1, 5))
    assert attempts(draft) == [("sending", "issue")]
    monkeypatch.setattr(EmailBackend, "send_messages", send)

    # The redelivered task does not know whether the message left: it leaves it to a human.
    with caplog.at_level(logging.WARNING, logger="billing.delivery"):
        invoice_deliver_task.delay(invoice.pk)
    assert mailoutbox == []
    assert attempts(invoice) == [("sending", "issue")]
    assert f"Invoice {invoice.number}: an earlier delivery was interrupted" in caplog.text

    invoice_deliver_task.delay(invoice.pk, "resend")

    assert len(mailoutbox) == 1
    assert attempts(invoice) == [("sending", "issue"), ("sent", "resend")]


def test_the_resend_action_sends_issued_invoices_again_with_the_same_pdf(
    customer_with_contacts, billed, rf, django_capture_on_commit_callbacks, mailoutbox
):
    invoice = billed(customer=customer_with_contacts())
    request = rf.post("/")
    request._messages = CookieStorage(request)

    with django_capture_on_commit_callbacks(execute=True):
        resend_invoices(admin.site._registry[Invoice], request, Invoice.objects.all())

    first, second = mailoutbox
    assert first.subject == second.subject and first.to == second.to
    assert pdf_of(first) == pdf_of(second)
    assert attempts(invoice) == [("sent", "issue"), ("sent", "resend")]
    assert [str(m) for m in get_messages(request)] == [
        "Queued 1 invoice(s) to be emailed again; each invoice's delivery log shows the outcome "
        "(a customer on hold or without contacts is skipped)."
    ]


def test_resend_still_respects_holds_and_the_delivery_method(
    customer_with_contacts, billed, mailoutbox
):
    invoice = billed(customer=customer_with_contacts())
    Customer.objects.filter(pk=invoice.customer_id).update(delivery_method="none")

    invoice_deliver_task.delay(invoice.pk, "resend")

    assert len(mailoutbox) == 1
    assert attempts(invoice) == [("sent", "issue"), ("skipped", "resend")]


# --- Credit notes -----------------------------------------------------------------------------


def test_an_issued_credit_note_is_emailed_with_its_own_pdf(
    customer_with_contacts, billed, django_capture_on_commit_callbacks, mailoutbox
):
    invoice = billed(customer=customer_with_contacts())
    note = credit_note_create(
        invoice=invoice,
        reason="Service outage",
        lines=[(invoice.lines.get(), Money("40.00", "USD"))],
    )

    with django_capture_on_commit_callbacks(execute=True):
        note = credit_note_issue(credit_note=note, issue_date=date(2026, 1, 20))

    _, message = mailoutbox
    assert message.subject == f"Credit note {note.number} from Your Company Ltd"
    assert message.to == ["Accounts Payable <ap@acme.test>", '"Jane Roe, CFO" <cfo@acme.test>']
    assert "Service outage" in message.body and "$40.00" in message.body
    filename, content, _ = pdf_of(message)
    assert filename == f"{note.number}.pdf"
    note.refresh_from_db()
    with note.pdf.open("rb") as stored:
        assert content == stored.read()
    assert attempts(note) == [("sent", "issue")]
    assert note.sent_at is not None


def test_with_auto_delivery_off_issuing_sends_nothing_until_resent(
    settings,
    customer_factory,
    billing_contact_factory,
    contract_line_factory,
    activate,
    bill,
    mailoutbox,
):
    settings.RMS_AUTO_DELIVERY = False
    customer = customer_factory()
    billing_contact_factory(customer=customer)
    line = contract_line_factory(contract__customer=customer)
    activate(line.contract)

    bill(date(2026, 1, 1))

    invoice = Invoice.objects.get()
    assert (mailoutbox, list(invoice.deliveries.all())) == ([], [])
    invoice_deliver(invoice_id=invoice.pk, trigger="resend")
    assert [message.to for message in mailoutbox] == [[str(customer.contacts.get())]]
