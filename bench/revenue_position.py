"""Revenue position benchmark: the position of a whole book at a date, read off the journal.

Usage::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/rms python -m bench.revenue_position \\
        --contracts 10000

Like ``bench.bill_run`` it never touches the database that ``DATABASE_URL`` names: it creates
its own, named after it with ``_bench_revenue`` appended (dropping a leftover one of that name),
migrates it, and drops it at the end. Without a PostgreSQL ``DATABASE_URL`` it refuses to run.
Celery runs eager and ``DEBUG`` is off, as in production.

Workload: N customers, each with one active contract for calendar 2026 holding one ratable
subscription, three in four billed monthly (USD 49.00 a month) and one in four annually
(USD 540.00 a year), in advance. Built with ``bulk_create`` and the real ``schedule_refresh``
(untimed), then billed by the real ``billing.runs.bill_run_start`` on the first of each month
from January to June 2026 (which posts each invoice to the journal as it is issued), then
recognized by the real ``revenue.runs.revenue_recognize(as_of=2026-06-30)``, which also derives
and allocates every contract's obligations (they were bulk-loaded without any). Those runs are
timed and reported.

Timed reads, as of 15 June 2026, after ``VACUUM ANALYZE``: ``book_position`` (best and median
of several repetitions) against a naive baseline in the same run, one ORM aggregate query per
contract over a sample, extrapolated to N; and ``rpo_of`` for every contract. The figures are
checked (contract sums against the book totals and the journal, sampled contracts against
``position_of``, the naive sample against the book) before anything is printed. Prints one
JSON line; ``--explain`` also writes the plan of the book's query to standard error. See
docs/benchmarks.md.
"""

import argparse
import json
import statistics
import sys
import time
from datetime import date
from decimal import Decimal

from bench.bill_run import machine, vacuum_analyze
from bench.environment import (
    configure_environment,
    create_bench_database,
    drop_bench_database,
    timed,
)

YEAR_START = date(2026, 1, 1)
YEAR_END = date(2026, 12, 31)
BILL_DATES = [date(2026, month, 1) for month in range(1, 7)]
RECOGNIZE_AS_OF = date(2026, 6, 30)
POSITION_AS_OF = date(2026, 6, 15)
MONTHLY_PRICE = Decimal("49.00")
ANNUAL_PRICE = Decimal("540.00")
# One contract in ANNUAL_EVERY bills yearly: a book with both deferred revenue that unwinds
# over the year (annual) and billings that track revenue month by month (monthly).
ANNUAL_EVERY = 4
INSERT_BATCH = 2_000
SCHEDULE_BATCH = 2_000
NAIVE_SAMPLE = 500
POSITION_SAMPLE = 25
REPEATS = 5
TARGET_SECONDS = 2.0
TARGET_CONTRACTS = 10_000


def log(message: str) -> None:
    """Report progress on standard error, keeping standard output to the one JSON line."""
    print(f"[bench.revenue_position] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.revenue_position",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--contracts", type=int, default=10_000, help="contracts (one customer each) in the book"
    )
    parser.add_argument(
        "--naive-contracts",
        type=int,
        default=None,
        help=f"contracts the naive per-contract loop reads (default min(N, {NAIVE_SAMPLE}))",
    )
    parser.add_argument(
        "--repeats", type=int, default=REPEATS, help="timed repetitions of each read"
    )
    parser.add_argument(
        "--explain",
        action="store_true",
        help="write EXPLAIN (ANALYZE, BUFFERS) of the book's query to standard error",
    )
    args = parser.parse_args(argv)
    if args.contracts < 1 or args.repeats < 1:
        parser.error("--contracts and --repeats must be at least 1")
    if args.naive_contracts is None:
        args.naive_contracts = min(args.contracts, NAIVE_SAMPLE)
    args.naive_contracts = min(args.naive_contracts, args.contracts)
    return args


def repeated(func, *, repeats: int, **kwargs) -> tuple[object, dict]:
    """Time ``func`` ``repeats`` times; return the last result and best, median and queries."""
    times = []
    for _ in range(repeats):
        result, seconds, queries = timed(func, **kwargs)
        times.append(seconds)
    return result, {
        "repeats": repeats,
        "best_s": round(min(times), 4),
        "median_s": round(statistics.median(times), 4),
        "queries": queries,
    }


class StepTimer:
    """Add up the time spent in some functions of a module while the block runs.

    Wraps the module attributes for the block's duration only (the module looks them up at call
    time), to split a run's time into its steps without changing what it does.
    """

    def __init__(self, module, names: list[str]) -> None:
        self.module = module
        self.names = names
        self.seconds = dict.fromkeys(names, 0.0)
        self.originals: dict = {}

    def _wrap(self, name: str, func):
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - started

        return wrapper

    def __enter__(self) -> "StepTimer":
        for name in self.names:
            self.originals[name] = getattr(self.module, name)
            setattr(self.module, name, self._wrap(name, self.originals[name]))
        return self

    def __exit__(self, *exc_info) -> None:
        for name, func in self.originals.items():
            setattr(self.module, name, func)


# --- The book ------------------------------------------------------------------------------


def generate(*, contracts: int) -> list[int]:
    """Create the book: N customers, each with one 2026 contract and one subscription line.

    Different from ``bench.data`` (evergreen, monthly only): fixed terms give the obligations a
    transaction price to allocate, and annual billing gives real deferred revenue. Returns the
    contract ids in id order. Nothing here is timed.
    """
    from django.db import transaction
    from djmoney.money import Money

    from bench.data import reference_rows
    from billing.schedules import schedule_refresh
    from contracts.models import (
        BillDayMode,
        BillingModel,
        BillTiming,
        Contract,
        ContractLine,
        Customer,
        Product,
        RevenuePolicy,
    )

    terms, monthly, _ = reference_rows()  # the usage product is bench.bill_run's
    annual, _ = Product.objects.get_or_create(
        sku="BENCH-SUB-ANNUAL",
        defaults={
            "name": "Bench annual subscription",
            "ssp": Money(ANNUAL_PRICE, "USD"),
            "default_billing_model": BillingModel.SUBSCRIPTION,
            "revenue_policy": RevenuePolicy.RATABLE,
        },
    )
    with transaction.atomic():
        customers = Customer.objects.bulk_create(
            (
                Customer(
                    number=f"REV-{n:06d}",
                    legal_name=f"Revenue bench customer {n:06d} Ltd",
                    currency="USD",
                    payment_terms=terms,
                    # Download only: the book has no billing contacts to email, and what is
                    # measured here is billing and revenue, not the sending of documents.
                    delivery_method=Customer.DeliveryMethod.NONE,
                    tax_rate=Decimal("10"),
                    address_line1=f"{n} Market Street",
                    city="Springfield",
                    postal_code="12345",
                    country="US",
                )
                for n in range(contracts)
            ),
            batch_size=INSERT_BATCH,
        )
        contract_rows = Contract.objects.bulk_create(
            (
                Contract(
                    number=f"REV-K-{n:06d}",
                    customer=customer,
                    currency="USD",
                    signed_date=date(2025, 12, 15),
                    start_date=YEAR_START,
                    end_date=YEAR_END,
                    evergreen=False,
                    status=Contract.Status.ACTIVE,
                )
                for n, customer in enumerate(customers)
            ),
            batch_size=INSERT_BATCH,
        )
        lines = []
        for n, contract in enumerate(contract_rows):
            is_annual = n % ANNUAL_EVERY == 0
            lines.append(
                ContractLine(
                    contract=contract,
                    sequence=1,
                    product=annual if is_annual else monthly,
                    billing_model=BillingModel.SUBSCRIPTION,
                    quantity=Decimal(1),
                    unit_price=Money(ANNUAL_PRICE if is_annual else MONTHLY_PRICE, "USD"),
                    service_start=YEAR_START,
                    service_end=YEAR_END,
                    interval_months=12 if is_annual else 1,
                    bill_timing=BillTiming.ADVANCE,
                    bill_day_mode=BillDayMode.ANNIVERSARY,
                )
            )
        ContractLine.objects.bulk_create(lines, batch_size=INSERT_BATCH)
    line_ids = list(
        ContractLine.objects.filter(contract__number__startswith="REV-K-")
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for start in range(0, len(line_ids), SCHEDULE_BATCH):
        batch = ContractLine.objects.filter(
            pk__in=line_ids[start : start + SCHEDULE_BATCH]
        ).select_related("contract", "product")
        schedule_refresh(lines=batch, as_of=YEAR_START)
    return [contract.pk for contract in contract_rows]


def expected_invoices(*, contracts: int, as_of: date) -> int:
    """Return the invoices a bill run on ``as_of`` must create: every contract in January,
    the monthly ones after."""
    annual = len(range(0, contracts, ANNUAL_EVERY))
    return contracts if as_of == YEAR_START else contracts - annual


def bill(*, contracts: int) -> dict:
    """Run the real bill run on the first of each month, January to June; return its figures."""
    from billing.models import BillRun
    from billing.runs import bill_run_start

    runs = []
    for as_of in BILL_DATES:
        vacuum_analyze()
        run, seconds, queries = timed(bill_run_start, as_of=as_of, triggered_by="bench")
        expected = expected_invoices(contracts=contracts, as_of=as_of)
        if (run.status, run.invoices_created, run.invoices_issued) != (
            BillRun.Status.COMPLETED,
            expected,
            expected,
        ):
            raise SystemExit(
                f"Bill run as of {as_of} did not bill what was expected ({expected} invoices): "
                f"status {run.status}, {run.invoices_created} created, {run.invoices_issued} "
                f"issued, errors {run.errors}"
            )
        runs.append(
            {
                "as_of": as_of.isoformat(),
                "invoices": run.invoices_created,
                "seconds": round(seconds, 3),
                "invoices_per_s": round(run.invoices_created / seconds, 1),
                "queries": queries,
            }
        )
        log(f"bill run {as_of}: {run.invoices_created} invoices in {seconds:.1f} s")
    invoices = sum(r["invoices"] for r in runs)
    seconds = sum(r["seconds"] for r in runs)
    return {
        "runs": runs,
        "invoices": invoices,
        "seconds": round(seconds, 3),
        "invoices_per_s": round(invoices / seconds, 1),
    }


def recognize(*, contracts: int) -> dict:
    """Run the real revenue run through 30 June 2026 and check what it posted."""
    from revenue import runs
    from revenue.models import JournalEntry
    from revenue.runs import revenue_recognize

    vacuum_analyze()
    with StepTimer(runs, ["journal_catch_up", "obligations_sync", "contracts_recognize"]) as steps:
        run, seconds, queries = timed(
            revenue_recognize, as_of=RECOGNIZE_AS_OF, triggered_by="bench"
        )
    posted = JournalEntry.objects.filter(kind=JournalEntry.Kind.RECOGNITION).count()
    # Six months of a ratable 2026 subscription: one posting per contract and month.
    if (run.contracts, run.entries_posted, posted) != (contracts, 6 * contracts, 6 * contracts):
        raise SystemExit(
            f"The revenue run recognized {run.contracts} contracts and posted "
            f"{run.entries_posted} entries ({posted} in the journal), not {contracts} and "
            f"{6 * contracts}."
        )
    log(f"revenue run: {run.contracts} contracts, {run.entries_posted} entries in {seconds:.1f} s")
    return {
        "as_of": RECOGNIZE_AS_OF.isoformat(),
        "contracts": run.contracts,
        "entries_posted": run.entries_posted,
        "seconds": round(seconds, 3),
        "contracts_per_s": round(run.contracts / seconds, 1),
        "entries_per_s": round(run.entries_posted / seconds, 1),
        "queries": queries,
        "queries_per_contract": round(queries / run.contracts, 2),
        # Where the run's time went: posting invoices the journal missed (none here), deriving
        # the obligations of contracts loaded without them (a one-off), recognizing.
        "steps_s": {name: round(spent, 3) for name, spent in steps.seconds.items()},
        "recognition_only": {
            "contracts_per_s": round(run.contracts / steps.seconds["contracts_recognize"], 1),
            "entries_per_s": round(run.entries_posted / steps.seconds["contracts_recognize"], 1),
        },
    }


# --- The reads -----------------------------------------------------------------------------


def naive_positions(*, contract_ids: list[int], as_of: date) -> dict:
    """Compute positions the straightforward way: one ORM aggregate query per contract.

    The same sums as the book's query (revenue net on the revenue account, billings net on the
    contract account from invoices and voids), but each contract asks the database on its own.
    """
    from django.db.models import Q
    from djmoney.money import Money

    from contracts.models import Contract
    from revenue.domain.position import contract_position
    from revenue.journal import ledger_accounts
    from revenue.models import JournalLine, LedgerAccount
    from revenue.selectors import BILLING_KINDS, _net
    from rms.money import round_money

    accounts = ledger_accounts()
    revenue = accounts[LedgerAccount.Role.REVENUE]
    contract_account = accounts[LedgerAccount.Role.CONTRACT]
    currencies = dict(Contract.objects.filter(pk__in=contract_ids).values_list("pk", "currency"))
    result = {}
    for contract_id in contract_ids:
        sums = JournalLine.objects.filter(
            contract_id=contract_id, date__lte=as_of, account__in=[revenue, contract_account]
        ).aggregate(
            revenue=_net(Q(account=revenue)),
            billed=_net(Q(account=contract_account, kind__in=BILLING_KINDS)),
        )
        currency = currencies[contract_id]
        # A contract with no postings yet aggregates to NULL: its position is zero.
        revenue_sum, billed_sum = (
            Money(0, currency) if value is None else round_money(value, currency)
            for value in (sums["revenue"], sums["billed"])
        )
        result[contract_id] = contract_position(revenue=revenue_sum, billed=billed_sum)
    return result


def position_query_only(*, as_of: date) -> int:
    """Run the book's grouped query and fetch its rows, without building positions."""
    from revenue.selectors import _position_rows

    return len(list(_position_rows(as_of=as_of)))


def explain(*, as_of: date) -> str:
    """Return EXPLAIN (ANALYZE, BUFFERS) of the book's grouped query."""
    from django.db import connection

    from revenue.selectors import _position_rows

    sql, params = _position_rows(as_of=as_of).query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


def journal_totals(*, as_of: date) -> tuple[Decimal, Decimal]:
    """Return revenue and billings through ``as_of`` straight from the journal, in raw SQL.

    Written independently of the selectors, so that the check below does not share their code.
    """
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT
              COALESCE(SUM(l.credit - l.debit) FILTER (WHERE a.role = 'revenue'), 0),
              COALESCE(SUM(l.credit - l.debit) FILTER (
                WHERE a.role = 'contract' AND l.kind IN ('invoice', 'invoice_void')), 0)
            FROM revenue_journalline l JOIN revenue_ledgeraccount a ON a.id = l.account_id
            WHERE l.date <= %s AND l.contract_id IS NOT NULL
            """,
            [as_of],
        )
        return cursor.fetchone()


def check_book(*, book, contract_ids: list[int], naive: dict, as_of: date) -> dict:
    """Stop the benchmark unless the book's figures are right; return what was checked."""
    from djmoney.money import Money

    from contracts.models import Contract
    from revenue.models import RevenueScheduleEntry
    from revenue.selectors import position_of

    problems = []
    if set(book.by_contract) != set(contract_ids):
        problems.append(f"{len(book.by_contract)} positions for {len(contract_ids)} contracts")
    if set(book.totals) != {"USD"}:
        problems.append(f"totals in {sorted(book.totals)}, not USD alone")
    totals = book.totals.get("USD", {})
    zero = Money(0, "USD")
    for figure in ("revenue", "billed", "asset", "liability", "net"):
        summed = sum((getattr(p, figure) for p in book.by_contract.values()), zero)
        if summed != totals.get(figure):
            problems.append(f"contracts' {figure} sum to {summed}, the total is {totals[figure]}")
    if totals and totals["net"] != totals["asset"] - totals["liability"]:
        problems.append("net is not asset - liability")
    revenue, billed = journal_totals(as_of=as_of)
    if totals and (totals["revenue"].amount, totals["billed"].amount) != (revenue, billed):
        problems.append(f"journal says revenue {revenue}, billed {billed}; the book {totals}")
    scheduled = sum(
        RevenueScheduleEntry.objects.filter(
            status=RevenueScheduleEntry.Status.RECOGNIZED, recognized_on__lte=as_of
        ).values_list("amount", flat=True),
        Decimal(0),
    )
    if totals and totals["revenue"].amount != scheduled:
        problems.append(f"recognized schedule entries sum to {scheduled}, revenue to {totals}")
    step = max(1, len(contract_ids) // POSITION_SAMPLE)
    sampled = contract_ids[::step][:POSITION_SAMPLE]
    for contract in Contract.objects.filter(pk__in=sampled):
        one = position_of(contract=contract, as_of=as_of)
        if one != book.by_contract.get(contract.pk):
            problems.append(
                f"contract {contract.pk}: position_of {one}, book "
                f"{book.by_contract.get(contract.pk)}"
            )
    for contract_id, position in naive.items():
        if position != book.by_contract.get(contract_id):
            problems.append(f"contract {contract_id}: naive {position}, book differs")
    if problems:
        raise SystemExit("The book position is wrong:\n" + "\n".join(problems[:20]))
    return {
        "contracts": len(book.by_contract),
        "sum_equals_totals": True,
        "totals_equal_journal": True,
        "revenue_equals_schedule": True,
        "position_of_sampled": len(sampled),
        "naive_sample_equal": len(naive),
        "totals": {figure: str(money.amount) for figure, money in totals.items()},
    }


def check_rpo(*, rpo: dict, book, contract_ids: list[int]) -> None:
    """Stop unless every contract's RPO is its allocated price less its revenue to date."""
    from django.db.models import Sum

    from revenue.models import PerformanceObligation

    allocated = PerformanceObligation.objects.filter(contract_id__in=contract_ids).aggregate(
        total=Sum("allocated")
    )["total"]
    remaining = sum((r.total.amount for r in rpo.values()), Decimal(0))
    expected = allocated - book.totals["USD"]["revenue"].amount
    if len(rpo) != len(contract_ids) or remaining != expected:
        raise SystemExit(
            f"RPO of {len(rpo)} contracts sums to {remaining}, expected {expected} "
            f"(allocated {allocated} less revenue to date)."
        )


def read(*, contract_ids: list[int], naive_contracts: int, repeats: int, show_plan: bool) -> dict:
    """Time the book's position, the naive loop and the RPO, and check their figures."""
    from revenue.selectors import book_position, rpo_of

    vacuum_analyze()
    # One untimed call warms Django's caches and PostgreSQL's buffers, as a live server has them.
    book_position(as_of=POSITION_AS_OF)
    book, book_figures = repeated(book_position, repeats=repeats, as_of=POSITION_AS_OF)
    _, query_figures = repeated(position_query_only, repeats=repeats, as_of=POSITION_AS_OF)
    log(f"book_position: best {book_figures['best_s']} s, median {book_figures['median_s']} s")

    step = max(1, len(contract_ids) // naive_contracts)
    sample = contract_ids[::step][:naive_contracts]
    naive, naive_seconds, naive_queries = timed(
        naive_positions, contract_ids=sample, as_of=POSITION_AS_OF
    )
    extrapolated = naive_seconds * len(contract_ids) / len(sample)
    log(f"naive: {len(sample)} contracts in {naive_seconds:.2f} s, ~{extrapolated:.1f} s for all")

    rpo, rpo_figures = repeated(
        rpo_of, repeats=repeats, contract_ids=contract_ids, as_of=POSITION_AS_OF
    )
    log(f"rpo_of: best {rpo_figures['best_s']} s, median {rpo_figures['median_s']} s")

    checks = check_book(book=book, contract_ids=contract_ids, naive=naive, as_of=POSITION_AS_OF)
    check_rpo(rpo=rpo, book=book, contract_ids=contract_ids)
    checks["rpo_equals_allocated_less_revenue"] = True
    if show_plan:
        print(explain(as_of=POSITION_AS_OF), file=sys.stderr)
    return {
        "book_position": {
            **book_figures,
            "query_best_s": query_figures["best_s"],
            "query_median_s": query_figures["median_s"],
        },
        "naive": {
            "method": "one ORM aggregate query per contract, sample extrapolated to all",
            "sample": len(sample),
            "sample_s": round(naive_seconds, 3),
            "queries": naive_queries,
            "extrapolated_s": round(extrapolated, 3),
        },
        "ratio": {
            "naive_extrapolated_over_book_best": round(extrapolated / book_figures["best_s"], 1),
            "naive_extrapolated_over_book_median": round(
                extrapolated / book_figures["median_s"], 1
            ),
        },
        "rpo_of": {"contracts": len(rpo), **rpo_figures},
        "checks": checks,
    }


def journal_size() -> dict:
    from revenue.models import JournalEntry, JournalLine

    return {
        "entries": JournalEntry.objects.count(),
        "lines": JournalLine.objects.count(),
    }


def benchmark(*, contracts: int, naive_contracts: int, repeats: int, show_plan: bool) -> dict:
    host = machine()  # before any work of ours, so the load average is everyone else's
    started = time.perf_counter()
    contract_ids = generate(contracts=contracts)
    log(f"generated {contracts} contracts in {time.perf_counter() - started:.1f} s")
    billing = bill(contracts=contracts)
    revenue = recognize(contracts=contracts)
    reads = read(
        contract_ids=contract_ids,
        naive_contracts=naive_contracts,
        repeats=repeats,
        show_plan=show_plan,
    )
    # The target is stated for 10,000 contracts; a smaller book is only a smoke run.
    met = None
    if contracts >= TARGET_CONTRACTS:
        met = reads["book_position"]["median_s"] < TARGET_SECONDS
    return {
        "benchmark": "revenue_position",
        "contracts": contracts,
        "annual_every": ANNUAL_EVERY,
        "position_as_of": POSITION_AS_OF.isoformat(),
        "machine": host,
        "journal": journal_size(),
        "bill_runs": billing,
        "revenue_run": revenue,
        **reads,
        "target": {
            "contracts": TARGET_CONTRACTS,
            "seconds": TARGET_SECONDS,
            "met": met,
        },
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    configure_environment(benchmark="revenue_position", suffix="bench_revenue")
    original, _ = create_bench_database(benchmark="revenue_position", suffix="bench_revenue")
    try:
        result = benchmark(
            contracts=args.contracts,
            naive_contracts=args.naive_contracts,
            repeats=args.repeats,
            show_plan=args.explain,
        )
    finally:
        drop_bench_database(original)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
