"""RMS project package: settings, URLs, the Celery app and shared money helpers."""

from rms.celery import app as celery_app

__all__ = ["celery_app"]
