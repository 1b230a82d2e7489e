"""Import jobs: queued on upload, run once by a worker as the uploader, reported by email and on
the import jobs page."""

import csv
import io
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.utils import timezone

from contracts.imports.contracts import ContractsLayout
from contracts.models import Contract, ContractLine
from imports.jobs import import_job_run, import_job_start
from imports.models import ImportJob
from imports.tasks import import_job_run_task
from tests.admin_urls import admin_url

pytestmark = pytest.mark.django_db

HEAD = "contract_number,customer_number,start_date,end_date,line_sequence,sku,unit_price,"
HEAD += "interval_months,bill_timing,bill_day_mode\n"


def line(contract="K-1", seq=1, customer="ACME", price="40.00") -> str:
    dates = "2026-01-01,2026-12-31"
    return f"{contract},{customer},{dates},{seq},PLAT-SUB,{price},1,advance,anniversary\n"


GOOD = (HEAD + line(seq=1) + line(seq=2, price="15.00")).encode()
# K-2's customer does not exist; K-1 is good.
ONE_BAD = (HEAD + line(seq=1) + line("K-2", customer="NOBODY")).encode()


@pytest.fixture(autouse=True)
def site_url(settings):
    settings.RMS_SITE_URL = "https://rms.example.com"


@pytest.fixture
def book(customer_factory, product_factory):
    customer_factory(number="ACME")
    product_factory(sku="PLAT-SUB")


@pytest.fixture
def ada(django_user_model):
    return django_user_model.objects.create_user("ada", "ada@example.com", is_staff=True)


def start(user, data=GOOD, *, mode="all_or_nothing", dry_run=False, name="contracts.csv"):
    return import_job_start(
        layout="contracts", data=data, file_name=name, mode=mode, dry_run=dry_run, user=user
    )


def run(django_capture_on_commit_callbacks, user, data=GOOD, **options) -> ImportJob:
    """Upload ``data`` and let the (eager) worker run the job, as on commit of the upload."""
    with django_capture_on_commit_callbacks(execute=True):
        job = start(user, data, **options)
    job.refresh_from_db()
    return job


def stored(field) -> str:
    with field.open("rb") as f:
        return f.read().decode("utf-8-sig")


# --- Running a job ---------------------------------------------------------------------------


def test_a_job_imports_the_file_as_the_uploader_and_emails_the_outcome(
    book, ada, mailoutbox, django_capture_on_commit_callbacks
):
    job = run(django_capture_on_commit_callbacks, ada, name="C:\\Users\\ada\\contracts.csv")

    assert job.status == ImportJob.Status.SUCCEEDED
    assert (job.new_rows, job.updated_rows, job.unchanged_rows, job.error_rows) == (2, 0, 0, 0)
    assert job.summary == "Imported 2 rows: 2 new, 0 updated, 0 unchanged."
    assert (job.file_name, job.uploaded_by_username, job.problems) == ("contracts.csv", "ada", "")
    assert stored(job.file) == GOOD.decode()
    assert not job.errors_file
    assert job.started_at <= job.finished_at
    record = Contract.history.get(number="K-1")
    assert (record.history_username, record.history_via) == ("ada", "import contracts.csv")
    assert ContractLine.objects.filter(contract__number="K-1").count() == 2

    [email] = mailoutbox
    assert email.to == ["ada@example.com"]
    assert email.subject == "Import succeeded: contracts.csv (contracts)"
    assert job.summary in email.body
    assert f"https://rms.example.com/admin/imports/importjob/{job.pk}/change/" in email.body
    assert email.attachments == []


def test_all_or_nothing_with_a_bad_row_fails_writes_nothing_and_sends_the_bad_rows(
    book, ada, mailoutbox, django_capture_on_commit_callbacks
):
    job = run(django_capture_on_commit_callbacks, ada, ONE_BAD)

    assert job.status == ImportJob.Status.FAILED
    assert not Contract.objects.exists()
    assert (job.new_rows, job.error_rows) == (1, 1)
    assert job.summary == "Nothing imported: 1 of 2 rows have errors."
    assert job.problems == "Row 3, column customer_number: no customer has account number NOBODY."
    bad_rows = list(csv.reader(io.StringIO(stored(job.errors_file))))
    assert bad_rows == [
        [*HEAD.strip().split(","), "errors"],
        [*line("K-2", customer="NOBODY").strip().split(","), job.problems],
    ]

    [email] = mailoutbox
    assert email.subject == "Import failed: contracts.csv (contracts)"
    assert job.problems in email.body
    [attachment] = [part for part in email.message().walk() if part.get_filename()]
    assert attachment.get_filename() == "contracts-errors.csv"
    assert attachment.get_content_type() == "text/csv"
    sent = attachment.get_payload(decode=True).decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(sent))) == bad_rows


def test_keeping_good_rows_imports_them_and_succeeds(
    book, ada, mailoutbox, django_capture_on_commit_callbacks
):
    job = run(django_capture_on_commit_callbacks, ada, ONE_BAD, mode="keep_good_rows")

    assert job.status == ImportJob.Status.SUCCEEDED
    assert list(Contract.objects.values_list("number", flat=True)) == ["K-1"]
    assert (job.new_rows, job.error_rows) == (1, 1)
    assert "no customer has account number NOBODY" in stored(job.errors_file)
    assert "The attached CSV file holds the rows that were not imported" in mailoutbox[0].body


def test_a_dry_run_writes_nothing(book, ada, django_capture_on_commit_callbacks):
    job = run(django_capture_on_commit_callbacks, ada, dry_run=True)

    assert job.status == ImportJob.Status.SUCCEEDED
    assert job.new_rows == 2
    assert job.summary.startswith("Dry run of 2 rows")
    assert not Contract.objects.exists()


def test_a_file_that_cannot_be_read_fails_and_says_why(
    book, ada, mailoutbox, django_capture_on_commit_callbacks
):
    job = run(django_capture_on_commit_callbacks, ada, b"contract_number\nK-1\n")

    assert job.status == ImportJob.Status.FAILED
    assert job.summary.startswith(
        "Nothing imported: Row 1 (the header): missing column(s): customer_number, start_date"
    )
    assert job.summary in mailoutbox[0].body


def test_an_unexpected_error_fails_the_job_tells_the_uploader_and_is_raised(
    book, ada, mailoutbox, monkeypatch
):
    job = start(ada)

    def broken(self, rows):
        raise RuntimeError("disk full")

    monkeypatch.setattr(ContractsLayout, "write", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        import_job_run_task(job.pk)

    job.refresh_from_db()
    assert job.status == ImportJob.Status.FAILED
    assert job.summary.startswith("The import stopped on an unexpected error (RuntimeError: disk")
    assert job.finished_at is not None
    assert mailoutbox[0].subject == "Import failed: contracts.csv (contracts)"


def test_an_uploader_without_an_email_address_gets_no_email(
    book, django_user_model, mailoutbox, django_capture_on_commit_callbacks
):
    job = run(django_capture_on_commit_callbacks, django_user_model.objects.create_user("bo"))

    assert job.status == ImportJob.Status.SUCCEEDED
    assert mailoutbox == []


def test_a_job_is_imported_once_however_often_its_task_runs(book, ada, mailoutbox):
    job = start(ada)

    assert import_job_run_task(job.pk) == ImportJob.Status.SUCCEEDED
    finished = ImportJob.objects.get(pk=job.pk).finished_at
    assert import_job_run_task(job.pk) == ImportJob.Status.SUCCEEDED

    assert Contract.history.count() == 1
    assert ImportJob.objects.get(pk=job.pk).finished_at == finished
    assert len(mailoutbox) == 1


def running_since(job: ImportJob, minutes: int) -> None:
    job.status = ImportJob.Status.RUNNING
    job.started_at = timezone.now() - timedelta(minutes=minutes)
    job.save()


def test_a_job_whose_worker_crashed_long_ago_is_run_again(book, ada):
    job = start(ada)
    running_since(job, 31)

    job = import_job_run(job_id=job.pk)

    assert job.status == ImportJob.Status.SUCCEEDED
    assert Contract.objects.filter(number="K-1").exists()


def test_a_job_running_elsewhere_is_left_alone_and_checked_again_once_it_would_be_stale(
    book, ada, monkeypatch
):
    job = start(ada)
    running_since(job, 5)

    assert import_job_run(job_id=job.pk).status == ImportJob.Status.RUNNING
    assert not Contract.objects.exists()

    retries = []

    def retry(**options):
        retries.append(options)
        return RuntimeError("retried")

    monkeypatch.setattr(import_job_run_task, "retry", retry)
    with pytest.raises(RuntimeError, match="retried"):
        import_job_run_task(job.pk)
    [options] = retries
    # 25 minutes until the job counts as crashed, and a minute more.
    assert 25 * 60 < options["countdown"] <= 26 * 60
    assert not Contract.objects.exists()


def test_a_job_deleted_before_it_ran_is_skipped(book, ada):
    job = start(ada)
    job.delete()

    assert import_job_run_task(job.pk) is None
    assert not Contract.objects.exists()


@pytest.mark.parametrize(
    ("layout", "mode", "message"),
    [
        ("invoices", "all_or_nothing", "There is no layout 'invoices'"),
        ("contracts", "some", "There is no import mode 'some'"),
    ],
)
def test_a_job_needs_a_known_layout_and_mode(ada, layout, mode, message):
    with pytest.raises(ValidationError, match=message):
        import_job_start(
            layout=layout, data=GOOD, file_name="x.csv", mode=mode, dry_run=False, user=ada
        )
    assert not ImportJob.objects.exists()


# --- The import jobs page --------------------------------------------------------------------


@pytest.fixture
def failed_job(book, ada, django_capture_on_commit_callbacks) -> ImportJob:
    return run(django_capture_on_commit_callbacks, ada, ONE_BAD)


def download(job: ImportJob, which: str) -> str:
    return admin_url(ImportJob, "download", job.pk, which)


def test_the_jobs_page_lists_jobs_and_shows_one_with_its_files(staff_client, failed_job):
    listing = staff_client.get(admin_url(ImportJob, "changelist"))
    assert listing.status_code == 200
    assert failed_job.file_name in listing.content.decode()

    page = staff_client.get(admin_url(ImportJob, "change", failed_job.pk)).content.decode()
    assert failed_job.summary in page
    assert "no customer has account number NOBODY" in page
    assert download(failed_job, "file") in page
    assert download(failed_job, "errors") in page

    original = staff_client.get(download(failed_job, "file"))
    assert original["Content-Disposition"] == 'attachment; filename="contracts.csv"'
    assert b"".join(original.streaming_content) == ONE_BAD
    errors = staff_client.get(download(failed_job, "errors"))
    assert b"NOBODY" in b"".join(errors.streaming_content)


def test_a_job_without_bad_rows_has_no_errors_file_to_download(
    staff_client, book, ada, django_capture_on_commit_callbacks
):
    job = run(django_capture_on_commit_callbacks, ada)

    assert staff_client.get(download(job, "errors")).status_code == 404
    assert staff_client.get(download(job, "nonsense")).status_code == 404


def test_staff_without_the_view_permission_see_no_job(client, django_user_model, failed_job):
    clerk = django_user_model.objects.create_user("clerk", is_staff=True)
    client.force_login(clerk)

    for url in (
        admin_url(ImportJob, "changelist"),
        admin_url(ImportJob, "change", failed_job.pk),
        download(failed_job, "file"),
        download(failed_job, "errors"),
    ):
        assert client.get(url).status_code == 403, url

    clerk.user_permissions.add(Permission.objects.get(codename="view_importjob"))
    for url in (
        admin_url(ImportJob, "changelist"),
        admin_url(ImportJob, "change", failed_job.pk),
        download(failed_job, "file"),
    ):
        assert client.get(url).status_code == 200, url
    assert client.get(admin_url(ImportJob, "delete", failed_job.pk)).status_code == 403


def test_deleting_a_job_deletes_its_files(
    staff_client, failed_job, django_capture_on_commit_callbacks
):
    names = [failed_job.file.name, failed_job.errors_file.name]

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(admin_url(ImportJob, "delete", failed_job.pk), {"post": "yes"})

    assert response.status_code == 302
    assert not ImportJob.objects.exists()
    assert not any(default_storage.exists(name) for name in names)


def test_a_job_being_imported_cannot_be_deleted(staff_client, book, ada):
    job = start(ada)
    running_since(job, 1)

    assert staff_client.get(admin_url(ImportJob, "delete", job.pk)).status_code == 403
