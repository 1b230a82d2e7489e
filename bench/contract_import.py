"""Contract import benchmark: contract lines per second through the CSV import (PostgreSQL).

Usage::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/rms python -m bench.contract_import \\
        --lines 100000

Like the other benchmarks it never touches the database that ``DATABASE_URL`` names: it creates
its own, named after it with ``_bench_import`` appended (dropping a leftover one of that name),
migrates it, and drops it at the end. Without a PostgreSQL ``DATABASE_URL`` it refuses to run.
Celery runs eager and ``DEBUG`` is off, as in production.

Workload (untimed): one CSV file of N contract lines in the contracts layout, N/4 contracts of
four lines each (a subscription, a one-time fee, a usage line with a subscription key and a
milestone project), in USD, EUR or GBP, four contracts per customer; the customers, the four
products and the users the file names as owners are created beforehand.

Timed, each from the file's bytes to the committed result:

- **import**: ``imports.engine.import_csv(ContractsLayout(), data)`` (all or nothing) into
  empty contract tables; every row must come back new. The follow-up tasks it queues after
  the commit (billing and revenue following the new contracts) are recorded, not run: they are
  a worker's job, timed on their own below;
- **import again**: the same file a second time; every row must come back unchanged and nothing
  may be queued;
- **follow-up** (background, not part of the import): ``contracts_follow_terms_task`` on the
  first min(N/4, 1,000) contracts, in the chunks the import queues them in;
- **baseline**: the contract tables emptied (``TRUNCATE``), django-import-export's default
  import of the first min(N, 5,000) lines of the same file, as its documentation has a user do
  it: one ``ModelResource`` per model (``ForeignKeyWidget`` by account number, SKU, contract
  number and username; ``clean_model_instances = True``, so ``full_clean`` checks every row),
  upserting by contract number, then by (contract number, line sequence); the contracts first
  (the file's distinct contract columns), then the lines. Its rows/s are taken as the same for
  the whole file: it handles each row on its own, with its own queries.

Then, emptied again, the import runs once more under ``tracemalloc`` (untimed) for its peak
memory. ``VACUUM ANALYZE`` runs (untimed) before each timed phase. Progress goes to standard
error, one JSON line to standard output; see docs/benchmarks.md.
"""

import argparse
import csv
import io
import json
import sys
import time
import tracemalloc
from datetime import date, timedelta
from types import SimpleNamespace
from unittest.mock import patch

from bench.bill_run import machine, vacuum_analyze
from bench.environment import (
    configure_environment,
    create_bench_database,
    drop_bench_database,
    timed,
)

LINES_PER_CONTRACT = 4
CONTRACTS_PER_CUSTOMER = 4
CURRENCIES = ("USD", "EUR", "GBP")
FINANCE_OWNERS = ("ana.finance", "ben.finance", "chloe.finance")
PROJECT_MANAGERS = ("dev.pm", "eva.pm", "finn.pm")
FIRST_START = date(2025, 1, 1)
BASELINE_SAMPLE = 5_000
FOLLOW_UP_SAMPLE = 1_000
TARGET_ROWS_PER_S = 5_000
TARGET_SPEEDUP = 10


def log(message: str) -> None:
    """Report progress on standard error, keeping standard output to the one JSON line."""
    print(f"[bench.contract_import] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.contract_import",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--lines", type=int, default=100_000, help="contract lines in the file")
    parser.add_argument(
        "--baseline-lines",
        type=int,
        default=None,
        help=f"lines the django-import-export baseline imports (default min(N, {BASELINE_SAMPLE}))",
    )
    parser.add_argument(
        "--follow-up-contracts",
        type=int,
        default=None,
        help=f"contracts the follow-up task is timed on (default min(N/4, {FOLLOW_UP_SAMPLE}))",
    )
    args = parser.parse_args(argv)
    if args.lines < LINES_PER_CONTRACT:
        parser.error(f"--lines must be at least {LINES_PER_CONTRACT}")
    contracts = contracts_in(args.lines)
    if args.baseline_lines is None:
        args.baseline_lines = min(args.lines, BASELINE_SAMPLE)
    if args.follow_up_contracts is None:
        args.follow_up_contracts = min(contracts, FOLLOW_UP_SAMPLE)
    if not LINES_PER_CONTRACT <= args.baseline_lines <= args.lines:
        parser.error(f"--baseline-lines must be between {LINES_PER_CONTRACT} and --lines")
    if not 1 <= args.follow_up_contracts <= contracts:
        parser.error("--follow-up-contracts must be between 1 and the contracts in the file")
    return args


def contracts_in(lines: int) -> int:
    """The contracts of a file of ``lines`` lines (the last one short when not a multiple)."""
    return -(-lines // LINES_PER_CONTRACT)


# --- The file --------------------------------------------------------------------------------


def reference_rows(*, contracts: int) -> None:
    """Create what the file refers to: customers, the four products, the owners' users."""
    from django.contrib.auth import get_user_model
    from djmoney.money import Money

    from contracts.models import BillingModel, Customer, PaymentTerms, Product

    terms, _ = PaymentTerms.objects.get_or_create(basis="net", days=30, defaults={"name": "Net 30"})
    customers = -(-contracts // CONTRACTS_PER_CUSTOMER)
    Customer.objects.bulk_create(
        Customer(
            number=f"IMP-C{n:06d}",
            legal_name=f"Import customer {n:06d} Ltd",
            currency=CURRENCIES[n % len(CURRENCIES)],
            payment_terms=terms,
            address_line1=f"{n} Market Street",
            city="Springfield",
            postal_code="12345",
            country="US",
        )
        for n in range(customers)
    )
    products = [
        ("PLAT-SUB", "Platform subscription", "40", BillingModel.SUBSCRIPTION, "ratable"),
        ("ONBOARD", "Onboarding workshop", "5000", BillingModel.ONE_TIME, "point_in_time"),
        ("API-CALLS", "API calls", "0.01", BillingModel.USAGE, "as_consumed"),
        ("IMPL-SVC", "Implementation project", "100000", BillingModel.MILESTONE, "milestone"),
    ]
    Product.objects.bulk_create(
        Product(
            sku=sku,
            name=name,
            ssp=Money(ssp, "USD"),
            default_billing_model=model,
            revenue_policy=policy,
        )
        for sku, name, ssp, model, policy in products
    )
    User = get_user_model()
    User.objects.bulk_create(User(username=name) for name in FINANCE_OWNERS + PROJECT_MANAGERS)


def contract_cells(n: int) -> dict[str, str]:
    """The contract columns of contract ``n``: every tenth evergreen, every seventh a draft."""
    customer = n // CONTRACTS_PER_CUSTOMER
    start = FIRST_START + timedelta(days=n * 37 % 540)
    evergreen = n % 10 == 0
    return {
        "contract_number": f"IMP-K{n:07d}",
        "customer_number": f"IMP-C{customer:06d}",
        "currency": CURRENCIES[customer % len(CURRENCIES)],
        "title": f"Import customer {customer:06d} platform and rollout {start.year}",
        "status": "draft" if n % 7 == 0 else "active",
        "signed_date": (start - timedelta(days=10)).isoformat(),
        "start_date": start.isoformat(),
        "end_date": "" if evergreen else (start + timedelta(days=364)).isoformat(),
        "evergreen": "true" if evergreen else "false",
        "not_to_exceed": f"{250_000 + n % 50 * 1_000}.00" if n % 3 == 0 else "",
        "cost_budget": "80000.00" if n % 5 == 0 else "",
        "milestone_approval": "true" if n % 2 == 0 else "false",
        "milestones_in_order": "true" if n % 4 == 0 else "false",
        "finance_owner": FINANCE_OWNERS[n % 3] if n % 2 == 0 else "",
        "project_manager": PROJECT_MANAGERS[n % 3] if n % 3 else "",
    }


def line_cells(n: int, sequence: int, contract: dict[str, str]) -> dict[str, str]:
    """Line ``sequence`` (1 to 4) of contract ``n``, with every column a line can fill.

    The products' SSPs are in USD, so a line of a contract in another currency has its SSP
    override; a USD subscription has one in six.
    """
    foreign = contract["currency"] != "USD"
    line = {
        "line_sequence": str(sequence),
        "quantity": "1",
        "service_start": contract["start_date"],
        "service_end": contract["end_date"],
    }
    if sequence == 1:
        calendar = n % 4 == 1
        line |= {
            "sku": "PLAT-SUB",
            "description": "Platform subscription (seats)",
            "billing_model": "subscription",
            "quantity": str(5 + n % 196),
            "unit_price": ("40.00", "38.50", "420.00")[n % 3],
            "ssp_override": "42.00" if foreign or n % 6 == 0 else "",
            "interval_months": ("1", "3", "12")[n % 3],
            "bill_timing": "arrears" if n % 5 == 0 else "advance",
            "bill_day_mode": "calendar_day" if calendar else "anniversary",
            "bill_day": "1" if calendar else "",
        }
    elif sequence == 2:
        line |= {
            "sku": "ONBOARD",
            "description": "Onboarding workshop",
            "billing_model": "one_time",
            "unit_price": f"{5_000 + n % 10 * 250}.00",
            "ssp_override": "5000.00" if foreign else "",
            "one_time_trigger": "on_shipment" if n % 4 == 0 else "on_order",
        }
    elif sequence == 3:
        line |= {
            "sku": "API-CALLS",
            "description": "API calls",
            "billing_model": "usage",
            "subscription_key": f"{contract['contract_number']}-API",
            "ssp_override": "0.01" if foreign else "",
        }
    else:
        line |= {
            "sku": "IMPL-SVC",
            "description": "Implementation project",
            "billing_model": "milestone",
            "unit_price": f"{60_000 + n % 40 * 1_500}.00",
            "ssp_override": "100000.00" if foreign else "",
            "revenue_policy": "percent_complete" if n % 8 == 0 else "",
        }
    return line


def csv_file(lines: int) -> bytes:
    """Return the first ``lines`` lines as a CSV file in the contracts layout, UTF-8.

    Deterministic, so a shorter file is the beginning of a longer one.
    """
    from contracts.imports.contracts import ContractsLayout

    columns = ContractsLayout.column_names()
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, restval="", lineterminator="\r\n")
    writer.writeheader()
    for index in range(lines):
        n, sequence = divmod(index, LINES_PER_CONTRACT)
        contract = contract_cells(n)
        writer.writerow(contract | line_cells(n, sequence + 1, contract))
    return out.getvalue().encode()


# --- The import ------------------------------------------------------------------------------


def figures(*, rows: int, seconds: float, cpu_seconds: float, queries: int) -> dict:
    """Rows per second of wall clock, and of this process's CPU time.

    On a shared machine the wall clock also counts the time other work held the CPU; the
    import is one Python thread, so ``rows_per_cpu_s`` is what it would reach with a core to
    itself (less the database server's share).
    """
    return {
        "rows": rows,
        "seconds": round(seconds, 2),
        "rows_per_s": round(rows / seconds) if seconds else None,
        "cpu_seconds": round(cpu_seconds, 2),
        "rows_per_cpu_s": round(rows / cpu_seconds) if cpu_seconds else None,
        "queries": queries,
    }


def measured(func, **kwargs):
    """Call ``func`` through ``timed``; also return the CPU seconds this process spent."""
    cpu = time.process_time()
    result, seconds, queries = timed(func, **kwargs)
    return result, seconds, time.process_time() - cpu, queries


def follow_ups_recorded(queued: list[list[int]]):
    """Record the follow-up tasks an import queues after its commit, instead of running them.

    With eager Celery, ``ContractsLayout.after_commit`` would run them inside the timed call;
    on a live system a worker does, after the import has answered.
    """
    return patch(
        "contracts.tasks.contracts_follow_terms_task", SimpleNamespace(delay=queued.append)
    )


def rms_import(data: bytes, *, expect: str) -> tuple[dict, list[list[int]]]:
    """Time ``import_csv`` on ``data``; check every row came back ``expect``.

    Returns the figures and the follow-up tasks the import queued (contract ids of each).
    """
    from contracts.imports.contracts import ContractsLayout
    from imports.engine import import_csv
    from rms.audit import acting_as

    queued: list[list[int]] = []
    vacuum_analyze()
    with (
        follow_ups_recorded(queued),
        acting_as(user=None, via="bench contract_import"),
    ):
        report, seconds, cpu, queries = measured(import_csv, layout=ContractsLayout(), data=data)
    if not report.imported or report.counts[expect] != report.rows:
        problems = "; ".join(str(p) for p in report.problems[:5])
        raise SystemExit(
            f"The import did not bring every row in {expect}: {report.summary()} {problems}"
        )
    return figures(rows=report.rows, seconds=seconds, cpu_seconds=cpu, queries=queries), queued


def follow_up(*, contract_ids: list[int]) -> dict:
    """Time the background follow-up (schedules, revenue) on ``contract_ids``, chunk by chunk."""
    from contracts.imports.contracts import FOLLOW_UP_CHUNK
    from contracts.tasks import contracts_follow_terms_task

    vacuum_analyze()
    seconds = queries = 0
    for start in range(0, len(contract_ids), FOLLOW_UP_CHUNK):
        chunk = contract_ids[start : start + FOLLOW_UP_CHUNK]
        _, spent, sent = timed(contracts_follow_terms_task, contract_ids=chunk)
        seconds += spent
        queries += sent
    return {
        "contracts": len(contract_ids),
        "seconds": round(seconds, 2),
        "ms_per_contract": round(seconds * 1000 / len(contract_ids), 1),
        "queries": queries,
    }


def peak_memory(data: bytes) -> dict:
    """Import ``data`` again under ``tracemalloc`` (untimed: tracing slows Python down)."""
    from contracts.imports.contracts import ContractsLayout
    from imports.engine import import_csv

    tracemalloc.start()
    try:
        with follow_ups_recorded([]):
            report = import_csv(ContractsLayout(), data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    if not report.imported:
        raise SystemExit(f"The traced import failed: {report.summary()}")
    return {"peak_mb": round(peak / 2**20, 1), "file_mb": round(len(data) / 2**20, 1)}


# --- The baseline: django-import-export ------------------------------------------------------


def baseline_resources() -> tuple[type, type]:
    """Return the contract and line resources a django-import-export user would write.

    Each maps the file's columns to the model's fields, names related rows as the file does
    (``ForeignKeyWidget``), and has every row checked with ``full_clean``. The money fields'
    currency is read from the ``currency`` column before their amount: django-money refuses
    an amount with no currency.
    """
    from django.contrib.auth import get_user_model
    from import_export import resources
    from import_export.fields import Field
    from import_export.widgets import ForeignKeyWidget

    from contracts.models import Contract, ContractLine, Customer, Product

    def currency_of(attribute: str) -> Field:
        return Field(attribute=attribute, column_name="currency")

    def username(attribute: str) -> Field:
        return Field(
            attribute=attribute,
            column_name=attribute,
            widget=ForeignKeyWidget(get_user_model(), "username"),
        )

    class ContractResource(resources.ModelResource):
        number = Field(attribute="number", column_name="contract_number")
        customer = Field(
            attribute="customer",
            column_name="customer_number",
            widget=ForeignKeyWidget(Customer, "number"),
        )
        not_to_exceed_currency = currency_of("not_to_exceed_currency")
        cost_budget_currency = currency_of("cost_budget_currency")
        finance_owner = username("finance_owner")
        project_manager = username("project_manager")

        class Meta:
            model = Contract
            fields = (
                "number",
                "customer",
                "currency",
                "title",
                "status",
                "signed_date",
                "start_date",
                "end_date",
                "evergreen",
                "not_to_exceed_currency",
                "not_to_exceed",
                "cost_budget_currency",
                "cost_budget",
                "milestone_approval",
                "milestones_in_order",
                "finance_owner",
                "project_manager",
            )
            import_id_fields = ("number",)
            clean_model_instances = True

    class ContractLineResource(resources.ModelResource):
        contract = Field(
            attribute="contract",
            column_name="contract_number",
            widget=ForeignKeyWidget(Contract, "number"),
        )
        sequence = Field(attribute="sequence", column_name="line_sequence")
        product = Field(
            attribute="product", column_name="sku", widget=ForeignKeyWidget(Product, "sku")
        )
        unit_price_currency = currency_of("unit_price_currency")
        ssp_override_currency = currency_of("ssp_override_currency")
        revenue_policy_override = Field(
            attribute="revenue_policy_override", column_name="revenue_policy"
        )
        # Unique: a line without a key holds NULL, not "" (which a second line would repeat).
        subscription_key = Field(
            attribute="subscription_key", column_name="subscription_key", default=None
        )

        class Meta:
            model = ContractLine
            fields = (
                "contract",
                "sequence",
                "product",
                "description",
                "billing_model",
                "quantity",
                "unit_price_currency",
                "unit_price",
                "service_start",
                "service_end",
                "ssp_override_currency",
                "ssp_override",
                "revenue_policy_override",
                "interval_months",
                "bill_timing",
                "bill_day_mode",
                "bill_day",
                "one_time_trigger",
                "subscription_key",
            )
            import_id_fields = ("contract", "sequence")
            clean_model_instances = True

    return ContractResource, ContractLineResource


def baseline_import(data: bytes) -> dict:
    """Import ``data`` with django-import-export: its contracts first, then its lines."""
    import tablib

    from contracts.imports.contracts import CONTRACT_COLUMNS
    from rms.audit import acting_as

    contract_resource, line_resource = baseline_resources()

    def run() -> tuple[int, int]:
        lines = tablib.Dataset().load(data.decode(), format="csv")
        contracts = tablib.Dataset(headers=CONTRACT_COLUMNS)
        seen = set()
        for row in lines.dict:
            if row["contract_number"] not in seen:
                seen.add(row["contract_number"])
                contracts.append([row[column] for column in CONTRACT_COLUMNS])
        imported = []
        for resource, dataset in ((contract_resource, contracts), (line_resource, lines)):
            result = resource().import_data(
                dataset, dry_run=False, rollback_on_validation_errors=True
            )
            if result.has_errors() or result.has_validation_errors():
                raise SystemExit(f"The baseline import failed: {baseline_problems(result)}")
            if result.totals["new"] != len(dataset):
                raise SystemExit(f"The baseline did not create every row: {result.totals}")
            imported.append(len(dataset))
        return imported[0], imported[1]

    vacuum_analyze()
    with acting_as(user=None, via="bench contract_import"):
        (contracts, lines), seconds, cpu, queries = measured(run)
    return {
        **figures(rows=lines, seconds=seconds, cpu_seconds=cpu, queries=queries),
        "contracts": contracts,
    }


def baseline_problems(result) -> str:
    """The first few problems of a django-import-export result, for a failed baseline."""
    problems = [str(error.error) for _, errors in result.row_errors() for error in errors]
    problems += [f"row {invalid.number}: {invalid.error_dict}" for invalid in result.invalid_rows]
    return "; ".join(problems[:5])


# --- The run ---------------------------------------------------------------------------------


def table_counts() -> tuple[int, int]:
    from contracts.models import Contract, ContractLine

    return Contract.objects.count(), ContractLine.objects.count()


def truncate_contracts() -> None:
    """Empty the contracts, their lines and their history, and whatever refers to them."""
    from django.db import connection

    from contracts.models import Contract, ContractLine

    tables = [
        model._meta.db_table
        for model in (Contract, ContractLine, Contract.history.model, ContractLine.history.model)
    ]
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(tables)} CASCADE")


def benchmark(*, lines: int, baseline_lines: int, follow_up_contracts: int) -> dict:
    from contracts.imports.contracts import ContractsLayout

    host = machine()  # before any work of ours, so the load average is everyone else's
    contracts = contracts_in(lines)
    reference_rows(contracts=contracts)
    data = csv_file(lines)
    log(f"{lines:,} lines of {contracts:,} contracts, {len(data) / 2**20:.1f} MB; importing")
    first, queued = rms_import(data, expect="new")
    if table_counts() != (contracts, lines):
        raise SystemExit(f"After the import the tables hold {table_counts()}, not all of it.")
    log(f"imported at {first['rows_per_s']:,} rows/s; importing the same file again")
    again, queued_again = rms_import(data, expect="unchanged")
    if queued_again or table_counts() != (contracts, lines):
        raise SystemExit("Importing the same file again changed something.")
    touched = [contract_id for chunk in queued for contract_id in chunk]
    if len(touched) != contracts:
        raise SystemExit(f"The import queued {len(touched):,} contracts to follow, not all.")
    log(f"follow-up task on {follow_up_contracts:,} contracts")
    background = follow_up(contract_ids=touched[:follow_up_contracts])
    truncate_contracts()
    log(f"django-import-export baseline on {baseline_lines:,} lines")
    baseline = baseline_import(csv_file(baseline_lines))
    truncate_contracts()
    log("the import again under tracemalloc, for its peak memory")
    memory = peak_memory(data)
    speedup = round(first["rows_per_s"] / baseline["rows_per_s"], 1)
    return {
        "benchmark": "contract_import",
        "lines": lines,
        "contracts": contracts,
        "file_mb": memory["file_mb"],
        "chunk_size": ContractsLayout.chunk_size,
        "machine": host,
        "import": first,
        "import_again_unchanged": again,
        "follow_up_background": {
            **background,
            "tasks_queued": len(queued),
            "estimated_seconds_all": round(background["ms_per_contract"] * contracts / 1000),
        },
        "baseline_import_export": {
            **baseline,
            # Measured on the file's first lines, its rows/s taken for the whole file.
            "extrapolated_to_lines": lines if baseline_lines < lines else None,
            "estimated_seconds_all": round(lines / baseline["rows_per_s"]),
        },
        "ratio": {
            "import_over_baseline": speedup,
            "again_over_baseline": round(again["rows_per_s"] / baseline["rows_per_s"], 1),
        },
        "memory": {"import_peak_traced_mb": memory["peak_mb"]},
        "targets": {
            "rows_per_s": TARGET_ROWS_PER_S,
            "rows_per_s_met": first["rows_per_s"] >= TARGET_ROWS_PER_S,
            "speedup": TARGET_SPEEDUP,
            "speedup_met": speedup >= TARGET_SPEEDUP,
        },
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    configure_environment(benchmark="contract_import", suffix="bench_import")
    original, _ = create_bench_database(benchmark="contract_import", suffix="bench_import")
    try:
        result = benchmark(
            lines=args.lines,
            baseline_lines=args.baseline_lines,
            follow_up_contracts=args.follow_up_contracts,
        )
    finally:
        drop_bench_database(original)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
