"""The bill run API: start a run (202), follow its chunks, never bill twice for one date."""

from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from billing import tasks
from billing.models import BillRun, BillRunChunk, Invoice
from tests.billing.conftest import assert_invoiced_events_billed_once, usd

pytestmark = pytest.mark.django_db

RUNS = "/api/v1/bill-runs/"


@pytest.fixture
def biller(token_client) -> APIClient:
    return token_client("biller", "view_billrun", "add_billrun")


@pytest.fixture
def start(django_capture_on_commit_callbacks):
    """POST as a committed request does: the chunks are queued (and, eager, run) on commit."""

    def start(client: APIClient, body: dict | None = None):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(RUNS, body if body is not None else {}, format="json")

    return start


@pytest.fixture
def subscription(contract_line_factory, activate):
    """100.00 a month in advance from 1 January: due 1 Jan, 1 Feb and 1 Mar by 1 March."""
    line = contract_line_factory(unit_price=usd("100.00"))
    activate(line.contract)
    return line


@pytest.mark.django_db(transaction=True)
def test_starting_a_run_bills_what_is_due_and_answers_202(biller, subscription):
    # Committed for real, as a request outside a test's transaction: with eager Celery (the
    # embedded default) the chunks run on commit, before the answer is built.
    response = biller.post(RUNS, {"as_of": "2026-03-01"}, format="json")

    assert response.status_code == 202, response.json()
    run = BillRun.objects.get()
    assert response["Location"] == f"http://testserver{RUNS}{run.pk}/"
    assert response.json() == {
        "id": run.pk,
        "as_of": "2026-03-01",
        "status": "completed",
        "triggered_by": "api:biller",
        "started_at": response.json()["started_at"],
        "finished_at": response.json()["finished_at"],
        "chunks_total": 1,
        "chunks_done": 1,
        "chunks_failed": 0,
        "events_invoiced": 3,
        "events_held": 0,
        "events_blocked": 0,
        "invoices_created": 1,
        "invoices_issued": 1,
        "errors": [],
    }
    [invoice] = Invoice.objects.all()
    # Three months of 100.00 on one invoice.
    assert (invoice.status, invoice.total) == (Invoice.Status.ISSUED, usd("300.00"))
    assert biller.get(f"{RUNS}{run.pk}/").json() == response.json()


def test_starting_twice_for_one_date_bills_nothing_twice(biller, subscription, start):
    started = [start(biller, {"as_of": "2026-03-01"}) for _ in range(2)]

    assert [response.status_code for response in started] == [202, 202]
    # Read once the chunks have run (on commit, after the answer in a test's transaction).
    first, second = (biller.get(response["Location"]) for response in started)
    assert (first.json()["invoices_created"], first.json()["events_invoiced"]) == (1, 3)
    assert second.json()["status"] == "completed"
    assert (second.json()["invoices_created"], second.json()["events_invoiced"]) == (0, 0)
    assert Invoice.objects.count() == 1
    assert_invoiced_events_billed_once()


def test_with_workers_the_run_is_still_running_when_answered(
    biller, subscription, start, monkeypatch
):
    queued = []
    monkeypatch.setattr(tasks.bill_run_chunk_task, "delay", queued.append)

    response = start(biller, {"as_of": "2026-03-01"})

    assert response.status_code == 202
    body = response.json()
    assert (body["status"], body["chunks_total"], body["chunks_done"]) == ("running", 1, 0)
    assert body["finished_at"] is None
    assert queued == list(BillRunChunk.objects.values_list("pk", flat=True))
    assert not Invoice.objects.exists()


def test_as_of_defaults_to_today(biller, start):
    response = start(biller)

    assert response.status_code == 202
    assert response.json()["as_of"] == timezone.localdate().isoformat()
    # Nothing is due: a run with no chunks finishes at once.
    assert (response.json()["status"], response.json()["chunks_total"]) == ("completed", 0)


@pytest.mark.parametrize(
    ("as_of", "message"),
    [
        ("2026-02-30", "Date has wrong format"),
        ("tomorrow", "Date has wrong format"),
        (None, "This field may not be null."),
    ],
)
def test_a_bad_date_is_a_400_naming_as_of(biller, start, as_of, message):
    response = start(biller, {"as_of": as_of})

    assert response.status_code == 400
    assert message in response.json()["fields"]["as_of"][0]
    assert not BillRun.objects.exists()


def test_a_future_date_is_refused(biller, start):
    tomorrow = timezone.localdate() + timedelta(days=1)

    response = start(biller, {"as_of": tomorrow.isoformat()})

    assert response.status_code == 400
    assert response.json()["fields"] == {
        "as_of": [f"{tomorrow} is in the future; a run bills what is due by today at the latest."]
    }
    assert not BillRun.objects.exists()


def make_run(as_of: date, chunks: list[str], **fields) -> BillRun:
    """A run whose chunks have the given statuses; a done chunk billed 2 events on 1 invoice."""
    run = BillRun.objects.create(as_of=as_of, chunks_total=len(chunks), **fields)
    BillRunChunk.objects.bulk_create(
        BillRunChunk(
            run=run,
            index=index,
            customer_ids=[index],
            status=status,
            events_invoiced=2 if status == "done" else 0,
            invoices_created=1 if status == "done" else 0,
            invoices_issued=1 if status == "done" else 0,
            error="OperationalError('gone')" if status == "failed" else "",
        )
        for index, status in enumerate(chunks)
    )
    return run


def test_a_running_run_shows_its_progress_from_its_chunks(biller):
    run = make_run(date(2026, 3, 1), ["done", "done", "failed", "pending"], events_held=4)

    body = biller.get(f"{RUNS}{run.pk}/").json()

    assert body["status"] == "running"
    assert (body["chunks_total"], body["chunks_done"], body["chunks_failed"]) == (4, 2, 1)
    assert (body["events_invoiced"], body["invoices_created"], body["invoices_issued"]) == (4, 2, 2)
    assert body["events_held"] == 4


def test_a_failed_run_lists_its_errors(biller):
    errors = [{"index": 1, "error": "OperationalError('gone')"}]
    run = make_run(date(2026, 3, 1), ["done", "failed"], status="failed", errors=errors)

    body = biller.get(f"{RUNS}{run.pk}/").json()

    assert (body["status"], body["errors"], body["chunks_failed"]) == ("failed", errors, 1)


def test_filters(biller):
    march = make_run(date(2026, 3, 1), ["done"], status="completed")
    april = make_run(date(2026, 4, 1), ["pending"])

    def ids(**query) -> list[int]:
        response = biller.get(RUNS, query)
        assert response.status_code == 200, response.json()
        return [row["id"] for row in response.json()["results"]]

    assert ids() == [april.pk, march.pk]
    assert ids(status="running") == [april.pk]
    assert ids(as_of_before="2026-03-31") == [march.pk]
    assert ids(ordering="as_of") == [march.pk, april.pk]


class TestPermissions:
    def test_starting_needs_the_add_permission(self, token_client, subscription, start):
        reader = token_client("auditor", "view_billrun")

        denied = start(reader, {"as_of": "2026-03-01"})

        assert denied.status_code == 403
        assert denied.json()["type"] == "permission_denied"
        assert not BillRun.objects.exists()
        assert not Invoice.objects.exists()

    def test_reading_needs_the_view_permission(self, token_client):
        run = make_run(date(2026, 3, 1), [])
        clerk = token_client("clerk", "view_invoice")

        assert clerk.get(RUNS).status_code == 403
        assert clerk.get(f"{RUNS}{run.pk}/").status_code == 403
        assert APIClient().get(RUNS).status_code == 401
        assert token_client("auditor", "view_billrun").get(f"{RUNS}999999/").status_code == 404

    def test_a_run_is_never_edited_or_deleted(self, token_client):
        run = make_run(date(2026, 3, 1), [])
        admin = token_client("all", "view_billrun", "change_billrun", "delete_billrun")

        assert admin.patch(f"{RUNS}{run.pk}/", {"status": "failed"}).status_code == 405
        assert admin.delete(f"{RUNS}{run.pk}/").status_code == 405


def test_a_page_costs_the_same_queries_for_1_or_30_runs(biller, django_assert_max_num_queries):
    make_run(date(2026, 1, 1), ["done", "failed", "pending"])
    with CaptureQueriesContext(connection) as one:
        assert len(biller.get(RUNS).json()["results"]) == 1
    for day in range(2, 31):
        make_run(date(2026, 1, day), ["done", "failed", "pending"])

    with django_assert_max_num_queries(len(one)):
        results = biller.get(RUNS).json()["results"]
    assert len(results) == 30
    assert {(row["chunks_done"], row["chunks_failed"]) for row in results} == {(1, 1)}
