"""Bill runs and invoice issuing racing each other on a real PostgreSQL.

Each thread has its own connection, so row locks, READ COMMITTED visibility and the unique
constraints are PostgreSQL's own. Celery is eager: a run's chunks are processed in the thread
whose commit queued them, so two runs' chunks interleave on the same customers.
"""

import random
import threading
import time
from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db.models import Max

from billing import runs
from billing.invoicing import invoice_issue
from billing.models import BillingEvent, BillRunChunk, Invoice
from contracts.models import ContractLine, Customer
from tests.integration.support import (
    AS_OF,
    assert_billed_exactly_once,
    assert_numbers_gapless,
    assert_runs_completed,
    make_book,
    run_together,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

CUSTOMERS = 40
CHUNK_SIZE = 7  # 6 chunks of 40 customers: the two runs' customer locks interleave
MONTH_ENDS = [date(2026, month + 1, 1) - timedelta(days=1) for month in range(1, 7)]


class ChunkSpy:
    """Wraps ``bill_run_chunk`` to record every exception a chunk raised, even one the task
    would retry or record and swallow (a deadlock is an ``OperationalError``, retried).

    Each chunk starts after a random pause of up to 20 ms, as workers' latencies vary, so that
    neither run stays ahead of the other from its first chunk to its last. With ``align(n)``,
    the first chunk of each run waits until ``n`` runs have reached theirs: every run has
    queued all its chunks before any customer is billed, and the runs start billing in step.
    """

    def __init__(self):
        self.errors: list[tuple[int, str]] = []
        self.first_chunks: threading.Barrier | None = None
        self.jitter = random.Random(606)
        self.real = runs.bill_run_chunk

    def align(self, runs_at_once: int) -> None:
        self.first_chunks = threading.Barrier(runs_at_once)

    @staticmethod
    def index(chunk_id: int) -> int:
        return BillRunChunk.objects.values_list("index", flat=True).get(pk=chunk_id)

    def __call__(self, *, chunk_id: int):
        try:
            if self.first_chunks is not None and self.index(chunk_id) == 0:
                self.first_chunks.wait(timeout=30)
            time.sleep(self.jitter.uniform(0, 0.02))
            return self.real(chunk_id=chunk_id)
        except Exception as error:
            self.errors.append((chunk_id, repr(error)))
            raise


@pytest.fixture
def chunk_spy(monkeypatch) -> ChunkSpy:
    spy = ChunkSpy()
    monkeypatch.setattr(runs, "bill_run_chunk", spy)
    return spy


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(runs, "CHUNK_SIZE", CHUNK_SIZE)


def start_run(as_of: date, name: str):
    return lambda: runs.bill_run_start(as_of=as_of, triggered_by=name)


def test_two_runs_started_together_bill_every_event_once(inline_celery, small_chunks, chunk_spy):
    make_book(CUSTOMERS)
    chunk_spy.align(2)
    both_billed = 0
    for round_number, as_of in enumerate(MONTH_ENDS, start=1):
        first, second = run_together(start_run(as_of, "first"), start_run(as_of, "second"))

        assert_runs_completed([first, second])
        assert first.chunks_total == second.chunks_total == 6
        # The month's event of every customer, billed by one run or the other, never both.
        assert first.events_invoiced + second.events_invoiced == CUSTOMERS
        assert first.invoices_created + second.invoices_created == CUSTOMERS
        assert first.invoices_issued + second.invoices_issued == CUSTOMERS
        assert_billed_exactly_once(as_of=as_of, invoices_per_customer=round_number)
        both_billed += first.events_invoiced > 0 and second.events_invoiced > 0
    assert chunk_spy.errors == []
    # Not a property of billing but a check that the test raced the runs: in 35 repetitions (10
    # with both cores of the machine kept busy) both runs billed customers in 2 to 6 rounds of 6.
    assert both_billed, "one run billed everything every round: the runs never interleaved"


def test_two_runs_extending_schedules_together_bill_every_event_once(
    inline_celery, small_chunks, chunk_spy
):
    """Evergreen lines are scheduled a year ahead; a run past that horizon extends them first,
    so both runs write events for the same lines before billing them."""
    make_book(CUSTOMERS, evergreen=True)
    chunk_spy.align(2)
    horizon = ContractLine.objects.aggregate(Max("scheduled_through"))["scheduled_through__max"]
    as_of = horizon + timedelta(days=45)
    before = BillingEvent.objects.count()

    first, second = run_together(start_run(as_of, "first"), start_run(as_of, "second"))

    assert_runs_completed([first, second])
    assert first.chunks_total == second.chunks_total == 6
    assert BillingEvent.objects.count() > before
    assert not ContractLine.objects.filter(scheduled_through__lte=as_of).exists()
    due = BillingEvent.objects.filter(bill_date__lte=as_of).count()
    assert first.events_invoiced + second.events_invoiced == due
    assert first.invoices_created + second.invoices_created == CUSTOMERS
    assert_billed_exactly_once(as_of=as_of)
    assert chunk_spy.errors == []


def issue_all(drafts: list[Invoice], *, seed: int, issue_date: date) -> tuple[int, int]:
    """Try to issue every draft, in an order of its own; return (issued, refused)."""
    issued = refused = 0
    for invoice in random.Random(seed).sample(drafts, len(drafts)):
        try:
            invoice_issue(invoice=invoice, issue_date=issue_date)
        except ValidationError:
            refused += 1  # another thread issued it first
        else:
            issued += 1
    return issued, refused


@pytest.mark.parametrize("threads", [2, 4])
def test_issuing_drafts_from_several_threads_numbers_without_gaps(inline_celery, settings, threads):
    """Each thread tries every draft: one issue wins, the others are refused and give back
    nothing. The first issues also race to create the year's sequence row."""
    settings.RMS_INVOICE_REVIEW = True
    make_book(CUSTOMERS)
    run = runs.bill_run_start(as_of=AS_OF)
    assert_runs_completed([run])
    drafts = list(Invoice.objects.filter(status=Invoice.Status.DRAFT))
    assert len(drafts) == CUSTOMERS

    outcomes = run_together(
        *(
            lambda seed=seed: issue_all(drafts, seed=seed, issue_date=AS_OF)
            for seed in range(threads)
        )
    )

    assert sum(issued for issued, _ in outcomes) == CUSTOMERS
    assert sum(refused for _, refused in outcomes) == CUSTOMERS * (threads - 1)
    assert not Invoice.objects.filter(status=Invoice.Status.DRAFT).exists()
    assert_billed_exactly_once(as_of=AS_OF)


def test_issuing_drafts_while_a_run_issues_shares_one_gapless_sequence(
    inline_celery, settings, small_chunks, chunk_spy
):
    """Reviewed drafts are issued by hand while the next run numbers its own invoices."""
    settings.RMS_INVOICE_REVIEW = False
    customers = make_book(CUSTOMERS)
    reviewed = [customer.pk for customer in customers[::2]]
    Customer.objects.filter(pk__in=reviewed).update(invoice_review=Customer.InvoiceReview.REVIEW)
    january, february = MONTH_ENDS[0], MONTH_ENDS[1]
    assert_runs_completed([runs.bill_run_start(as_of=january)])
    drafts = list(Invoice.objects.filter(status=Invoice.Status.DRAFT))
    assert len(drafts) == len(reviewed)

    *outcomes, run = run_together(
        *(lambda seed=seed: issue_all(drafts, seed=seed, issue_date=january) for seed in range(3)),
        start_run(february, "february"),
    )

    assert_runs_completed([run])
    assert sum(issued for issued, _ in outcomes) == len(reviewed)
    assert run.invoices_created == CUSTOMERS
    assert run.invoices_issued == CUSTOMERS - len(reviewed)
    # January: all issued; February: the reviewed customers' invoices wait as drafts.
    assert Invoice.objects.filter(status=Invoice.Status.ISSUED).count() == 2 * CUSTOMERS - len(
        reviewed
    )
    assert_billed_exactly_once(as_of=february, invoices_per_customer=2)
    assert_numbers_gapless()
    assert chunk_spy.errors == []
