"""Admin page benchmark: the server time of every page a finance user opens, on the demo book.

Usage::

    python -m bench.pages                       # SQLite, a throw-away file
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/rms python -m bench.pages

Like the other benchmarks it never touches the database ``DATABASE_URL`` names: it creates its
own (``<name>_bench_pages`` on PostgreSQL, a file in the temporary folder on SQLite), migrates
it, seeds the demo book as ``make seed`` does (``seed_demo``, the bill run as of 1 March 2026,
revenue closed through January and recognized to 1 March), and drops it at the end. ``DEBUG`` is
off and Celery eager, as in production.

Pages, found from the admin site rather than listed by hand: the dashboard (``/admin/``), the
worklists hub and each worklist, every admin page without arguments (the reports, aging, trial
balance, period close, and every registered model's changelist and add page), and the change page
of each model's largest row (the one most rows point at), plus the contract 360, revenue
contract, contract as-of, statement and invoice preview pages of the largest contract, customer
and invoice. Each is fetched in-process with ``django.test.Client`` as a superuser: once to warm
up (and to check it answers 200), then ``--repeats`` times; the median is its server time, with
the statements of the last fetch. Django's own app index (``/admin/apps/``), measured the same
way, is the baseline each time is divided by, so runs on machines of different speed compare.

Prints a table sorted by time, slowest first, flagging pages over ``--budget-ms`` (300 ms, the
project's standard); ``--json`` prints the figures as one JSON line instead. See
docs/benchmarks.md.
"""

import argparse
import io
import json
import logging
import os
import shutil
import statistics
import sys
import tempfile
from dataclasses import asdict, dataclass

from bench.environment import (
    configure_environment,
    create_bench_database,
    drop_bench_database,
    timed,
)

BUDGET_MS = 300
REPEATS = 5
BASELINE = "admin:workspace_apps"
DEMO_DATE = "2026-03-01"
CLOSED_THROUGH = "2026-01-31"
# Admin URL names without arguments that are not pages to look at: downloads, the import
# pipeline's steps, and Django's plumbing.
NOT_PAGES = ("_export", "_process_import", "_import")
PLUMBING = {"logout", "password_change", "password_change_done", "jsi18n", "autocomplete", "login"}
# Pages about one object beyond its change page: URL name, the keyword argument, and the model
# whose largest row fills it.
OBJECT_PAGES = (
    ("admin:workspace_contract360", "contract_id", "contracts.Contract"),
    ("admin:revenue_contract", "contract_id", "contracts.Contract"),
    ("admin:contracts_contract_as_of", "contract_id", "contracts.Contract"),
    ("admin:billing_statement", "customer_id", "contracts.Customer"),
    ("admin:billing_invoice_preview", "object_id", "billing.Invoice"),
)


@dataclass
class PageTime:
    name: str
    url: str
    median_ms: float
    best_ms: float
    queries: int
    ratio: float = 0.0


def log(message: str) -> None:
    """Report progress on standard error, keeping standard output to the result."""
    print(f"[bench.pages] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.pages",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--repeats", type=int, default=REPEATS, help="timed fetches of each page")
    parser.add_argument("--budget-ms", type=float, default=BUDGET_MS, help="flag pages slower")
    parser.add_argument("--only", default="", help="time only pages whose URL contains this")
    parser.add_argument("--json", action="store_true", help="print one JSON line, not a table")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    return args


def seed_demo_book() -> None:
    """Build the demo book as ``make seed`` does (untimed)."""
    from django.core.management import call_command

    quiet = {"stdout": io.StringIO()}
    call_command("seed_demo", **quiet)
    call_command("run_billing", "--as-of", DEMO_DATE, **quiet)
    call_command("recognize_revenue", "--as-of", CLOSED_THROUGH, "--close", **quiet)
    call_command("recognize_revenue", "--as-of", DEMO_DATE, **quiet)


def largest(model):
    """Return the row of ``model`` that the most rows point at (by foreign key), or None."""
    from collections import Counter

    from django.db.models import Count

    sizes: Counter = Counter()
    for relation in model._meta.related_objects:
        if not relation.one_to_many:
            continue
        field = relation.field
        rows = (
            field.model._default_manager.filter(**{f"{field.attname}__isnull": False})
            .values(field.attname)
            .annotate(n=Count("pk"))
            .values_list(field.attname, "n")
        )
        sizes.update(dict(rows))
    if sizes:
        pk, _ = sizes.most_common(1)[0]
        return model._default_manager.filter(pk=pk).first()
    return model._default_manager.order_by("-pk").first()


def admin_pages() -> list[tuple[str, str]]:
    """Return (URL name, URL) of every page to time, the baseline first."""
    from django.apps import apps
    from django.contrib import admin
    from django.urls import reverse
    from django.urls.resolvers import URLResolver

    from workspace.worklists.lists import WORKLISTS

    def patterns(urls):
        for pattern in urls:
            if isinstance(pattern, URLResolver):
                yield from patterns(pattern.url_patterns)
            else:
                yield pattern

    pages = [(BASELINE, reverse(BASELINE)), ("admin:index", reverse("admin:index"))]
    for pattern in patterns(admin.site.get_urls()):
        if not pattern.name or pattern.pattern.regex.groups:
            continue
        if pattern.name in PLUMBING or pattern.name.endswith(NOT_PAGES):
            continue
        name = f"admin:{pattern.name}"
        if name not in {n for n, _ in pages}:
            pages.append((name, reverse(name)))
    for slug in WORKLISTS:
        pages.append(
            (f"admin:workspace_worklist[{slug}]", reverse("admin:workspace_worklist", args=[slug]))
        )
    info = lambda model: (model._meta.app_label, model._meta.model_name)  # noqa: E731
    for model in admin.site._registry:
        # Unmanaged models (the reports' menu entry) have no table and no change page.
        obj = largest(model) if model._meta.managed else None
        if obj is not None:
            name = "admin:{}_{}_change".format(*info(model))
            pages.append((name, reverse(name, args=[obj.pk])))
    for name, kwarg, label in OBJECT_PAGES:
        obj = largest(apps.get_model(label))
        if obj is not None:
            pages.append((name, reverse(name, kwargs={kwarg: obj.pk})))
    return pages


def time_page(client, name: str, url: str, repeats: int) -> PageTime | None:
    # Warm-up: imports, template compilation, first-use caches. A page that redirects (the
    # seller profile's changelist goes to its one row) is timed where it lands.
    request_log = logging.getLogger("django.request")
    level = request_log.level
    request_log.setLevel(logging.ERROR)  # a page closed to a superuser is said so, no traceback
    try:
        response = client.get(url, follow=True)
    finally:
        request_log.setLevel(level)
    if response.redirect_chain:
        url = response.redirect_chain[-1][0]
    if response.status_code == 403:
        # Closed to everyone, a superuser included (adding a renewal by hand): not a page.
        log(f"skipped {url}: 403 for a superuser")
        return None
    if response.status_code != 200:
        raise SystemExit(f"{url} ({name}) answered {response.status_code}, not 200")
    times = []
    for _ in range(repeats):
        _, seconds, queries = timed(client.get, path=url)
        times.append(seconds * 1000)
    return PageTime(
        name=name,
        url=url,
        median_ms=round(statistics.median(times), 1),
        best_ms=round(min(times), 1),
        queries=queries,
    )


def benchmark(*, repeats: int, only: str) -> tuple[dict, list[PageTime]]:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    log("seeding the demo book")
    seed_demo_book()
    user = get_user_model().objects.create_superuser("bench-pages", "bench@example.com", None)
    client = Client(SERVER_NAME="localhost")
    client.force_login(user)
    pages = admin_pages()
    if only:
        pages = [pages[0], *(page for page in pages[1:] if only in page[1])]
    log(f"timing {len(pages)} pages, {repeats} fetches each")
    timed_pages = (time_page(client, name, url, repeats) for name, url in pages)
    results = [result for result in timed_pages if result is not None]
    baseline = results[0].median_ms
    for result in results:
        result.ratio = round(result.median_ms / baseline, 1)
    host = {
        "database": connection.vendor,
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "repeats": repeats,
        "baseline": results[0].url,
        "baseline_ms": baseline,
    }
    return host, sorted(results, key=lambda r: r.median_ms, reverse=True)


def table(host: dict, results: list[PageTime], budget_ms: float) -> str:
    lines = [
        f"{host['database']}, {host['repeats']} fetches a page, load {host['load_average_1m']}; "
        f"x = median / baseline {host['baseline']} ({host['baseline_ms']} ms)",
        f"{'median ms':>9} {'best ms':>8} {'x':>5} {'queries':>7}  page",
    ]
    for r in results:
        flag = "  OVER" if r.median_ms > budget_ms else ""
        lines.append(
            f"{r.median_ms:9.1f} {r.best_ms:8.1f} {r.ratio:5.1f} {r.queries:7d}  {r.url}{flag}"
        )
    over = sum(r.median_ms > budget_ms for r in results)
    lines.append(f"{len(results)} pages, {over} over {budget_ms:g} ms")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    media = tempfile.mkdtemp(prefix="rms-bench-pages-")
    configure_environment(benchmark="pages", suffix="bench_pages", media_root=media, sqlite_ok=True)
    original, _ = create_bench_database(benchmark="pages", suffix="bench_pages", sqlite_ok=True)
    try:
        host, results = benchmark(repeats=args.repeats, only=args.only)
    finally:
        drop_bench_database(original)
        shutil.rmtree(media, ignore_errors=True)
    if args.json:
        print(json.dumps({"benchmark": "pages", **host, "pages": [asdict(r) for r in results]}))
    else:
        print(table(host, results, args.budget_ms))


if __name__ == "__main__":
    main()
