"""The Celery application.

With no ``CELERY_BROKER_URL`` the settings switch Celery to eager mode, so tasks run inline and
a newcomer needs no broker; with one, tasks go to workers through it.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rms.settings")

app = Celery("rms")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
