"""The report pages in the admin: who may open them, the filters, CSV and PDF, query counts."""

import csv
import io
from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from pypdf import PdfReader

from integrations.roles import (
    AUDITOR,
    BILLING_CLERK,
    FINANCE_ADMIN,
    INTEGRATION_CLIENT,
    PROJECT_MANAGER,
)
from reports.tables import REPORTS
from tests.billing.test_documents import pdf_text

pytestmark = pytest.mark.django_db

JAN = date(2026, 1, 1)
SLUGS = list(REPORTS)
# Dates that show the hand-worked book in every report.
QUERY = "as_of=2026-01-15&first=2025-12&last=2026-02"


def url(slug: str, query: str = QUERY) -> str:
    return f"{reverse('admin:' + REPORTS[slug].url_name)}?{query}"


def csv_rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


@pytest.fixture
def book(annual_deal, activate, bill, recognize, customer_factory):
    """The 12,000.00 USD annual deal and a 6,000.00 EUR quarterly one, billed and recognized
    through January 2026."""
    usd = annual_deal("12000.00", customer=customer_factory(legal_name="Northwind Traders"))
    eur = annual_deal("6000.00", currency="EUR", interval_months=3)
    activate(usd, eur)
    bill(JAN)
    recognize(date(2026, 1, 31))
    return usd, eur


# --- Who may read them ---------------------------------------------------------------------------


@pytest.mark.parametrize("role", [FINANCE_ADMIN, BILLING_CLERK, AUDITOR])
def test_finance_roles_and_auditors_read_every_report(role_client, role, book):
    client = role_client(role)

    index = client.get(reverse("admin:index"))
    assert reverse("admin:reports_report_changelist") in index.content.decode()
    listing = client.get(reverse("admin:reports_report_changelist"))
    assert listing.status_code == 200
    for slug in SLUGS:
        assert url(slug, "").rstrip("?") in listing.content.decode()
        assert client.get(url(slug)).status_code == 200
        assert client.get(url(slug, "format=csv")).status_code == 200


@pytest.mark.parametrize("role", [PROJECT_MANAGER, INTEGRATION_CLIENT, None])
def test_others_are_refused(role_client, role, book):
    client = role_client(role)

    assert client.get(reverse("admin:reports_report_changelist")).status_code == 403
    for slug in SLUGS:
        for export in ("", "&format=csv", "&format=pdf"):
            assert client.get(url(slug) + export).status_code == 403
    assert reverse("admin:reports_report_changelist") not in client.get("/admin/").content.decode()


# --- The page ------------------------------------------------------------------------------------


def test_waterfall_page_shows_a_table_per_currency_in_the_admin_frame(staff_client, book):
    usd, _ = book

    response = staff_client.get(url("waterfall"))

    page = response.content.decode()
    assert response.templates[0].name == "reports/report.html"
    assert "admin/base_site.html" in [template.name for template in response.templates]
    assert 'id="report-USD"' in page and 'id="report-EUR"' in page
    assert reverse("admin:contracts_contract_change", args=[usd.pk]) in page
    assert "Northwind Traders" in page
    # Figures grouped on the currency's minor unit: January 2026 of the USD deal, the totals.
    assert "1,019.18" in page and "12,000.00" in page and "6,000.00" in page


def test_currency_and_customer_filters_narrow_the_page(staff_client, book):
    usd, _ = book

    only_eur = staff_client.get(url("waterfall", "as_of=2026-01-15&currency=EUR")).content
    assert b'id="report-EUR"' in only_eur and b'id="report-USD"' not in only_eur
    mine = staff_client.get(url("rpo", f"as_of=2026-01-31&customer={usd.customer_id}")).content
    assert b'id="report-USD"' in mine and b'id="report-EUR"' not in mine


def test_bad_filters_are_named_and_the_defaults_shown(staff_client, book):
    response = staff_client.get(url("billings", "first=2026-03&last=2026-01"))

    assert response.status_code == 200
    assert "From: The first month must not be after the last." in response.content.decode()
    # A date at the calendar's end would run the waterfall's months past year 9999.
    response = staff_client.get(url("waterfall", "as_of=9999-12-31&currency=XXX"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "As of: Ensure this value is less than or equal to 2999-12-31." in page
    assert "Currency: Select a valid choice." in page
    # The valid filters still apply.
    response = staff_client.get(url("waterfall", "as_of=2026-01-15&currency=XXX"))
    assert "As of 15 January 2026" in response.content.decode()


# --- CSV -----------------------------------------------------------------------------------------


def test_waterfall_csv_has_a_row_per_contract_and_a_total_per_currency(staff_client, book):
    response = staff_client.get(url("waterfall", "as_of=2026-01-15&format=csv"))

    assert response["Content-Disposition"] == 'attachment; filename="waterfall-2026-01-15.csv"'
    header, *rows = csv_rows(response)
    assert header[:5] == ["currency", "Contract", "Customer", "Jan 2026", "Feb 2026"]
    assert header[-2:] == ["Later", "Total"]
    by_label = {(row[0], row[1]): row for row in rows}
    usd_total = by_label[("USD", "Total")]
    # Plain numbers on the minor unit: January 1,019.18, February 920.54, the year 12,000.00.
    assert usd_total[3:5] == ["1019.18", "920.54"] and usd_total[-1] == "12000.00"
    assert by_label[("EUR", "Total")][-1] == "6000.00"


def test_roll_forward_csv_rows_add_up(staff_client, book):
    response = staff_client.get(url("deferred-revenue", "first=2026-01&last=2026-01&format=csv"))

    header, *rows = csv_rows(response)
    assert header[1:6] == ["Month", "Opening", "Billings", "Revenue recognized", "Closing"]
    by_label = {(row[0], row[1]): row[2:] for row in rows}
    # USD January: 0 + 12,000.00 - 1,019.18 = 10,980.82, all deferred.
    usd_january = ["0.00", "12000.00", "1019.18", "10980.82", "10980.82", "0.00"]
    assert by_label[("USD", "Jan 2026")] == usd_january
    # EUR January: the first quarter billed in advance, 1,500.00, less January's ratable share
    # of 6,000.00 (600,000 x 31 / 365 = 50,958.904 cents -> 509.59): 990.41.
    assert by_label[("EUR", "Jan 2026")][:4] == ["0.00", "1500.00", "509.59", "990.41"]
    # The period's row: the first opening, the sums, the last closing.
    assert by_label[("USD", "Period")][:4] == ["0.00", "12000.00", "1019.18", "10980.82"]


def test_csv_escapes_cells_a_spreadsheet_would_run(
    staff_client, annual_deal, activate, customer_factory
):
    evil = customer_factory(legal_name='=HYPERLINK("http://evil.example","x")')
    activate(annual_deal("12000.00", customer=evil))

    rows = csv_rows(staff_client.get(url("waterfall", "as_of=2026-01-15&format=csv")))

    [row] = [row for row in rows[1:] if row[1] != "Total"]
    assert row[2] == "'" + evil.legal_name
    assert all(not cell.startswith("'") for cell in row[3:])


def test_csv_keeps_negative_figures_as_numbers(staff_client, credited_hardware):
    rows = csv_rows(staff_client.get(url("billings", "first=2026-02&last=2026-02&format=csv")))

    # February: the 200.00 credit note, a number a spreadsheet adds up, not escaped text.
    assert rows[1] == ["USD", "Feb 2026", "0.00", "0.00", "-200.00", "-200.00"]


# --- PDF -----------------------------------------------------------------------------------------


def test_pdf_prints_the_report_on_a4_landscape(staff_client, book):
    response = staff_client.get(url("waterfall", "as_of=2026-01-15&format=pdf"))

    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="waterfall-2026-01-15.pdf"'
    text = pdf_text(response.content)
    assert "Revenue waterfall" in text
    assert "12,000.00" in text and "1,019.18" in text
    box = PdfReader(io.BytesIO(response.content)).pages[0].mediabox
    # A4 landscape: 297 x 210 mm = 841.9 x 595.3 points.
    assert (round(float(box.width)), round(float(box.height))) == (842, 595)


@pytest.mark.parametrize("slug", [slug for slug in SLUGS if slug != "waterfall"])
def test_every_report_prints_its_totals(staff_client, book, slug):
    text = pdf_text(staff_client.get(url(slug, QUERY + "&format=pdf")).content)

    assert REPORTS[slug].title in text
    # Every report of this book carries the USD deal's 12,000.00 (billed, booked or allocated)
    # or, for the roll-forward, its January closing of 12,000.00 - 1,019.18.
    assert "12,000.00" in text or "10,980.82" in text


# --- Query counts --------------------------------------------------------------------------------


def _queries(client, address: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(address)
        if response.streaming:
            b"".join(response.streaming_content)
    assert response.status_code == 200
    return len(captured)


@pytest.mark.parametrize("slug", SLUGS)
def test_a_report_takes_as_many_queries_for_a_big_book_as_for_a_small_one(
    staff_client,
    annual_deal,
    activate,
    bill,
    recognize,
    django_assert_max_num_queries,
    slug,
):
    activate(annual_deal("12000.00"))
    bill(JAN)
    recognize(date(2026, 1, 31))
    small = {export: _queries(staff_client, url(slug) + export) for export in ("", "&format=csv")}

    more = [annual_deal(f"{1000 * n}.00", currency=("USD", "EUR")[n % 2]) for n in range(1, 7)]
    activate(*more)
    bill(JAN)
    recognize(date(2026, 1, 31))

    for export, count in small.items():
        with django_assert_max_num_queries(count):
            staff_client.get(url(slug) + export)
        assert _queries(staff_client, url(slug) + export) == count
    # A handful: the session and user, the filters' lists, and the report's grouped queries.
    assert small[""] <= 12


def test_amounts_keep_their_currency_s_minor_unit(staff_client, annual_deal, activate):
    activate(annual_deal("3650000", currency="JPY"))

    page = staff_client.get(url("waterfall", "as_of=2026-01-15")).content.decode()
    rows = csv_rows(staff_client.get(url("waterfall", "as_of=2026-01-15&format=csv")))

    # 3,650,000 yen over 365 days is 10,000 a day: January 310,000, no decimals anywhere.
    assert "310,000<" in page and "3,650,000<" in page and "310,000.00" not in page
    [total] = [row for row in rows if row[:2] == ["JPY", "Total"]]
    assert total[3] == "310000" and total[-1] == "3650000"
