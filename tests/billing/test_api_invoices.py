"""The invoice API: reads with lines and filters, the real PDF, issuing and voiding, permissions.

Invoices are billed by the real bill run (``issued_invoice``); expected figures are worked by
hand in the comments.
"""

import io
from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from djmoney.money import Money
from pypdf import PdfReader
from rest_framework.test import APIClient

from billing.models import BillingEvent, Invoice
from billing.payments import payment_record

pytestmark = pytest.mark.django_db

INVOICES = "/api/v1/invoices/"


def usd(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "USD"}


def url(invoice: Invoice, step: str = "") -> str:
    return f"{INVOICES}{invoice.pk}/{step + '/' if step else ''}"


@pytest.fixture
def reader(token_client) -> APIClient:
    return token_client("auditor", "view_invoice")


@pytest.fixture
def clerk(token_client) -> APIClient:
    return token_client("clerk", "view_invoice", "change_invoice")


@pytest.fixture
def post(django_capture_on_commit_callbacks):
    """POST as a committed request does, so that after-commit work (delivery) runs too."""

    def post(client: APIClient, path: str, body: dict | None = None):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(path, body or {}, format="json")

    return post


@pytest.fixture
def taxed(issued_invoice) -> Invoice:
    """600.00 + 400.00 at 8.25% tax: 49.50 + 33.00 = 82.50 tax, 1,082.50 in all."""
    return issued_invoice("600.00", "400.00", tax_rate="8.25")


def test_the_list_shows_totals_as_decimal_strings_with_their_currency(reader, taxed):
    response = reader.get(INVOICES)

    assert response.status_code == 200
    [row] = response.json()["results"]
    assert "lines" not in row
    assert row == {
        "id": taxed.pk,
        "number": taxed.number,
        "status": "issued",
        "payment_status": "unpaid",
        "customer": taxed.customer_id,
        "customer_number": taxed.customer.number,
        "currency": "USD",
        "bill_run": taxed.bill_run_id,
        "invoice_date": "2026-01-01",
        "issue_date": "2026-01-01",
        # Net 30 from 1 January.
        "due_date": "2026-01-31",
        "subtotal": usd("1000.00"),
        "tax_total": usd("82.50"),
        "total": usd("1082.50"),
        "amount_paid": usd("0.00"),
        "amount_credited": usd("0.00"),
        "balance_due": usd("1082.50"),
        "bill_to_name": taxed.customer.legal_name,
        "bill_to_address": taxed.customer.billing_address,
        "payment_terms_text": "Net 30",
        "delivery_held": False,
        "sent_at": None,
        "void_reason": "",
        "created_at": row["created_at"],
        "issued_at": row["issued_at"],
        "voided_at": None,
    }


def test_one_invoice_has_its_lines_in_order(reader, taxed):
    response = reader.get(url(taxed))

    assert response.status_code == 200
    body = response.json()
    assert body["number"] == taxed.number
    lines = body["lines"]
    contract = taxed.lines.first().contract_line.contract
    assert [
        (line["position"], line["kind"], line["amount"], line["tax_amount"]) for line in lines
    ] == [
        (1, BillingEvent.Kind.ONE_TIME, usd("600.00"), usd("49.50")),
        (2, BillingEvent.Kind.ONE_TIME, usd("400.00"), usd("33.00")),
    ]
    first = lines[0]
    assert (first["contract"], first["contract_number"]) == (contract.pk, contract.number)
    assert first["quantity"] == "1.0000"
    assert first["unit_price"] == usd("600.00")
    assert first["tax_rate"] == "8.2500"
    assert (first["breakdown"], first["voided"]) == ([], False)


def test_a_payment_shows_in_paid_and_balance(reader, taxed):
    payment_record(
        customer=taxed.customer,
        amount=Money("500.00", "USD"),
        received_on=date(2026, 2, 1),
        method="bank_transfer",
    )

    body = reader.get(url(taxed)).json()

    # 1,082.50 - 500.00 = 582.50 still owed.
    assert body["payment_status"] == "partially_paid"
    assert (body["amount_paid"], body["balance_due"]) == (usd("500.00"), usd("582.50"))


class TestFilters:
    @pytest.fixture
    def book(self, issued_invoice, customer_factory):
        """Three invoices: two of one customer (January, March), one of another (February)."""
        acme = customer_factory(invoice_review="review", number="ACME")
        january = issued_invoice("100.00", customer=acme, issued_on=date(2026, 1, 5))
        march = issued_invoice("300.00", customer=acme, issued_on=date(2026, 3, 5))
        february = issued_invoice("200.00", issued_on=date(2026, 2, 5))
        return january, february, march

    def ids(self, client: APIClient, **query) -> list[int]:
        response = client.get(INVOICES, query)
        assert response.status_code == 200, response.json()
        return [row["id"] for row in response.json()["results"]]

    def test_filters(self, reader, book):
        january, february, march = book
        contract = march.lines.first().contract_line.contract

        assert self.ids(reader) == [march.pk, february.pk, january.pk]  # newest first
        assert self.ids(reader, customer=january.customer_id) == [march.pk, january.pk]
        assert self.ids(reader, contract=contract.number) == [march.pk]
        assert self.ids(reader, contract=str(contract.pk)) == [march.pk]
        assert self.ids(reader, number=february.number) == [february.pk]
        assert self.ids(reader, issue_date_after="2026-02-01", issue_date_before="2026-03-05") == [
            march.pk,
            february.pk,
        ]
        assert self.ids(reader, status="draft") == []
        assert self.ids(reader, status=["issued", "void"], payment_status="unpaid") == [
            march.pk,
            february.pk,
            january.pk,
        ]
        payment_record(
            customer=february.customer,
            amount=Money("200.00", "USD"),
            received_on=date(2026, 2, 6),
            method="card",
        )
        assert self.ids(reader, payment_status="paid") == [february.pk]

    def test_ordering(self, reader, book):
        january, february, march = book

        assert self.ids(reader, ordering="issue_date") == [january.pk, february.pk, march.pk]
        assert self.ids(reader, ordering="-total") == [march.pk, february.pk, january.pk]

    def test_a_bad_filter_is_a_400_naming_it(self, reader, book):
        response = reader.get(INVOICES, {"issue_date_after": "yesterday"})

        assert response.status_code == 400
        assert response.json()["type"] == "validation_error"
        assert "issue_date" in response.json()["fields"]


def pdf_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


class TestPdf:
    def test_the_pdf_is_the_real_document(self, reader, taxed):
        response = reader.get(url(taxed, "pdf"))

        assert response.status_code == 200
        assert response["Content-Type"] == "application/pdf"
        assert response["Content-Disposition"] == f'attachment; filename="{taxed.number}.pdf"'
        data = b"".join(response.streaming_content) if response.streaming else response.content
        assert data.startswith(b"%PDF")
        text = pdf_text(data)
        assert taxed.number in text
        assert "Total $1,082.50" in text

    def test_the_same_bytes_every_time_and_whatever_accept_says(self, reader, taxed):
        first = reader.get(url(taxed, "pdf")).content
        again = reader.get(url(taxed, "pdf"), HTTP_ACCEPT="application/pdf")

        assert again.status_code == 200
        assert again.content == first

    def test_errors_stay_json_for_a_pdf_client(self, reader, token_client, taxed):
        missing = reader.get(f"{INVOICES}999999/pdf/", HTTP_ACCEPT="application/pdf")
        denied = token_client("nobody").get(url(taxed, "pdf"), HTTP_ACCEPT="application/pdf")

        assert missing.status_code == 404
        assert missing.json()["type"] == "not_found"
        assert denied.status_code == 403
        assert denied.json()["type"] == "permission_denied"


class TestActions:
    def test_void_needs_the_change_permission(self, reader, clerk, taxed, post):
        denied = post(reader, url(taxed, "void"), {"reason": "Wrong price"})
        assert denied.status_code == 403
        assert Invoice.objects.get(pk=taxed.pk).status == Invoice.Status.ISSUED

        voided = post(clerk, url(taxed, "void"), {"reason": "Wrong price"})

        assert voided.status_code == 200, voided.json()
        body = voided.json()
        assert (body["status"], body["void_reason"], body["number"]) == (
            "void",
            "Wrong price",
            taxed.number,
        )
        assert all(line["voided"] for line in body["lines"])
        # What it billed is pending again, for the next run.
        events = BillingEvent.objects.filter(invoice_lines__invoice=taxed)
        assert set(events.values_list("status", flat=True)) == {BillingEvent.Status.PENDING}

    def test_void_refusals_are_400s(self, clerk, taxed, post):
        no_reason = post(clerk, url(taxed, "void"), {})
        assert no_reason.status_code == 400
        assert list(no_reason.json()["fields"]) == ["reason"]

        post(clerk, url(taxed, "void"), {"reason": "Wrong price"})
        again = post(clerk, url(taxed, "void"), {"reason": "Twice"})

        assert again.status_code == 400
        assert again.json()["fields"] == {
            "non_field_errors": [f"Invoice {taxed.number} is already void."]
        }

    def test_a_paid_invoice_is_not_voided(self, clerk, taxed, post):
        payment_record(
            customer=taxed.customer,
            amount=Money("10.00", "USD"),
            received_on=date(2026, 2, 1),
            method="card",
        )

        refused = post(clerk, url(taxed, "void"), {"reason": "Wrong price"})

        assert refused.status_code == 400
        assert "credit note" in refused.json()["detail"]

    def test_issue_a_reviewed_draft(
        self, clerk, customer_factory, contract_factory, contract_line_factory, activate, bill, post
    ):
        customer = customer_factory(invoice_review="review")
        contract = contract_factory(customer=customer)
        contract_line_factory(contract=contract, one_time=True, unit_price=Money("50.00", "USD"))
        activate(contract)
        draft = bill(date(2026, 1, 1)).invoices.get()
        assert (draft.status, draft.number) == (Invoice.Status.DRAFT, "")

        issued = post(clerk, url(draft, "issue"), {"issue_date": "2026-01-02"})

        assert issued.status_code == 200, issued.json()
        body = issued.json()
        assert (body["status"], body["issue_date"], body["due_date"]) == (
            "issued",
            "2026-01-02",
            "2026-02-01",
        )
        assert body["number"] == "INV-2026-000001"
        again = post(clerk, url(draft, "issue"), {})
        assert again.status_code == 400


class TestPermissions:
    def test_reading_needs_the_view_permission(self, token_client, taxed):
        changer = token_client("changer", "change_invoice")
        anonymous = APIClient()

        assert changer.get(INVOICES).status_code == 403
        assert changer.get(url(taxed)).status_code == 403
        assert changer.get(url(taxed, "pdf")).status_code == 403
        assert anonymous.get(INVOICES).status_code == 401

    def test_an_unknown_invoice_is_a_404_in_the_error_shape(self, reader):
        response = reader.get(f"{INVOICES}999999/")

        assert response.status_code == 404
        assert response.json()["type"] == "not_found"

    def test_invoices_are_not_created_edited_or_deleted_here(self, token_client, taxed):
        admin = token_client(
            "all", "view_invoice", "add_invoice", "change_invoice", "delete_invoice"
        )

        assert admin.post(INVOICES, {}, format="json").status_code == 405
        assert admin.patch(url(taxed), {"total": "1"}, format="json").status_code == 405
        assert admin.delete(url(taxed)).status_code == 405


def test_a_page_costs_the_same_queries_for_1_or_30_invoices(
    reader, customer_factory, django_assert_max_num_queries
):
    def make(count: int) -> None:
        for _ in range(count):
            Invoice.objects.create(
                customer=customer_factory(),
                currency="USD",
                invoice_date=date(2026, 1, 1),
                subtotal=Money("10.00", "USD"),
                tax_total=Money("0.00", "USD"),
                total=Money("10.00", "USD"),
                amount_paid=Decimal(0),
            )

    make(1)
    with CaptureQueriesContext(connection) as one:
        assert len(reader.get(INVOICES).json()["results"]) == 1
    make(29)

    with django_assert_max_num_queries(len(one)):
        assert len(reader.get(INVOICES).json()["results"]) == 30
