"""Import and Export buttons on an admin list, for the CSV layout of its model.

``LayoutImportExportMixin`` is django-import-export's ``ImportExportMixin`` driving the layout
named by ``import_layout`` (``imports.registry``). Import uploads a file and shows a dry run: the
counts, every problem in words ("Row 14, column start_date: ..."), the first rows, and an errors
file to download. Confirming queues an import job (``imports.jobs``) instead of importing in the
request, since a large file takes minutes, and sends the uploader to the job's page. Export
downloads the list's rows, filters applied, in the layout, which imports back as no change.
"""

import os
from pathlib import Path

from django import forms
from django.contrib import messages
from django.contrib.admin.widgets import AdminRadioSelect
from django.contrib.auth import get_permission_codename
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from import_export.admin import ImportExportMixin
from import_export.forms import ConfirmImportForm, ImportForm

from imports.engine import Mode, Status
from imports.jobs import import_job_start
from imports.models import ImportJob
from imports.registry import layout_class
from imports.resources import LayoutCSV, LayoutResource

MODES = [
    (Mode.ALL_OR_NOTHING, "All or nothing: import no row while any row has errors"),
    (Mode.KEEP_GOOD_ROWS, "Keep good rows: import the rows without errors, give back the others"),
]
MODE_HELP = (
    "All or nothing lists every bad row, so the file can be fixed and uploaded again. Keep good "
    "rows imports the others and returns the bad ones in an errors file to fix and import; rows "
    "that belong together (a contract's lines) are left out together."
)
# Problems listed on the dry-run page; the errors file holds every bad row.
PROBLEMS_SHOWN = 500
ERRORS_FILE_SALT = "imports.admin.errors-file"
# How long a dry run's errors file link works (the file stays in import-export's temp storage).
ERRORS_FILE_MAX_AGE = 24 * 60 * 60


class LayoutImportForm(ImportForm):
    """import-export's upload form, with what to do about rows that have errors."""

    mode = forms.ChoiceField(
        label="If rows have errors",
        choices=MODES,
        initial=Mode.ALL_OR_NOTHING,
        widget=AdminRadioSelect(attrs={"class": "radiolist"}),
        help_text=MODE_HELP,
    )

    def __init__(self, formats, resources, **kwargs) -> None:
        super().__init__(formats, resources, **kwargs)
        # One format, always CSV: nothing to show or choose.
        self.fields["format"].widget = forms.HiddenInput()


class LayoutConfirmForm(ConfirmImportForm):
    """import-export's confirm form, carrying the mode chosen for the dry run."""

    mode = forms.ChoiceField(choices=MODES, widget=forms.HiddenInput)


class LayoutImportExportMixin(ImportExportMixin):
    """Import and export an admin list's model in the CSV layout called ``import_layout``."""

    import_layout: str
    import_template_name = "imports/admin/import.html"
    import_form_class = LayoutImportForm
    confirm_form_class = LayoutConfirmForm
    import_formats = [LayoutCSV]
    export_formats = [LayoutCSV]
    resource_classes = [LayoutResource]
    # One format and the layout's fixed columns: Export downloads at once.
    skip_export_form = True

    def has_import_permission(self, request: HttpRequest) -> bool:
        """Importing adds rows: it takes the model's add permission.

        The model's, not the admin's ``has_add_permission``: a list kept read-only by hand
        (usage records) turns that off for everyone, importers included.
        """
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.{get_permission_codename('add', opts)}")

    def has_export_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def get_resource_kwargs(self, request: HttpRequest, *args, **kwargs) -> dict:
        return {**kwargs, "layout": self.import_layout}

    def get_import_data_kwargs(self, **kwargs) -> dict:
        mode = kwargs["form"].cleaned_data["mode"]
        return {**super().get_import_data_kwargs(**kwargs), "mode": mode}

    def get_confirm_form_initial(self, request: HttpRequest, import_form) -> dict:
        initial = super().get_confirm_form_initial(request, import_form)
        if import_form is not None:
            initial["mode"] = import_form.cleaned_data["mode"]
        return initial

    def get_export_filename(self, request: HttpRequest, queryset, file_format) -> str:
        return f"{self.import_layout}-{timezone.localdate():%Y-%m-%d}.csv"

    def get_urls(self) -> list:
        errors_file = path(
            "import/errors/<str:token>/",
            self.admin_site.admin_view(self.import_errors_view),
            name=self._errors_url_name(),
        )
        return [errors_file, *super().get_urls()]

    def write_to_tmp_storage(self, import_file, input_format):
        """Keep the upload for the confirm step, saved in one piece.

        import-export appends the upload's 64 KB chunks to a bytes object one by one, copying
        it each time: most of a minute for a 50 MB file.
        """
        storage = self.get_tmp_storage_class()(
            read_mode=input_format.get_read_mode(), **self.get_tmp_storage_class_kwargs()
        )
        storage.save(import_file.read())
        return storage

    def import_action(self, request: HttpRequest, **kwargs) -> TemplateResponse:
        """Show import-export's upload page and dry run, with the report's problems in words.

        In keep-good-rows mode the file can be confirmed although some rows are bad (they are
        left out); import-export offers to confirm only a file without any.
        """
        response = super().import_action(request, **kwargs)
        context = response.context_data
        layout = layout_class(self.import_layout)
        context.update(title=f"Import: {layout.title}", layout=layout)
        result = context.get("result")
        if result is None:
            return response
        report, form = result.report, context["form"]
        file_name = form.cleaned_data["import_file"].name
        bad = report.counts[Status.ERROR]
        context.update(
            file_name=file_name,
            good_rows=report.rows - bad,
            problems=[str(problem) for problem in report.problems[:PROBLEMS_SHOWN]],
            problems_hidden=max(len(report.problems) - PROBLEMS_SHOWN, 0),
        )
        if bad:
            context["errors_file_url"] = self._errors_file_url(
                request, report.errors_csv(), file_name
            )
        keep_good_rows = form.cleaned_data["mode"] == Mode.KEEP_GOOD_ROWS
        if keep_good_rows and not result.has_errors() and report.rows > bad:
            context["confirm_form"] = self.create_confirm_form(request, import_form=form)
        return response

    def _errors_file_url(self, request: HttpRequest, errors_csv: str, file_name: str) -> str:
        """Keep a dry run's errors file in import-export's temp storage; return its link.

        The link is signed for the uploader, so it names no file anyone else can ask for.
        """
        storage = self.get_tmp_storage_class()(
            read_mode="rb", **self.get_tmp_storage_class_kwargs()
        )
        # With a BOM, so that Excel reads the accents of a UTF-8 file right.
        storage.save(errors_csv.encode("utf-8-sig"))
        download = f"{Path(file_name).stem}-errors.csv"
        token = signing.dumps(
            [os.path.basename(storage.name), download, request.user.pk], salt=ERRORS_FILE_SALT
        )
        return reverse(
            f"admin:{self._errors_url_name()}", args=[token], current_app=self.admin_site.name
        )

    def _errors_url_name(self) -> str:
        return f"{self.opts.app_label}_{self.opts.model_name}_import_errors"

    def import_errors_view(self, request: HttpRequest, token: str) -> HttpResponse:
        """Download a dry run's errors file: the bad rows as sent, with what is wrong with each."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        try:
            name, download, user_pk = signing.loads(
                token, salt=ERRORS_FILE_SALT, max_age=ERRORS_FILE_MAX_AGE
            )
        except signing.BadSignature as error:
            raise Http404("This errors file link has expired; upload the file again.") from error
        if user_pk != request.user.pk:
            raise PermissionDenied
        storage = self.get_tmp_storage_class()(
            name=name, read_mode="rb", **self.get_tmp_storage_class_kwargs()
        )
        try:
            data = storage.read()
        except FileNotFoundError as error:
            raise Http404("This errors file is gone; upload the file again.") from error
        response = HttpResponse(data, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = content_disposition_header(True, download)
        return response

    def process_dataset(self, dataset: bytes, form, request: HttpRequest, **kwargs) -> ImportJob:
        """Queue the confirmed file as an import job rather than import it in the request.

        import-export's confirm view calls this with the file it kept from the dry run, then
        hands what it returns to ``process_result``.
        """
        return import_job_start(
            layout=self.import_layout,
            data=dataset,
            file_name=form.cleaned_data["original_file_name"],
            mode=form.cleaned_data["mode"],
            dry_run=False,
            user=request.user,
        )

    def process_result(self, job: ImportJob, request: HttpRequest) -> HttpResponseRedirect:
        """Send the uploader to the job's page, where its counts and errors file appear."""
        messages.success(
            request,
            f"The import of {job.file_name} has started. This page shows its counts and errors "
            "file when it is done, and you get them by email.",
        )
        return HttpResponseRedirect(reverse("admin:imports_importjob_change", args=[job.pk]))
