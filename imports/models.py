"""Import jobs: a CSV file uploaded in the back office, imported by a worker, and its outcome."""

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from imports.engine import Mode
from imports.registry import LAYOUTS

# A job running for longer than this is taken to have lost its worker (a crash, a deploy) and
# may be claimed again. Imports of the largest files accepted take a few minutes.
STALE_AFTER = timedelta(minutes=30)


def layout_choices() -> list[tuple[str, str]]:
    """The layouts by name; a callable, so a new layout needs no migration."""
    return [(name, name.capitalize()) for name in LAYOUTS]


class ImportJob(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        # Imported: every row, or the good ones when keeping good rows.
        SUCCEEDED = "succeeded", "Succeeded"
        # Nothing imported: bad rows (all or nothing), a file that cannot be read, a crash.
        FAILED = "failed", "Failed"

    layout = models.CharField(max_length=32, choices=layout_choices)
    file = models.FileField(upload_to="imports/%Y/%m/", max_length=255)
    file_name = models.CharField(max_length=255, help_text="The file's name as uploaded.")
    mode = models.CharField(
        max_length=20,
        choices=[(mode.value, mode.value.replace("_", " ").capitalize()) for mode in Mode],
        default=Mode.ALL_OR_NOTHING.value,
    )
    dry_run = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    uploaded_by_username = models.CharField(
        "uploaded by",
        max_length=150,
        blank=True,
        help_text="The uploader's username at the time of the upload.",
    )
    new_rows = models.PositiveIntegerField("new", default=0)
    updated_rows = models.PositiveIntegerField("updated", default=0)
    unchanged_rows = models.PositiveIntegerField("unchanged", default=0)
    error_rows = models.PositiveIntegerField("with errors", default=0)
    summary = models.TextField(blank=True)
    problems = models.TextField(
        blank=True, help_text="The first problems, one a line; the errors file has every bad row."
    )
    errors_file = models.FileField(upload_to="imports/errors/%Y/%m/", max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["status"], name="imports_job_status_idx")]

    def __str__(self) -> str:
        return f"{self.layout} import of {self.file_name}"

    @property
    def in_progress(self) -> bool:
        """Whether a worker is importing the file now (running, and not for too long)."""
        return self.status == self.Status.RUNNING and (
            self.started_at is not None and self.started_at > timezone.now() - STALE_AFTER
        )

    @property
    def duration(self) -> timedelta | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at
