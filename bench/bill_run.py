"""Bill-run benchmark: how fast the real bill run invoices N subscriptions with usage (PostgreSQL).

Usage::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/rms python -m bench.bill_run --contracts 10000

The benchmark never touches the database that ``DATABASE_URL`` names: it creates its own, named
after it with ``_bench`` appended (dropping a leftover one of that name), migrates it, and drops
it at the end. Without a PostgreSQL ``DATABASE_URL`` it refuses to run. Celery runs eager (any
``CELERY_BROKER_URL`` is ignored) and ``DEBUG`` is off, as in production.

Workload: N customers, each with one active evergreen contract holding a USD 49.00 monthly
subscription billed in advance from 1 Jan 2026 (anniversary billing), its schedule materialized
beforehand, and an API-call usage line billed monthly in arrears (1,000 calls included, 0.01
per call beyond; customer i, from 1, made 1,000 + i calls in January); ``VACUUM ANALYZE`` runs
(untimed) before each timed run. Timed: ``billing.runs.bill_run_start`` as of 1 Jan 2026 (the
first month: the subscription), then as of 1 Feb 2026 (the second: the subscription and
January's overage, rated by the run, two lines). For comparison, a naive per-row ORM loop does
the same work (rate each usage line's period, then one invoice per customer with a line per due
event, issued with a number from the locked sequence) on a fresh sample of min(N, 2000)
contracts in the same database. Then, unless ``--workers 0``, the same workload is generated
afresh in a new bench database and billed again as the run is deployed: its chunks on a real
``celery worker`` pool of ``--workers`` processes (default 2, one per core of the standard
machine) through Redis (see ``bench.workers``), timed from the call until the last chunk closes
the run. Prints one JSON line; see docs/benchmarks.md.
"""

import argparse
import json
import os
import sys
import time
from datetime import date

from bench.environment import (
    configure_environment,
    create_bench_database,
    drop_bench_database,
    timed,
)

FIRST_MONTH = date(2026, 1, 1)
SECOND_MONTH = date(2026, 2, 1)
NAIVE_SAMPLE = 2_000
TARGET_INVOICES_PER_S = 2_000
POLL_S = 0.1
TARGET_SPEEDUP = 10
# One worker process per core of the standard 2-core machine, as the bill run is deployed.
WORKERS = 2


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bill_run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--contracts", type=int, default=10_000, help="contracts (one customer each) to bill"
    )
    parser.add_argument(
        "--naive-contracts",
        type=int,
        default=None,
        help=f"contracts for the naive loop (default min(N, {NAIVE_SAMPLE}))",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=WORKERS,
        help=f"Celery worker processes for the deployed-shape runs (default {WORKERS}; 0: skip)",
    )
    args = parser.parse_args(argv)
    if args.workers < 0:
        parser.error("--workers must be 0 or more")
    if args.contracts < 1:
        parser.error("--contracts must be at least 1")
    if args.naive_contracts is None:
        args.naive_contracts = min(args.contracts, NAIVE_SAMPLE)
    return args


def settle_database() -> None:
    """Before a timed run, untimed: ``VACUUM ANALYZE``, then ``CHECKPOINT``.

    A live database has autovacuum give the planner statistics and clear dead rows between runs
    a month apart; done here explicitly, the figures do not depend on whether the server's
    autovacuum happened to run (or is off). The checkpoint writes out what generating the data
    and the runs before left dirty, so that a checkpoint falling inside a run of a few seconds
    (PostgreSQL starts one every 5 minutes, or sooner after much writing) does not make one
    measurement 20 % slower than the next.
    """
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
        cursor.execute("CHECKPOINT")


def figures(*, as_of: date, invoices: int, lines: int, seconds: float, queries: int | None) -> dict:
    return {
        "as_of": as_of.isoformat(),
        "invoices": invoices,
        "lines": lines,
        "seconds": round(seconds, 3),
        "invoices_per_s": round(invoices / seconds, 1) if seconds else None,
        "queries": queries,
        "queries_per_invoice": round(queries / invoices, 4) if invoices and queries else None,
    }


def run_figures(
    run, *, as_of: date, expected: int, lines: int, seconds: float, queries: int | None
) -> dict:
    """Stop unless the run completed, invoicing and issuing every contract once; else its
    figures."""
    from billing.models import BillRun

    if (run.status, run.invoices_created, run.invoices_issued, run.events_invoiced) != (
        BillRun.Status.COMPLETED,
        expected,
        expected,
        lines,
    ):
        raise SystemExit(
            f"Bill run as of {as_of} did not bill what was expected ({expected} invoices, "
            f"{lines} lines): "
            f"status {run.status}, {run.invoices_created} created, {run.invoices_issued} "
            f"issued, {run.events_invoiced} events, errors {run.errors}"
        )
    return figures(
        as_of=as_of,
        invoices=run.invoices_created,
        lines=run.events_invoiced,
        seconds=seconds,
        queries=queries,
    )


def fast_run(*, as_of: date, expected: int, lines: int) -> dict:
    """Time the real bill run in this process (eager Celery: chunks one after another)."""
    from billing.runs import bill_run_start

    settle_database()
    run, seconds, queries = timed(bill_run_start, as_of=as_of, triggered_by="bench")
    return run_figures(
        run, as_of=as_of, expected=expected, lines=lines, seconds=seconds, queries=queries
    )


def worker_run(*, as_of: date, expected: int, lines: int) -> dict:
    """Time the bill run with its chunks on the worker pool: from the call until it finishes.

    ``bill_run_start`` queues the chunks; the last chunk's worker closes the run and stamps
    ``finished_at``, the end of the measurement (the same machine's clock). This process polls
    for it rarely, so as not to take the workers' CPU.
    """
    from django.utils import timezone

    from billing.models import BillRun
    from billing.runs import bill_run_start

    settle_database()
    started = timezone.now()
    run = bill_run_start(as_of=as_of, triggered_by="bench")
    while BillRun.objects.filter(pk=run.pk, status=BillRun.Status.RUNNING).exists():
        time.sleep(POLL_S)
    run.refresh_from_db()
    seconds = (run.finished_at - started).total_seconds()
    return run_figures(
        run, as_of=as_of, expected=expected, lines=lines, seconds=seconds, queries=None
    )


def naive_rate(*, as_of: date, prefix: str) -> None:
    """Rate usage the way a straightforward Django app would: per line and period, with ``save()``.

    For each rate plan of the sample's contracts (``prefix``): load its line, and for each ended
    period with no charge yet: sum the period's unbilled records, rate them (the same pure
    ``rate``), save the charge event and point the records at it.
    """
    from django.db import transaction
    from django.db.models import Sum

    from billing.domain.rating import rate
    from billing.models import BillingEvent, RatePlan, UsageRecord
    from billing.usage_rating import charge_key, ended_periods, local_midnight, plan_of

    for plan in RatePlan.objects.filter(line__contract__number__startswith=f"{prefix}-"):
        line = plan.line
        contract = line.contract
        for period in ended_periods(line, as_of=as_of):
            key = charge_key(period.start)
            with transaction.atomic():
                if BillingEvent.objects.filter(line=line, source_key=key).exists():
                    continue
                records = UsageRecord.objects.filter(
                    line=line,
                    billed_event__isnull=True,
                    occurred_at__gte=local_midnight(period.start),
                    occurred_at__lt=local_midnight(period.end),
                )
                quantity = records.aggregate(total=Sum("quantity"))["total"] or 0
                rating = rate(plan_of(plan, contract.currency, plan.tiers.all()), quantity)
                event = BillingEvent(
                    line=line,
                    contract=contract,
                    customer_id=contract.customer_id,
                    kind=BillingEvent.Kind.USAGE,
                    source_key=key,
                    bill_date=period.end,
                    period_start=period.start,
                    period_end=period.last_day,
                    quantity=quantity,
                    unit_price=rating.charge,
                    amount=rating.charge,
                    description=f"{line.product.name}: usage {period.start:%b %Y}",
                    breakdown=[row.as_dict() for row in rating.rows],
                )
                event.save()
                records.update(billed_event=event)


def naive_bill(*, as_of: date, prefix: str) -> tuple[int, int]:
    """Bill what is due the way a straightforward Django app would: row by row with ``save()``.

    Usage is rated first (``naive_rate``). Then each customer with due events gets one invoice,
    in its own transaction: lock and load the customer, and per event load the line and
    product and save its invoice line and the event as invoiced; save the invoice with its
    totals, lock and bump the sequence, save the invoice again as issued. Returns the invoices
    and lines created.
    """
    from django.db import transaction
    from django.utils import timezone

    from billing.domain.invoices import format_invoice_number, line_tax
    from billing.models import BillingEvent, Invoice, InvoiceLine, InvoiceSequence
    from billing.runs import due_events
    from contracts.models import Customer

    naive_rate(as_of=as_of, prefix=prefix)
    customer_ids = (
        due_events(as_of=as_of).order_by("customer_id").values_list("customer_id", flat=True)
    )
    created = lines = 0
    for customer_id in sorted(set(customer_ids)):
        with transaction.atomic():
            customer = Customer.objects.select_for_update().get(pk=customer_id)
            terms = customer.payment_terms
            events = list(due_events(as_of=as_of).filter(customer=customer).order_by("pk"))
            rates = [
                customer.tax_rate if e.line.product.tax_rate is None else e.line.product.tax_rate
                for e in events
            ]
            taxes = [line_tax(e.amount, rate) for e, rate in zip(events, rates, strict=True)]
            subtotal, tax_total = sum(e.amount for e in events), sum(taxes)
            invoice = Invoice(
                customer=customer,
                currency=customer.currency,
                invoice_date=as_of,
                subtotal=subtotal,
                tax_total=tax_total,
                total=subtotal + tax_total,
                delivery_held=customer.delivery_hold,
            )
            invoice.save()
            for position, (event, rate, tax) in enumerate(
                zip(events, rates, taxes, strict=True), start=1
            ):
                InvoiceLine(
                    invoice=invoice,
                    event=event,
                    contract_line=event.line,
                    position=position,
                    description=event.description,
                    period_start=event.period_start,
                    period_end=event.period_end,
                    quantity=event.quantity,
                    unit_price=event.unit_price,
                    amount=event.amount,
                    tax_rate=rate,
                    tax_amount=tax,
                    breakdown=event.breakdown,
                ).save()
                event.status = BillingEvent.Status.INVOICED
                event.save()
                lines += 1
            sequence, _ = InvoiceSequence.objects.select_for_update().get_or_create(
                series=invoice.series, year=as_of.year
            )
            sequence.last_number += 1
            sequence.save()
            invoice.status = Invoice.Status.ISSUED
            invoice.year = as_of.year
            invoice.sequence_number = sequence.last_number
            invoice.number = format_invoice_number(
                series=invoice.series, year=as_of.year, sequence_number=sequence.last_number
            )
            invoice.issue_date = as_of
            invoice.due_date = terms.due_date(as_of)
            invoice.payment_terms_text = terms.description
            invoice.bill_to_name = customer.legal_name
            invoice.bill_to_address = customer.billing_address
            invoice.issued_at = timezone.now()
            invoice.save()
            created += 1
    return created, lines


def naive_run(*, as_of: date, expected: int, lines: int) -> dict:
    settle_database()
    (invoices, billed), seconds, queries = timed(naive_bill, as_of=as_of, prefix="NAIVE")
    if (invoices, billed) != (expected, lines):
        raise SystemExit(
            f"The naive loop as of {as_of} made {invoices} invoices and {billed} lines, not "
            f"{expected} and {lines}."
        )
    return figures(as_of=as_of, invoices=invoices, lines=billed, seconds=seconds, queries=queries)


def overall(runs: list[dict]) -> dict:
    invoices = sum(run["invoices"] for run in runs)
    seconds = sum(run["seconds"] for run in runs)
    total = {"invoices": invoices, "seconds": round(seconds, 3)}
    total["invoices_per_s"] = round(invoices / seconds, 1)
    if all(run["queries"] is not None for run in runs):
        total["queries_per_invoice"] = round(sum(run["queries"] for run in runs) / invoices, 4)
    return total


def check_numbering() -> dict:
    """Check that the issued numbers of 2026 run 1..n with no gap and no repeat."""
    from django.db.models import Count, Max, Min

    from billing.models import Invoice

    numbers = Invoice.objects.filter(series="INV", year=2026).aggregate(
        count=Count("sequence_number"),
        distinct=Count("sequence_number", distinct=True),
        first=Min("sequence_number"),
        last=Max("sequence_number"),
    )
    if not (numbers["first"] == 1 and numbers["count"] == numbers["distinct"] == numbers["last"]):
        raise SystemExit(f"Invoice numbers have gaps or repeats: {numbers}")
    return numbers


def check_second_month(*, prefix: str, contracts: int) -> dict:
    """Check each February invoice: the subscription and January's overage, (1,000 + i) calls.

    Customer i (from 1) made 1,000 + i calls, so its overage line is i x 0.01 with the rows that
    say so; every invoice has exactly those two lines.
    """
    from django.db.models import Count

    from bench.data import INCLUDED_CALLS, OVERAGE_RATE, PRICE
    from billing.models import BillingEvent, Invoice, InvoiceLine

    invoices = Invoice.objects.filter(
        invoice_date=SECOND_MONTH, customer__number__startswith=f"{prefix}-"
    )
    shapes = set(invoices.annotate(n=Count("lines")).values_list("n", flat=True))
    usage = InvoiceLine.objects.filter(invoice__in=invoices, event__kind=BillingEvent.Kind.USAGE)
    subscriptions = InvoiceLine.objects.filter(
        invoice__in=invoices, event__kind=BillingEvent.Kind.SUBSCRIPTION, amount=PRICE.amount
    ).count()
    wrong = 0
    for number, amount, quantity, breakdown in usage.values_list(
        "invoice__customer__number", "amount", "quantity", "breakdown"
    ):
        beyond = int(number.rsplit("-", 1)[1]) + 1  # customer i (from 1): i calls over
        if (
            amount != beyond * OVERAGE_RATE
            or quantity != INCLUDED_CALLS + beyond
            or breakdown[-1]["quantity"] != str(beyond)
        ):
            wrong += 1
    if (invoices.count(), shapes, subscriptions, usage.count(), wrong) != (
        contracts,
        {2},
        contracts,
        contracts,
        0,
    ):
        raise SystemExit(
            f"February invoices are not subscription + January overage: {invoices.count()} "
            f"invoices, line counts {shapes}, {subscriptions} subscription and {usage.count()} "
            f"usage lines, {wrong} usage lines wrong."
        )
    return {"invoices": contracts, "lines_per_invoice": 2, "overage_lines_checked": contracts}


def machine() -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        (server_version,) = cursor.fetchone()
    return {
        "cpus": os.cpu_count(),
        "postgresql": server_version,
        "python": sys.version.split()[0],
        # The machine may be shared: a load well above the CPU count means the figures are low.
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def on_workers(*, contracts: int, workers: int, original: str) -> dict:
    """Bill the same workload in a fresh database with its chunks on ``workers`` processes."""
    from bench.data import generate
    from bench.workers import bench_broker_url, bench_database_url, celery_workers

    drop_bench_database(original)
    _, name = create_bench_database(benchmark="bill_run", suffix="bench")
    generate(contracts=contracts, prefix="FAST")
    pool = celery_workers(
        concurrency=workers,
        database=bench_database_url(os.environ["DATABASE_URL"], name),
        broker=bench_broker_url(os.environ.get("CELERY_BROKER_URL")),
        queue="bench_bill_run",
    )
    with pool:
        runs = [
            worker_run(as_of=FIRST_MONTH, expected=contracts, lines=contracts),
            worker_run(as_of=SECOND_MONTH, expected=contracts, lines=2 * contracts),
        ]
    check_second_month(prefix="FAST", contracts=contracts)
    check_numbering()
    return {"processes": workers, "runs": runs, **overall(runs)}


def benchmark(*, contracts: int, naive_contracts: int, workers: int, original: str) -> dict:
    from bench.data import generate
    from billing.runs import CHUNK_SIZE

    host = machine()  # before any work of ours, so the load average is everyone else's
    generate(contracts=contracts, prefix="FAST")
    fast = [
        fast_run(as_of=FIRST_MONTH, expected=contracts, lines=contracts),
        fast_run(as_of=SECOND_MONTH, expected=contracts, lines=2 * contracts),
    ]
    second_month = check_second_month(prefix="FAST", contracts=contracts)
    # Fresh customers for the naive loop: the fast runs have invoiced everything due so far, so
    # the loop sees only these.
    generate(contracts=naive_contracts, prefix="NAIVE")
    naive = [
        naive_run(as_of=FIRST_MONTH, expected=naive_contracts, lines=naive_contracts),
        naive_run(as_of=SECOND_MONTH, expected=naive_contracts, lines=2 * naive_contracts),
    ]
    numbers = check_numbering()
    fast_total, naive_total = overall(fast), overall(naive)
    speedup = round(fast_total["invoices_per_s"] / naive_total["invoices_per_s"], 1)
    pool = on_workers(contracts=contracts, workers=workers, original=original) if workers else None
    # The throughput target is for the run as deployed (on its workers) when they were measured.
    slowest = min(r["invoices_per_s"] for r in (pool or {"runs": fast})["runs"])
    return {
        "benchmark": "bill_run",
        "contracts": contracts,
        "chunk_size": CHUNK_SIZE,
        "machine": host,
        "runs": fast,
        "fast": fast_total,
        "workers": pool,
        "naive": {"contracts": naive_contracts, "runs": naive, **naive_total},
        "ratio": {
            "invoices_per_s": speedup,
            "per_run": [
                round(f["invoices_per_s"] / n["invoices_per_s"], 1)
                for f, n in zip(fast, naive, strict=True)
            ],
        },
        "numbering": {"issued": numbers["count"], "gapless": True},
        "second_month": second_month,
        "targets": {
            "invoices_per_s": TARGET_INVOICES_PER_S,
            "invoices_per_s_met": slowest >= TARGET_INVOICES_PER_S,
            "speedup": TARGET_SPEEDUP,
            "speedup_met": speedup >= TARGET_SPEEDUP,
        },
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    configure_environment(benchmark="bill_run", suffix="bench")
    original, _ = create_bench_database(benchmark="bill_run", suffix="bench")
    try:
        result = benchmark(
            contracts=args.contracts,
            naive_contracts=args.naive_contracts,
            workers=args.workers,
            original=original,
        )
    finally:
        drop_bench_database(original)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
