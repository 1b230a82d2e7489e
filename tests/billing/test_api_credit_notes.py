"""The credit note API: credit whole or by line, issue the draft, read it back, its PDF."""

import io
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from pypdf import PdfReader
from rest_framework.test import APIClient

from billing.credit_notes import credit_note_create
from billing.models import CreditNote, Invoice

pytestmark = pytest.mark.django_db

NOTES = "/api/v1/credit-notes/"


def usd(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "USD"}


@pytest.fixture
def clerk(token_client) -> APIClient:
    return token_client("clerk", "view_creditnote", "add_creditnote", "change_creditnote")


@pytest.fixture
def post(django_capture_on_commit_callbacks):
    def post(client: APIClient, path: str, body: dict):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(path, body, format="json")

    return post


@pytest.fixture
def taxed(issued_invoice) -> Invoice:
    """600.00 + 400.00 at 8.25% tax: 49.50 + 33.00 = 82.50 tax, 1,082.50 in all."""
    return issued_invoice("600.00", "400.00", tax_rate="8.25")


def test_a_whole_credit_is_a_draft_until_issued(clerk, taxed, post):
    created = post(clerk, NOTES, {"invoice": taxed.pk, "reason": "Cancelled order"})

    assert created.status_code == 201, created.json()
    body = created.json()
    note = CreditNote.objects.get()
    assert body["id"] == note.pk
    assert (body["status"], body["number"], body["invoice_number"]) == ("draft", "", taxed.number)
    assert (body["subtotal"], body["tax_total"], body["total"]) == (
        usd("1000.00"),
        usd("82.50"),
        usd("1082.50"),
    )
    assert [(line["amount"], line["tax_amount"]) for line in body["lines"]] == [
        (usd("600.00"), usd("49.50")),
        (usd("400.00"), usd("33.00")),
    ]
    assert body["created_by"] == "clerk"
    assert Invoice.objects.get(pk=taxed.pk).amount_credited == 0

    issued = post(clerk, f"{NOTES}{note.pk}/issue/", {"issue_date": "2026-01-15"})

    assert issued.status_code == 200, issued.json()
    assert (issued.json()["status"], issued.json()["number"], issued.json()["issue_date"]) == (
        "issued",
        "CN-2026-000001",
        "2026-01-15",
    )
    invoice = Invoice.objects.get(pk=taxed.pk)
    # Credited in full: nothing owed, so the invoice counts as paid.
    assert (invoice.amount_credited, invoice.payment_status) == (Decimal("1082.50"), "paid")


def test_part_of_a_line_takes_its_share_of_the_tax(clerk, taxed, post):
    first_line = taxed.lines.get(position=1)

    created = post(
        clerk,
        NOTES,
        {
            "invoice": taxed.pk,
            "reason": "Outage credit",
            "lines": [{"invoice_line": first_line.pk, "amount": usd("100.00")}],
        },
    )

    assert created.status_code == 201, created.json()
    # 100.00 of 600.00 takes back 100/600 of 49.50 = 8.25 tax.
    [line] = created.json()["lines"]
    assert (line["invoice_line"], line["amount"], line["tax_amount"]) == (
        first_line.pk,
        usd("100.00"),
        usd("8.25"),
    )
    assert created.json()["total"] == usd("108.25")


@pytest.mark.parametrize(
    ("lines", "field", "message"),
    [
        ([{"amount": usd("700.00")}], "lines", "has 600.00 still creditable"),
        ([{"amount": usd("1.001")}], "lines[0].amount.amount", "2 decimal places"),
        ([], "lines", "Name at least one line and the amount to credit."),
    ],
)
def test_refusals_are_400s_naming_the_field(clerk, taxed, post, lines, field, message):
    first_line = taxed.lines.get(position=1)
    sent = [{"invoice_line": first_line.pk, **line} for line in lines]

    refused = post(clerk, NOTES, {"invoice": taxed.pk, "reason": "Credit", "lines": sent})

    assert refused.status_code == 400, refused.json()
    assert message in " ".join(refused.json()["fields"][field])
    assert not CreditNote.objects.exists()


def test_a_draft_invoice_and_a_second_issue_are_refused(clerk, taxed, post):
    note = credit_note_create(invoice=taxed, reason="Cancelled order")
    post(clerk, f"{NOTES}{note.pk}/issue/", {"issue_date": "2026-01-15"})

    again = post(clerk, f"{NOTES}{note.pk}/issue/", {})
    nothing_left = post(clerk, NOTES, {"invoice": taxed.pk, "reason": "Twice"})

    assert again.status_code == 400
    assert list(again.json()["fields"]) == ["status"]
    assert nothing_left.status_code == 400
    assert list(nothing_left.json()["fields"]) == ["invoice"]


def test_the_pdf_is_the_real_document(clerk, taxed, post):
    note = credit_note_create(invoice=taxed, reason="Cancelled order")
    post(clerk, f"{NOTES}{note.pk}/issue/", {"issue_date": "2026-01-15"})

    response = clerk.get(f"{NOTES}{note.pk}/pdf/")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(response.content))
    text = " ".join(page.extract_text() for page in reader.pages)
    assert "CN-2026-000001" in text and taxed.number in text


def test_filters(clerk, taxed, issued_invoice):
    other = issued_invoice("50.00")
    first = credit_note_create(invoice=taxed, reason="One")
    second = credit_note_create(invoice=other, reason="Two")

    def ids(**query) -> list[int]:
        response = clerk.get(NOTES, query)
        assert response.status_code == 200, response.json()
        return [row["id"] for row in response.json()["results"]]

    assert ids() == [second.pk, first.pk]
    assert ids(invoice=taxed.pk) == [first.pk]
    assert ids(customer=other.customer_id) == [second.pk]
    assert ids(status="issued") == []


class TestPermissions:
    def test_creating_and_issuing_need_their_permissions(self, token_client, taxed, post):
        reader = token_client("auditor", "view_creditnote")
        creator = token_client("creator", "view_creditnote", "add_creditnote")

        assert post(reader, NOTES, {"invoice": taxed.pk, "reason": "x"}).status_code == 403
        made = post(creator, NOTES, {"invoice": taxed.pk, "reason": "x"})
        assert made.status_code == 201
        denied = post(creator, f"{NOTES}{made.json()['id']}/issue/", {})
        assert denied.status_code == 403
        assert CreditNote.objects.get().status == CreditNote.Status.DRAFT

    def test_reading_needs_the_view_permission(self, token_client, taxed):
        note = credit_note_create(invoice=taxed, reason="x")
        adder = token_client("adder", "add_creditnote")

        assert adder.get(NOTES).status_code == 403
        assert adder.get(f"{NOTES}{note.pk}/pdf/").status_code == 403
        assert token_client("auditor", "view_creditnote").get(f"{NOTES}0/").status_code == 404


def test_a_page_costs_the_same_queries_for_1_or_10_credit_notes(
    clerk, issued_invoice, django_assert_max_num_queries
):
    credit_note_create(invoice=issued_invoice("10.00", "20.00"), reason="x")
    with CaptureQueriesContext(connection) as one:
        assert len(clerk.get(NOTES).json()["results"]) == 1
    for _ in range(9):
        credit_note_create(invoice=issued_invoice("10.00", "20.00"), reason="x")

    with django_assert_max_num_queries(len(one)):
        results = clerk.get(NOTES).json()["results"]
    assert len(results) == 10
    assert all(len(row["lines"]) == 2 for row in results)
