"""Receivables as of any day: open items, the aging report, the customer's credit.

Every figure is rebuilt from dated facts, so a past day can be replayed: an invoice counts from
its issue date, a payment application from its ``applied_on`` date, a credit note from its issue
date. Sums are taken in the database (one query for the invoices' balances, two for payments),
never by loading applications row by row.

Customer credit is money the customer has with us: payments not yet applied, plus invoice
balances below zero (a credit note larger than what was still owed; see
``billing.credit_notes``). The aging shows it in its own column beside the five buckets.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.db.models import (
    DecimalField,
    ExpressionWrapper,
    F,
    OuterRef,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce
from djmoney.money import Money

from billing.domain.receivables import AgingBucket, OpenItem, aging_report
from billing.models import (
    TOTAL_TOLERANCE,
    CreditNote,
    Invoice,
    Payment,
    PaymentApplication,
)
from contracts.models import Customer
from rms.money import round_money

_DECIMAL = DecimalField(max_digits=19, decimal_places=4)
_ZERO = Value(Decimal(0), output_field=_DECIMAL)


def _sum_per_invoice(queryset: QuerySet, column: str) -> Coalesce:
    """Return a subquery summing ``column`` of ``queryset`` for the outer invoice, 0 if none."""
    total = (
        queryset.filter(invoice=OuterRef("pk"))
        .order_by()
        .values("invoice")
        .annotate(total=Sum(column))
        .values("total")
    )
    return Coalesce(Subquery(total, output_field=_DECIMAL), _ZERO)


def _invoice_balances(*, as_of: date, customer: Customer | None = None) -> QuerySet:
    """Issued invoices with ``balance`` (total less what was paid and credited by ``as_of``)."""
    invoices = Invoice.objects.filter(status=Invoice.Status.ISSUED, issue_date__lte=as_of)
    if customer is not None:
        invoices = invoices.filter(customer=customer)
    paid = _sum_per_invoice(PaymentApplication.objects.filter(applied_on__lte=as_of), "amount")
    credited = _sum_per_invoice(
        CreditNote.objects.filter(status=CreditNote.Status.ISSUED, issue_date__lte=as_of), "total"
    )
    return invoices.annotate(
        paid_as_of=paid,
        credited_as_of=credited,
        balance=ExpressionWrapper(
            F("total") - F("paid_as_of") - F("credited_as_of"), output_field=_DECIMAL
        ),
    )


def _open_rows(*, as_of: date, customer: Customer | None = None) -> QuerySet:
    # Within half of the smallest stored unit rather than "> 0": SQLite sums in floating point.
    return (
        _invoice_balances(as_of=as_of, customer=customer)
        .filter(balance__gt=TOTAL_TOLERANCE)
        .order_by("due_date", "issue_date", "pk")
    )


def _open_item(row) -> OpenItem:
    return OpenItem(
        key=row.pk,
        due_date=row.due_date,
        issue_date=row.issue_date,
        open_amount=round_money(row.balance, row.currency),
    )


def open_items(*, customer: Customer | None = None, as_of: date) -> list[OpenItem]:
    """Return the issued invoices with a balance due on ``as_of``, oldest due first.

    Each item's key is the invoice id. Invoices issued after ``as_of``, and payments and credit
    notes dated after it, do not count.
    """
    rows = _open_rows(as_of=as_of, customer=customer).only(
        "pk", "currency", "due_date", "issue_date", "total", "total_currency"
    )
    return [_open_item(row) for row in rows]


def _credit_by_customer(*, as_of: date) -> dict[tuple[int, str], Money]:
    """Return each (customer, currency)'s credit on ``as_of``, in three aggregate queries."""
    credit: dict[tuple[int, str], Money] = {}

    def add(customer_id: int, currency: str, amount: Decimal) -> None:
        key = (customer_id, currency)
        credit[key] = credit.get(key, Money(0, currency)) + round_money(amount, currency)

    received = (
        Payment.objects.filter(received_on__lte=as_of)
        .values("customer_id", "amount_currency")
        .annotate(total=Sum("amount"))
        .order_by()
    )
    for row in received:
        add(row["customer_id"], row["amount_currency"], row["total"])
    applied = (
        PaymentApplication.objects.filter(applied_on__lte=as_of, payment__received_on__lte=as_of)
        .values("payment__customer_id", "amount_currency")
        .annotate(total=Sum("amount"))
        .order_by()
    )
    for row in applied:
        add(row["payment__customer_id"], row["amount_currency"], -row["total"])
    overcredited = (
        _invoice_balances(as_of=as_of)
        .filter(balance__lt=-TOTAL_TOLERANCE)
        .values("customer_id", "currency")
        .annotate(total=Sum("balance"))
        .order_by()
    )
    for row in overcredited:
        add(row["customer_id"], row["currency"], -row["total"])
    return {key: amount for key, amount in credit.items() if amount.amount != 0}


def customer_credit(customer: Customer) -> dict[str, Money]:
    """Return the customer's credit today per currency: unapplied payments, over-credited invoices.

    Currencies with no credit are left out.
    """
    credit: dict[str, Money] = {}
    unapplied = (
        Payment.objects.filter(customer=customer, unapplied__gt=0)
        .values("amount_currency")
        .annotate(total=Sum("unapplied"))
        .order_by()
    )
    for row in unapplied:
        code = row["amount_currency"]
        credit[code] = round_money(row["total"], code)
    overcredited = (
        Invoice.objects.filter(customer=customer, status=Invoice.Status.ISSUED)
        .annotate(
            balance=ExpressionWrapper(
                F("total") - F("amount_paid") - F("amount_credited"), output_field=_DECIMAL
            )
        )
        .filter(balance__lt=-TOTAL_TOLERANCE)
        .values("currency")
        .annotate(total=Sum("balance"))
        .order_by()
    )
    for row in overcredited:
        code = row["currency"]
        credit[code] = credit.get(code, Money(0, code)) - round_money(row["total"], code)
    return credit


@dataclass
class AgingLine:
    """One customer's receivables in one currency: the five buckets, the total, the credit."""

    currency: str
    buckets: dict[AgingBucket, Money]
    credit: Money
    customer_id: int | None = None
    customer_number: str = ""
    customer_name: str = ""

    @property
    def total(self) -> Money:
        """Return the open amount: the buckets' sum."""
        return sum(self.buckets.values(), Money(0, self.currency))

    @property
    def net(self) -> Money:
        """Return what the customer owes once its credit is counted (negative: we owe it)."""
        return self.total - self.credit


@dataclass
class AgingReport:
    as_of: date
    rows: list[AgingLine] = field(default_factory=list)
    # One line per currency, summing the rows in it; currencies are never added together.
    totals: list[AgingLine] = field(default_factory=list)


def aging(*, as_of: date) -> AgingReport:
    """Return the AR aging on ``as_of``: per customer and currency, and a total per currency.

    Rows are ordered by customer number, then currency; a customer with credit and nothing
    open still has a row, so the credit is not lost from sight.
    """
    items_by_key: dict[tuple[int, str], list[OpenItem]] = defaultdict(list)
    customers: dict[int, tuple[str, str]] = {}
    rows = _open_rows(as_of=as_of).select_related("customer")
    for row in rows.only(
        "pk",
        "currency",
        "due_date",
        "issue_date",
        "total",
        "total_currency",
        "customer__number",
        "customer__legal_name",
    ):
        items_by_key[(row.customer_id, row.currency)].append(_open_item(row))
        customers[row.customer_id] = (row.customer.number, row.customer.legal_name)
    credit = _credit_by_customer(as_of=as_of)
    missing = {customer_id for customer_id, _ in credit} - set(customers)
    for customer in Customer.objects.filter(pk__in=missing).only("number", "legal_name"):
        customers[customer.pk] = (customer.number, customer.legal_name)

    report = AgingReport(as_of=as_of)
    totals: dict[str, AgingLine] = {}
    for key in sorted(set(items_by_key) | set(credit), key=lambda k: (customers[k[0]][0], k[1])):
        customer_id, currency = key
        line = AgingLine(
            currency=currency,
            buckets=aging_report(items_by_key[key], as_of=as_of, currency=currency),
            credit=credit.get(key, Money(0, currency)),
            customer_id=customer_id,
            customer_number=customers[customer_id][0],
            customer_name=customers[customer_id][1],
        )
        report.rows.append(line)
        total = totals.setdefault(
            currency,
            AgingLine(
                currency=currency,
                buckets={bucket: Money(0, currency) for bucket in AgingBucket},
                credit=Money(0, currency),
            ),
        )
        for bucket, amount in line.buckets.items():
            total.buckets[bucket] += amount
        total.credit += line.credit
    report.totals = [totals[code] for code in sorted(totals)]
    return report
