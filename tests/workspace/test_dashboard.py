"""The dashboard page: who lands on it, its figures against a hand-worked book, the filters,
the CSV of each block, its links, and a query count that does not grow with the book."""

import csv
import html
import io
import re
from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from djmoney.money import Money

from billing.models import BillRun
from contracts.models import Contract, Milestone
from integrations.roles import (
    AUDITOR,
    BILLING_CLERK,
    FINANCE_ADMIN,
    INTEGRATION_CLIENT,
    PROJECT_MANAGER,
)
from reports.tables import Filters
from workspace.dashboard.blocks import Dashboard

pytestmark = pytest.mark.django_db

JAN = date(2026, 1, 1)
# The hand-worked book's months, read in the middle of January.
QUERY = "first=2025-12&last=2026-02&as_of=2026-01-15"
INDEX = "/admin/"


def csv_rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def table(page: str, table_id: str) -> list[list[str]]:
    """Return the text of each row of the table with ``table_id``, tags stripped."""
    body = re.search(rf'<table[^>]*id="{table_id}".*?</table>', page, re.S).group(0)
    return [
        [
            html.unescape(re.sub(r"<[^>]+>", "", cell)).strip()
            for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)
        ]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    ]


@pytest.fixture
def book(annual_deal, activate, bill, recognize, customer_factory):
    """A USD 12,000.00 annual deal billed yearly and a EUR 6,000.00 one billed quarterly, both
    over 2026, billed on 1 January and recognized ratably by days through January."""
    usd = annual_deal("12000.00", customer=customer_factory(legal_name="Northwind Traders"))
    eur = annual_deal("6000.00", currency="EUR", interval_months=3)
    activate(usd, eur)
    bill(JAN)
    recognize(date(2026, 1, 31))
    return usd, eur


@pytest.fixture
def finance(role_client):
    return role_client(FINANCE_ADMIN)


# --- Who lands where -----------------------------------------------------------------------------


@pytest.mark.parametrize("role", [FINANCE_ADMIN, BILLING_CLERK, AUDITOR])
def test_finance_roles_land_on_the_dashboard(role_client, role):
    client = role_client(role)

    index = client.get(INDEX)
    assert index.status_code == 200
    assert index.templates[0].name == "workspace/dashboard/dashboard.html"
    # The apps stay a click away: the sidebar's app list and the "All apps" page.
    assert reverse("admin:reports_report_changelist") in index.content.decode()
    apps = client.get(reverse("admin:workspace_apps"))
    assert apps.status_code == 200
    assert reverse("admin:contracts_contract_changelist") in apps.content.decode()
    assert client.get(reverse("admin:workspace_dashboard")).status_code == 200


def test_superusers_land_on_the_dashboard(admin_client):
    response = admin_client.get(INDEX)

    assert response.templates[0].name == "workspace/dashboard/dashboard.html"


@pytest.mark.parametrize("role", [PROJECT_MANAGER, INTEGRATION_CLIENT, None])
def test_other_staff_get_the_app_index_and_no_dashboard(role_client, role):
    client = role_client(role)

    index = client.get(INDEX)
    assert index.status_code == 200
    assert index.templates[0].name == "admin/index.html"
    assert client.get(reverse("admin:workspace_dashboard")).status_code == 403
    assert client.get(f"{INDEX}?format=csv&block=mrr").templates[0].name == "admin/index.html"


def test_anonymous_is_sent_to_log_in(client):
    for url in (INDEX, reverse("admin:workspace_dashboard"), f"{INDEX}?format=csv&block=mrr"):
        response = client.get(url)
        assert response.status_code == 302
        assert response.url.startswith(reverse("admin:login"))


# --- The figures ---------------------------------------------------------------------------------


def test_billings_and_revenue(finance, book):
    page = finance.get(f"{INDEX}?{QUERY}").content.decode()

    assert table(page, "table-billings-USD") == [
        ["Month", "Invoiced", "Voided", "Credit notes", "Net billings", "Revenue recognized"],
        ["Dec 2025", "0.00", "0.00", "0.00", "0.00", "0.00"],
        # 12,000.00 x 31 / 365 days of January.
        ["Jan 2026", "12,000.00", "0.00", "0.00", "12,000.00", "1,019.18"],
        ["Feb 2026", "0.00", "0.00", "0.00", "0.00", "0.00"],
        ["Period", "12,000.00", "0.00", "0.00", "12,000.00", "1,019.18"],
    ]
    # The first quarter of 6,000.00 billed; 6,000.00 x 31 / 365 earned.
    assert table(page, "table-billings-EUR")[2] == [
        "Jan 2026",
        "1,500.00",
        "0.00",
        "0.00",
        "1,500.00",
        "509.59",
    ]


def test_deferred_revenue(finance, book):
    page = finance.get(f"{INDEX}?{QUERY}").content.decode()

    rows = table(page, "table-balances-USD")
    assert rows[0] == [
        "Month end",
        "Deferred revenue",
        "Unbilled revenue",
        "Net balance",
        "Billings",
        "Revenue",
    ]
    # Billed 12,000.00, earned 1,019.18: 10,980.82 billed ahead.
    assert rows[1:] == [
        ["Dec 2025", "0.00", "0.00", "0.00", "0.00", "0.00"],
        ["Jan 2026", "10,980.82", "0.00", "10,980.82", "12,000.00", "1,019.18"],
        ["Feb 2026", "10,980.82", "0.00", "10,980.82", "0.00", "0.00"],
    ]
    assert table(page, "table-balances-EUR")[2][:4] == ["Jan 2026", "990.41", "0.00", "990.41"]


def test_unbilled_revenue_of_one_customer(
    finance, book, contract_line_factory, activate, bill, recognize
):
    """100.00 a month billed in arrears: nothing billed on 1 January, 1,200.00 x 31/365 earned."""
    line = contract_line_factory(bill_timing="arrears")
    activate(line.contract)
    bill(JAN)
    recognize(date(2026, 1, 31))

    customer = line.contract.customer_id
    page = finance.get(f"{INDEX}?{QUERY}&customer={customer}").content.decode()

    assert table(page, "table-balances-USD")[2] == [
        "Jan 2026",
        "0.00",
        "101.92",
        "-101.92",
        "0.00",
        "101.92",
    ]
    # The customer filter narrows every block: no EUR, and only this customer's MRR.
    assert 'id="table-balances-EUR"' not in page
    assert table(page, "table-mrr-USD")[2][-2:] == ["100.00", "1,200.00"]


def test_mrr_and_arr(finance, book):
    page = finance.get(f"{INDEX}?{QUERY}").content.decode()

    assert table(page, "table-mrr-USD") == [
        ["Month", "Opening MRR", "New", "Expansion", "Contraction", "Churn", "Closing MRR", "ARR"],
        ["Dec 2025", "0.00", "0.00", "0.00", "0.00", "0.00", "0.00", "0.00"],
        # 12,000.00 a year is 1,000.00 a month from 1 January.
        ["Jan 2026", "0.00", "1,000.00", "0.00", "0.00", "0.00", "1,000.00", "12,000.00"],
        ["Feb 2026", "1,000.00", "0.00", "0.00", "0.00", "0.00", "1,000.00", "12,000.00"],
        ["Period", "0.00", "1,000.00", "0.00", "0.00", "0.00", "1,000.00", "12,000.00"],
    ]
    # 1,500.00 a quarter is 500.00 a month.
    assert table(page, "table-mrr-EUR")[-1][-2:] == ["500.00", "6,000.00"]


def test_aging(finance, book):
    # Net 30 from 1 January: due 31 January, current on the 15th, 1-30 days late on 15 February.
    page = finance.get(f"{INDEX}?{QUERY}").content.decode()
    late = finance.get(f"{INDEX}?first=2025-12&last=2026-02&as_of=2026-02-15").content.decode()

    head = [
        "Customer",
        "Current",
        "1-30 days",
        "31-60 days",
        "61-90 days",
        "Over 90 days",
        "Open",
        "Credit",
    ]
    assert table(page, "table-aging-USD") == [
        head,
        ["All customers", "12,000.00", "0.00", "0.00", "0.00", "0.00", "12,000.00", "0.00"],
    ]
    assert table(late, "table-aging-USD")[1][1:3] == ["0.00", "12,000.00"]


def test_headline_cards(finance, book):
    page = finance.get(f"{INDEX}?{QUERY}").content.decode()

    cards = re.search(r'id="headline-USD".*?</div>', page, re.S).group(0)
    figures = re.findall(r'fig-card-label">([^<]+)<.*?fig-card-figure">([^<]+)<', cards, re.S)
    assert figures == [
        ("MRR", "1,000.00"),
        ("ARR", "12,000.00"),
        ("Deferred revenue", "10,980.82"),
        ("Unbilled revenue", "0.00"),
        ("Receivables open", "12,000.00"),
    ]


@pytest.fixture
def milestones(contract_factory, contract_line_factory):
    """A USD project on 1 March 2026: one milestone overdue, one due in 19 days, one later, one
    already achieved; and a draft's milestone due soon (drafts have no due milestones either)."""
    contract = contract_factory(status=Contract.Status.ACTIVE, number="K-PROJ")
    line = contract_line_factory(
        contract=contract, milestone=True, unit_price=Money("10000.00", "USD")
    )

    def milestone(sequence, name, planned, amount, **extra):
        return Milestone.objects.create(
            line=line,
            sequence=sequence,
            name=name,
            planned_date=planned,
            amount=Money(amount, "USD"),
            **extra,
        )

    achieved = {"status": Milestone.Status.ACHIEVED, "achieved_on": date(2026, 1, 20)}
    return [
        milestone(1, "Kick-off", date(2026, 1, 15), "1000.00", **achieved),
        milestone(2, "Design signed off", date(2026, 2, 10), "3000.00"),
        milestone(3, "Build complete", date(2026, 3, 20), "4000.00"),
        milestone(4, "Go-live", date(2026, 5, 1), "2000.00"),
    ]


def test_milestones_due(finance, milestones):
    page = finance.get(f"{INDEX}?first=2026-01&last=2026-03&as_of=2026-03-01").content.decode()

    overdue, soon = milestones[1], milestones[2]
    assert table(page, "table-milestones-USD") == [
        ["Milestone", "Contract", "Customer", "Planned", "Due", "Amount"],
        [
            "Design signed off",
            "K-PROJ",
            overdue.line.contract.customer.legal_name,
            "Feb. 10, 2026",
            "Overdue",
            "3,000.00",
        ],
        [
            "Build complete",
            "K-PROJ",
            soon.line.contract.customer.legal_name,
            "March 20, 2026",
            "Due soon",
            "4,000.00",
        ],
        ["1 overdue", "1 due within 30 days", "", "", "Total", "7,000.00"],
    ]
    assert reverse("admin:contracts_milestone_change", args=[overdue.pk]) in page
    contract_url = reverse("admin:contracts_contract_change", args=[overdue.line.contract_id])
    assert f"{contract_url}#milestones" in page


def test_milestone_counts_link_to_the_same_milestones(finance, milestones):
    """The "overdue" and "due soon" links list exactly the milestones counted."""
    page = finance.get(f"{INDEX}?first=2026-01&last=2026-03&as_of=2026-03-01").content.decode()

    for text, expected in (
        ("1 overdue", "Design signed off"),
        ("1 due within 30 days", "Build complete"),
    ):
        url = html.unescape(re.search(rf'<a href="([^"]+)">{text}</a>', page).group(1))
        listing = finance.get(url).content.decode()
        assert expected in listing
        others = {"Kick-off", "Design signed off", "Build complete", "Go-live"} - {expected}
        assert not [name for name in others if f">{name}<" in listing]


@pytest.fixture
def held_book(contract_line_factory, customer_factory, activate, bill):
    """100.00 monthly for a customer on billing hold, and for one on delivery hold."""
    on_hold = contract_line_factory(contract__customer=customer_factory(billing_hold=True))
    undelivered = contract_line_factory(contract__customer=customer_factory(delivery_hold=True))
    activate(on_hold.contract, undelivered.contract)
    return bill(JAN)


def test_held_and_last_bill_run(finance, held_book):
    page = finance.get(f"{INDEX}?{QUERY}").content.decode()

    assert table(page, "table-held-USD") == [
        ["Held", "Count", "Amount"],
        ["Invoices held from delivery", "1", "100.00"],
        ["Charges on billing hold", "1", "100.00"],
        ["Charges stopped by a not-to-exceed cap", "0", "0.00"],
    ]
    run = BillRun.objects.get()
    assert reverse("admin:billing_billrun_change", args=[run.pk]) in page
    assert "1 held" in page


def test_every_link_of_the_dashboard_opens(finance, book, held_book, milestones):
    page = finance.get(f"{INDEX}?{QUERY}").content.decode()
    content = page[page.index('id="content-main"') :]

    links = {html.unescape(url) for url in re.findall(r'href="([^"#]+)[^"]*"', content)}
    links = {url for url in links if url.startswith("/admin/") or url.startswith("?")}
    assert len(links) > 20
    for url in sorted(links):
        response = finance.get(url if url.startswith("/") else f"{INDEX}{url}")
        assert response.status_code == 200, url


# --- Filters -------------------------------------------------------------------------------------


def test_currency_filter(finance, book):
    page = finance.get(f"{INDEX}?{QUERY}&currency=EUR").content.decode()

    assert 'id="table-billings-EUR"' in page
    assert 'id="table-billings-USD"' not in page
    assert 'id="headline-USD"' not in page


def test_the_filters_are_in_the_page_and_its_csv_links(finance, book):
    page = finance.get(f"{INDEX}?{QUERY}&currency=USD").content.decode()

    assert 'value="2025-12"' in page and 'value="2026-02"' in page
    assert 'value="2026-01-15"' in page
    assert '<option value="USD" selected>' in page
    assert html.escape(f"?{QUERY}&currency=USD&format=csv&block=mrr") in page


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("currency=XYZ", "Currency: Select a valid choice."),
        ("customer=999999", "Customer: Select a valid choice."),
        ("first=2026-13", "From: Enter a valid date."),
        ("last=soon", "To: Enter a valid date."),
        ("as_of=2026-02-30", "As of: Enter a valid date."),
        ("first=2026-03&last=2026-01", "From: The first month must not be after the last."),
        ("first=2020-01&last=2026-01", "From: Show at most 36 months at a time."),
    ],
)
def test_a_bad_filter_is_named(finance, query, error):
    page = finance.get(f"{INDEX}?{query}")

    assert page.status_code == 200
    assert error in html.unescape(page.content.decode())
    # A CSV is refused rather than exported under other filters than asked for.
    download = finance.get(f"{INDEX}?{query}&format=csv&block=mrr")
    assert download.status_code == 400
    assert error in download.content.decode()


def test_an_unknown_block_is_named(finance):
    response = finance.get(f"{INDEX}?format=csv&block=pipeline")

    assert response.status_code == 400
    assert "block: choose one of billings, balances, mrr, aging, milestones, held" in (
        response.content.decode()
    )


# --- CSV -----------------------------------------------------------------------------------------


def test_csv_of_billings(finance, book):
    response = finance.get(f"{INDEX}?{QUERY}&format=csv&block=billings")

    assert response["Content-Type"] == "text/csv"
    assert 'filename="dashboard-billings-2025-12-to-2026-02.csv"' in response["Content-Disposition"]
    rows = csv_rows(response)
    assert rows[0] == [
        "currency",
        "Month",
        "Invoiced",
        "Voided",
        "Credit notes",
        "Net billings",
        "Revenue recognized",
    ]
    assert ["USD", "Jan 2026", "12000.00", "0.00", "0.00", "12000.00", "1019.18"] in rows
    assert ["EUR", "Period", "1500.00", "0.00", "0.00", "1500.00", "509.59"] in rows
    assert [row[0] for row in rows[1:]] == ["EUR"] * 4 + ["USD"] * 4


def test_csv_of_mrr_and_milestones(finance, book, milestones):
    mrr = csv_rows(finance.get(f"{INDEX}?{QUERY}&currency=USD&format=csv&block=mrr"))
    due = csv_rows(
        finance.get(
            f"{INDEX}?first=2026-01&last=2026-03&as_of=2026-03-01&format=csv&block=milestones"
        )
    )

    assert mrr[2] == [
        "USD",
        "Jan 2026",
        "0.00",
        "1000.00",
        "0.00",
        "0.00",
        "0.00",
        "1000.00",
        "12000.00",
    ]
    assert due[1][:2] == ["USD", "Design signed off"]
    assert due[1][4:] == ["2026-02-10", "Overdue", "3000.00"]
    assert due[-1] == ["USD", "1 overdue", "1 due within 30 days", "", "", "Total", "7000.00"]


def test_csv_escapes_formulas(finance, book, customer_factory, contract_factory, milestones):
    Contract.objects.filter(pk=milestones[0].line.contract_id).update(
        customer=customer_factory(legal_name="=HYPERLINK(1)")
    )
    rows = csv_rows(
        finance.get(
            f"{INDEX}?first=2026-01&last=2026-03&as_of=2026-03-01&format=csv&block=milestones"
        )
    )

    assert rows[1][3] == "'=HYPERLINK(1)"


# --- Queries -------------------------------------------------------------------------------------


def test_query_count_does_not_grow_with_the_book(
    finance, annual_deal, activate, bill, recognize, milestones, held_book, customer_factory
):
    def deals(count: int) -> None:
        for index in range(count):
            deal = annual_deal(
                f"{1200 * (index + 1)}.00", currency=("USD", "EUR", "GBP")[index % 3]
            )
            activate(deal)
        bill(JAN)
        recognize(date(2026, 1, 31))

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert (
                finance.get(f"{INDEX}?first=2025-06&last=2026-03&as_of=2026-03-01").status_code
                == 200
            )
        return len(captured)

    deals(1)
    small = queries()
    deals(6)
    assert queries() == small


def test_dashboard_reads_each_block_once(book):
    """Each block's figures from the filters alone (what the CSV and the page both print)."""
    board = Dashboard(
        Filters(currency="USD", customer_id=None, as_of=date(2026, 1, 15), first=JAN, last=JAN)
    )

    [mrr] = board.mrr().tables
    assert mrr.rows[0][6] == Money(Decimal("1000.00"), "USD")
