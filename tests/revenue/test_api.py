"""The read-only revenue API (``/api/v1/``): permissions, figures, filters and query counts."""

from datetime import date
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone
from djmoney.money import Money
from rest_framework.test import APIClient

from contracts.models import Contract
from revenue.journal import ledger_accounts
from revenue.models import (
    JournalEntry,
    JournalLine,
    LedgerAccount,
    PerformanceObligation,
    RevenueScheduleEntry,
)
from rms.api import money_amount

pytestmark = pytest.mark.django_db

D = date
ALL_VIEW = ["view_revenuescheduleentry", "view_journalentry", "view_performanceobligation"]
LIST_URLS = [
    "/api/v1/positions/",
    "/api/v1/positions/totals/",
    "/api/v1/revenue-schedules/",
    "/api/v1/obligations/",
    "/api/v1/journal-entries/",
]


def usd(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "USD"}


@pytest.fixture
def client_with(django_user_model):
    """Return a client logged in (session) as a user holding exactly the named permissions."""

    def client_with(*codenames: str) -> APIClient:
        name = "-".join(codenames) or "nobody"
        user = django_user_model.objects.create_user(name, password="pw")
        user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
        client = APIClient()
        client.force_login(user)
        return client

    return client_with


@pytest.fixture
def reader(client_with) -> APIClient:
    return client_with(*ALL_VIEW)


@pytest.fixture
def subscription(contract_factory, contract_line_factory, activate, bill, recognize) -> Contract:
    """USD 12,000.00 a year for 2026, invoiced on 1 January, recognized through 31 March.

    Ratable by days (365): January 12,000 x 31/365 = 1,019.178 → 1,019.18; February x 28/365
    = 920.548 → 920.54, one cent below half-up because the year's largest-remainder rounding
    gives its missing cents to the seven 31-day months; March 1,019.18. Through 31 March:
    revenue 2,958.90, billed 12,000.00, net -9,041.10, a contract liability (deferred revenue).
    RPO 12,000.00 - 2,958.90 = 9,041.10, all of it (April to December) within 12 months.
    """
    contract = contract_factory(number="K-SUB")
    contract_line_factory(
        contract=contract, interval_months=12, unit_price=Money("12000.00", "USD")
    )
    activate(contract)
    bill(D(2026, 1, 1))
    recognize(D(2026, 3, 31))
    return contract


# Authentication and permissions.


@pytest.mark.parametrize("url", [*LIST_URLS, "/api/v1/contracts/1/position/"])
def test_anonymous_requests_are_refused_with_401(url):
    response = APIClient().get(url)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


@pytest.mark.parametrize("url", [*LIST_URLS, "/api/v1/contracts/1/position/"])
def test_a_login_without_the_view_permission_is_refused_with_403(client_with, url):
    # Plain DRF model permissions would let any login read; reads need <app>.view_<model>.
    assert client_with("view_contract").get(url).status_code == 403


@pytest.mark.parametrize(
    ("codename", "allowed"),
    [
        ("view_revenuescheduleentry", ["/api/v1/revenue-schedules/"]),
        ("view_performanceobligation", ["/api/v1/obligations/"]),
        (
            "view_journalentry",
            ["/api/v1/journal-entries/", "/api/v1/positions/", "/api/v1/positions/totals/"],
        ),
    ],
)
def test_each_view_permission_opens_its_own_endpoints_only(client_with, codename, allowed):
    client = client_with(codename)

    for url in LIST_URLS:
        assert client.get(url).status_code == (200 if url in allowed else 403), url


def test_token_authentication_reads_a_position(token_client, subscription):
    client = token_client("erp", "view_journalentry")

    response = client.get(f"/api/v1/contracts/{subscription.pk}/position/?as_of=2026-03-31")

    assert response.status_code == 200
    assert response.json()["net"] == usd("-9041.10")


def test_writes_are_not_offered(staff_client, reader, subscription):
    # Writing needs the add/change/delete permission first, as DRF's model permissions do ...
    assert reader.post("/api/v1/revenue-schedules/", {}).status_code == 403
    # ... and even a superuser finds the journal and the schedules read-only.
    assert staff_client.post("/api/v1/revenue-schedules/", {}).status_code == 405
    assert staff_client.delete("/api/v1/journal-entries/1/").status_code == 405


# Positions.


def test_position_of_the_hand_worked_subscription(reader, subscription):
    response = reader.get(f"/api/v1/contracts/{subscription.pk}/position/?as_of=2026-03-31")

    assert response.status_code == 200
    assert response.json() == {
        "id": subscription.pk,
        "number": "K-SUB",
        "customer": {
            "id": subscription.customer.pk,
            "number": subscription.customer.number,
            "legal_name": subscription.customer.legal_name,
        },
        "currency": "USD",
        "as_of": "2026-03-31",
        "revenue": usd("2958.90"),
        "billed": usd("12000.00"),
        "net": usd("-9041.10"),
        "kind": "contract_liability",
        "asset": usd("0.00"),
        "liability": usd("9041.10"),
        "rpo": {
            "total": usd("9041.10"),
            "within_12_months": usd("9041.10"),
            "later": usd("0.00"),
        },
    }


def test_position_counts_postings_dated_up_to_as_of(reader, subscription):
    # On 31 January only January's 1,019.18 is recognized: 1,019.18 - 12,000.00 = -10,980.82.
    data = reader.get(f"/api/v1/contracts/{subscription.pk}/position/?as_of=2026-01-31").json()

    assert (data["revenue"], data["net"]) == (usd("1019.18"), usd("-10980.82"))
    assert data["rpo"]["total"] == usd("10980.82")
    # Before the invoice there is nothing at all.
    data = reader.get(f"/api/v1/contracts/{subscription.pk}/position/?as_of=2025-12-31").json()
    assert (data["billed"], data["kind"]) == (usd("0.00"), "none")


def test_position_defaults_to_today(reader, subscription):
    data = reader.get(f"/api/v1/contracts/{subscription.pk}/position/").json()

    assert data["as_of"] == timezone.localdate().isoformat()


@pytest.mark.parametrize("url", ["/api/v1/positions/", "/api/v1/positions/totals/", "position"])
@pytest.mark.parametrize("as_of", ["2026-02-30", "31/03/2026", "yesterday"])
def test_a_bad_as_of_is_a_400_naming_the_field(reader, subscription, url, as_of):
    url = f"/api/v1/contracts/{subscription.pk}/position/" if url == "position" else url

    response = reader.get(url, {"as_of": as_of})

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["as_of"]


def test_an_unknown_contract_is_a_404(reader, subscription):
    assert reader.get(f"/api/v1/contracts/{subscription.pk + 1}/position/").status_code == 404


def test_positions_list_every_contract_but_drafts_with_its_figures(
    reader, subscription, contract_factory
):
    quiet = contract_factory(number="K-ZERO", status=Contract.Status.ACTIVE)
    contract_factory(number="K-DRAFT")

    data = reader.get("/api/v1/positions/?as_of=2026-03-31").json()

    assert data["count"] == 2
    assert [item["number"] for item in data["results"]] == ["K-SUB", "K-ZERO"]
    first, second = data["results"]
    assert first["id"] == subscription.pk
    assert (first["revenue"], first["billed"], first["liability"]) == (
        usd("2958.90"),
        usd("12000.00"),
        usd("9041.10"),
    )
    assert first["rpo"]["within_12_months"] == usd("9041.10")
    # A contract with no postings and no obligations yet stands at zero in its own currency.
    assert second["id"] == quiet.pk
    assert (second["net"], second["kind"], second["rpo"]["total"]) == (
        usd("0.00"),
        "none",
        usd("0.00"),
    )


def test_positions_filter_by_customer_and_currency(reader, subscription, contract_factory):
    other = contract_factory(number="K-EUR", status=Contract.Status.ACTIVE, currency="EUR")

    by_customer = reader.get("/api/v1/positions/", {"customer": other.customer_id}).json()
    by_currency = reader.get("/api/v1/positions/", {"currency": "USD"}).json()

    assert [item["number"] for item in by_customer["results"]] == ["K-EUR"]
    assert [item["number"] for item in by_currency["results"]] == ["K-SUB"]


def test_book_totals_per_currency(reader, subscription):
    data = reader.get("/api/v1/positions/totals/?as_of=2026-03-31").json()

    assert data == {
        "as_of": "2026-03-31",
        "currencies": [
            {
                "currency": "USD",
                "revenue": usd("2958.90"),
                "billed": usd("12000.00"),
                "asset": usd("0.00"),
                "liability": usd("9041.10"),
                "net": usd("-9041.10"),
            }
        ],
    }


# Schedules, obligations and the journal.


def test_revenue_schedule_entries_with_their_contract_and_obligation(reader, subscription):
    data = reader.get("/api/v1/revenue-schedules/").json()

    assert data["count"] == 12
    january = data["results"][0]
    obligation = PerformanceObligation.objects.get(contract=subscription)
    assert january == {
        "id": january["id"],
        "contract": subscription.pk,
        "contract_number": "K-SUB",
        "obligation": obligation.pk,
        "obligation_name": obligation.name,
        "period": "2026-01-01",
        "amount": usd("1019.18"),
        "status": "recognized",
        "recognized_on": "2026-01-31",
        "description": january["description"],
        "journal_entry": RevenueScheduleEntry.objects.get(pk=january["id"]).journal_entry_id,
    }


def test_revenue_schedule_filters_and_ordering(reader, subscription, contract_factory):
    obligation = PerformanceObligation.objects.get(contract=subscription)

    def periods(**params):
        response = reader.get("/api/v1/revenue-schedules/", params)
        assert response.status_code == 200, response.json()
        return [(row["period"], row["status"]) for row in response.json()["results"]]

    assert periods(status="recognized") == [
        ("2026-01-01", "recognized"),
        ("2026-02-01", "recognized"),
        ("2026-03-01", "recognized"),
    ]
    assert periods(period_after="2026-03-01", period_before="2026-04-01") == [
        ("2026-03-01", "recognized"),
        ("2026-04-01", "planned"),
    ]
    assert periods(status="planned", ordering="-period")[:2] == [
        ("2026-12-01", "planned"),
        ("2026-11-01", "planned"),
    ]
    assert len(periods(contract=subscription.pk, obligation=obligation.pk)) == 12
    assert periods(contract=contract_factory().pk) == []


def test_revenue_schedule_refuses_bad_filters_naming_them(reader, subscription):
    response = reader.get(
        "/api/v1/revenue-schedules/", {"status": "posted", "period_after": "March"}
    )

    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"status", "period"}


def test_obligations_show_their_allocation(reader, subscription, contract_factory):
    obligation = PerformanceObligation.objects.get(contract=subscription)
    expected = {
        "id": obligation.pk,
        "contract": subscription.pk,
        "contract_number": "K-SUB",
        "sequence": 1,
        "name": obligation.name,
        "pattern": "ratable",
        "residual": False,
        "service_start": "2026-01-01",
        "service_end": "2026-12-31",
        "ssp": usd(f"{obligation.ssp.amount:.2f}"),
        "fixed_price": usd("12000.00"),
        "allocated": usd("12000.00"),
        "allocation_method": "relative_ssp",
    }

    assert reader.get(f"/api/v1/obligations/{obligation.pk}/").json() == expected
    listed = reader.get("/api/v1/obligations/", {"contract": subscription.pk}).json()
    assert listed["results"] == [expected]
    other = reader.get("/api/v1/obligations/", {"contract": contract_factory().pk}).json()
    assert other["results"] == []


def test_journal_entries_with_their_lines_and_filters(reader, subscription):
    invoices = reader.get("/api/v1/journal-entries/", {"kind": "invoice"}).json()

    assert invoices["count"] == 1
    [entry] = invoices["results"]
    assert (entry["date"], entry["period"], entry["contract"]) == (
        "2026-01-01",
        "2026-01-01",
        subscription.pk,
    )
    accounts = ledger_accounts()
    receivable = accounts[LedgerAccount.Role.RECEIVABLE]
    contract_account = accounts[LedgerAccount.Role.CONTRACT]
    assert [(line["account"], line["debit"], line["credit"]) for line in entry["lines"]] == [
        (receivable.code, usd("12000.00"), usd("0.00")),
        (contract_account.code, usd("0.00"), usd("12000.00")),
    ]

    february = reader.get("/api/v1/journal-entries/", {"period": "2026-02-01"}).json()
    assert [(row["kind"], row["date"]) for row in february["results"]] == [
        ("recognition", "2026-02-28")
    ]
    assert february["results"][0]["lines"][1]["credit"] == usd("920.54")
    # Newest first, and every entry of the contract.
    everything = reader.get("/api/v1/journal-entries/", {"contract": subscription.pk}).json()
    assert [row["date"] for row in everything["results"]] == [
        "2026-03-31",
        "2026-02-28",
        "2026-01-31",
        "2026-01-01",
    ]


# Query counts: a page of 100 rows costs what a page of one does.


@pytest.fixture
def hundred_rows(contract_factory):
    """Add 100 each of schedule entries, obligations, journal entries and active contracts."""
    contracts = contract_factory.create_batch(10, status=Contract.Status.ACTIVE)
    accounts = ledger_accounts()
    price = Money("1000.00", "USD")
    obligations = PerformanceObligation.objects.bulk_create(
        PerformanceObligation(
            contract=contract,
            sequence=sequence,
            name=f"Service {sequence}",
            pattern="ratable",
            service_start=D(2026, 1, 1),
            service_end=D(2026, 12, 31),
            ssp=price,
            fixed_price=price,
            allocated=price,
            allocation_method=PerformanceObligation.AllocationMethod.RELATIVE_SSP,
        )
        for contract in contracts
        for sequence in range(1, 11)
    )
    RevenueScheduleEntry.objects.bulk_create(
        RevenueScheduleEntry(
            obligation=obligation,
            contract=obligation.contract,
            period=D(2026, 1, 1),
            amount=Money("84.93", "USD"),
            status=RevenueScheduleEntry.Status.PLANNED,
        )
        for obligation in obligations
    )
    entries = JournalEntry.objects.bulk_create(
        JournalEntry(
            kind=JournalEntry.Kind.RECOGNITION,
            date=D(2026, 1, 31),
            period=D(2026, 1, 1),
            currency="USD",
            source_key=f"test:{obligation.pk}",
            contract=obligation.contract,
            description=f"{obligation.name}: revenue for Jan 2026",
        )
        for obligation in obligations
    )
    JournalLine.objects.bulk_create(
        JournalLine(
            entry=entry,
            account=accounts[role],
            contract=entry.contract,
            date=entry.date,
            kind=entry.kind,
            currency="USD",
            debit=Decimal("84.93") if role == LedgerAccount.Role.CONTRACT else 0,
            credit=Decimal("84.93") if role == LedgerAccount.Role.REVENUE else 0,
        )
        for entry in entries
        for role in (LedgerAccount.Role.CONTRACT, LedgerAccount.Role.REVENUE)
    )
    contract_factory.create_batch(90, status=Contract.Status.ACTIVE)


# Each request: session and user (2), the user's and their groups' permissions (2), the count
# and the page (2), then per endpoint what its rows need besides: journal lines with their
# accounts (1); for positions the ledger accounts, the book's grouped query, and RPO's
# obligations, ledger accounts, recognized revenue and planned schedule (6).
@pytest.mark.parametrize(
    ("url", "queries"),
    [
        ("/api/v1/revenue-schedules/", 6),
        ("/api/v1/obligations/", 6),
        ("/api/v1/journal-entries/", 7),
        ("/api/v1/positions/?as_of=2026-01-31", 12),
    ],
)
@pytest.mark.parametrize("page_size", [1, 100])
def test_a_page_costs_the_same_queries_whatever_its_size(
    reader, hundred_rows, django_assert_num_queries, url, queries, page_size
):
    with django_assert_num_queries(queries):
        response = reader.get(url, {"page_size": page_size})

    assert response.status_code == 200
    assert len(response.json()["results"]) == page_size


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        ("1019.1800", "USD", "1019.18"),
        ("-9041.1", "USD", "-9041.10"),
        ("5000.0000", "JPY", "5000"),
        ("1.2340", "KWD", "1.234"),
        # A unit price finer than the minor unit is shown whole, never rounded away.
        ("0.0125", "USD", "0.0125"),
    ],
)
def test_money_amounts_show_the_currency_places(amount, currency, text):
    assert money_amount(Decimal(amount), currency) == text
