"""Import jobs: a file uploaded in the back office, imported by a worker, reported to the uploader.

``import_job_start`` stores the file and queues the job; ``import_job_run`` (the worker) claims
it, imports it as the uploader, records the outcome (counts, the first problems, the bad rows as
a CSV file) and emails the uploader a summary with a link to the job's page.

The import runs in one transaction, so the job's page cannot follow it row by row: it shows the
job running since it started, and the counts when it is done.
"""

import logging
from pathlib import PurePosixPath

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.mail import EmailMessage
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from imports.engine import ImportReport, Mode, Problem, Status, import_csv
from imports.models import ImportJob
from imports.registry import LAYOUTS, layout_class
from rms.audit import acting_as

logger = logging.getLogger(__name__)

# Problems kept on the job's page (the errors file has every bad row), and in its email.
PAGE_PROBLEMS = 1000
EMAIL_PROBLEMS = 20


def import_job_start(
    *, layout: str, data: bytes, file_name: str, mode: str, dry_run: bool, user
) -> ImportJob:
    """Store ``data`` and queue its import with ``layout`` once the current transaction commits.

    ``user`` (or None) is who the rows are recorded as, and who gets the outcome by email.
    """
    if layout not in LAYOUTS:
        raise ValidationError(
            f"There is no layout {layout!r}; the layouts are {', '.join(LAYOUTS)}."
        )
    if mode not in list(Mode):
        modes = ", ".join(Mode)
        raise ValidationError(f"There is no import mode {mode!r}; the modes are {modes}.")
    from imports.tasks import import_job_run_task  # tasks import this module

    name = _base_name(file_name).name
    job = ImportJob(
        layout=layout,
        file_name=name[:255],
        mode=mode,
        dry_run=dry_run,
        uploaded_by=user,
        uploaded_by_username=user.get_username() if user is not None else "",
    )
    job.file.save(name, ContentFile(data), save=False)
    with transaction.atomic():
        job.save()
        # Robust: the job is stored whatever happens to its run (with eager Celery, the run
        # itself), and a failed run is on the job's page.
        transaction.on_commit(lambda: import_job_run_task.delay(job.pk), robust=True)
    return job


def import_job_run(*, job_id: int) -> ImportJob | None:
    """Import the file of job ``job_id`` unless another worker is importing it or did already.

    Safe to call more than once (a task delivered twice): only a queued job, or one running for
    longer than ``STALE_AFTER`` (its worker crashed), is claimed; any other job is returned as
    it is. Returns None when the job was deleted before it ran. An unexpected error marks the
    job failed, tells the uploader and is raised again for the worker's log.
    """
    job, claimed = _claim(job_id)
    if not claimed:
        return job
    try:
        with job.file.open("rb") as stored:
            data = stored.read()
        layout = layout_class(job.layout)()
        with acting_as(user=job.uploaded_by, via=f"import {job.file_name}"):
            report = import_csv(layout, data, mode=Mode(job.mode), dry_run=job.dry_run)
    except Exception as error:
        job.status = ImportJob.Status.FAILED
        job.summary = (
            f"The import stopped on an unexpected error ({type(error).__name__}: {error}). "
            "Look at the records before importing the file again; importing it again is safe, "
            "as rows already imported come back unchanged."
        )
        job.finished_at = timezone.now()
        job.save(update_fields=["status", "summary", "finished_at"])
        _email(job, [])
        raise
    _record(job, report)
    _email(job, report.problems)
    return job


def import_job_delete(*, job: ImportJob) -> None:
    """Delete ``job`` and, once that commits, its stored files (the upload and its bad rows)."""
    stored = [field for field in (job.file, job.errors_file) if field]
    job.delete()

    def delete_files() -> None:
        for field in stored:
            field.storage.delete(field.name)

    transaction.on_commit(delete_files)


def problem_lines(problems: list[Problem], limit: int) -> list[str]:
    """Return the first ``limit`` problems as lines, and how many more there are."""
    lines = [str(problem) for problem in problems[:limit]]
    if len(problems) > limit:
        lines.append(f"… and {len(problems) - limit} more.")
    return lines


def _claim(job_id: int) -> tuple[ImportJob | None, bool]:
    """Mark the job running, in a short transaction of its own, if it is for the taking.

    Returns the job and whether this call took it.
    """
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.in_progress:
            return job, False
        if job.status not in (ImportJob.Status.QUEUED, ImportJob.Status.RUNNING):
            return job, False
        job.status = ImportJob.Status.RUNNING
        job.started_at = timezone.now()
        job.save(update_fields=["status", "started_at"])
        return job, True


def _succeeded(report: ImportReport) -> bool:
    """Whether the file was imported (in a dry run, would be): no bad row, or good rows kept."""
    if report.file_error:
        return False
    errors = report.counts[Status.ERROR]
    return not errors or (report.mode == Mode.KEEP_GOOD_ROWS and errors < report.rows)


def _record(job: ImportJob, report: ImportReport) -> None:
    counts = report.counts
    job.new_rows, job.updated_rows = counts[Status.NEW], counts[Status.UPDATED]
    job.unchanged_rows, job.error_rows = counts[Status.UNCHANGED], counts[Status.ERROR]
    job.summary = report.summary()
    job.problems = "\n".join(problem_lines(report.problems, PAGE_PROBLEMS))
    bad_rows = report.errors_csv()
    if bad_rows:
        # With a byte order mark, so that Excel opens accented names right.
        content = ContentFile(bad_rows.encode("utf-8-sig"))
        job.errors_file.save(_errors_name(job), content, save=False)
    job.status = ImportJob.Status.SUCCEEDED if _succeeded(report) else ImportJob.Status.FAILED
    job.finished_at = timezone.now()
    job.save()


def _base_name(file_name: str) -> PurePosixPath:
    """The file's own name: a browser may send a path (storage refuses one), even a Windows one."""
    return PurePosixPath(PurePosixPath(file_name.replace("\\", "/")).name or "upload.csv")


def _errors_name(job: ImportJob) -> str:
    return f"{_base_name(job.file_name).stem}-errors.csv"


def _email(job: ImportJob, problems: list[Problem]) -> None:
    """Email the uploader the outcome, the first problems and the bad rows as a CSV file.

    The job's page has all of it, so a mail server that refuses is logged, not raised.
    """
    user = job.uploaded_by
    if user is None or not user.email:
        return
    context = {
        "job": job,
        "problems": problem_lines(problems, EMAIL_PROBLEMS),
        "job_url": settings.RMS_SITE_URL + reverse("admin:imports_importjob_change", args=[job.pk]),
    }
    message = EmailMessage(
        subject=" ".join(render_to_string("imports/email/job_subject.txt", context).split()),
        body=render_to_string("imports/email/job_body.txt", context),
        to=[user.email],
    )
    if job.errors_file:
        with job.errors_file.open("rb") as stored:
            message.attach(_errors_name(job), stored.read(), "text/csv")
    try:
        message.send()
    except OSError:
        logger.exception("Could not email the outcome of import job %s to %s.", job.pk, user.email)
