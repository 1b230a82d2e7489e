"""Bill runs processed by real ``celery worker`` processes through Redis, and worker crashes.

The test process starts the run (extending schedules and splitting customers into chunks is
``bill_run_start``'s job, so a patched ``CHUNK_SIZE`` applies); the workers only get chunk ids.
A worker is another process on another connection, so the tests commit for real
(``transaction=True``) and the worker reads the test database pytest-django created.

To kill a worker in the middle of a chunk, the test holds the invoice-number sequence row
locked from another connection: a chunk writes its invoices, lines and event updates, then
waits for that lock to number them. Killed there, with its writes uncommitted, the worker
acknowledges nothing (tasks are ``acks_late``), and Redis hands the chunk to another worker
after its visibility timeout.
"""

import os
import signal
import threading
from contextlib import contextmanager

import pytest
from django.db import connection, transaction
from django.db.models import QuerySet

from billing import runs
from billing.models import BillRun, BillRunChunk, Invoice, InvoiceSequence
from billing.tasks import bill_run_chunk_task
from contracts.models import Customer
from tests.integration.support import (
    AS_OF,
    EVENTS_DUE_PER_CUSTOMER,
    assert_billed_exactly_once,
    assert_runs_completed,
    make_book,
    run_together,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

CUSTOMERS = 30
SMALL_CHUNKS = 5  # 6 chunks of 30 customers


def wait_for_runs(*bill_runs: BillRun, workers, timeout: float = 60) -> None:
    ids = [run.pk for run in bill_runs]
    wait_for(
        lambda: not BillRun.objects.filter(pk__in=ids, status=BillRun.Status.RUNNING).exists(),
        timeout=timeout,
        what=f"bill runs {ids} to finish",
        workers=workers,
    )


@contextmanager
def row_locked(rows: QuerySet):
    """Hold ``rows`` locked (as a clerk's open transaction would), in a connection of its own."""
    locked, release = threading.Event(), threading.Event()

    def hold():
        try:
            with transaction.atomic():
                assert list(rows.select_for_update())
                locked.set()
                release.wait(timeout=120)
        finally:
            connection.close()

    holder = threading.Thread(target=hold, name="row-lock", daemon=True)
    holder.start()
    assert locked.wait(timeout=10), f"could not lock {rows}"
    try:
        yield
    finally:
        release.set()
        holder.join(timeout=30)


def sessions_waiting_on(table: str) -> list[tuple[int, bool]]:
    """(pid, has written) of the other sessions blocked on a row lock of ``table``."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, backend_xid IS NOT NULL FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock' "
            "AND query LIKE %s",
            [f'%FROM "{table}" WHERE%'],
        )
        return cursor.fetchall()


def waiting_queries() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid || ': ' || left(query, 90) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return [row[0] for row in cursor.fetchall()]


def session_exists(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid])
        return cursor.fetchone() is not None


def kill_worker_mid_chunk(start_worker, broker) -> BillRun:
    """Start a run of six chunks, kill -9 its worker while the first chunk waits to number its
    invoices, and return the run once the killed session has rolled back."""
    InvoiceSequence.objects.create(series="INV", year=AS_OF.year)
    with row_locked(InvoiceSequence.objects.all()):
        doomed = start_worker()
        run = runs.bill_run_start(as_of=AS_OF)
        assert run.chunks_total == 6
        [(pid, has_written)] = wait_for(
            lambda: sessions_waiting_on("billing_invoicesequence"),
            timeout=30,
            what="the worker to reach the numbering of its first chunk",
            workers=[doomed],
        )
        assert has_written, "the worker had not written its invoices yet"
        doomed.kill()
        assert doomed.received() == 1
        assert broker.unacked() == 1, "the killed worker's task should wait, unacknowledged"
        assert broker.queued() == 5
    # Granted the lock, the dead worker's session finds its client gone and rolls back.
    wait_for(lambda: not session_exists(pid), timeout=30, what="the killed session to end")
    assert not Invoice.objects.exists(), "a killed chunk's writes were committed"
    assert set(run.chunks.values_list("status", flat=True)) == {BillRunChunk.Status.PENDING}
    return run


def test_a_worker_bills_a_run_of_one_chunk(celery_workers, celery_on_redis):
    make_book(CUSTOMERS)
    worker = celery_workers()

    run = runs.bill_run_start(as_of=AS_OF)
    assert run.chunks_total == 1  # the default CHUNK_SIZE takes 30 customers at once
    wait_for_runs(run, workers=[worker])

    assert_runs_completed([run])
    assert run.invoices_created == run.invoices_issued == CUSTOMERS
    assert run.events_invoiced == CUSTOMERS * EVENTS_DUE_PER_CUSTOMER
    assert_billed_exactly_once(as_of=AS_OF)
    assert worker.received() == 1


def test_two_workers_bill_two_runs_started_together_once(
    celery_workers, celery_on_redis, monkeypatch
):
    make_book(CUSTOMERS)
    monkeypatch.setattr(runs, "CHUNK_SIZE", SMALL_CHUNKS)
    workers = [celery_workers(), celery_workers(pool="threads", concurrency=2)]

    first, second = run_together(
        lambda: runs.bill_run_start(as_of=AS_OF, triggered_by="first"),
        lambda: runs.bill_run_start(as_of=AS_OF, triggered_by="second"),
    )
    wait_for_runs(first, second, workers=workers)

    assert_runs_completed([first, second])
    assert first.chunks_total == second.chunks_total == 6
    assert first.invoices_created + second.invoices_created == CUSTOMERS
    assert first.events_invoiced + second.events_invoiced == CUSTOMERS * EVENTS_DUE_PER_CUSTOMER
    assert_billed_exactly_once(as_of=AS_OF)
    assert sum(worker.received() for worker in workers) == 12


def test_a_chunk_killed_mid_transaction_is_redelivered_and_billed_once(
    celery_workers, celery_on_redis, monkeypatch
):
    make_book(CUSTOMERS)
    monkeypatch.setattr(runs, "CHUNK_SIZE", SMALL_CHUNKS)
    run = kill_worker_mid_chunk(celery_workers, celery_on_redis)

    rescuer = celery_workers(visibility_timeout=5)
    wait_for_runs(run, workers=[rescuer])

    assert_runs_completed([run])
    assert run.invoices_created == CUSTOMERS
    assert run.events_invoiced == CUSTOMERS * EVENTS_DUE_PER_CUSTOMER
    assert_billed_exactly_once(as_of=AS_OF)
    assert rescuer.received() == 6  # five waiting chunks and the redelivered one
    assert celery_on_redis.unacked() == celery_on_redis.queued() == 0


def test_after_a_crash_a_new_run_bills_the_rest_and_the_late_redelivery_nothing(
    celery_workers, celery_on_redis, monkeypatch
):
    make_book(CUSTOMERS)
    monkeypatch.setattr(runs, "CHUNK_SIZE", SMALL_CHUNKS)
    crashed = kill_worker_mid_chunk(celery_workers, celery_on_redis)

    # Redis keeps the lost chunk for an hour by default: the crashed run cannot finish, and the
    # next run (the nightly one, or a clerk's) bills what the lost chunk did not.
    worker = celery_workers()
    wait_for(
        lambda: crashed.chunks.filter(status=BillRunChunk.Status.DONE).count() == 5,
        timeout=60,
        what="the crashed run's five other chunks",
        workers=[worker],
    )
    [lost] = crashed.chunks.filter(status=BillRunChunk.Status.PENDING)
    next_run = runs.bill_run_start(as_of=AS_OF, triggered_by="next")
    assert next_run.chunks_total == 1  # only the lost chunk's customers were left
    wait_for_runs(next_run, workers=[worker])
    assert_runs_completed([next_run])
    assert next_run.invoices_created == SMALL_CHUNKS
    assert_billed_exactly_once(as_of=AS_OF)
    crashed.refresh_from_db()
    assert crashed.status == BillRun.Status.RUNNING
    worker.stop()

    # The lost chunk comes back at last; its customers were billed meanwhile: it bills nothing.
    rescuer = celery_workers(visibility_timeout=5)
    wait_for_runs(crashed, workers=[rescuer])
    assert_runs_completed([crashed])
    lost.refresh_from_db()
    assert (lost.invoices_created, lost.events_invoiced) == (0, 0)
    assert crashed.invoices_created == CUSTOMERS - SMALL_CHUNKS
    assert_billed_exactly_once(as_of=AS_OF)
    assert rescuer.received() == 1


def test_a_chunk_delivered_again_after_it_was_done_changes_nothing(
    celery_workers, celery_on_redis, monkeypatch
):
    """Redis delivers at least once: a worker that dies after a chunk's commit but before its
    acknowledgement, or a visibility timeout shorter than a chunk, delivers a done chunk again."""
    make_book(CUSTOMERS)
    monkeypatch.setattr(runs, "CHUNK_SIZE", SMALL_CHUNKS)
    worker = celery_workers()
    run = runs.bill_run_start(as_of=AS_OF)
    wait_for_runs(run, workers=[worker])
    assert_runs_completed([run])
    before = list(run.chunks.values())

    for chunk in run.chunks.all():
        bill_run_chunk_task.delay(chunk.pk)
    wait_for(
        lambda: worker.log().count("succeeded in") == 12,
        timeout=30,
        what="the second delivery of the six chunks",
        workers=[worker],
    )

    assert list(run.chunks.values()) == before
    assert_runs_completed([run])
    assert run.invoices_created == CUSTOMERS
    assert_billed_exactly_once(as_of=AS_OF)


def test_other_chunks_of_a_run_go_on_while_one_waits_for_its_customer(
    celery_workers, celery_on_redis, monkeypatch
):
    """A chunk locks its own row only. With ``select_for_update().select_related("run")``
    (FOR UPDATE without OF) it also locked the run's row for its whole transaction: a run's
    chunks went one at a time whatever the number of workers, and one chunk waiting for a
    customer stalled the rest of its run."""
    customers = make_book(CUSTOMERS)
    monkeypatch.setattr(runs, "CHUNK_SIZE", SMALL_CHUNKS)
    first_customer = Customer.objects.filter(pk=min(c.pk for c in customers))
    workers = [celery_workers(), celery_workers()]

    with row_locked(first_customer):  # e.g. a clerk's transaction on one customer
        run = runs.bill_run_start(as_of=AS_OF)
        wait_for(
            lambda: sessions_waiting_on("contracts_customer"),
            timeout=30,
            what="the first chunk to wait for its customer",
            workers=workers,
        )
        try:
            wait_for(
                lambda: run.chunks.filter(status=BillRunChunk.Status.DONE).count() == 5,
                timeout=8,
                what="the other five chunks to be done by the other worker",
                workers=workers,
            )
        except AssertionError as error:
            raise AssertionError(f"{error}; sessions waiting: {waiting_queries()}") from None

    wait_for_runs(run, workers=workers)
    assert_runs_completed([run])
    assert_billed_exactly_once(as_of=AS_OF)


def test_a_chunk_whose_pool_process_is_killed_is_run_again(
    celery_workers, celery_on_redis, monkeypatch
):
    """The worker survives and only its pool process dies: the usual crash under prefork
    (the OOM killer, a segfault). With ``acks_late`` alone Celery acknowledged such a task as
    failed (WorkerLostError): the chunk never ran again, no error was recorded and the run
    stayed running for ever; ``task_reject_on_worker_lost`` gives it back to the queue."""
    make_book(CUSTOMERS)
    monkeypatch.setattr(runs, "CHUNK_SIZE", SMALL_CHUNKS)
    InvoiceSequence.objects.create(series="INV", year=AS_OF.year)
    with row_locked(InvoiceSequence.objects.all()):
        worker = celery_workers(pool="prefork", concurrency=1)
        run = runs.bill_run_start(as_of=AS_OF)
        [(pid, has_written)] = wait_for(
            lambda: sessions_waiting_on("billing_invoicesequence"),
            timeout=30,
            what="the pool process to reach the numbering of its first chunk",
            workers=[worker],
        )
        assert has_written
        [pool_process] = worker.pool_processes()
        os.kill(pool_process, signal.SIGKILL)
        wait_for(
            lambda: "WorkerLostError" in worker.log(),
            timeout=30,
            what="the worker to notice its pool process died",
            workers=[worker],
        )
    wait_for(lambda: not session_exists(pid), timeout=30, what="the killed session to end")

    wait_for_runs(run, workers=[worker], timeout=15)
    assert_runs_completed([run])
    assert_billed_exactly_once(as_of=AS_OF)
