"""The general-ledger journal: a balanced entry for every issued invoice, void and recognition.

- an invoice debits receivables and credits the contract (billings) and sales tax;
- a void reverses its invoice's entry line for line, a credit note the lines it credits;
- recognition debits the contract and credits revenue (a negative catch-up the other way).

So a contract's balance on the contract account is ``revenue - billings``: a debit balance is a
contract asset, a credit balance a contract liability. Every line names its contract, which is
what the position selectors aggregate. Each entry has a ``source_key`` naming what it posts, so
nothing is posted twice however often a poster runs.
"""

from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from django.db import connections, router
from django.db.models import Max, Sum
from django.utils import timezone

from billing.models import CreditNote, Invoice, InvoiceLine
from contracts.models import ContractLine
from revenue.domain.earning import next_month
from revenue.domain.recognition import month_start
from revenue.models import JournalEntry, JournalLine, LedgerAccount, RevenuePeriod

Role = LedgerAccount.Role


# The chart a new installation starts with (migration 0002 creates it too); finance edits the
# codes and names in the admin.
DEFAULT_ACCOUNTS = {
    Role.RECEIVABLE: ("1200", "Accounts receivable"),
    Role.CONTRACT: ("1250", "Contract balance (asset / liability)"),
    Role.TAX: ("2200", "Sales tax payable"),
    Role.REVENUE: ("4000", "Revenue"),
}


def ledger_accounts() -> dict[str, LedgerAccount]:
    """Return the ledger account of each role, creating any missing one with its default.

    The migration creates them, but a database emptied since (a flushed test database, a
    restore of business tables only) must not stop invoices from being posted.
    """
    accounts = {account.role: account for account in LedgerAccount.objects.all()}
    for role in set(DEFAULT_ACCOUNTS) - set(accounts):
        code, name = DEFAULT_ACCOUNTS[role]
        accounts[role], _ = LedgerAccount.objects.get_or_create(
            role=role, defaults={"code": code, "name": name}
        )
    return accounts


def first_open_period() -> date | None:
    """Return the first day of the first open month, or None when no month was ever closed."""
    last_closed = RevenuePeriod.objects.filter(status=RevenuePeriod.Status.CLOSED).aggregate(
        last=Max("start")
    )["last"]
    return next_month(last_closed) if last_closed else None


def accounting_date(day: date, first_open: date | None) -> tuple[date, date]:
    """Return (date, period) to post something that happened on ``day``.

    A closed month takes no postings: what belongs to it goes to the first day of the first
    open month instead.
    """
    if first_open is not None and day < first_open:
        return first_open, first_open
    return day, month_start(day)


def _line(
    entry: JournalEntry, account: LedgerAccount, contract_id: int | None, signed: Decimal
) -> JournalLine:
    """Build a journal line: a positive amount is a debit, a negative one a credit."""
    return JournalLine(
        entry=entry,
        account=account,
        contract_id=contract_id,
        date=entry.date,
        kind=entry.kind,
        currency=entry.currency,
        debit=signed if signed > 0 else Decimal(0),
        credit=-signed if signed < 0 else Decimal(0),
    )


def journal_post_invoices(*, invoices: Iterable[Invoice]) -> int:
    """Post each issued invoice not yet in the journal; return how many were posted.

    One entry per invoice, with a receivable, a billing and a tax line per contract it bills,
    so that every contract's billings and receivable can be read off the ledger on their own.
    The rows are built by the database from the invoice lines (``_post_issued``): a bill run
    posts thousands of invoices in its issuing transactions, and building the entries and lines
    in Python took more than a quarter of its time.
    """
    issued: dict[int, date] = {
        invoice.pk: invoice.issue_date for invoice in invoices if invoice.issue_date is not None
    }
    if not issued:
        return 0
    keys = {pk: _issued_key(pk) for pk in issued}
    done = set(
        JournalEntry.objects.filter(source_key__any=keys.values()).values_list(
            "source_key", flat=True
        )
    )
    by_date: dict[date, list[int]] = defaultdict(list)
    for pk, issue_date in issued.items():
        if keys[pk] not in done:
            by_date[issue_date].append(pk)
    if not by_date:
        return 0
    accounts = ledger_accounts()
    first_open = first_open_period()
    posted = 0
    for issue_date, ids in sorted(by_date.items()):
        day, period = accounting_date(issue_date, first_open)
        for start in range(0, len(ids), POSTING_BATCH_SIZE):
            posted += _post_issued(
                ids[start : start + POSTING_BATCH_SIZE], day=day, period=period, accounts=accounts
            )
    return posted


def _issued_key(invoice_id: int) -> str:
    return f"invoice:{invoice_id}:issued"


# Invoices per pair of statements: their ids are the statements' parameters, well under
# SQLite's limit on bound variables.
POSTING_BATCH_SIZE = 500


def _post_issued(
    invoice_ids: list[int], *, day: date, period: date, accounts: dict[str, LedgerAccount]
) -> int:
    """Post the entries of issued invoices not in the journal, all on one accounting date.

    Two ``INSERT ... SELECT`` statements, the same on PostgreSQL and SQLite: the entries, in
    the order of the invoices' numbers, each naming its contract when it bills only one; then
    their lines from the invoice lines summed per contract (in contract order: receivable
    ``amount + tax``, billing ``-amount``, tax ``-tax`` when there is some), a positive amount
    a debit and a negative one a credit, as ``_line`` builds them.
    """
    connection = connections[router.db_for_write(JournalEntry)]
    quote = connection.ops.quote_name
    entry, line = quote(JournalEntry._meta.db_table), quote(JournalLine._meta.db_table)
    invoice, invoice_line = quote(Invoice._meta.db_table), quote(InvoiceLine._meta.db_table)
    contract_line = quote(ContractLine._meta.db_table)
    # One array parameter on PostgreSQL (see rms.lookups), a list of them elsewhere.
    if connection.vendor == "postgresql":
        key_type = Invoice._meta.pk.cast_db_type(connection)
        among, id_params = f"= ANY(%s::{key_type}[])", [list(invoice_ids)]
    else:
        among, id_params = f"IN ({', '.join(['%s'] * len(invoice_ids))})", list(invoice_ids)
    entries_sql = f"""
        INSERT INTO {entry} (
            kind, date, period, currency, source_key, invoice_id, contract_id, description,
            created_at
        )
        SELECT %s, %s, %s, i.currency, %s || CAST(i.id AS TEXT) || %s, i.id,
            (SELECT CASE WHEN COUNT(DISTINCT cl.contract_id) = 1 THEN MIN(cl.contract_id) END
             FROM {invoice_line} il JOIN {contract_line} cl ON cl.id = il.contract_line_id
             WHERE il.invoice_id = i.id),
            %s || i.number, %s
        FROM {invoice} i
        WHERE i.id {among}
        ORDER BY i.series, i.year, i.sequence_number, i.id
    """
    lines_sql = f"""
        INSERT INTO {line} (entry_id, account_id, contract_id, date, kind, currency, debit, credit)
        SELECT entry_id, account_id, contract_id, date, kind, currency,
            CASE WHEN signed > 0 THEN signed ELSE 0 END,
            CASE WHEN signed < 0 THEN -signed ELSE 0 END
        FROM (
            SELECT e.id AS entry_id, r.column1 AS role, r.column2 AS account_id, t.contract_id,
                e.date, e.kind, e.currency, t.tax,
                CASE r.column1 WHEN 0 THEN t.amount + t.tax WHEN 1 THEN -t.amount ELSE -t.tax END
                    AS signed
            FROM (
                SELECT il.invoice_id, cl.contract_id, SUM(il.amount) AS amount,
                    SUM(il.tax_amount) AS tax
                FROM {invoice_line} il JOIN {contract_line} cl ON cl.id = il.contract_line_id
                WHERE il.invoice_id {among}
                GROUP BY il.invoice_id, cl.contract_id
            ) t
            JOIN {entry} e ON e.invoice_id = t.invoice_id AND e.kind = %s
                -- Said twice so that the entries are found by their index, not by reading
                -- every entry in the journal.
                AND e.invoice_id {among}
            CROSS JOIN (VALUES (0, %s), (1, %s), (2, %s)) r
        ) x
        WHERE role <> 2 OR tax <> 0
        ORDER BY entry_id, contract_id, role
    """
    kind = JournalEntry.Kind.INVOICE
    with connection.cursor() as cursor:
        cursor.execute(
            entries_sql,
            [kind, day, period, "invoice:", ":issued", "Invoice ", timezone.now(), *id_params],
        )
        posted = cursor.rowcount
        cursor.execute(
            lines_sql,
            [
                *id_params,
                kind,
                *id_params,
                accounts[Role.RECEIVABLE].pk,
                accounts[Role.CONTRACT].pk,
                accounts[Role.TAX].pk,
            ],
        )
    return posted


def journal_post_void(*, invoice: Invoice, voided_on: date) -> JournalEntry | None:
    """Reverse a voided invoice's entry line for line (posting the invoice first if it never was).

    A void of a draft has nothing to reverse and returns None; so does a second call.
    """
    key = f"invoice:{invoice.pk}:void"
    if invoice.issue_date is None or JournalEntry.objects.filter(source_key=key).exists():
        return None
    journal_post_invoices(invoices=[invoice])
    issued = JournalEntry.objects.get(source_key=_issued_key(invoice.pk))
    day, period = accounting_date(voided_on, first_open_period())
    entry = JournalEntry.objects.create(
        kind=JournalEntry.Kind.INVOICE_VOID,
        date=day,
        period=period,
        currency=issued.currency,
        source_key=key,
        invoice=invoice,
        contract_id=issued.contract_id,
        description=f"Void of invoice {invoice.number}",
    )
    JournalLine.objects.bulk_create(
        _line(entry, line.account, line.contract_id, line.credit - line.debit)
        for line in issued.lines.select_related("account")
    )
    return entry


def journal_post_credit_note(*, credit_note: CreditNote) -> JournalEntry | None:
    """Post an issued credit note: the reverse of the invoice lines it credits, per contract.

    Debit the contract (billings taken back) and tax, credit receivables. Returns None when it
    is already posted.
    """
    key = f"credit_note:{credit_note.pk}:issued"
    if credit_note.issue_date is None or JournalEntry.objects.filter(source_key=key).exists():
        return None
    rows = (
        credit_note.lines.values("invoice_line__contract_line__contract_id")
        .annotate(amount=Sum("amount"), tax=Sum("tax_amount"))
        .order_by("invoice_line__contract_line__contract_id")
    )
    contracts = [
        (row["invoice_line__contract_line__contract_id"], row["amount"], row["tax"]) for row in rows
    ]
    accounts = ledger_accounts()
    day, period = accounting_date(credit_note.issue_date, first_open_period())
    entry = JournalEntry.objects.create(
        kind=JournalEntry.Kind.CREDIT_NOTE,
        date=day,
        period=period,
        currency=credit_note.currency,
        source_key=key,
        invoice_id=credit_note.invoice_id,
        credit_note=credit_note,
        contract_id=contracts[0][0] if len(contracts) == 1 else None,
        description=f"Credit note {credit_note.number} on invoice {credit_note.invoice.number}",
    )
    lines = []
    for contract_id, amount, tax in contracts:
        lines.append(_line(entry, accounts[Role.CONTRACT], contract_id, amount))
        if tax:
            lines.append(_line(entry, accounts[Role.TAX], contract_id, tax))
        lines.append(_line(entry, accounts[Role.RECEIVABLE], contract_id, -(amount + tax)))
    JournalLine.objects.bulk_create(lines)
    return entry


def journal_catch_up() -> int:
    """Post invoices issued or voided before the journal existed (or by a path that skipped it).

    Return how many entries were posted. Cheap when nothing is missing: two anti-join queries.
    """
    posted = 0
    missing_issue = Invoice.objects.filter(issue_date__isnull=False).exclude(
        journal_entries__kind=JournalEntry.Kind.INVOICE
    )
    posted += journal_post_invoices(invoices=list(missing_issue))
    missing_void = Invoice.objects.filter(
        status=Invoice.Status.VOID, issue_date__isnull=False
    ).exclude(journal_entries__kind=JournalEntry.Kind.INVOICE_VOID)
    for invoice in missing_void:
        voided_on = invoice.voided_at.date() if invoice.voided_at else invoice.issue_date
        posted += journal_post_void(invoice=invoice, voided_on=voided_on) is not None
    missing_credit = CreditNote.objects.filter(status=CreditNote.Status.ISSUED).exclude(
        journal_entries__kind=JournalEntry.Kind.CREDIT_NOTE
    )
    for credit_note in missing_credit.select_related("invoice"):
        posted += journal_post_credit_note(credit_note=credit_note) is not None
    return posted


def recognition_entry(
    *,
    accounts: dict[str, LedgerAccount],
    contract_id: int,
    currency: str,
    day: date,
    period: date,
    amount: Decimal,
    source_key: str,
    description: str,
) -> tuple[JournalEntry, list[JournalLine]]:
    """Build (unsaved) the entry recognizing ``amount``: Dr contract, Cr revenue."""
    entry = JournalEntry(
        kind=JournalEntry.Kind.RECOGNITION,
        date=day,
        period=period,
        currency=currency,
        source_key=source_key,
        contract_id=contract_id,
        description=description[:255],
    )
    return entry, [
        _line(entry, accounts[Role.CONTRACT], contract_id, amount),
        _line(entry, accounts[Role.REVENUE], contract_id, -amount),
    ]
