"""Invoices delivered over real SMTP: a local aiosmtpd server receives what a bill run sends.

The transactions commit for real (``transaction=True``), so the delivery task is queued by the
issuing transaction's on-commit callback exactly as in production; Celery runs it inline.
"""

import email
import socket
from datetime import date
from email import policy

import pytest
from aiosmtpd.controller import Controller

from billing.models import Invoice
from billing.runs import bill_run_start
from billing.tasks import invoice_deliver_task
from contracts.services import contract_activate

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

JAN = date(2026, 1, 1)


class Inbox:
    """An aiosmtpd handler that keeps every message it accepts."""

    def __init__(self):
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_settings(settings, tmp_path, inline_celery):
    """Django's SMTP backend pointed at 127.0.0.1 on a free port, no TLS, no login."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = free_port()
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 10
    return settings


@pytest.fixture
def smtp_server(smtp_settings):
    """Start the SMTP server on the configured port; ``start()`` returns its inbox."""
    controllers = []

    def start() -> Inbox:
        inbox = Inbox()
        controller = Controller(inbox, hostname="127.0.0.1", port=smtp_settings.EMAIL_PORT)
        controller.start()
        controllers.append(controller)
        return inbox

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def invoiced(customer_factory, billing_contact_factory, contract_line_factory):
    """Bill January for a customer with two billing contacts; return its issued invoice."""

    def invoiced() -> Invoice:
        customer = customer_factory(legal_name="Acme Ltd")
        billing_contact_factory(customer=customer, name="Accounts Payable", email="ap@acme.test")
        billing_contact_factory(customer=customer, name="Jane Roe", email="cfo@acme.test")
        contract_activate(contract=contract_line_factory(contract__customer=customer).contract)
        run = bill_run_start(as_of=JAN, triggered_by="tests")
        return run.invoices.get()

    return invoiced


def attempts(invoice: Invoice) -> list[str]:
    return list(invoice.deliveries.order_by("pk").values_list("status", flat=True))


def received_pdf(envelope) -> tuple[email.message.EmailMessage, str, bytes]:
    message = email.message_from_bytes(envelope.original_content, policy=policy.default)
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    return message, attachment.get_filename(), attachment.get_content()


def stored_pdf(invoice: Invoice) -> bytes:
    invoice.refresh_from_db()
    with invoice.pdf.open("rb") as stored:
        return stored.read()


def test_a_bill_run_delivers_the_invoice_over_smtp_with_the_pdf_intact(smtp_server, invoiced):
    inbox = smtp_server()

    invoice = invoiced()

    (envelope,) = inbox.envelopes
    assert envelope.mail_from == "billing@localhost"
    assert envelope.rcpt_tos == ["ap@acme.test", "cfo@acme.test"]
    message, filename, content = received_pdf(envelope)
    assert message["To"] == "Accounts Payable <ap@acme.test>, Jane Roe <cfo@acme.test>"
    assert message["Subject"] == f"Invoice {invoice.number} from Your Company Ltd"
    assert filename == f"{invoice.number}.pdf"
    assert content.startswith(b"%PDF") and content == stored_pdf(invoice)
    assert attempts(invoice) == ["sent"]


def test_with_the_smtp_server_down_the_failure_is_logged_and_a_later_try_sends_once(
    smtp_server, invoiced
):
    invoice = invoiced()  # nothing listens on the port yet: connection refused

    assert attempts(invoice) == ["failed"]
    assert invoice.deliveries.get().error.startswith("ConnectionRefusedError")
    assert Invoice.objects.get(pk=invoice.pk).status == Invoice.Status.ISSUED

    inbox = smtp_server()
    invoice_deliver_task.delay(invoice.pk)  # the task's retry, as a worker would run it
    invoice_deliver_task.delay(invoice.pk)  # and a duplicate of it

    (envelope,) = inbox.envelopes
    assert received_pdf(envelope)[2] == stored_pdf(invoice)
    assert attempts(invoice) == ["failed", "sent"]
