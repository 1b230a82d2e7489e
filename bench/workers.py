"""Real Celery workers for a benchmark: the bill run as it is deployed, its chunks on a worker pool.

``celery_workers(concurrency=N)`` starts ``celery -A rms worker`` (prefork, N processes) on the
bench database and Redis, waits until it answers, and points the benchmark's own Celery app at the
same broker, not eager, so that ``bill_run_start`` queues its chunks for the pool. The broker is
Redis database ``BENCH_REDIS_DB`` on the server ``CELERY_BROKER_URL`` names (default
127.0.0.1:6379), with a queue of the benchmark's own, emptied before and after. On the way out
the worker is stopped and the app is eager again.
"""

import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parents[1]
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
BENCH_REDIS_DB = 13
READY_TIMEOUT_S = 60


def bench_broker_url(environ_url: str | None) -> str:
    """The Redis server the environment names (or the local one), database ``BENCH_REDIS_DB``."""
    url = environ_url if (environ_url or "").startswith(("redis://", "rediss://")) else None
    parts = urlsplit(url or DEFAULT_REDIS)
    return urlunsplit((parts.scheme, parts.netloc, f"/{BENCH_REDIS_DB}", parts.query, ""))


def bench_database_url(database_url: str, name: str) -> str:
    """``DATABASE_URL`` with its database swapped for the benchmark's."""
    parts = urlsplit(database_url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


@contextmanager
def celery_workers(*, concurrency: int, database: str, broker: str, queue: str):
    """Run a worker pool of ``concurrency`` processes on ``database`` for the duration."""
    from rms.celery import app

    env = {
        **{k: v for k, v in os.environ.items() if k != "CELERY_RESULT_BACKEND"},
        "DATABASE_URL": database,
        "CELERY_BROKER_URL": broker,
        "DJANGO_DEBUG": "false",
        "RMS_AUTO_DELIVERY": "false",
        "RMS_LOG_LEVEL": "WARNING",
    }
    command = [
        sys.executable,
        *("-m", "celery", "-A", "rms", "worker", "--pool", "prefork"),
        *("--concurrency", str(concurrency), "--queues", queue, "--loglevel", "WARNING"),
        *("--without-gossip", "--without-mingle", "--hostname", f"{queue}@%h"),
    ]
    saved = {
        key: app.conf[key] for key in ("broker_url", "task_always_eager", "task_default_queue")
    }
    app.conf.update(broker_url=broker, task_always_eager=False, task_default_queue=queue)
    _reset_broker_pools(app)
    # The worker logs to stderr: standard output is the benchmark's one JSON line.
    worker = subprocess.Popen(command, cwd=REPO, env=env, stdout=sys.stderr)
    try:
        app.control.purge()
        _wait_until_ready(app, worker, queue)
        yield
    finally:
        worker.terminate()  # warm shutdown: the pool finishes what it holds
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        app.control.purge()
        app.conf.update(saved)
        _reset_broker_pools(app)


def _reset_broker_pools(app) -> None:
    """Drop the app's cached broker connections, so that the next publish uses its broker_url."""
    from kombu import pools

    pools.reset()
    app._pool = None
    app.amqp._producer_pool = None


def _wait_until_ready(app, worker: subprocess.Popen, queue: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise SystemExit(f"The Celery worker exited with {worker.returncode} on start.")
        replies = app.control.ping(timeout=0.5)
        if any(name.startswith(f"{queue}@") for reply in replies for name in reply):
            return
    raise SystemExit(f"The Celery worker did not answer within {READY_TIMEOUT_S} s.")
