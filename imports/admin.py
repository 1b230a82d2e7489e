"""The import jobs page: every file uploaded for import, its outcome, its file and its bad rows.

Jobs are made by uploading a file on a model's import page and changed only by their worker:
here they are read, downloaded and deleted (with their files), never added or edited.
"""

from datetime import timedelta

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpRequest
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from imports.jobs import import_job_delete
from imports.models import ImportJob

# What each download link serves: the field holding the file, and the name it is saved under.
DOWNLOADS = {
    "file": ("file", lambda job: job.file_name),
    "errors": ("errors_file", lambda job: job.errors_file.name.rpartition("/")[2]),
}


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "layout",
        "file_name",
        "uploaded_by_username",
        "mode",
        "dry_run",
        "status",
        "new_rows",
        "updated_rows",
        "unchanged_rows",
        "error_rows",
        "took",
    )
    list_filter = ("status", "layout")
    search_fields = ("file_name", "uploaded_by_username")
    date_hierarchy = "created_at"
    fieldsets = (
        (None, {"fields": ("status", "summary", "problems_list")}),
        (
            "Rows",
            {"fields": (("new_rows", "updated_rows", "unchanged_rows", "error_rows"),)},
        ),
        (
            "File",
            {
                "fields": (
                    "layout",
                    "original_file",
                    "errors_download",
                    "mode",
                    "dry_run",
                    "uploaded_by_username",
                    ("created_at", "started_at", "finished_at", "took"),
                )
            },
        ),
    )
    readonly_fields = ("problems_list", "original_file", "errors_download", "took")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        # A job a worker is importing now is deleted once it is done.
        in_progress = obj is not None and obj.in_progress
        return super().has_delete_permission(request, obj) and not in_progress

    def delete_model(self, request: HttpRequest, obj: ImportJob) -> None:
        import_job_delete(job=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        kept = []
        for job in queryset:
            if job.in_progress:
                kept.append(job.file_name)
            else:
                import_job_delete(job=job)
        if kept:
            messages.warning(
                request, f"Still importing, so not deleted: {', '.join(kept)}. Try again later."
            )

    # --- Downloads -----------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        download = path(
            "<path:object_id>/download/<str:which>/",
            self.admin_site.admin_view(self.download_view),
            name=f"{self.opts.app_label}_{self.opts.model_name}_download",
        )
        # Ahead of the inherited patterns, whose "<path:object_id>/" catch-all would take it.
        return [download, *super().get_urls()]

    def download_view(self, request: HttpRequest, object_id: str, which: str) -> FileResponse:
        """Send the file as uploaded, or its bad rows, to a user who may view the job."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        job = self.get_object(request, unquote(object_id))
        if job is None or which not in DOWNLOADS:
            raise Http404("No such import job or file.")
        field, name = DOWNLOADS[which]
        stored = getattr(job, field)
        if not stored:
            raise Http404("This import job has no such file.")
        return FileResponse(
            stored.open("rb"), as_attachment=True, filename=name(job), content_type="text/csv"
        )

    def _download_link(self, job: ImportJob, which: str, label: str) -> str:
        url = reverse(
            f"admin:{self.opts.app_label}_{self.opts.model_name}_download", args=[job.pk, which]
        )
        return format_html('<a href="{}">{}</a>', url, label)

    # --- Columns -------------------------------------------------------------------------

    @admin.display(description="File as uploaded")
    def original_file(self, job: ImportJob) -> str:
        return self._download_link(job, "file", job.file_name)

    @admin.display(description="Rows with errors (CSV)")
    def errors_download(self, job: ImportJob) -> str:
        if not job.errors_file:
            return "—"
        return self._download_link(job, "errors", "Download the rows with errors")

    @admin.display(description="Problems")
    def problems_list(self, job: ImportJob) -> str:
        if not job.problems:
            return "—"
        return format_html('<pre style="white-space: pre-wrap">{}</pre>', job.problems)

    @admin.display(description="Took")
    def took(self, job: ImportJob) -> str:
        duration = job.duration
        if duration is None:
            return "—"
        return str(timedelta(seconds=round(duration.total_seconds())))
