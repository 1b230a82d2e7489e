"""Choose the database and broker for a test run and print them as shell exports.

``make test`` evaluates the output. With ``auto`` (the default) a DATABASE_URL or
CELERY_BROKER_URL already in the environment wins; otherwise PostgreSQL and Redis are used when
they answer on localhost, and SQLite and eager Celery when they do not. ``embedded`` forces SQLite
and eager Celery, the newcomer's default. Without both PostgreSQL and a broker, the tests marked
``integration`` are deselected. The choice is reported on standard error.
"""

import os
import socket
import sys
from urllib.parse import urlsplit

LOCAL_POSTGRES = "postgres://postgres@127.0.0.1:5432/rms"
LOCAL_REDIS = "redis://127.0.0.1:6379/0"


def answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def where(url: str) -> str:
    """Return host, port and path of a service URL, leaving out any credentials."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}{parts.path}"


def main(mode: str) -> None:
    if mode == "embedded":
        database, broker = "", ""
    elif mode == "auto":
        database = os.environ.get("DATABASE_URL") or (
            LOCAL_POSTGRES if answers("127.0.0.1", 5432) else ""
        )
        broker = os.environ.get("CELERY_BROKER_URL") or (
            LOCAL_REDIS if answers("127.0.0.1", 6379) else ""
        )
    else:
        sys.exit(f"usage: {sys.argv[0]} [auto|embedded]")
    for name, value in (("DATABASE_URL", database), ("CELERY_BROKER_URL", broker)):
        print(f"export {name}='{value}'" if value else f"unset {name}")
    full_stack = database.startswith(("postgres://", "postgresql://")) and broker.startswith(
        ("redis://", "rediss://")
    )
    if not full_stack:
        # Integration tests need PostgreSQL and a real broker; deselect them, and say so.
        print("export PYTEST_ADDOPTS=\"${PYTEST_ADDOPTS:-} -m 'not integration'\"")
    db_label = f"PostgreSQL at {where(database)}" if database else "SQLite"
    broker_label = f"Redis at {where(broker)}" if broker else "eager Celery (no broker)"
    print(f"make test: running on {db_label} with {broker_label}", file=sys.stderr)
    if not full_stack:
        print(
            "make test: integration tests (PostgreSQL + Redis + a Celery worker) not selected",
            file=sys.stderr,
        )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "auto")
