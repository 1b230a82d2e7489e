"""Invoice rendering benchmark: PDFs per second through the real template, with 1 and 2 workers.

Usage::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/rms python -m bench.invoice_render \\
        --invoices 1000 --workers 1,2

Like ``bench.bill_run`` it never touches the database that ``DATABASE_URL`` names: it creates
its own, named after it with ``_bench_invoices`` appended (dropping a leftover one of that
name), migrates it, and drops it at the end; rendered PDFs go to a temporary media folder,
removed at the end. Without a PostgreSQL ``DATABASE_URL`` it refuses to run. Celery runs eager,
``DEBUG`` is off and issuing does not email (``RMS_AUTO_DELIVERY=false``).

Workload (untimed): N customers (tax 10 %, Net 30, the standard template, en_US), each with one
contract of three lines, USD 49.00 a month of subscription, a USD 750.00 onboarding fee and
five training seats at USD 120.00 (tax exempt), billed by the real
``billing.runs.bill_run_start`` as of 1 Jan 2026: N issued invoices of three lines and two tax
rates, from a seller profile with an address, tax ID, SVG logo, remit-to and footer.

Timed, for each worker count W (``--workers``, default 1 and 2), each in fresh worker
processes that set Django up, open their own database connection and render one untimed
warm-up document before a barrier releases them all at once:

- **bare**: a minimal one-page HTML document (same page size and font stack as the invoices)
  through WeasyPrint alone, ``HTML(string=...).write_pdf()``, K times split between the
  workers: what the machine and WeasyPrint give with no template, database or storage;
- **invoices**: ``billing.documents.invoice_pdf`` for each of the N invoices, split between the
  workers: load the invoice, build the context, render the customer's template, lay it out,
  store the PDF and its SHA-256 under the row lock. Stored PDFs are cleared before each
  worker count, so every measurement renders all N.

Figures are wall clock from the barrier to the last worker's result. Checks (the benchmark stops
instead of printing figures if one fails): after each measurement every invoice has a stored PDF
that starts with ``%PDF`` and matches its SHA-256; a sample read back with pypdf is one page
and shows its invoice number, customer and total. Prints one JSON line; progress goes to
standard error. See docs/benchmarks.md.
"""

import argparse
import contextlib
import hashlib
import io
import json
import os
import queue
import shutil
import sys
import tempfile
import threading
import time
from datetime import date
from decimal import Decimal

from bench.bill_run import machine
from bench.environment import (
    configure_environment,
    create_bench_database,
    drop_bench_database,
)

BILL_DATE = date(2026, 1, 1)
PREFIX = "PDF"
MONTHLY_PRICE = Decimal("49.00")
ONBOARDING_FEE = Decimal("750.00")
TRAINING_SEATS = Decimal(5)
SEAT_PRICE = Decimal("120.00")
TAX_RATE = Decimal("10")
LINES_PER_INVOICE = 3
BARE_DOCS = 500
SAMPLE = 10
# A second worker on a second core should come close to doubling throughput; 1.8x (90 % of
# linear) is where "about twice" stops being true on a machine that also runs PostgreSQL.
ABOUT_TWICE = 1.8
# Generous: a worker that has not reported by then has hung (a lock, a dead connection).
WORKER_TIMEOUT_S = 1_800
INSERT_BATCH = 2_000
SCHEDULE_BATCH = 2_000

# Same page size and font stack as templates/billing/document.css, so the ratio to the invoices
# measures the template (layout, tables, logo, more text and glyphs), not a cheaper font.
BARE_HTML = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><style>
@page { size: A4; margin: 16mm; }
html { font-family: "Helvetica Neue", Helvetica, Arial, "Liberation Sans", "DejaVu Sans",
  sans-serif; font-size: 9pt; }
</style></head>
<body><h1>Invoice</h1><p>Minimal one-page document.</p></body></html>"""

SELLER = {
    "legal_name": "Acme Software Inc.",
    "address": "500 Howard Street\nSan Francisco, CA 94105\nUnited States",
    "tax_id": "US-94-1234567",
    "email": "billing@acme.test",
    "phone": "+1 415 555 0100",
    "website": "acme.test",
    "remit_to": "First Bank · Account 0123456789 · Routing 021000021",
    "invoice_footer": "Thank you for your business. Questions: billing@acme.test.",
}
LOGO_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="150" height="40">'
    '<rect width="40" height="40" rx="8" fill="#1e3a8a"/>'
    '<text x="50" y="28" font-size="22" font-family="sans-serif" fill="#1e3a8a">'
    "ACME</text></svg>"
)


def log(message: str) -> None:
    """Report progress on standard error, keeping standard output to the one JSON line."""
    print(f"[bench.invoice_render] {message}", file=sys.stderr, flush=True)


def worker_counts(value: str) -> list[int]:
    counts = [int(part) for part in value.split(",") if part.strip()]
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError("give worker counts of at least 1, e.g. 1,2")
    return counts


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.invoice_render",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--invoices", type=int, default=1_000, help="invoices to render")
    parser.add_argument(
        "--workers",
        type=worker_counts,
        default=[1, 2],
        help="worker process counts to measure, comma-separated (default 1,2)",
    )
    parser.add_argument(
        "--bare-docs",
        type=int,
        default=BARE_DOCS,
        help=f"minimal documents for the bare WeasyPrint baseline (default {BARE_DOCS})",
    )
    args = parser.parse_args(argv)
    if args.invoices < 1 or args.bare_docs < 1:
        parser.error("--invoices and --bare-docs must be at least 1")
    return args


# --- The invoices ------------------------------------------------------------------------------


def seller_profile(media_root: str) -> None:
    """Fill in the one seller profile, logo included, as finance would in the admin."""
    from billing.models import SellerProfile

    os.makedirs(os.path.join(media_root, "seller"), exist_ok=True)
    with open(os.path.join(media_root, "seller", "logo.svg"), "w") as logo:
        logo.write(LOGO_SVG)
    SellerProfile.objects.update_or_create(pk=1, defaults={**SELLER, "logo": "seller/logo.svg"})


def products():
    """Return the payment terms and the subscription, onboarding and (exempt) training products."""
    from djmoney.money import Money

    from contracts.models import BillingModel, PaymentTerms, Product, RevenuePolicy

    terms, _ = PaymentTerms.objects.get_or_create(basis="net", days=30, defaults={"name": "Net 30"})
    rows = []
    for sku, name, price, model, policy, tax_rate in (
        ("PDF-SUB", "Platform subscription", MONTHLY_PRICE, "SUBSCRIPTION", "RATABLE", None),
        ("PDF-ONBOARD", "Onboarding package", ONBOARDING_FEE, "ONE_TIME", "POINT_IN_TIME", None),
        # Exempt, so each invoice has two tax rates and a tax summary of two rows.
        ("PDF-TRAINING", "Admin training seat", SEAT_PRICE, "ONE_TIME", "POINT_IN_TIME", 0),
    ):
        product, _ = Product.objects.get_or_create(
            sku=sku,
            defaults={
                "name": name,
                "ssp": Money(price, "USD"),
                "default_billing_model": getattr(BillingModel, model),
                "revenue_policy": getattr(RevenuePolicy, policy),
                "tax_rate": None if tax_rate is None else Decimal(tax_rate),
            },
        )
        rows.append(product)
    return terms, *rows


def generate(*, invoices: int) -> None:
    """Create N customers, each with one contract of a subscription and two one-time lines.

    Its own generator rather than ``bench.data``'s, which is shaped for the bill-run benchmark
    and changes with it: here every invoice must have the same three lines. The one-time lines
    bill on order on 1 Jan 2026, the subscription monthly in advance from then, so the first
    bill run puts all three on one invoice. Nothing here is timed.
    """
    from django.db import transaction
    from djmoney.money import Money

    from billing.schedules import schedule_refresh
    from contracts.models import (
        BillDayMode,
        BillingModel,
        BillTiming,
        Contract,
        ContractLine,
        Customer,
        OneTimeTrigger,
    )

    terms, subscription, onboarding, training = products()
    with transaction.atomic():
        customers = Customer.objects.bulk_create(
            (
                Customer(
                    number=f"{PREFIX}-{n:06d}",
                    legal_name=f"Invoice bench customer {n:06d} Ltd",
                    currency="USD",
                    payment_terms=terms,
                    tax_rate=TAX_RATE,
                    address_line1=f"{n} Market Street",
                    city="Springfield",
                    region="IL",
                    postal_code="62701",
                    country="US",
                )
                for n in range(invoices)
            ),
            batch_size=INSERT_BATCH,
        )
        contracts = Contract.objects.bulk_create(
            (
                Contract(
                    number=f"{PREFIX}-K-{n:06d}",
                    customer=customer,
                    currency="USD",
                    start_date=BILL_DATE,
                    evergreen=True,
                    status=Contract.Status.ACTIVE,
                )
                for n, customer in enumerate(customers)
            ),
            batch_size=INSERT_BATCH,
        )
        lines = []
        for contract in contracts:
            lines.append(
                ContractLine(
                    contract=contract,
                    sequence=1,
                    product=subscription,
                    billing_model=BillingModel.SUBSCRIPTION,
                    quantity=Decimal(1),
                    unit_price=Money(MONTHLY_PRICE, "USD"),
                    service_start=BILL_DATE,
                    interval_months=1,
                    bill_timing=BillTiming.ADVANCE,
                    bill_day_mode=BillDayMode.ANNIVERSARY,
                )
            )
            for sequence, product, quantity, price, description in (
                (2, onboarding, Decimal(1), ONBOARDING_FEE, "Onboarding and data migration"),
                (3, training, TRAINING_SEATS, SEAT_PRICE, "Admin training, per seat"),
            ):
                lines.append(
                    ContractLine(
                        contract=contract,
                        sequence=sequence,
                        product=product,
                        description=description,
                        billing_model=BillingModel.ONE_TIME,
                        quantity=quantity,
                        unit_price=Money(price, "USD"),
                        service_start=BILL_DATE,
                        one_time_trigger=OneTimeTrigger.ON_ORDER,
                    )
                )
        ContractLine.objects.bulk_create(lines, batch_size=INSERT_BATCH)
    line_ids = list(
        ContractLine.objects.filter(contract__number__startswith=f"{PREFIX}-K-")
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for start in range(0, len(line_ids), SCHEDULE_BATCH):
        batch = ContractLine.objects.filter(
            pk__in=line_ids[start : start + SCHEDULE_BATCH]
        ).select_related("contract", "product")
        schedule_refresh(lines=batch, as_of=BILL_DATE)


def bill(*, invoices: int) -> list[int]:
    """Issue the invoices with the real bill run; return their ids, checking what it made."""
    from django.db.models import Count

    from billing.models import BillRun, Invoice
    from billing.runs import bill_run_start

    started = time.perf_counter()
    run = bill_run_start(as_of=BILL_DATE, triggered_by="bench")
    seconds = time.perf_counter() - started
    expected = (BillRun.Status.COMPLETED, invoices, invoices, invoices * LINES_PER_INVOICE)
    got = (run.status, run.invoices_created, run.invoices_issued, run.events_invoiced)
    if got != expected:
        raise SystemExit(
            f"The bill run made {got} (status, created, issued, events), not {expected}; "
            f"errors {run.errors}"
        )
    issued = Invoice.objects.filter(status=Invoice.Status.ISSUED).annotate(n=Count("lines"))
    if issued.exclude(n=LINES_PER_INVOICE).exists() or issued.exclude(pdf="").exists():
        raise SystemExit(
            f"Expected {invoices} issued invoices of {LINES_PER_INVOICE} lines and no PDF yet."
        )
    log(f"bill run issued {invoices} invoices in {seconds:.1f} s")
    return list(issued.order_by("pk").values_list("pk", flat=True))


def clear_stored_pdfs(media_root: str) -> None:
    """Forget every stored invoice PDF, so the next measurement renders them all again."""
    from billing.models import Invoice

    shutil.rmtree(os.path.join(media_root, "invoices"), ignore_errors=True)
    # A raw UPDATE: issued invoices are frozen for the application, and this is test data.
    Invoice.objects.update(pdf="", pdf_sha256="")


# --- Workers -----------------------------------------------------------------------------------


def bare_pdf() -> bytes:
    from weasyprint import HTML

    return HTML(string=BARE_HTML).write_pdf()


def render_invoices(invoice_ids: list[int]) -> int:
    """Render and store each invoice's PDF as a delivery worker would: by id, through
    ``invoice_pdf``."""
    from billing.documents import invoice_pdf
    from billing.models import Invoice

    for invoice_id in invoice_ids:
        invoice_pdf(Invoice.objects.select_related("customer").get(pk=invoice_id))
    return len(invoice_ids)


def worker(*, index, kind, work, bench_name, media_root, barrier, results) -> None:
    """Set Django up in this process, warm up, wait for the others, then do ``work``.

    ``work`` is a list of invoice ids (``kind`` "invoices") or a count of bare documents. The
    warm-up (imports, fonts, template compilation, the database connection) is what a
    long-running worker has already paid; it is untimed, as the first render is slower.
    """
    try:
        configure_environment(
            benchmark="invoice_render", suffix="bench_invoices", media_root=media_root
        )
        from django.db import connection

        connection.settings_dict["NAME"] = bench_name
        bare_pdf()
        if kind == "invoices" and work:
            from billing.documents import invoice_html, render_pdf
            from billing.models import Invoice

            # Rendered, not stored: the timed loop must still find no PDF.
            render_pdf(invoice_html(Invoice.objects.get(pk=work[0])))
        barrier.wait(timeout=WORKER_TIMEOUT_S)
        started = time.perf_counter()
        if kind == "invoices":
            done = render_invoices(work)
        else:
            for _ in range(work):
                bare_pdf()
            done = work
        seconds = time.perf_counter() - started
        results.put({"worker": index, "items": done, "seconds": round(seconds, 3)})
        connection.close()
    except BaseException as error:
        barrier.abort()
        results.put({"worker": index, "error": f"{type(error).__name__}: {error}"})
        raise


def measure(*, kind: str, workers: int, work: list, bench_name: str, media_root: str) -> dict:
    """Run ``work`` (one share per worker) in ``workers`` fresh processes; time from the
    barrier that releases them to the last result.

    Processes are spawned, not forked: each gets its own Django setup and database connection
    instead of sharing the parent's socket.
    """
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(workers + 1)
    results = context.Queue()
    processes = [
        context.Process(
            target=worker,
            kwargs={
                "index": index,
                "kind": kind,
                "work": share,
                "bench_name": bench_name,
                "media_root": media_root,
                "barrier": barrier,
                "results": results,
            },
        )
        for index, share in enumerate(work)
    ]
    for process in processes:
        process.start()
    load_before = round(os.getloadavg()[0], 2)
    # Broken when a worker failed during set-up: its error is in the queue.
    with contextlib.suppress(threading.BrokenBarrierError):
        barrier.wait(timeout=WORKER_TIMEOUT_S)
    started = time.perf_counter()
    reports = []
    for _ in processes:
        try:
            reports.append(results.get(timeout=WORKER_TIMEOUT_S))
        except queue.Empty:
            break
    seconds = time.perf_counter() - started
    for process in processes:
        process.join(timeout=60)
    errors = [report for report in reports if "error" in report]
    if errors or len(reports) != workers:
        for process in processes:
            if process.is_alive():
                process.terminate()
        raise SystemExit(f"{kind} with {workers} worker(s) failed: {errors or reports}")
    items = sum(report["items"] for report in reports)
    rate = round(items / seconds, 2)
    per_worker = sorted(reports, key=lambda report: report["worker"])
    return {
        "workers": workers,
        "items": items,
        "seconds": round(seconds, 3),
        "per_s": rate,
        "ms_each": round(1000 * seconds * workers / items, 1),
        "per_worker": per_worker,
        "load_average_1m_before": load_before,
        "load_average_1m_after": round(os.getloadavg()[0], 2),
    }


def split(items: list[int], parts: int) -> list[list[int]]:
    """Deal ``items`` round-robin into ``parts`` shares (invoices are alike, shares even)."""
    return [items[part::parts] for part in range(parts)]


def split_count(count: int, parts: int) -> list[int]:
    return [len(range(part, count, parts)) for part in range(parts)]


# --- Checks ------------------------------------------------------------------------------------


def check_stored(invoice_ids: list[int]) -> dict:
    """Check that every invoice has a stored PDF starting with %PDF that matches its hash."""
    from django.core.files.storage import default_storage

    from billing.models import Invoice

    stored = 0
    total_bytes = 0
    for pk, name, sha in Invoice.objects.filter(pk__in=invoice_ids).values_list(
        "pk", "pdf", "pdf_sha256"
    ):
        if not name:
            raise SystemExit(f"Invoice {pk} has no stored PDF.")
        with default_storage.open(name, "rb") as stored_file:
            data = stored_file.read()
        if not data.startswith(b"%PDF") or hashlib.sha256(data).hexdigest() != sha:
            raise SystemExit(f"Invoice {pk}'s stored PDF {name} is not a PDF or fails its hash.")
        stored += 1
        total_bytes += len(data)
    if stored != len(invoice_ids):
        raise SystemExit(f"{stored} of {len(invoice_ids)} invoices have a stored PDF.")
    return {"stored": stored, "mean_bytes": round(total_bytes / stored)}


def check_sample(invoice_ids: list[int]) -> dict:
    """Read an evenly spaced sample back with pypdf: one page, number, customer and total."""
    from pypdf import PdfReader

    from billing.documents import invoice_pdf
    from billing.models import Invoice
    from billing.templatetags.documents import money

    step = max(1, len(invoice_ids) // SAMPLE)
    sample = invoice_ids[::step][:SAMPLE]
    for invoice in Invoice.objects.filter(pk__in=sample).select_related("customer"):
        reader = PdfReader(io.BytesIO(invoice_pdf(invoice)))
        text = " ".join(" ".join(page.extract_text() for page in reader.pages).split())
        total = money(invoice.total, invoice.customer.locale)
        expected = [invoice.number, invoice.customer.legal_name, total]
        missing = [item for item in expected if item not in text]
        if len(reader.pages) != 1 or missing:
            raise SystemExit(
                f"Invoice {invoice.number}'s PDF has {len(reader.pages)} page(s) and lacks "
                f"{missing}: {text[:300]!r}"
            )
    example = Invoice.objects.get(pk=sample[0])
    return {
        "sampled": len(sample),
        "one_page": True,
        "number_customer_total_found": True,
        "example": {"number": example.number, "total": str(example.total)},
    }


# --- The benchmark -----------------------------------------------------------------------------


def host() -> dict:
    import weasyprint

    figures = machine()
    nproc = len(os.sched_getaffinity(0))
    figures.update(
        {
            "nproc": nproc,
            "weasyprint": weasyprint.__version__,
            "note": (
                f"{nproc} CPUs (nproc) shared by the workers, PostgreSQL and the rest of the "
                f"machine: at most {nproc} workers can run at once, so {nproc}x is the ceiling."
            ),
        }
    )
    return figures


def benchmark(
    *, invoices: int, workers: list[int], bare_docs: int, bench_name: str, media_root: str
) -> dict:
    machine_figures = host()  # before any work of ours, so the load average is everyone else's
    log(f"generating {invoices} customers with three lines each")
    seller_profile(media_root)
    generate(invoices=invoices)
    invoice_ids = bill(invoices=invoices)
    bare_runs, invoice_runs, stored = [], [], []
    for count in workers:
        log(f"bare WeasyPrint, {bare_docs} documents, {count} worker(s)")
        bare = measure(
            kind="bare",
            workers=count,
            work=split_count(bare_docs, count),
            bench_name=bench_name,
            media_root=media_root,
        )
        log(f"  {bare['per_s']} docs/s")
        bare_runs.append(bare)
        clear_stored_pdfs(media_root)
        log(f"invoice_pdf, {invoices} invoices, {count} worker(s)")
        run = measure(
            kind="invoices",
            workers=count,
            work=split(invoice_ids, count),
            bench_name=bench_name,
            media_root=media_root,
        )
        log(f"  {run['per_s']} PDFs/s")
        invoice_runs.append(run)
        stored.append(check_stored(invoice_ids))
    sample = check_sample(invoice_ids)

    def rename(run: dict, unit: str) -> dict:
        return {**{k: v for k, v in run.items() if k != "per_s"}, f"{unit}_per_s": run["per_s"]}

    result = {
        "benchmark": "invoice_render",
        "invoices": invoices,
        "lines_per_invoice": LINES_PER_INVOICE,
        "template": "standard",
        "machine": machine_figures,
        "bare": {"docs": bare_docs, "runs": [rename(run, "docs") for run in bare_runs]},
        "invoice_pdf": {"runs": [rename(run, "pdfs") for run in invoice_runs]},
        "ratio": {
            # Per worker count: how much slower the real invoice is than the bare document.
            "bare_over_invoice": [
                {"workers": b["workers"], "ratio": round(b["per_s"] / i["per_s"], 2)}
                for b, i in zip(bare_runs, invoice_runs, strict=True)
            ],
        },
        "checks": {"stored_after_each_run": stored, **sample},
    }
    by_count = {run["workers"]: run for run in invoice_runs}
    bare_by_count = {run["workers"]: run for run in bare_runs}
    if 1 in by_count and 2 in by_count:
        speedup = round(by_count[2]["per_s"] / by_count[1]["per_s"], 2)
        result["speedup_2_over_1"] = {
            "invoice_pdf": speedup,
            "bare": round(bare_by_count[2]["per_s"] / bare_by_count[1]["per_s"], 2),
            "about_twice": speedup >= ABOUT_TWICE,
            "threshold": ABOUT_TWICE,
        }
    return result


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    media_root = tempfile.mkdtemp(prefix="rms-bench-invoices-")
    try:
        configure_environment(
            benchmark="invoice_render", suffix="bench_invoices", media_root=media_root
        )
        original, bench_name = create_bench_database(
            benchmark="invoice_render", suffix="bench_invoices"
        )
        try:
            result = benchmark(
                invoices=args.invoices,
                workers=args.workers,
                bare_docs=args.bare_docs,
                bench_name=bench_name,
                media_root=media_root,
            )
        finally:
            drop_bench_database(original)
    finally:
        shutil.rmtree(media_root, ignore_errors=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
