"""Webhooks add a constant number of queries to a bill run, whatever its number of invoices.

With no endpoint subscribed, each signal costs the one query that finds out; with endpoints,
the events and deliveries of a bill run are inserted in bulk.
"""

from datetime import date

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from djmoney.money import Money

from billing.models import Invoice
from billing.runs import bill_run_start
from webhooks import receivers
from webhooks.models import EventType, WebhookDelivery, WebhookEndpoint

pytestmark = pytest.mark.django_db

ALL = list(EventType.values)


@pytest.fixture
def customers_due(customer_factory, contract_factory, contract_line_factory, activate):
    """Two customers billed from January, three more from February: a run as of 31 January
    issues 2 invoices, one as of 28 February 5 (the first two bill both months on one)."""
    for start in [date(2026, 1, 1)] * 2 + [date(2026, 2, 1)] * 3:
        contract = contract_factory(customer=customer_factory(), start_date=start)
        contract_line_factory(contract=contract, unit_price=Money("10.00", "USD"))
        activate(contract)


def test_issued_invoices_cost_one_query_without_subscribers_and_a_few_with(
    issued_invoice, make_endpoint
):
    invoices = [issued_invoice("10.00") for _ in range(5)]

    def queries(count: int) -> int:
        with CaptureQueriesContext(connection) as captured:
            receivers.invoices_issued(sender=Invoice, invoices=invoices[:count])
        return len(captured)

    assert queries(1) == queries(5) == 1  # which endpoints listen: none
    make_endpoint(EventType.INVOICE_ISSUED)
    make_endpoint(*ALL)
    # Endpoints, customers' numbers, events, deliveries.
    assert queries(1) == queries(5) == 4
    assert WebhookDelivery.objects.count() == 2 * (1 + 5)


def test_a_bill_runs_webhook_queries_do_not_grow_with_its_invoices(
    customers_due, receiver, settings, django_capture_on_commit_callbacks, monkeypatch
):
    settings.RMS_AUTO_DELIVERY = False
    queued = []
    # What is measured is recording the events; sending each one is a task of its own.
    monkeypatch.setattr("webhooks.delivery._enqueue", queued.append)

    def run(as_of: date, *, subscribed: bool) -> tuple[int, int, int]:
        """Bill as of ``as_of`` and roll it back; return (invoices, queries, webhook queries)."""
        savepoint = transaction.savepoint()
        if subscribed:
            WebhookEndpoint.objects.create(url=receiver.url, events=ALL)
        with (
            CaptureQueriesContext(connection) as captured,
            django_capture_on_commit_callbacks(execute=True),
        ):
            bill_run_start(as_of=as_of, triggered_by="tests")
        invoices = Invoice.objects.count()
        transaction.savepoint_rollback(savepoint)
        ours = [q for q in captured.captured_queries if "webhooks_" in q["sql"]]
        return invoices, len(captured), len(ours)

    run(date(2026, 1, 31), subscribed=False)  # warm caches (content types and the like)
    results = {
        (as_of, subscribed): run(as_of, subscribed=subscribed)
        for as_of in (date(2026, 1, 31), date(2026, 2, 28))
        for subscribed in (False, True)
    }

    january, february = date(2026, 1, 31), date(2026, 2, 28)
    assert [results[as_of, False][0] for as_of in (january, february)] == [2, 5]
    # No subscriber: one look at the endpoints per signal (invoices issued, run finished).
    assert results[january, False][2] == results[february, False][2] == 2
    # Subscribers: the same extra queries for 2 invoices as for 5.
    extra = {
        as_of: results[as_of, True][1] - results[as_of, False][1] for as_of in (january, february)
    }
    assert extra[january] == extra[february] == 5, (
        extra
    )  # (endpoints, events, deliveries) x 2 + customers
    # Each signal's deliveries were queued in one go: 2 and 5 invoice.issued, 2 bill_run.finished.
    assert sorted(len(items) for items in queued) == [1, 1, 2, 5]
