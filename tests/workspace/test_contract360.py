"""Contract 360: the figures against hand-worked numbers, the chart's data, the CSV, the links,
who may open it, and a query count that does not grow with the contract."""

import csv
import io
import json
import re
from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse
from djmoney.money import Money

from billing.models import Invoice
from integrations.roles import AUDITOR, BILLING_CLERK, FINANCE_ADMIN, PROJECT_MANAGER
from revenue.models import JournalEntry

pytestmark = pytest.mark.django_db

JAN, FEB_END = date(2026, 1, 1), date(2026, 2, 28)


def url(contract, query: str = "") -> str:
    return reverse("admin:workspace_contract360", args=[contract.pk]) + query


def page_of(response) -> str:
    assert response.status_code == 200
    return response.content.decode()


def table_rows(page: str, table_id: str) -> list[list[str]]:
    """Return the text of each body row's cells of the table ``table_id``."""
    table = page[page.index(f'id="{table_id}"') :]
    body = table[table.index("<tbody>") : table.index("</tbody>")]
    return [
        [
            re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


def chart_of(page: str) -> dict:
    start = page.index('<script id="position-chart-data" type="application/json">')
    body = page[page.index(">", start) + 1 : page.index("</script>", start)]
    return json.loads(body)


@pytest.fixture
def annual(annual_deal, activate, bill, recognize, customer_factory):
    """The 12,000.00 USD annual deal of 2026, billed in advance on 1 January and recognized by
    days through February: 1,019.18 in January, 920.54 in February.

    By days in cents: 1,200,000 x 31/365 = 101,917.808 and x 28/365 = 92,054.794; the year's
    seven cents of remainder go to the seven 31-day months (largest remainders, .808), so
    January rounds up and February stays at its floor (``tests/revenue/test_recognition``).
    """
    contract = annual_deal("12000.00", customer=customer_factory(legal_name="Northwind Traders"))
    activate(contract)
    bill(JAN)
    recognize(FEB_END)
    return contract


def test_headline_shows_billed_recognized_and_the_deferred_position(staff_client, annual):
    page = page_of(staff_client.get(url(annual)))

    assert "Northwind Traders" in page and annual.number in page
    cards = re.findall(r'rev-card-figure">([^<]*)<', page)
    # Value 12,000.00; billed 12,000.00; recognized 1,019.18 + 920.54 = 1,939.72; billed ahead
    # of revenue by 12,000.00 - 1,939.72 = 10,060.28, a contract liability; RPO the 12,000.00
    # allocated less the 1,939.72 recognized, all of it within 12 months.
    assert cards == ["12,000.00", "12,000.00", "1,939.72", "10,060.28", "10,060.28"]
    assert "Contract liability" in page
    assert "10,060.28 within 12 months" in page


def test_position_table_and_chart_data_add_up_month_by_month(staff_client, annual):
    page = page_of(staff_client.get(url(annual)))

    chart = chart_of(page)
    assert chart["currency"] == "USD"
    assert chart["labels"] == ["Jan 2026", "Feb 2026"]
    assert chart["billed"] == ["12000.00", "12000.00"]
    # Cumulative revenue: each month's recognized added to the months before.
    assert chart["revenue"] == ["1019.18", "1939.72"]
    assert chart["sides"] == ["liability", "liability"]
    # The chart's last points are the headline's figures.
    assert sum(Decimal(month) for month in ["1019.18", "920.54"]) == Decimal(chart["revenue"][-1])
    # Each month's row: billed, recognized, both to date, and the position revenue - billed.
    assert table_rows(page, "position-table") == [
        ["Jan 2026", "12,000.00", "1,019.18", "12,000.00", "1,019.18", "10,980.82", "liability"],
        ["Feb 2026", "0.00", "920.54", "12,000.00", "1,939.72", "10,060.28", "liability"],
    ]


def test_position_csv_has_one_signed_row_per_month(staff_client, annual):
    response = staff_client.get(url(annual, "?format=csv"))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    assert f'filename="{annual.number}-position.csv"' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows == [
        [
            "month",
            "currency",
            "billed",
            "recognized",
            "billed_to_date",
            "recognized_to_date",
            "position",
            "side",
        ],
        ["2026-01", "USD", "12000.00", "1019.18", "12000.00", "1019.18", "-10980.82", "liability"],
        ["2026-02", "USD", "0.00", "920.54", "12000.00", "1939.72", "-10060.28", "liability"],
    ]


def test_a_billing_hold_keeps_charges_back_and_grows_a_contract_asset(
    annual_deal, activate, bill, recognize, staff_client
):
    contract = annual_deal("12000.00")
    contract.billing_hold, contract.hold_reason = True, "Disputed PO"
    contract.save()
    activate(contract)
    bill(JAN)
    recognize(date(2026, 1, 31))

    page = page_of(staff_client.get(url(contract)))

    assert not Invoice.objects.exists()
    assert "Contract billing hold" in page and "Disputed PO" in page
    # The year's fee is due and held; January's 1,019.18 is earned and unbilled: an asset.
    assert "<strong>Held</strong> 12,000.00 · 1 due, kept back by a billing hold" in page
    assert "Contract asset" in page
    cards = re.findall(r'rev-card-figure">([^<]*)<', page)
    assert cards[1:4] == ["0.00", "1,019.18", "1,019.18"]  # billed, recognized, asset
    assert chart_of(page)["sides"] == ["asset"]
    assert f"?contract__id__exact={contract.pk}&amp;status__exact=pending&amp;held=yes" in page


def test_figures_link_to_their_records(staff_client, annual):
    page = page_of(staff_client.get(url(annual)))

    invoice = Invoice.objects.get()
    journal = reverse("admin:revenue_journalentry_changelist")
    assert reverse("admin:billing_invoice_change", args=[invoice.pk]) in page
    assert f"{journal}?contract__id__exact={annual.pk}&amp;period=2026-01-01" in page
    assert reverse("admin:revenue_contract", args=[annual.pk]) in page
    assert reverse("admin:contracts_contract_change", args=[annual.pk]) in page
    events = reverse("admin:billing_billingevent_changelist")
    assert f"{events}?contract__id__exact={annual.pk}&amp;status__exact=invoiced" in page
    # The month's journal link lists what the month's figures were summed from.
    listed = staff_client.get(f"{journal}?contract__id__exact={annual.pk}&period=2026-01-01")
    assert listed.status_code == 200
    january = JournalEntry.objects.filter(contract=annual, period=JAN)
    assert listed.context["cl"].result_count == january.count() > 0


def test_contract_page_links_to_its_360(staff_client, annual):
    page = page_of(staff_client.get(reverse("admin:contracts_contract_change", args=[annual.pk])))

    assert f'href="{url(annual)}">Contract 360</a>' in page


def test_unknown_contract_is_404(staff_client):
    response = staff_client.get(reverse("admin:workspace_contract360", args=[999_999]))

    assert response.status_code == 404


# --- Who may open it ------------------------------------------------------------------------


@pytest.mark.parametrize("role", [FINANCE_ADMIN, BILLING_CLERK, AUDITOR])
def test_finance_roles_and_auditors_open_it(staff_with, role, annual):
    client = staff_with(roles=[role])

    assert client.get(url(annual)).status_code == 200
    assert client.get(url(annual, "?format=csv")).status_code == 200


@pytest.mark.parametrize(
    "roles, perms",
    [
        ([PROJECT_MANAGER], []),
        ([], ["workspace.view_workspace"]),
        ([], ["contracts.view_contract"]),
        ([], []),
    ],
)
def test_without_both_permissions_it_is_refused(staff_with, roles, perms, annual):
    client = staff_with(*perms, roles=roles)

    assert client.get(url(annual)).status_code == 403
    assert client.get(url(annual, "?format=csv")).status_code == 403


def test_both_permissions_are_enough(staff_with, annual):
    client = staff_with("workspace.view_workspace", "contracts.view_contract")

    assert client.get(url(annual)).status_code == 200


def test_anonymous_is_sent_to_log_in(client, annual):
    response = client.get(url(annual))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


# --- Milestones from the 360 ----------------------------------------------------------------


@pytest.fixture
def kick_off(contract_line_factory, activate):
    """A planned 10,000.00 USD milestone of an active contract."""
    line = contract_line_factory(milestone=True, unit_price=Money("10000", "USD"))
    milestone = line.milestones.create(
        sequence=1, name="Kick-off", planned_date=JAN, amount=Money("10000", "USD")
    )
    activate(line.contract)
    return milestone


def test_achieving_a_milestone_from_the_360_comes_back_to_it(staff_client, kick_off):
    contract = kick_off.line.contract
    page = page_of(staff_client.get(url(contract)))
    achieve = reverse("admin:contracts_milestone_achieve", args=[kick_off.pk])
    assert f'formaction="{achieve}"' in page
    assert f'name="next" value="{url(contract)}#milestones"' in page

    response = staff_client.post(achieve, {"next": url(contract) + "#milestones"})

    assert response.status_code == 302
    assert response["Location"] == url(contract) + "#milestones"
    kick_off.refresh_from_db()
    assert kick_off.status == "invoiced"


def test_a_next_off_the_site_goes_back_to_the_contract_page(staff_client, kick_off):
    response = staff_client.post(
        reverse("admin:contracts_milestone_achieve", args=[kick_off.pk]),
        {"next": "https://evil.example/"},
    )

    contract_page = reverse("admin:contracts_contract_change", args=[kick_off.line.contract_id])
    assert response["Location"] == f"{contract_page}#milestones"


def test_contract_list_links_each_contract_to_its_360(staff_client, annual):
    page = page_of(staff_client.get(reverse("admin:contracts_contract_changelist")))

    assert f'<a href="{url(annual)}" title="Contract 360">360</a>' in page
