"""The project's Celery app as the integration tests' worker subprocesses run it.

``celery -A tests.integration.celery_worker_app worker`` is ``-A rms`` plus what no environment
variable sets: the test's prefix on every Redis key (``RMS_IT_KEY_PREFIX``; it keeps the test's
queue and unacknowledged tasks apart from any other test session on the same Redis database),
how soon Redis hands a dead worker's unacknowledged task to another worker
(``RMS_IT_VISIBILITY_TIMEOUT`` seconds; kombu's default is an hour), a sweep for such tasks every
second (kombu's default is every 100 s), no stored results (the tests read the database) and no
remote control.
"""

import os

from rms.celery import app

app.conf.broker_transport_options = {
    "global_keyprefix": os.environ["RMS_IT_KEY_PREFIX"],
    "visibility_timeout": float(os.environ.get("RMS_IT_VISIBILITY_TIMEOUT", "3600")),
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
}
app.conf.task_ignore_result = True
app.conf.worker_enable_remote_control = False  # no pidbox queues left behind on the server

__all__ = ["app"]
