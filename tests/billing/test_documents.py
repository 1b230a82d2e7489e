"""Invoice, credit note and statement documents: real PDFs rendered and read back as text.

Invoices come from the real bill run. Expected figures are worked by hand in each test's
comments, not copied from output.
"""

import hashlib
import io
from datetime import date
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from djmoney.money import Money
from pypdf import PdfReader

from billing import documents
from billing.milestones import milestone_achieve
from billing.models import (
    CreditNote,
    CreditNoteLine,
    Invoice,
    Payment,
    PaymentApplication,
    SellerProfile,
)
from billing.shipments import shipment_record
from billing.templatetags.documents import money
from contracts.models import Contract, Milestone

pytestmark = pytest.mark.django_db

JAN_31 = date(2026, 1, 31)


def pdf_text(data: bytes) -> str:
    """Return a PDF's text read back with pypdf, every run of white space as one space."""
    reader = PdfReader(io.BytesIO(data))
    text = " ".join(page.extract_text() for page in reader.pages)
    return " ".join(text.split())


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    """Store rendered PDFs under the test's own folder."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def seller():
    return SellerProfile.objects.create(
        pk=1,
        legal_name="Acme Software Inc.",
        address="500 Howard Street\nSan Francisco, CA 94105",
        tax_id="US-94-1234567",
        email="billing@acme.test",
        remit_to="First Bank · Account 0123456789 · Routing 021000021",
        invoice_footer="Thank you for your business.",
    )


@pytest.fixture
def mixed_invoice(
    seller,
    customer_factory,
    contract_factory,
    contract_line_factory,
    product_factory,
    activate,
    bill,
):
    """An issued USD invoice with a subscription, a shipment and a milestone, taxed at 8.25%.

    Pro seats: 10 x 29.99 = 299.90, tax 24.74175 -> 24.74
    Router:     6 shipped x 120.00 = 720.00, tax 59.40
    Design:    milestone 2,000.00, tax 165.00
    Subtotal 3,019.90; tax 249.14; total 3,269.04; Net 30 from Jan 31 is due Mar 2.
    """
    customer = customer_factory(legal_name="Globex Corporation", tax_rate=Decimal("8.25"))
    contract = contract_factory(customer=customer)
    contract_line_factory(
        contract=contract,
        product=product_factory(name="Pro seats"),
        quantity=Decimal(10),
        unit_price=Money("29.99", "USD"),
    )
    routers = contract_line_factory(
        contract=contract,
        product=product_factory(name="Router"),
        one_time=True,
        one_time_trigger="on_shipment",
        quantity=Decimal(10),
        unit_price=Money("120.00", "USD"),
    )
    project = contract_line_factory(
        contract=contract,
        product=product_factory(name="Implementation"),
        milestone=True,
        unit_price=Money("5000.00", "USD"),
    )
    design = Milestone.objects.create(
        line=project,
        sequence=1,
        name="Design sign-off",
        planned_date=date(2026, 1, 15),
        amount=Money("2000.00", "USD"),
    )
    activate(contract)
    shipment_record(line=routers, shipped_on=date(2026, 1, 10), quantity=Decimal(6))
    # An achieved milestone is invoiced at once unless a billing hold keeps it back. Achieved
    # under a hold that is then lifted (flag cleared, not released through the service that
    # invoices what the hold kept), it rides on the month's run with the other charges.
    Contract.objects.filter(pk=contract.pk).update(billing_hold=True)
    milestone_achieve(milestone=design, achieved_on=date(2026, 1, 15), achieved_by="pm")
    Contract.objects.filter(pk=contract.pk).update(billing_hold=False)
    bill(JAN_31)
    return Invoice.objects.get(customer=customer)


def test_the_mixed_invoice_pdf_shows_number_dates_lines_and_totals(mixed_invoice):
    invoice = mixed_invoice
    assert invoice.status == Invoice.Status.ISSUED
    text = pdf_text(documents.invoice_pdf(invoice))

    assert invoice.number in text
    assert "Acme Software Inc." in text and "Globex Corporation" in text
    assert "Issue date Jan 31, 2026" in text
    assert "Due date Mar 2, 2026" in text
    assert "Terms Net 30" in text
    # Grouped by model in a fixed order, each line with its model's detail.
    subscriptions = text.index("SUBSCRIPTIONS")
    one_time = text.index("ONE-TIME ITEMS")
    milestones = text.index("MILESTONES")
    assert subscriptions < one_time < milestones
    assert "Service period Jan 1, 2026 \u2013 Jan 31, 2026" in text
    assert "Quantity shipped 6 on Jan 10, 2026" in text
    assert "Milestone: Design sign-off" in text
    assert "Pro seats" in text and "Router: shipped 6" in text
    assert "$299.90" in text and "$720.00" in text and "$2,000.00" in text
    assert "Subtotal $3,019.90" in text
    assert "Tax 8.25% on $3,019.90 $249.14" in text
    assert "Total $3,269.04" in text
    assert "Amount due $3,269.04" in text
    assert "First Bank" in text and f"Please quote {invoice.number}" in text
    assert "DRAFT" not in text


@pytest.fixture
def render_count(monkeypatch):
    """Count WeasyPrint renderings, still rendering for real."""
    calls = []
    real = documents.render_pdf

    def counting(html: str) -> bytes:
        calls.append(html)
        return real(html)

    monkeypatch.setattr(documents, "render_pdf", counting)
    return calls


def test_an_issued_invoice_is_rendered_once_and_the_same_bytes_returned_after(
    mixed_invoice, render_count
):
    stale = Invoice.objects.get(pk=mixed_invoice.pk)  # loaded before the PDF exists
    first = documents.invoice_pdf(mixed_invoice)
    assert len(render_count) == 1

    stored = Invoice.objects.get(pk=mixed_invoice.pk)
    assert stored.pdf.name.startswith("invoices/") and stored.pdf.name.endswith(".pdf")
    assert stored.pdf_sha256 == hashlib.sha256(first).hexdigest()
    assert documents.invoice_pdf(stored) == first
    # A worker that read the row before another stored the PDF finds it under the lock.
    assert documents.invoice_pdf(stale) == first
    assert stale.pdf.name == stored.pdf.name
    assert len(render_count) == 1


def test_a_stored_pdf_changed_after_issue_is_refused(mixed_invoice):
    documents.invoice_pdf(mixed_invoice)
    with mixed_invoice.pdf.open("wb") as stored:
        stored.write(b"%PDF-1.7 something else")
    with pytest.raises(RuntimeError, match="does not match its SHA-256"):
        documents.invoice_pdf(Invoice.objects.get(pk=mixed_invoice.pk))


def test_a_draft_is_marked_draft_and_never_stored(
    seller,
    customer_factory,
    contract_factory,
    contract_line_factory,
    activate,
    bill,
    render_count,
):
    customer = customer_factory(invoice_review="review")
    contract = contract_factory(customer=customer)
    contract_line_factory(contract=contract, unit_price=Money("100.00", "USD"))
    activate(contract)
    bill(JAN_31)
    draft = Invoice.objects.get(customer=customer)
    assert draft.status == Invoice.Status.DRAFT

    text = pdf_text(documents.invoice_pdf(draft))
    documents.invoice_pdf(draft)

    assert "DRAFT: not a valid tax document." in text
    assert "Invoice no. DRAFT" in text
    assert "Total $100.00" in text
    assert len(render_count) == 2
    draft.refresh_from_db()
    assert not draft.pdf and draft.pdf_sha256 == ""


def test_a_german_customer_sees_euro_amounts_and_dates_in_german_format(
    seller,
    customer_factory,
    contract_factory,
    contract_line_factory,
    product_factory,
    activate,
    bill,
):
    """1,234.56 EUR at 19%: tax 234.5664 -> 234.57, total 1,469.13."""
    customer = customer_factory(currency="EUR", locale="de_DE", tax_rate=Decimal(19))
    contract = contract_factory(customer=customer)
    contract_line_factory(
        contract=contract,
        product=product_factory(name="Plattform", ssp=Money("1234.56", "EUR")),
        unit_price=Money("1234.56", "EUR"),
    )
    activate(contract)
    bill(JAN_31)

    text = pdf_text(documents.invoice_pdf(Invoice.objects.get(customer=customer)))

    assert "Subtotal 1.234,56 €" in text
    assert "Tax 19 % on 1.234,56 € 234,57 €" in text
    assert "Total 1.469,13 €" in text
    assert "Issue date 31.01.2026" in text and "Due date 02.03.2026" in text
    assert "Service period 01.01.2026 \u2013 31.01.2026" in text


def test_a_yen_invoice_has_no_decimals(
    seller,
    customer_factory,
    contract_factory,
    contract_line_factory,
    product_factory,
    activate,
    bill,
):
    """12,345 JPY at 10%: tax 1,234.5 rounds half up to 1,235; total 13,580."""
    customer = customer_factory(currency="JPY", tax_rate=Decimal(10))
    contract = contract_factory(customer=customer)
    contract_line_factory(
        contract=contract,
        product=product_factory(ssp=Money(12345, "JPY")),
        unit_price=Money(12345, "JPY"),
    )
    activate(contract)
    bill(JAN_31)

    text = pdf_text(documents.invoice_pdf(Invoice.objects.get(customer=customer)))

    assert "Subtotal ¥12,345 " in text
    assert "¥1,235" in text
    assert "Total ¥13,580 " in text
    assert "¥13,580.00" not in text and "¥12,345." not in text


@pytest.mark.parametrize(
    ("amount", "locale", "expected"),
    [
        (Money("1234.56", "EUR"), "de_DE", "1.234,56\xa0€"),
        (Money("1234.5", "USD"), "en_US", "$1,234.50"),
        (Money("1234", "JPY"), "en_US", "¥1,234"),
        # Three decimals for the dinar, rounded half up from the stored four.
        (Money("1.2345", "KWD"), "en_US", "KWD1.235"),
        (Money("-5", "USD"), "en_US", "-$5.00"),
    ],
)
def test_money_keeps_the_currency_minor_unit_in_the_locale_format(amount, locale, expected):
    assert money(amount, locale) == expected


def svg_logo(media) -> str:
    """Store a small SVG logo for the seller and return its storage name."""
    (media / "seller").mkdir(parents=True, exist_ok=True)
    (media / "seller" / "logo.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="150" height="40">'
        '<rect width="40" height="40" rx="8" fill="#1e3a8a"/>'
        '<text x="50" y="28" font-size="22" font-family="sans-serif" fill="#1e3a8a">'
        "ACME</text></svg>"
    )
    return "seller/logo.svg"


def test_the_compact_template_is_chosen_per_customer_and_drops_the_logo(
    mixed_invoice, seller, media
):
    seller.logo = svg_logo(media)
    seller.save()
    standard_html = documents.invoice_html(mixed_invoice)
    assert '<body class="standard">' in standard_html
    assert '<img class="logo" src="data:image/svg+xml;base64,' in standard_html

    mixed_invoice.customer.invoice_template = "compact"
    mixed_invoice.customer.save()
    invoice = Invoice.objects.get(pk=mixed_invoice.pk)
    compact_html = documents.invoice_html(invoice)
    assert '<body class="compact">' in compact_html
    assert "<img" not in compact_html

    text = pdf_text(documents.invoice_pdf(invoice))
    assert invoice.number in text and "Amount due $3,269.04" in text


def test_a_deployer_template_folder_overrides_ours_by_name(mixed_invoice, settings, tmp_path):
    folder = tmp_path / "deployer"
    (folder / "billing").mkdir(parents=True)
    (folder / "billing" / "invoice_standard.html").write_text(
        '{% extends "billing/document_base.html" %}{% load documents %}'
        "{% block content %}<p>Custom layout of {{ number }} for {{ bill_to_name }}: "
        "{{ amount_due|money:locale }}</p>{% endblock %}"
    )
    settings.TEMPLATES = [
        {**settings.TEMPLATES[0], "DIRS": [folder, *settings.TEMPLATES[0]["DIRS"]]}
    ]

    text = pdf_text(documents.invoice_pdf(mixed_invoice))

    assert f"Custom layout of {mixed_invoice.number} for Globex Corporation: $3,269.04" in text
    assert "SUBSCRIPTIONS" not in text


def issued_credit_note(invoice: Invoice) -> CreditNote:
    """Two of the six routers credited: 240.00 plus 8.25% tax 19.80, 259.80 in all."""
    router_line = invoice.lines.get(description__startswith="Router")
    credit_note = CreditNote.objects.create(
        invoice=invoice,
        customer=invoice.customer,
        currency="USD",
        status=CreditNote.Status.ISSUED,
        year=2026,
        sequence_number=1,
        number="CN-2026-000001",
        issue_date=date(2026, 2, 5),
        reason="Two routers returned damaged",
        subtotal=Money("240.00", "USD"),
        tax_total=Money("19.80", "USD"),
        total=Money("259.80", "USD"),
    )
    CreditNoteLine.objects.create(
        credit_note=credit_note,
        invoice_line=router_line,
        position=1,
        description="Router: 2 returned",
        quantity=Decimal(2),
        amount=Money("240.00", "USD"),
        tax_amount=Money("19.80", "USD"),
    )
    return credit_note


def test_a_credit_note_pdf_shows_its_number_invoice_reason_and_figures(mixed_invoice, render_count):
    credit_note = issued_credit_note(mixed_invoice)

    first = documents.credit_note_pdf(credit_note)
    text = pdf_text(first)

    assert "CREDIT NOTE" in text and "Credit note no. CN-2026-000001" in text
    assert f"Credits invoice {mixed_invoice.number}" in text
    assert "Issue date Feb 5, 2026" in text
    assert "Two routers returned damaged" in text
    assert "Router: 2 returned 2 $19.80 $240.00" in text
    assert "Total credited $259.80" in text
    stored = CreditNote.objects.get(pk=credit_note.pk)
    assert stored.pdf_sha256 == hashlib.sha256(first).hexdigest()
    assert documents.credit_note_pdf(stored) == first
    assert len(render_count) == 1


def test_a_statement_shows_open_invoices_aging_credit_and_total_due(mixed_invoice, seller):
    """Of 3,269.04, 1,000.00 is paid (from a 1,500.00 payment, 500.00 left as credit).

    On Apr 15 the Mar 2 due date is 44 days past (29 in March + 15 in April): 31-60 days.
    Open 2,269.04; less credit 500.00, the total due is 1,769.04.
    """
    payment = Payment.objects.create(
        customer=mixed_invoice.customer,
        amount=Money("1500.00", "USD"),
        received_on=date(2026, 3, 20),
        method=Payment.Method.BANK_TRANSFER,
        unapplied=Decimal("500.00"),
    )
    PaymentApplication.objects.create(
        payment=payment,
        invoice=mixed_invoice,
        amount=Money("1000.00", "USD"),
        applied_on=date(2026, 3, 20),
    )
    Invoice.objects.filter(pk=mixed_invoice.pk).update(amount_paid=Decimal("1000.00"))

    text = pdf_text(documents.statement_pdf(mixed_invoice.customer, date(2026, 4, 15)))

    assert "STATEMENT OF ACCOUNT" in text and "Statement date Apr 15, 2026" in text
    assert "Globex Corporation" in text
    assert f"{mixed_invoice.number} Jan 31, 2026 Mar 2, 2026 $3,269.04 $1,000.00 $2,269.04" in text
    assert (
        "CURRENT 1\u201330 DAYS 31\u201360 DAYS 61\u201390 DAYS OVER 90 DAYS "
        "$0.00 $0.00 $2,269.04 $0.00 $0.00" in text
    )
    assert "Open invoices $2,269.04 Unapplied credit \u2212$500.00 Total due $1,769.04" in text


def test_a_statement_before_the_invoice_was_issued_owes_nothing(mixed_invoice):
    text = pdf_text(documents.statement_pdf(mixed_invoice.customer, date(2026, 1, 30)))

    assert "No open invoices." in text
    assert "Total due $0.00" in text


@pytest.fixture
def viewer(client, django_user_model):
    """Log in a staff user who may view invoices, credit notes and customers, nothing more."""
    user = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(codename__in=["view_invoice", "view_creditnote", "view_customer"])
    )
    client.force_login(user)
    return client


@pytest.mark.urls("tests.billing.documents_urls")
def test_the_admin_previews_and_downloads_an_invoice_for_users_who_may_view_it(
    mixed_invoice, viewer
):
    preview = viewer.get(reverse("admin:billing_invoice_preview", args=[mixed_invoice.pk]))
    assert preview.status_code == 200
    html = preview.content.decode()
    assert f'Invoice no.</th><td class="doc-number">{mixed_invoice.number}' in html
    assert "Pro seats" in html

    download = viewer.get(reverse("admin:billing_invoice_pdf", args=[mixed_invoice.pk]))
    assert download["Content-Type"] == "application/pdf"
    assert download["Content-Disposition"] == f'attachment; filename="{mixed_invoice.number}.pdf"'
    mixed_invoice.refresh_from_db()
    assert hashlib.sha256(download.content).hexdigest() == mixed_invoice.pdf_sha256

    change = viewer.get(reverse("admin:billing_invoice_change", args=[mixed_invoice.pk]))
    assert reverse("admin:billing_invoice_pdf", args=[mixed_invoice.pk]) in change.content.decode()
    missing = viewer.get(reverse("admin:billing_invoice_pdf", args=[mixed_invoice.pk + 999]))
    assert missing.status_code == 404


@pytest.mark.urls("tests.billing.documents_urls")
def test_the_document_views_need_a_login_and_the_view_permission(
    mixed_invoice, client, django_user_model
):
    urls = [
        reverse("admin:billing_invoice_preview", args=[mixed_invoice.pk]),
        reverse("admin:billing_invoice_pdf", args=[mixed_invoice.pk]),
        reverse("admin:billing_statement", args=[mixed_invoice.customer_id]),
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]

    client.force_login(django_user_model.objects.create_user("clerk", password="pw", is_staff=True))
    for url in urls:
        assert client.get(url).status_code == 403
    assert not Invoice.objects.get(pk=mixed_invoice.pk).pdf  # nothing rendered for them


@pytest.mark.urls("tests.billing.documents_urls")
def test_the_admin_serves_credit_note_documents_and_statements(mixed_invoice, viewer):
    credit_note = issued_credit_note(mixed_invoice)
    preview = viewer.get(reverse("admin:billing_creditnote_preview", args=[credit_note.pk]))
    assert "Two routers returned damaged" in preview.content.decode()
    pdf = viewer.get(reverse("admin:billing_creditnote_pdf", args=[credit_note.pk]))
    assert "Total credited $259.80" in pdf_text(pdf.content)

    url = reverse("admin:billing_statement", args=[mixed_invoice.customer_id])
    statement = viewer.get(url, {"as_of": "2026-02-10"})
    assert statement["Content-Disposition"] == (
        f'attachment; filename="statement-{mixed_invoice.customer.number}-2026-02-10.pdf"'
    )
    # Not yet due on Feb 10, less the credit note dated Feb 5: 3,269.04 - 259.80 = 3,009.24.
    text = pdf_text(statement.content)
    assert "Statement date Feb 10, 2026" in text
    assert "Total due $3,009.24" in text
    assert viewer.get(url, {"as_of": "10/02/2026"}).status_code == 400


@pytest.mark.urls("tests.billing.documents_urls")
def test_the_seller_profile_opens_as_the_one_row_and_cannot_be_added_or_deleted(
    staff_client,
):
    response = staff_client.get(reverse("admin:billing_sellerprofile_changelist"))
    profile = SellerProfile.objects.get()
    assert response["Location"] == reverse("admin:billing_sellerprofile_change", args=[profile.pk])
    assert staff_client.get(reverse("admin:billing_sellerprofile_add")).status_code == 403
    delete = reverse("admin:billing_sellerprofile_delete", args=[profile.pk])
    assert staff_client.post(delete, {"post": "yes"}).status_code == 403
    assert SellerProfile.objects.count() == 1
