"""Webhooks end to end: billing's services raise events, a real HTTP receiver gets them signed,
and failures are retried with backoff and logged.

Deliveries are queued on commit; pytest-django never commits, so the changes run under
``django_capture_on_commit_callbacks(execute=True)`` and eager Celery sends them inline.
"""

import socket
from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import transaction
from djmoney.money import Money

from billing import runs
from billing.milestones import milestone_achieve
from billing.models import BillRun, Invoice, Payment
from billing.payments import payment_record
from webhooks.events import events_record
from webhooks.models import EventType, WebhookAttempt, WebhookDelivery, WebhookEvent
from webhooks.signing import InvalidSignature
from webhooks.tasks import webhook_deliver_task, webhooks_retry_due_task

pytestmark = pytest.mark.django_db

MINUTE = timedelta(minutes=1)


def usd(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "USD"}


def assert_signed(received, endpoint) -> dict:
    """Check the request as a receiver would: signature, event headers; return the payload."""
    received.verify(endpoint.secret)
    payload = received.json()
    assert received.headers["RMS-Event-Id"] == payload["id"]
    assert received.headers["RMS-Event-Type"] == payload["type"]
    assert received.headers["Content-Type"] == "application/json"
    assert received.path == "/hooks/rms"
    assert payload["id"].startswith("evt_")
    assert payload["created"].endswith("Z")
    return payload


@pytest.fixture
def achieve(django_capture_on_commit_callbacks):
    """Achieve a milestone as a PSA would, letting what is queued on commit run."""

    def achieve(milestone, on=date(2026, 3, 10), reference="PSA-1"):
        with django_capture_on_commit_callbacks(execute=True):
            return milestone_achieve(
                milestone=milestone, achieved_on=on, achieved_by="pm", reference=reference
            )

    return achieve


# --- What each event says ------------------------------------------------------------------


def test_a_bill_run_sends_invoice_issued_per_invoice_and_bill_run_finished(
    customer_factory,
    contract_factory,
    contract_line_factory,
    activate,
    bill,
    receiver,
    make_endpoint,
):
    endpoint = make_endpoint(EventType.INVOICE_ISSUED, EventType.BILL_RUN_FINISHED)
    taxed = customer_factory(number="ACME", tax_rate=Decimal("8.25"))
    untaxed = customer_factory(number="GLOBEX")
    for customer, price in ((taxed, "99.99"), (untaxed, "250.00")):
        contract = contract_factory(customer=customer)
        contract_line_factory(contract=contract, unit_price=Money(price, "USD"))
        activate(contract)

    run = bill(date(2026, 1, 31))

    assert sorted(receiver.types()) == ["bill_run.finished", "invoice.issued", "invoice.issued"]
    payloads = [assert_signed(received, endpoint) for received in receiver.requests]
    issued = sorted(
        (p["data"] for p in payloads if p["type"] == "invoice.issued"), key=lambda d: d["number"]
    )
    acme = Invoice.objects.get(customer=taxed)
    # 99.99 x 8.25% = 8.249175 -> 8.25 tax; 108.24 in all.
    assert issued[0] == {
        "object": "invoice",
        "id": acme.pk,
        "number": acme.number,
        "status": "issued",
        "customer": taxed.pk,
        "customer_number": "ACME",
        "currency": "USD",
        "bill_to_name": taxed.legal_name,
        "bill_run": run.pk,
        "invoice_date": "2026-01-31",
        "issue_date": "2026-01-31",
        "due_date": "2026-03-02",
        "subtotal": usd("99.99"),
        "tax_total": usd("8.25"),
        "total": usd("108.24"),
        "amount_paid": usd("0.00"),
        "amount_credited": usd("0.00"),
        "balance_due": usd("108.24"),
        "payment_status": "unpaid",
    }
    assert (issued[1]["customer_number"], issued[1]["total"]) == ("GLOBEX", usd("250.00"))
    [finished] = [p["data"] for p in payloads if p["type"] == "bill_run.finished"]
    assert finished | {"started_at": None, "finished_at": None} == {
        "object": "bill_run",
        "id": run.pk,
        "as_of": "2026-01-31",
        "status": "completed",
        "triggered_by": "tests",
        "started_at": None,
        "finished_at": None,
        "invoices_created": 2,
        "invoices_issued": 2,
        "events_invoiced": 2,
        "events_held": 0,
        "events_blocked": 0,
        "chunks_total": 1,
        "chunks_done": 1,
        "chunks_failed": 0,
        "errors": [],
    }
    assert finished["finished_at"].endswith("Z")
    # Every delivery is logged as done in one attempt.
    deliveries = WebhookDelivery.objects.all()
    assert [(d.status, d.attempts, d.response_code) for d in deliveries] == [
        ("succeeded", 1, 200)
    ] * 3
    assert all(d.next_attempt_at is None and d.succeeded_at for d in deliveries)


def test_invoice_paid_is_sent_when_a_payment_settles_the_invoice_not_before(
    issued_invoice, receiver, make_endpoint, django_capture_on_commit_callbacks
):
    endpoint = make_endpoint(EventType.INVOICE_PAID)
    invoice = issued_invoice("100.00")

    def pay(amount: str, reference: str) -> None:
        with django_capture_on_commit_callbacks(execute=True):
            payment_record(
                customer=invoice.customer,
                amount=Money(amount, "USD"),
                received_on=date(2026, 2, 1),
                method=Payment.Method.BANK_TRANSFER,
                reference=reference,
            )

    pay("40.00", "BANK-1")
    assert receiver.requests == []  # partly paid: nothing yet, and issuing sent nothing either
    pay("60.00", "BANK-2")

    [received] = receiver.requests
    payload = assert_signed(received, endpoint)
    assert payload["type"] == "invoice.paid"
    data = payload["data"]
    assert (data["id"], data["number"], data["payment_status"]) == (
        invoice.pk,
        invoice.number,
        "paid",
    )
    assert (data["amount_paid"], data["balance_due"]) == (usd("100.00"), usd("0.00"))
    assert list(WebhookEvent.objects.values_list("type", flat=True)) == ["invoice.paid"]


def test_milestone_achieved_describes_the_milestone_and_its_contract(
    milestone_project, achieve, receiver, make_endpoint
):
    endpoint = make_endpoint(EventType.MILESTONE_ACHIEVED)
    design, *_ = milestone_project()
    contract = design.line.contract

    achieve(design)

    [received] = receiver.requests
    payload = assert_signed(received, endpoint)
    assert payload["type"] == "milestone.achieved"
    assert payload["data"] == {
        "object": "milestone",
        "id": design.pk,
        "name": "Design",
        "sequence": 1,
        "status": "invoiced",  # no approval needed: invoiced on achievement
        "contract": contract.pk,
        "contract_number": contract.number,
        "customer": contract.customer_id,
        "line": design.line_id,
        "amount": usd("30000.00"),
        "planned_date": "2026-03-01",
        "achieved_on": "2026-03-10",
        "achieved_by": "pm",
        "external_reference": "PSA-1",
        "awaiting_approval": False,
    }


# --- Who gets what --------------------------------------------------------------------------


def test_events_go_only_to_active_endpoints_subscribed_to_them(
    milestone_project, achieve, receiver, make_endpoint
):
    make_endpoint(EventType.INVOICE_ISSUED, EventType.INVOICE_PAID)  # the invoice, not this
    make_endpoint(EventType.MILESTONE_ACHIEVED, active=False)
    listening = make_endpoint(EventType.MILESTONE_ACHIEVED, EventType.BILL_RUN_FINISHED)
    design, *_ = milestone_project()

    achieve(design)

    assert sorted(receiver.types()) == ["invoice.issued", "milestone.achieved"]
    assert WebhookDelivery.objects.filter(event__type="milestone.achieved").get().endpoint == (
        listening
    )


def test_nothing_is_recorded_or_sent_when_nobody_subscribes(milestone_project, achieve, receiver):
    design, *_ = milestone_project()
    achieve(design)
    assert (WebhookEvent.objects.count(), receiver.requests) == (0, [])


def test_a_rolled_back_change_sends_nothing(
    milestone_project, receiver, make_endpoint, django_capture_on_commit_callbacks
):
    make_endpoint(EventType.MILESTONE_ACHIEVED, EventType.INVOICE_ISSUED)
    design, *_ = milestone_project()

    class Abort(Exception):
        pass

    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(Abort),
        transaction.atomic(),
    ):
        milestone_achieve(milestone=design, achieved_on=date(2026, 3, 10), achieved_by="pm")
        assert WebhookEvent.objects.count() == 2  # recorded in the transaction...
        raise Abort

    assert (WebhookEvent.objects.count(), receiver.requests) == (0, [])  # ...and gone with it


def test_a_receiver_with_the_wrong_secret_rejects_the_delivery(
    milestone_project, achieve, receiver, make_endpoint
):
    make_endpoint(EventType.MILESTONE_ACHIEVED)
    other = make_endpoint(EventType.INVOICE_PAID)
    design, *_ = milestone_project()
    achieve(design)

    [received] = receiver.requests
    with pytest.raises(InvalidSignature):
        received.verify(other.secret)
    with pytest.raises(InvalidSignature):
        received.verify("whsec_guess")


# --- Failures, retries and the log ---------------------------------------------------------


@pytest.fixture
def sweep(django_capture_on_commit_callbacks):
    """Run the retry sweep as beat does, letting the attempts it queues on commit run."""

    def sweep() -> int:
        with django_capture_on_commit_callbacks(execute=True):
            return webhooks_retry_due_task.delay().get()

    return sweep


def record_one(endpoint, django_capture_on_commit_callbacks) -> WebhookDelivery:
    """Record a milestone.achieved event for ``endpoint`` and let its first attempt run."""
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        events_record(
            event_type=EventType.MILESTONE_ACHIEVED,
            data=[{"object": "milestone", "id": 1}],
            endpoint_ids=[endpoint.pk],
        )
    return WebhookDelivery.objects.get()


def test_a_failed_delivery_is_retried_after_the_backoff_and_every_attempt_is_logged(
    receiver, make_endpoint, django_capture_on_commit_callbacks, sweep
):
    endpoint = make_endpoint(EventType.MILESTONE_ACHIEVED)
    receiver.statuses = [500]

    delivery = record_one(endpoint, django_capture_on_commit_callbacks)

    assert (delivery.status, delivery.attempts, delivery.response_code) == ("pending", 1, 500)
    assert delivery.response_body == "no: 500"
    assert delivery.error == "The endpoint answered HTTP 500."
    assert delivery.next_attempt_at == delivery.last_attempt_at + MINUTE
    assert sweep() == 0  # not due yet: nothing sent
    assert len(receiver.requests) == 1

    with time_machine.travel(delivery.next_attempt_at + timedelta(seconds=1)):
        assert sweep() == 1

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("succeeded", 2, 200)
    assert (delivery.error, delivery.next_attempt_at) == ("", None)
    first, second = receiver.requests
    assert first.body == second.body  # the same event, byte for byte
    second.verify(endpoint.secret)
    log = delivery.attempt_log.all()
    assert [(a.number, a.response_code, a.error, a.manual) for a in log] == [
        (1, 500, "The endpoint answered HTTP 500.", False),
        (2, 200, "", False),
    ]
    assert log[1].started_at - log[0].started_at > MINUTE


def test_a_delivery_backs_off_and_gives_up_after_the_attempts_allowed(
    settings, receiver, make_endpoint, django_capture_on_commit_callbacks, sweep
):
    settings.RMS_WEBHOOK_MAX_ATTEMPTS = 3
    receiver.default_status = 503
    delivery = record_one(
        make_endpoint(EventType.MILESTONE_ACHIEVED), django_capture_on_commit_callbacks
    )

    waits = []
    while delivery.status == WebhookDelivery.Status.PENDING and len(waits) < 5:
        waits.append(delivery.next_attempt_at - delivery.last_attempt_at)
        with time_machine.travel(delivery.next_attempt_at + timedelta(seconds=1)):
            sweep()
        delivery.refresh_from_db()

    assert waits == [timedelta(minutes=1), timedelta(minutes=5)]
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("failed", 3, None)
    assert len(receiver.requests) == 3
    with time_machine.travel(timedelta(days=30)):
        assert sweep() == 0


def test_a_task_run_twice_sends_once(receiver, make_endpoint, django_capture_on_commit_callbacks):
    delivery = record_one(
        make_endpoint(EventType.MILESTONE_ACHIEVED), django_capture_on_commit_callbacks
    )
    assert delivery.status == "succeeded"

    # A duplicate of the first attempt's task, and a stray later one: both find nothing to do.
    assert webhook_deliver_task.delay(delivery.pk, 1).get() is False
    assert webhook_deliver_task.delay(delivery.pk, 2).get() is False
    assert len(receiver.requests) == 1
    assert WebhookAttempt.objects.count() == 1


def test_a_delivery_claimed_by_a_worker_that_died_is_taken_up_by_the_sweep(
    receiver, make_endpoint, django_capture_on_commit_callbacks, monkeypatch, sweep
):
    # The first attempt's task is lost (never run): the sweep queues it after REQUEUE_AFTER.
    monkeypatch.setattr("webhooks.delivery._enqueue", lambda items: None)
    delivery = record_one(
        make_endpoint(EventType.MILESTONE_ACHIEVED), django_capture_on_commit_callbacks
    )
    assert (delivery.status, delivery.attempts) == ("pending", 0)
    monkeypatch.undo()

    with time_machine.travel(delivery.next_attempt_at + timedelta(seconds=1)):
        assert sweep() == 1

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, len(receiver.requests)) == ("succeeded", 1, 1)


@pytest.mark.parametrize(
    "status, error",
    [
        (302, "The endpoint answered HTTP 302."),  # a redirect is not followed
        (404, "The endpoint answered HTTP 404."),
    ],
)
def test_any_answer_but_2xx_is_a_failure(
    status, error, receiver, make_endpoint, django_capture_on_commit_callbacks
):
    receiver.statuses = [status]
    delivery = record_one(
        make_endpoint(EventType.MILESTONE_ACHIEVED), django_capture_on_commit_callbacks
    )
    assert (delivery.status, delivery.response_code, delivery.error) == ("pending", status, error)
    assert len(receiver.requests) == 1


def test_an_unreachable_endpoint_is_logged_as_an_error_without_a_status(
    make_endpoint, django_capture_on_commit_callbacks
):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint = make_endpoint(EventType.MILESTONE_ACHIEVED, url=f"http://127.0.0.1:{port}/")

    delivery = record_one(endpoint, django_capture_on_commit_callbacks)

    assert (delivery.status, delivery.attempts, delivery.response_code) == ("pending", 1, None)
    assert "ConnectionRefusedError" in delivery.error
    assert delivery.attempt_log.get().error == delivery.error


def test_a_slow_endpoint_times_out(
    settings, receiver, make_endpoint, django_capture_on_commit_callbacks
):
    settings.RMS_WEBHOOK_TIMEOUT = 0.2
    receiver.delay = 1
    delivery = record_one(
        make_endpoint(EventType.MILESTONE_ACHIEVED), django_capture_on_commit_callbacks
    )
    assert (delivery.status, delivery.response_code) == ("pending", None)
    assert "timed out" in delivery.error


def test_a_delivery_to_an_endpoint_disabled_meanwhile_fails_unsent(
    receiver, make_endpoint, django_capture_on_commit_callbacks
):
    endpoint = make_endpoint(EventType.MILESTONE_ACHIEVED)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        events_record(
            event_type=EventType.MILESTONE_ACHIEVED, data=[{}], endpoint_ids=[endpoint.pk]
        )
        endpoint.active = False
        endpoint.save()

    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.error, delivery.attempts) == (
        "failed",
        "The endpoint is inactive.",
        0,
    )
    assert receiver.requests == []


def test_bill_run_finished_reports_a_failed_run(
    contract_line_factory, activate, bill, receiver, make_endpoint, monkeypatch
):
    endpoint = make_endpoint(EventType.BILL_RUN_FINISHED, EventType.INVOICE_ISSUED)
    activate(contract_line_factory().contract)

    def broken(*args, **kwargs):
        raise RuntimeError("tax service down")

    monkeypatch.setattr(runs, "_invoice", broken)
    run = bill(date(2026, 1, 31))

    assert run.status == BillRun.Status.FAILED
    [received] = receiver.requests  # and no invoice.issued: the chunk rolled back
    data = assert_signed(received, endpoint)["data"]
    assert (data["status"], data["chunks_failed"], data["invoices_issued"]) == ("failed", 1, 0)
    assert "tax service down" in data["errors"][0]["error"]
