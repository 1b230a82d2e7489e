"""Background work of the imports app."""

from celery import shared_task
from django.utils import timezone

from imports.jobs import import_job_run
from imports.models import STALE_AFTER, ImportJob


# A worker that dies mid-import gives the task back (late acknowledgement, as every task in
# the settings), and the copy it gives back finds the job still running. That copy checks
# again once the job counts as crashed (``STALE_AFTER``) and imports it then, unless the
# first worker finished in the meantime.
@shared_task(bind=True, max_retries=3)
def import_job_run_task(self, job_id: int) -> str | None:
    """Run import job ``job_id``; return its status (None once the job was deleted)."""
    job = import_job_run(job_id=job_id)
    if job is not None and job.status == ImportJob.Status.RUNNING:
        wait = job.started_at + STALE_AFTER - timezone.now()
        raise self.retry(countdown=max(wait.total_seconds(), 0) + 60)
    return job.status if job is not None else None
