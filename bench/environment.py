"""What every benchmark does around its measurement: a private PostgreSQL database, Django set up
as in production, and timing with a statement count.

Each benchmark names its own database (``<name>_<suffix>``) so that several can run side by
side; the database ``DATABASE_URL`` names is never touched. A benchmark that also means
something on the embedded default (``sqlite_ok``) gets a throw-away SQLite file instead when
``DATABASE_URL`` is not PostgreSQL.
"""

import os
import sys
import tempfile
import time
from contextlib import contextmanager
from unittest import mock
from urllib.parse import urlsplit

import django

POSTGRES_SCHEMES = {"postgres", "postgresql", "pgsql", "psql", "postgis"}


def configure_environment(
    *, benchmark: str, suffix: str, media_root: str | None = None, sqlite_ok: bool = False
) -> None:
    """Refuse anything but PostgreSQL (unless ``sqlite_ok``), then set up Django: eager Celery,
    no DEBUG, no email.

    Emailing invoices as they are issued is a worker's job, measured by its own benchmark; with
    eager Celery it would run inside the bill run. ``media_root`` sends stored PDFs to a
    throw-away folder instead of the checkout's media/.
    """
    url = os.environ.get("DATABASE_URL", "")
    if urlsplit(url).scheme not in POSTGRES_SCHEMES and not sqlite_ok:
        sys.exit(
            f"bench.{benchmark} needs PostgreSQL: set DATABASE_URL, e.g. "
            f"postgres://postgres@127.0.0.1:5432/rms (a separate <name>_{suffix} database is "
            "created and dropped; the named one is not touched)."
        )
    for name in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"):
        os.environ.pop(name, None)
    # DEBUG keeps every query in memory; production runs without it. Celery's per-task INFO lines
    # would bury the result.
    os.environ["DJANGO_DEBUG"] = "false"
    os.environ.setdefault("RMS_LOG_LEVEL", "WARNING")
    os.environ["RMS_AUTO_DELIVERY"] = "false"
    if media_root is not None:
        os.environ["DJANGO_MEDIA_ROOT"] = media_root
    os.environ["DJANGO_SETTINGS_MODULE"] = "rms.settings"
    django.setup()


def create_bench_database(
    *, benchmark: str, suffix: str, sqlite_ok: bool = False
) -> tuple[str, str]:
    """Create and migrate ``<name>_<suffix>``; return the original and the bench database names.

    On SQLite (``sqlite_ok``) the bench database is a file of its own in the temporary folder.
    """
    from django.conf import settings
    from django.db import connection

    original = connection.settings_dict["NAME"]
    if connection.vendor == "sqlite" and sqlite_ok:
        bench_name = os.path.join(tempfile.gettempdir(), f"rms_{suffix}_{os.getpid()}.sqlite3")
    elif connection.vendor != "postgresql":
        sys.exit(f"bench.{benchmark} needs PostgreSQL, not {connection.vendor}.")
    else:
        bench_name = f"{original}_{suffix}"
    settings.DATABASES["default"]["TEST"]["NAME"] = bench_name
    connection.settings_dict["TEST"]["NAME"] = bench_name
    # Django's test-database machinery: CREATE DATABASE (dropping a leftover bench database of
    # the same name, never the original), then migrate; it points the connection at it.
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    return original, bench_name


def drop_bench_database(original: str) -> None:
    from django.db import connection

    connection.creation.destroy_test_db(original, verbosity=0)


class QueryCounter:
    """Count the statements sent on a connection (a ``connection.execute_wrapper``).

    ``COPY`` (``rms.bulk``) goes through psycopg's cursor, not Django's, so ``copying`` counts
    those as well.
    """

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)

    @contextmanager
    def copying(self):
        import psycopg

        copy = psycopg.Cursor.copy

        def counted(cursor, *args, **kwargs):
            self.count += 1
            return copy(cursor, *args, **kwargs)

        with mock.patch.object(psycopg.Cursor, "copy", counted):
            yield


def timed(func, **kwargs):
    """Call ``func`` and return its result, the seconds it took and the statements it sent."""
    from django.db import connection

    counter = QueryCounter()
    with connection.execute_wrapper(counter), counter.copying():
        started = time.perf_counter()
        result = func(**kwargs)
        seconds = time.perf_counter() - started
    return result, seconds, counter.count
