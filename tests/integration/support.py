"""Helpers of the integration tests: a book of customers, threads that start together, and the
exactly-once checks every scenario ends with."""

import threading
import time
from collections.abc import Callable
from datetime import date

from django.db import connection
from django.db.models import Count

from billing.models import BillingEvent, BillRun, Invoice, InvoiceLine, InvoiceSequence
from contracts.models import Contract, Customer
from contracts.services import contract_activate
from tests.contracts.factories import ContractFactory, ContractLineFactory, CustomerFactory

# The factories' contracts run through 2026: a monthly line bills 12 events, 6 due on this date.
AS_OF = date(2026, 6, 30)
EVENTS_DUE_PER_CUSTOMER = 6


def make_book(count: int, *, evergreen: bool = False) -> list[Customer]:
    """``count`` customers, each with one active contract of one monthly subscription line.

    Activation materializes the schedule (billing's receiver runs after the commit), so the
    events exist before any bill run.
    """
    customers = []
    for _ in range(count):
        customer = CustomerFactory()
        if evergreen:
            contract = ContractFactory(customer=customer, evergreen=True, end_date=None)
        else:
            contract = ContractFactory(customer=customer)
        ContractLineFactory(contract=contract)
        contract_activate(contract=contract)
        customers.append(customer)
    assert Contract.objects.filter(status=Contract.Status.ACTIVE).count() == count
    assert BillingEvent.objects.values("customer").distinct().count() == count, (
        "activation did not materialize the schedules: is billing's receiver connected?"
    )
    return customers


def run_together(*calls: Callable[[], object], timeout: float = 180) -> list[object]:
    """Call each function in its own thread, all released at once by a barrier.

    Each thread has its own database connection (Django's are per thread) and closes it at the
    end. Returns the results in order; re-raises the first exception a thread raised.
    """
    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)
    errors: list[BaseException | None] = [None] * len(calls)

    def target(index: int, call: Callable[[], object]) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = call()
        except BaseException as error:  # handed to the main thread
            errors[index] = error
        finally:
            connection.close()

    threads = [
        threading.Thread(target=target, args=(i, call), name=f"it-{i}", daemon=True)
        for i, call in enumerate(calls)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    stuck = [thread.name for thread in threads if thread.is_alive()]
    assert not stuck, f"threads {stuck} still running after {timeout} s: a deadlock?"
    for index, error in enumerate(errors):
        if error is not None:
            raise AssertionError(f"thread {index} raised {error!r}") from error
    return results


def assert_billed_exactly_once(*, as_of: date, invoices_per_customer: int = 1) -> None:
    """Every event due by ``as_of`` is on exactly one live invoice line, nothing else is billed,
    each customer has its invoices, and the issued numbers are 1..N with no gap or repeat."""
    due = set(BillingEvent.objects.filter(bill_date__lte=as_of).values_list("pk", flat=True))
    assert due, "nothing was due: the scenario is broken"
    pending = BillingEvent.objects.filter(pk__in=due, status=BillingEvent.Status.PENDING)
    assert not pending.exists(), f"{pending.count()} due events were left pending"
    live = InvoiceLine.objects.filter(voided=False)
    twice = list(live.values("event_id").annotate(n=Count("pk")).filter(n__gt=1))
    assert not twice, f"events on more than one live invoice line: {twice[:10]}"
    billed = set(live.values_list("event_id", flat=True))
    assert billed == due, (
        f"{len(due - billed)} due events not on an invoice, "
        f"{len(billed - due)} billed events not due"
    )
    not_due = BillingEvent.objects.filter(bill_date__gt=as_of)
    assert not not_due.exclude(status=BillingEvent.Status.PENDING).exists()

    customers = Customer.objects.count()
    assert Invoice.objects.count() == customers * invoices_per_customer
    per_customer = set(
        Invoice.objects.values("customer").annotate(n=Count("pk")).values_list("n", flat=True)
    )
    assert per_customer == {invoices_per_customer}, f"invoices per customer: {per_customer}"
    assert_numbers_gapless()


def assert_numbers_gapless() -> None:
    """Issued invoices are numbered 1..N in their series and year: no gap, no repeat."""
    issued = Invoice.objects.exclude(status=Invoice.Status.DRAFT)
    for series, year in set(issued.values_list("series", "year")):
        numbers = sorted(
            issued.filter(series=series, year=year).values_list("sequence_number", flat=True)
        )
        expected = list(range(1, len(numbers) + 1))
        assert numbers == expected, (
            f"{series}-{year} numbers are not 1..{len(numbers)}: "
            f"missing {sorted(set(expected) - set(numbers))[:10]}, "
            f"repeated {sorted({n for n in numbers if numbers.count(n) > 1})[:10]}"
        )
        sequence = InvoiceSequence.objects.get(series=series, year=year)
        assert sequence.last_number == len(numbers), (
            f"sequence {sequence} is at {sequence.last_number}, {len(numbers)} invoices issued"
        )
    texts = list(issued.values_list("number", flat=True))
    assert len(texts) == len(set(texts)), "two issued invoices share a number"
    assert all(texts), "an issued invoice has no number"


def assert_runs_completed(runs: list[BillRun]) -> None:
    for run in runs:
        run.refresh_from_db()
        assert run.status == BillRun.Status.COMPLETED, (
            f"{run}: {run.status}, errors {run.errors}, "
            f"chunks {list(run.chunks.values_list('index', 'status', 'error'))}"
        )
        assert run.errors == []
        assert run.chunks_done == run.chunks_total
        assert not run.chunks.exclude(status="done").exists()


def wait_for(condition, *, timeout: float, what: str, workers=(), interval: float = 0.2):
    """Poll ``condition`` until it is true; fail after ``timeout`` seconds, or at once if a
    worker that should be running has exited."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        for worker in workers:
            assert worker.alive(), f"worker {worker.name} exited while waiting for {what}"
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(interval)
