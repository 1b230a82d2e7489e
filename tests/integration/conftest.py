"""Fixtures of the integration tests: real PostgreSQL, real Redis, real Celery worker processes.

These tests are selected whenever the suite runs on PostgreSQL and Redis, so a missing service is
a failure with a message, never a skip. Worker processes use their own Redis database
(``WORKER_REDIS_DB``) on the broker's server, a queue named for the test and a key prefix of the
test, so no task queued by another test (or by another session on a shared server) reaches them,
no other session's worker restores their unacknowledged tasks, and they touch no one else's.
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import pytest
import redis
from django.conf import settings as django_settings
from django.db import connection
from kombu import pools

REPO = Path(__file__).resolve().parents[2]
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
WORKER_REDIS_DB = 14
CHUNK_TASK = "billing.tasks.bill_run_chunk_task"


# -- services -------------------------------------------------------------------------------


def redis_url() -> str:
    """The Redis the suite was pointed at (``CELERY_BROKER_URL``), or the local default."""
    url = os.environ.get("CELERY_BROKER_URL", "")
    return url if url.startswith(("redis://", "rediss://")) else DEFAULT_REDIS_URL


def worker_broker_url() -> str:
    """The same Redis server, in the database the worker tests keep to themselves."""
    parts = urlsplit(redis_url())
    return urlunsplit((parts.scheme, parts.netloc, f"/{WORKER_REDIS_DB}", parts.query, ""))


@pytest.fixture(autouse=True)
def require_services():
    """Fail (never skip) when the integration tests run without PostgreSQL or Redis."""
    if connection.vendor != "postgresql":
        pytest.fail(
            f"integration tests need PostgreSQL, not {connection.vendor}: set "
            "DATABASE_URL=postgres://… or deselect them with -m 'not integration'",
            pytrace=False,
        )
    url = redis_url()
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        pytest.fail(
            f"integration tests need Redis, and {urlsplit(url).hostname}:{urlsplit(url).port} "
            f"does not answer ({error}): start it, "
            "set CELERY_BROKER_URL=redis://…, or deselect them with -m 'not integration'",
            pytrace=False,
        )
    finally:
        client.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test, so that teardown knows whether the test failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def failed(request) -> bool:
    return any(
        getattr(request.node, f"rep_{when}", None) is not None
        and getattr(request.node, f"rep_{when}").failed
        for when in ("setup", "call")
    )


# -- Celery in the test process ---------------------------------------------------------------


_MISSING = object()


@contextmanager
def celery_conf(**values):
    """Set Celery app settings for a while, then put back exactly what was there.

    Writing ``app.conf`` pins a value over Django's ``CELERY_`` settings (the app reads those
    live), so the previous state of each key is restored, not just its previous value.
    """
    from rms.celery import app

    changes = app.conf.changes
    saved = {key: changes.get(key, _MISSING) for key in values}
    app.conf.update(values)
    try:
        yield app
    finally:
        for key, value in saved.items():
            if value is _MISSING:
                changes.pop(key, None)
            else:
                changes[key] = value


@pytest.fixture
def inline_celery(settings):
    """Chunks run inline in the thread whose commit queued them, whatever broker is set."""
    settings.CELERY_TASK_ALWAYS_EAGER = True
    with celery_conf(task_always_eager=True, task_eager_propagates=True) as app:
        assert app.conf.task_always_eager
        yield


def _reset_broker_pools(app) -> None:
    """Drop the cached broker connections, so the next publish connects to the current URL."""
    pools.reset()
    app._pool = None
    app.amqp._producer_pool = None


@dataclass
class Broker:
    """The test's corner of Redis: every key the test process and its workers use starts with
    ``prefix`` (kombu's ``global_keyprefix``), and tasks go to a queue named for the test."""

    url: str
    queue: str
    prefix: str
    client: redis.Redis

    def queued(self) -> int:
        return self.client.llen(self.prefix + self.queue)

    def unacked(self) -> int:
        """Tasks delivered to a worker and not acknowledged (yet, or ever: a killed worker's)."""
        return self.client.hlen(self.prefix + "unacked")

    def forget(self) -> None:
        for key in self.client.scan_iter(match=f"{self.prefix}*"):
            self.client.delete(key)


@pytest.fixture
def celery_on_redis(settings, monkeypatch):
    """Make the test process publish tasks to Redis (not eager) on a queue of its own.

    ``CELERY_BROKER_URL`` in the environment wins over every setting, so it is set too, and the
    cached broker pools are dropped before and after.
    """
    import billing.tasks  # noqa: F401 - registers the chunk task

    url = worker_broker_url()
    queue = f"rms-it-{uuid.uuid4().hex[:12]}"
    broker = Broker(url=url, queue=queue, prefix=f"{queue}:", client=redis.Redis.from_url(url))
    monkeypatch.setenv("CELERY_BROKER_URL", url)
    settings.CELERY_BROKER_URL = url
    settings.CELERY_TASK_ALWAYS_EAGER = False
    with celery_conf(
        task_always_eager=False,
        task_default_queue=queue,
        broker_transport_options={"global_keyprefix": broker.prefix},
    ) as app:
        # Results are not needed (tests read the database) and would open a subscription.
        monkeypatch.setattr(app.tasks[CHUNK_TASK], "ignore_result", True)
        assert not app.conf.task_always_eager
        assert app.conf.broker_url == url
        _reset_broker_pools(app)
        try:
            yield broker
        finally:
            _reset_broker_pools(app)
            broker.forget()
            broker.client.close()


# -- worker subprocesses -----------------------------------------------------------------------


def worker_database_url() -> str:
    """A URL for the database pytest-django created (``test_…``), for another process."""
    db = django_settings.DATABASES["default"]
    assert db["NAME"].startswith("test_"), f"not a test database: {db['NAME']}"
    user = quote(db.get("USER") or "", safe="")
    password = quote(db.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{auth}{db.get('HOST') or 'localhost'}{port}/{quote(db['NAME'])}"


@dataclass
class Worker:
    name: str
    process: subprocess.Popen
    log_path: Path
    log_file: object = field(repr=False)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def received(self) -> int:
        """How many chunk tasks this worker has taken from the broker."""
        return sum(
            1
            for line in self.log().splitlines()
            if f"Task {CHUNK_TASK}[" in line and line.endswith("] received")
        )

    def pool_processes(self) -> list[int]:
        """The pids of this worker's pool processes (the prefork pool's children)."""
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if parent == self.process.pid:
                children.append(int(stat.parent.name))
        return children

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """``kill -9``: no shutdown, no acknowledgement, no restoring of its task."""
        if self.alive():
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        """Warm shutdown (SIGTERM), then SIGKILL if it has not exited within 15 s."""
        if self.alive():
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log_file.close()


def _terminate_other_backends() -> None:
    """End every other session on the test database (a killed worker's session waits on a lock
    until it is granted, and would block the flush and drop of the test database)."""
    sql = (
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    count = (
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            cursor.execute(count)
            if cursor.fetchone()[0] == 0:
                return
            time.sleep(0.1)


@pytest.fixture
def celery_workers(request, transactional_db, celery_on_redis, tmp_path):
    """Start real ``celery worker`` processes on the test database and the test's queue.

    ``start(visibility_timeout=…)`` returns a ready ``Worker``; every worker is stopped at the
    end (before the test database is flushed), and their logs are printed if the test failed.
    """
    workers: list[Worker] = []
    celery = Path(sys.executable).with_name("celery")

    def start(*, pool: str = "solo", concurrency: int = 1, visibility_timeout: float = 3600):
        name = f"it{len(workers) + 1}-{celery_on_redis.queue}"
        env = {
            **os.environ,
            "DATABASE_URL": worker_database_url(),
            "CELERY_BROKER_URL": celery_on_redis.url,
            "RMS_IT_KEY_PREFIX": celery_on_redis.prefix,
            "RMS_IT_VISIBILITY_TIMEOUT": str(visibility_timeout),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        }
        env.pop("CELERY_RESULT_BACKEND", None)
        command = [
            str(celery),
            "-A",
            "tests.integration.celery_worker_app",
            "worker",
            "-l",
            "info",
            f"--pool={pool}",
            f"--concurrency={concurrency}",
            "-Q",
            celery_on_redis.queue,
            "-n",
            f"{name}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
        log_path = tmp_path / f"{name}.log"
        log_file = log_path.open("w")
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        worker = Worker(name=name, process=process, log_path=log_path, log_file=log_file)
        workers.append(worker)
        deadline = time.monotonic() + 60
        while " ready." not in worker.log():
            assert worker.alive(), f"worker {name} exited:\n{worker.log()}"
            assert time.monotonic() < deadline, f"worker {name} not ready in 60 s:\n{worker.log()}"
            time.sleep(0.1)
        return worker

    yield start

    for worker in workers:
        worker.stop()
    _terminate_other_backends()
    if failed(request):
        for worker in workers:
            print(f"\n===== log of worker {worker.name} =====\n{worker.log()}")
