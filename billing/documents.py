"""Invoice, credit note and statement documents: HTML from templates, PDF through WeasyPrint.

Each document has one function that builds its template context, so the HTML preview in the
admin and the PDF show the same thing. An issued invoice or credit note is rendered once and its
PDF stored with its SHA-256: every later download or email attaches those same bytes, even if
the templates or the seller's details change. Drafts are rendered on demand, marked DRAFT, and
never stored.

Templates are looked up by name through Django's loaders, so a deployer overrides any of them
(``billing/invoice_standard.html``, ``billing/document.css``, ...) by putting a file of the same
name in a folder listed in ``RMS_TEMPLATE_DIRS``.
"""

import base64
import hashlib
import mimetypes
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Model
from django.template.loader import render_to_string
from moneyed import Money
from weasyprint import HTML
from weasyprint.urls import URLFetcher

from billing.domain.receivables import AgingBucket, OpenItem, aging_report
from billing.milestone_events import SOURCE_PREFIX as MILESTONE_PREFIX
from billing.models import BillingEvent, CreditNote, Invoice, InvoiceLine, Payment, SellerProfile
from billing.receivables import open_items
from billing.templatetags.documents import docdate, quantity
from contracts.models import Customer, Milestone
from rms.money import round_money

# Lines are grouped by what they bill, in this order, whatever order the bill run wrote them in.
LINE_GROUPS = (
    ("subscription", "Subscriptions", {BillingEvent.Kind.SUBSCRIPTION}),
    ("usage", "Usage", {BillingEvent.Kind.USAGE}),
    ("one_time", "One-time items", {BillingEvent.Kind.ONE_TIME, BillingEvent.Kind.SHIPMENT}),
    ("milestone", "Milestones", {BillingEvent.Kind.MILESTONE}),
)
GROUP_OF_KIND = {kind: key for key, _title, kinds in LINE_GROUPS for kind in kinds}

AGING_LABELS = {
    AgingBucket.CURRENT: "Current",
    AgingBucket.D1_30: "1\u201330 days",
    AgingBucket.D31_60: "31\u201360 days",
    AgingBucket.D61_90: "61\u201390 days",
    AgingBucket.OVER_90: "Over 90 days",
}

# Documents are rendered offline: local files (a deployer's stylesheet or image) and data: URIs
# only, so a stray http:// reference cannot stall a worker or reach into the network.
OFFLINE_FETCHER_PROTOCOLS = {"file", "data"}


@dataclass(frozen=True)
class BreakdownRow:
    """One row of a usage charge's tier math, printed under its line."""

    description: str
    quantity: Decimal
    unit_price: Decimal  # a rate, printed with all its digits (0.00125), not rounded to cents
    amount: Money


@dataclass(frozen=True)
class DocumentLine:
    description: str
    detail: str
    quantity: Decimal
    unit_price: Money | None
    tax_rate: Decimal
    tax_amount: Money
    amount: Money
    breakdown: tuple[BreakdownRow, ...] = ()


@dataclass
class LineGroup:
    key: str
    title: str
    lines: list[DocumentLine] = field(default_factory=list)


@dataclass(frozen=True)
class TaxRow:
    rate: Decimal
    base: Money
    tax: Money


def render_pdf(html: str) -> bytes:
    """Render document HTML to PDF bytes, resolving relative URLs against the media folder."""
    base_url = Path(settings.MEDIA_ROOT).resolve().as_uri() + "/"
    fetcher = URLFetcher(allowed_protocols=OFFLINE_FETCHER_PROTOCOLS)
    return HTML(string=html, base_url=base_url, url_fetcher=fetcher).write_pdf()


# --- Invoices ---------------------------------------------------------------------------------


def invoice_context(invoice: Invoice) -> dict:
    """Return everything an invoice template prints, the lines grouped and the totals derived."""
    customer = invoice.customer
    locale = customer.locale
    lines = list(
        invoice.lines.select_related("event", "contract_line__product").order_by("position")
    )
    groups = _group_lines(lines, locale)
    currency = invoice.currency
    paid = Money(invoice.amount_paid, currency)
    credited = Money(invoice.amount_credited, currency)
    return {
        **_party_context(customer),
        "document_title": "Invoice",
        "invoice": invoice,
        "number": invoice.number or "DRAFT",
        "marker": _marker(invoice),
        "issue_date": invoice.issue_date or invoice.invoice_date,
        "due_date": invoice.due_date,
        "payment_terms": invoice.payment_terms_text or customer.payment_terms.description,
        # Frozen at issue; a draft shows what issuing it now would freeze.
        "bill_to_name": invoice.bill_to_name or customer.legal_name,
        "bill_to_address": invoice.bill_to_address or customer.billing_address,
        "groups": groups,
        "tax_rows": _tax_rows(lines, currency),
        "subtotal": invoice.subtotal,
        "tax_total": invoice.tax_total,
        "total": invoice.total,
        "amount_paid": paid,
        "amount_credited": credited,
        "amount_due": invoice.balance_due,
    }


def invoice_html(invoice: Invoice) -> str:
    """Render the invoice with its customer's template (standard or compact)."""
    template = f"billing/invoice_{invoice.customer.invoice_template}.html"
    return render_to_string(template, invoice_context(invoice))


def invoice_pdf(invoice: Invoice) -> bytes:
    """Return the invoice's PDF: stored once issued (same bytes every time), fresh for a draft."""
    return _document_pdf(invoice, invoice_html, f"{invoice.number or invoice.pk}.pdf")


def _group_lines(lines: list[InvoiceLine], locale: str) -> list[LineGroup]:
    """Sort invoice lines into the ``LINE_GROUPS`` that have any, each line with its detail."""
    milestone_ids = [
        int(line.event.source_key.removeprefix(MILESTONE_PREFIX))
        for line in lines
        if line.event.kind == BillingEvent.Kind.MILESTONE
    ]
    milestone_names = dict(Milestone.objects.filter(pk__in=milestone_ids).values_list("pk", "name"))
    by_key: dict[str, LineGroup] = {
        key: LineGroup(key=key, title=title) for key, title, _kinds in LINE_GROUPS
    }
    for line in lines:
        event = line.event
        breakdown = _breakdown(line)
        by_key[GROUP_OF_KIND[event.kind]].lines.append(
            DocumentLine(
                description=line.description,
                detail=_line_detail(line, locale, milestone_names),
                quantity=line.quantity,
                # A usage charge has no one unit price: its rows below carry the rates.
                unit_price=None if breakdown else line.unit_price,
                tax_rate=line.tax_rate,
                tax_amount=line.tax_amount,
                amount=line.amount,
                breakdown=breakdown,
            )
        )
    return [group for group in by_key.values() if group.lines]


def _breakdown(line: InvoiceLine) -> tuple[BreakdownRow, ...]:
    """Return the line's stored breakdown (decimal strings) as values the template formats."""
    currency = line.amount.currency.code
    return tuple(
        BreakdownRow(
            description=row["description"],
            quantity=Decimal(row["quantity"]),
            unit_price=Decimal(row["unit_price"]),
            amount=Money(Decimal(row["amount"]), currency),
        )
        for row in line.breakdown
    )


def _line_detail(line: InvoiceLine, locale: str, milestone_names: dict[int, str]) -> str:
    """Say what one line bills in its model's terms: a period, a shipped quantity, a milestone."""
    event = line.event
    period = f"{docdate(line.period_start, locale)} \u2013 {docdate(line.period_end, locale)}"
    match event.kind:
        case BillingEvent.Kind.SUBSCRIPTION:
            return f"Service period {period}"
        case BillingEvent.Kind.USAGE:
            return f"Usage period {period}"
        case BillingEvent.Kind.SHIPMENT:
            shipped = quantity(line.quantity, locale)
            return f"Quantity shipped {shipped} on {docdate(line.period_start, locale)}"
        case BillingEvent.Kind.ONE_TIME:
            return f"Quantity ordered {quantity(line.quantity, locale)}"
        case BillingEvent.Kind.MILESTONE:
            key = int(event.source_key.removeprefix(MILESTONE_PREFIX))
            return f"Milestone: {milestone_names.get(key, line.description)}"
    raise ValueError(f"Invoice line {line.pk} bills an event of unknown kind {event.kind!r}.")


def _tax_rows(lines: list[InvoiceLine], currency: str) -> list[TaxRow]:
    """Sum the lines' taxable amounts and taxes per rate, lowest rate first."""
    base: dict[Decimal, Decimal] = defaultdict(Decimal)
    tax: dict[Decimal, Decimal] = defaultdict(Decimal)
    for line in lines:
        base[line.tax_rate] += line.amount.amount
        tax[line.tax_rate] += line.tax_amount.amount
    return [
        TaxRow(rate=rate, base=Money(base[rate], currency), tax=Money(tax[rate], currency))
        for rate in sorted(base)
    ]


# --- Credit notes -----------------------------------------------------------------------------


def credit_note_context(credit_note: CreditNote) -> dict:
    """Return what a credit note prints: the invoice it corrects, its reason, lines and totals."""
    invoice = credit_note.invoice
    return {
        **_party_context(credit_note.customer),
        "document_title": "Credit note",
        "credit_note": credit_note,
        "invoice": invoice,
        "number": credit_note.number or "DRAFT",
        "marker": "DRAFT" if credit_note.status == CreditNote.Status.DRAFT else "",
        "issue_date": credit_note.issue_date,
        "bill_to_name": invoice.bill_to_name or credit_note.customer.legal_name,
        "bill_to_address": invoice.bill_to_address or credit_note.customer.billing_address,
        "lines": list(credit_note.lines.order_by("position")),
        "subtotal": credit_note.subtotal,
        "tax_total": credit_note.tax_total,
        "total": credit_note.total,
    }


def credit_note_html(credit_note: CreditNote) -> str:
    """Render the credit note (one layout for every customer)."""
    return render_to_string("billing/credit_note.html", credit_note_context(credit_note))


def credit_note_pdf(credit_note: CreditNote) -> bytes:
    """Return the credit note's PDF: stored once issued, fresh while a draft."""
    name = f"{credit_note.number or credit_note.pk}.pdf"
    return _document_pdf(credit_note, credit_note_html, name)


# --- Statements -------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatementRow:
    number: str
    issue_date: date
    due_date: date
    total: Money
    settled: Money
    balance_due: Money


@dataclass(frozen=True)
class StatementSection:
    """A statement's figures in one currency: aging never adds amounts across currencies."""

    currency: str
    rows: list[StatementRow]
    aging: list[tuple[str, Money]]
    open_total: Money
    credit: Money
    total_due: Money


def statement_context(customer: Customer, as_of: date) -> dict:
    """Return a customer's open invoices, credit and aging on ``as_of``, one section a currency.

    Open items and their balances come from ``billing.receivables.open_items``, so the statement
    agrees with the AR aging for the same day. Unapplied payment credit received by ``as_of`` is
    netted against the open amount in the total due.
    """
    items = open_items(customer=customer, as_of=as_of)
    invoices = Invoice.objects.in_bulk([item.key for item in items])
    items_by_currency: dict[str, list[OpenItem]] = defaultdict(list)
    for item in items:
        items_by_currency[item.open_amount.currency.code].append(item)
    credits: dict[str, Decimal] = defaultdict(Decimal)
    for payment in Payment.objects.filter(
        customer=customer, received_on__lte=as_of, unapplied__gt=0
    ):
        credits[payment.amount.currency.code] += payment.unapplied
    currencies = sorted(set(items_by_currency) | set(credits)) or [customer.currency]
    sections = []
    for code in currencies:
        report = aging_report(items_by_currency[code], as_of=as_of, currency=code)
        open_total = sum(report.values(), Money(0, code))
        credit = round_money(credits[code], code)
        sections.append(
            StatementSection(
                currency=code,
                rows=[_statement_row(invoices[item.key], item) for item in items_by_currency[code]],
                aging=[(AGING_LABELS[bucket], amount) for bucket, amount in report.items()],
                open_total=open_total,
                credit=credit,
                total_due=open_total - credit,
            )
        )
    return {
        **_party_context(customer),
        "document_title": "Statement of account",
        "number": customer.number,
        "marker": "",
        "as_of": as_of,
        "bill_to_name": customer.legal_name,
        "bill_to_address": customer.billing_address,
        "sections": sections,
    }


def _statement_row(invoice: Invoice, item: OpenItem) -> StatementRow:
    return StatementRow(
        number=invoice.number,
        issue_date=invoice.issue_date,
        due_date=invoice.due_date,
        total=invoice.total,
        settled=invoice.total - item.open_amount,
        balance_due=item.open_amount,
    )


def statement_html(customer: Customer, as_of: date) -> str:
    """Render a customer's statement of account on ``as_of``."""
    return render_to_string("billing/statement.html", statement_context(customer, as_of))


def statement_pdf(customer: Customer, as_of: date) -> bytes:
    """Render a customer's statement PDF; statements are not stored (they change daily)."""
    return render_pdf(statement_html(customer, as_of))


# --- Shared -----------------------------------------------------------------------------------


def _party_context(customer: Customer) -> dict:
    """Return who sends the document, with the logo inlined, and the customer's locale."""
    seller = SellerProfile.current()
    return {
        "seller": seller,
        "seller_contact": " · ".join(filter(None, [seller.email, seller.phone, seller.website])),
        "logo_src": _logo_data_uri(seller),
        "locale": customer.locale,
    }


def _logo_data_uri(seller: SellerProfile) -> str:
    """Return the seller's logo as a data: URI, or "" when there is none.

    Inlined, the logo shows in the browser preview and in WeasyPrint alike, with no media URL
    served and no file path that differs between the web server and the worker.
    """
    if not seller.logo:
        return ""
    mime = mimetypes.guess_type(seller.logo.name)[0] or "application/octet-stream"
    with seller.logo.open("rb") as logo:
        encoded = base64.b64encode(logo.read()).decode("ascii")
    return f"data:{mime};base64,{encoded}"


def _marker(invoice: Invoice) -> str:
    """Return the watermark of an invoice that is not (or no longer) a live document."""
    return {Invoice.Status.DRAFT: "DRAFT", Invoice.Status.VOID: "VOID"}.get(invoice.status, "")


def _document_pdf(document: Invoice | CreditNote, render_html, filename: str) -> bytes:
    """Return an issued document's stored PDF, rendering and storing it the first time.

    The first rendering is stored under the document's row lock, so two workers asking at once
    store one file and both return its bytes. A document that is not issued (a draft, or a void
    invoice that was never rendered) is rendered each time and not stored.
    """
    if document.pdf:
        return _read_stored(document)
    if document.status != document.Status.ISSUED:
        return render_pdf(render_html(document))
    model: type[Model] = type(document)
    with transaction.atomic():
        locked = model.objects.select_for_update().get(pk=document.pk)
        if not locked.pdf:
            data = render_pdf(render_html(locked))
            locked.pdf.save(filename, ContentFile(data), save=False)
            locked.pdf_sha256 = hashlib.sha256(data).hexdigest()
            locked.save(update_fields=["pdf", "pdf_sha256"])
    document.pdf, document.pdf_sha256 = locked.pdf, locked.pdf_sha256
    return _read_stored(document)


def _read_stored(document: Invoice | CreditNote) -> bytes:
    """Read a stored PDF, refusing one whose bytes no longer match the hash taken at issue."""
    with document.pdf.open("rb") as stored:
        data = stored.read()
    if hashlib.sha256(data).hexdigest() != document.pdf_sha256:
        raise RuntimeError(
            f"The stored PDF of {document} ({document.pdf.name}) does not match its SHA-256; "
            "it was changed or damaged after issue and will not be sent."
        )
    return data
