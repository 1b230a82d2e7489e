"""Delivery of issued invoices and credit notes by email to the customer's billing contacts.

Each decision is logged as a ``DeliveryAttempt``. An attempt is committed as ``sending`` before
the message goes out, so that a worker that dies mid-send leaves a visible trace instead of a
silent second send on redelivery: such a document waits for a human to resend it. Only a
``failed`` attempt (the SMTP server refused or was down) is tried again, by the task's retries.

Invoices and credit notes go the same way; a ``DocumentKind`` says what differs between them.
"""

import logging
from dataclasses import dataclass
from email.utils import formataddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import models, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone

from billing import documents
from billing.models import CreditNote, DeliveryAttempt, Invoice, SellerProfile
from contracts.models import Contract, Customer
from rms.audit import history_record_bulk

logger = logging.getLogger(__name__)


class Trigger:
    """Why a delivery was asked for; only ``RESEND`` sends a document that went out already."""

    ISSUE = "issue"
    RESEND = "resend"
    HOLD_RELEASED = "hold released"
    # A failed delivery tried again by hand: unlike a resend, never sends one that went out.
    RETRY = "retry"


# How a skipped attempt's error starts when a delivery hold kept the document back: the release
# of a hold looks for it.
HELD = "Delivery hold"


@dataclass(frozen=True)
class DocumentKind:
    """What differs between delivering an invoice and a credit note.

    ``name`` is the DeliveryAttempt field, the templates' prefix and variable, and names the
    PDF function (``documents.<name>_pdf``) and the task (``tasks.<name>_deliver_task``).
    """

    model: type[models.Model]
    name: str
    label: str
    # The lookup from the document to the invoice lines that say which contracts it bills.
    invoice_lines: str
    invoice_id_field: str


INVOICE = DocumentKind(
    model=Invoice, name="invoice", label="Invoice", invoice_lines="lines", invoice_id_field="pk"
)
CREDIT_NOTE = DocumentKind(
    model=CreditNote,
    name="credit_note",
    label="Credit note",
    invoice_lines="invoice__lines",
    invoice_id_field="invoice_id",
)


def invoice_deliver(*, invoice_id: int, trigger: str) -> DeliveryAttempt | None:
    """Email an issued invoice with its PDF to the customer's billing contacts, at most once.

    Returns the attempt made (sent, or skipped with the reason), or None when nothing was done
    because the invoice went out already or a send was interrupted. Raises the error of a failed
    send after logging it, so that the task retries (it does for SMTP and OS errors).
    """
    return _deliver(INVOICE, pk=invoice_id, trigger=trigger)


def credit_note_deliver(*, credit_note_id: int, trigger: str) -> DeliveryAttempt | None:
    """Email an issued credit note with its PDF, as ``invoice_deliver`` does an invoice."""
    return _deliver(CREDIT_NOTE, pk=credit_note_id, trigger=trigger)


def _deliver(kind: DocumentKind, *, pk: int, trigger: str) -> DeliveryAttempt | None:
    with transaction.atomic():
        # The row lock makes two copies of the task (a duplicate, a redelivery) take turns:
        # the second one sees the first one's attempt.
        document = (
            kind.model.objects.select_for_update(of=("self",)).select_related("customer").get(pk=pk)
        )
        reason = _reason_not_to_send(kind, document)
        if reason:
            logger.info("%s %s not sent: %s", kind.label, document, reason)
            return _attempt_log(
                kind, document, trigger=trigger, status=DeliveryAttempt.Status.SKIPPED, error=reason
            )
        if trigger != Trigger.RESEND:
            earlier = set(document.deliveries.values_list("status", flat=True))
            if DeliveryAttempt.Status.SENT in earlier:
                return None
            if DeliveryAttempt.Status.SENDING in earlier:
                logger.warning(
                    "%s %s: an earlier delivery was interrupted mid-send and may have reached "
                    "the customer; it is not sent again automatically: check, then resend it.",
                    kind.label,
                    document,
                )
                return None
        recipients = [formataddr((c.name, c.email)) for c in document.customer.contacts.all()]
        attempt = _attempt_log(
            kind,
            document,
            trigger=trigger,
            status=DeliveryAttempt.Status.SENDING,
            recipients=recipients,
        )
    # Committed: from here on a crash leaves the attempt ``sending`` for a human to look at.
    try:
        _message(kind, document, recipients).send()
    except Exception as error:
        _attempt_finish(
            attempt, status=DeliveryAttempt.Status.FAILED, error=f"{type(error).__name__}: {error}"
        )
        logger.warning("%s %s not sent: %s: %s", kind.label, document, type(error).__name__, error)
        raise
    with transaction.atomic():
        _attempt_finish(attempt, status=DeliveryAttempt.Status.SENT)
        if kind.model.objects.filter(pk=pk, sent_at__isnull=True).update(
            sent_at=attempt.finished_at
        ):
            history_record_bulk(kind.model, [pk])
    return attempt


def _reason_not_to_send(kind: DocumentKind, document) -> str:
    """Say why the document is not to be emailed now, or return "" when it is."""
    customer = document.customer
    if document.status != kind.model.Status.ISSUED:
        return (
            f"{kind.label} is {document.get_status_display().lower()}; only issued ones are sent."
        )
    if customer.delivery_method == Customer.DeliveryMethod.NONE:
        return "The customer's delivery method is none (download only)."
    # The live holds, not the invoice's delivery_held flag: that one records the hold at issue.
    if customer.delivery_hold:
        return f"{HELD} on customer {customer.number}; sent when the hold is released."
    held = sorted(
        Contract.objects.filter(
            delivery_hold=True,
            lines__invoice_lines__invoice_id=getattr(document, kind.invoice_id_field),
        )
        .values_list("number", flat=True)
        .distinct()
    )
    if held:
        return f"{HELD} on contract {', '.join(held)}; sent when the hold is released."
    if not customer.contacts.exists():
        return (
            f"Customer {customer.number} has no billing contacts: add one and resend, or set "
            "the customer's delivery method to none."
        )
    return ""


def _attempt_log(
    kind: DocumentKind,
    document,
    *,
    trigger: str,
    status: str,
    error: str = "",
    recipients: list[str] | None = None,
) -> DeliveryAttempt:
    return DeliveryAttempt.objects.create(
        **{kind.name: document},
        status=status,
        trigger=trigger,
        recipients=", ".join(recipients or []),
        error=error,
        finished_at=None if status == DeliveryAttempt.Status.SENDING else timezone.now(),
    )


def _attempt_finish(attempt: DeliveryAttempt, *, status: str, error: str = "") -> None:
    attempt.status = status
    attempt.error = error
    attempt.finished_at = timezone.now()
    attempt.save(update_fields=["status", "error", "finished_at"])


def _message(kind: DocumentKind, document, recipients: list[str]) -> EmailMultiAlternatives:
    """Build the email from the kind's templates, with the document's stored PDF attached."""
    context = {
        kind.name: document,
        "customer": document.customer,
        "seller": SellerProfile.current(),
        "locale": document.customer.locale,
    }
    template = f"billing/email/{kind.name}"
    message = EmailMultiAlternatives(
        subject=" ".join(render_to_string(f"{template}_subject.txt", context).split()),
        body=render_to_string(f"{template}_body.txt", context),
        to=recipients,
    )
    message.attach_alternative(render_to_string(f"{template}_body.html", context), "text/html")
    pdf = getattr(documents, f"{kind.name}_pdf")(document)
    message.attach(f"{document.number}.pdf", pdf, "application/pdf")
    return message


# -- queueing -----------------------------------------------------------------------------------


def invoices_queue_delivery(*, invoice_ids: list[int], trigger: str = Trigger.ISSUE) -> None:
    """Queue one delivery task per invoice once the current transaction commits.

    One on-commit callback for the lot, so a bill run of thousands adds one, not thousands.
    """
    _queue(INVOICE, ids=invoice_ids, trigger=trigger)


def credit_note_queue_delivery(credit_note: CreditNote, *, trigger: str = Trigger.ISSUE) -> None:
    """Queue the delivery of an issued credit note once the current transaction commits."""
    _queue(CREDIT_NOTE, ids=[credit_note.pk], trigger=trigger)


def _queue(kind: DocumentKind, *, ids: list[int], trigger: str) -> None:
    """Queue the kind's delivery task for each id after commit.

    The documents are issued whatever happens to their delivery, so a failure to queue one (or,
    with eager Celery, to send it) is logged rather than raised into the issuing code after its
    commit, and does not keep the others from being queued.
    """
    from billing import tasks  # tasks import this module

    if trigger == Trigger.ISSUE and not settings.RMS_AUTO_DELIVERY:
        return
    task = getattr(tasks, f"{kind.name}_deliver_task")
    ids = list(ids)

    def enqueue() -> None:
        for pk in ids:
            try:
                task.delay(pk, trigger)
            except Exception:
                logger.exception(
                    "%s #%s: delivery not queued, or failed run inline", kind.label, pk
                )

    if ids:
        transaction.on_commit(enqueue)


def invoices_deliver_held_released(
    *, customer_id: int | None = None, contract_id: int | None = None
) -> None:
    """Queue the invoices (and credit notes) a delivery hold kept back, now that none applies.

    Looks at the customer's documents, or at those billing the contract. A document still held
    by another hold (its customer's, another contract's) stays back until that one is released;
    one sent meanwhile (resent by hand) or interrupted mid-send is left alone.
    """
    if (customer_id is None) == (contract_id is None):
        raise ValueError("Give either customer_id or contract_id.")
    for kind in (INVOICE, CREDIT_NOTE):
        contracts = f"{kind.invoice_lines}__contract_line__contract"
        released = (
            Q(customer_id=customer_id)
            if customer_id is not None
            else Q(**{f"{contracts}_id": contract_id})
        )
        still_held = Q(customer__delivery_hold=True) | Q(**{f"{contracts}__delivery_hold": True})
        ids = (
            kind.model.objects.filter(released, status=kind.model.Status.ISSUED)
            .filter(
                deliveries__status=DeliveryAttempt.Status.SKIPPED,
                deliveries__error__startswith=HELD,
            )
            .exclude(
                deliveries__status__in=[
                    DeliveryAttempt.Status.SENT,
                    DeliveryAttempt.Status.SENDING,
                ]
            )
            .exclude(pk__in=kind.model.objects.filter(still_held).values("pk"))
            .order_by("pk")
            .values_list("pk", flat=True)
            .distinct()
        )
        _queue(kind, ids=list(ids), trigger=Trigger.HOLD_RELEASED)
