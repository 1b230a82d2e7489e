"""Importing contracts with their lines: upserts, every refusal in words, all or nothing."""

import csv
import io
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from djmoney.models.fields import MoneyField
from djmoney.money import Money
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from billing.models import BillingEvent
from contracts.imports.contracts import (
    COLUMN_OF_CONTRACT,
    COLUMN_OF_LINE,
    CONTRACT_FIELDS,
    CONTRACT_MONEY,
    LINE_FIELDS,
    LINE_MONEY,
    PARSED_CONTRACT_FIELDS,
    PARSED_LINE_FIELDS,
    ContractDraft,
    ContractsLayout,
    LineDraft,
)
from contracts.models import (
    BillDayMode,
    BillingModel,
    BillTiming,
    Contract,
    ContractLine,
    OneTimeTrigger,
    Product,
    RevenuePolicy,
)
from contracts.validation import draft_errors, row_errors
from imports.cells import CellError
from imports.engine import Mode, Status, import_csv
from imports.export import export_csv
from imports.objects import assign, money
from revenue.models import PerformanceObligation

pytestmark = pytest.mark.django_db

SAMPLE = Path(__file__).parents[2] / "docs" / "samples" / "contracts.csv"
HEAD = "contract_number,customer_number,start_date,end_date,line_sequence,sku,unit_price,"
HEAD += "interval_months,bill_timing,bill_day_mode\n"


def line(contract="K-1", customer="ACME", seq=1, sku="PLAT-SUB", price="40.00", start="2026-01-01"):
    return f"{contract},{customer},{start},2026-12-31,{seq},{sku},{price},1,advance,anniversary\n"


def problems(report) -> list[str]:
    return [str(problem) for problem in report.problems]


@pytest.fixture
def book(customer_factory, product_factory):
    """The customers and products the sample file refers to."""
    for number, currency in (("ACME", "USD"), ("GLOBEX", "EUR"), ("INITECH", "USD")):
        customer_factory(number=number, currency=currency)
    for sku, model, policy in (
        ("PLAT-SUB", BillingModel.SUBSCRIPTION, RevenuePolicy.RATABLE),
        ("IMPL-SVC", BillingModel.MILESTONE, RevenuePolicy.MILESTONE),
        ("API-CALLS", BillingModel.USAGE, RevenuePolicy.AS_CONSUMED),
        ("ONBOARD", BillingModel.ONE_TIME, RevenuePolicy.POINT_IN_TIME),
        ("SUPPORT", BillingModel.SUBSCRIPTION, RevenuePolicy.RATABLE),
    ):
        product_factory(sku=sku, default_billing_model=model, revenue_policy=policy)


def test_the_sample_file_imports_whole_and_a_second_time_changes_nothing(book):
    report = import_csv(ContractsLayout(), SAMPLE.read_bytes())

    assert problems(report) == []
    assert report.counts == {Status.NEW: 6}
    acme = Contract.objects.get(number="ACME-2026-001")
    assert (acme.status, acme.signed_date, acme.milestones_in_order) == (
        "active",
        date(2025, 12, 15),
        True,
    )
    lines = {ln.sequence: ln for ln in acme.lines.select_related("product")}
    assert lines[1].unit_price == Money("40.00", "USD")
    assert lines[1].quantity == Decimal(25)
    assert lines[1].service_start == date(2026, 1, 1)  # empty: the contract's start
    assert lines[3].subscription_key == "ACME-API-CALLS"
    assert lines[4].one_time_trigger == "on_order"
    globex = Contract.objects.get(number="GLOBEX-2026-001")
    assert globex.currency == "EUR"
    assert globex.lines.get().ssp_override == Money("420.00", "EUR")
    assert Contract.objects.get(number="INITECH-2026-001").evergreen is True

    again = import_csv(ContractsLayout(), SAMPLE.read_bytes())
    assert again.counts == {Status.UNCHANGED: 6}
    assert ContractLine.history.filter(history_type="~").count() == 0


def test_imported_rows_carry_their_history_and_billing_follows_after_commit(
    book, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        import_csv(ContractsLayout(), SAMPLE.read_bytes())

    acme = Contract.objects.get(number="ACME-2026-001")
    assert acme.history.get().history_type == "+"
    assert ContractLine.history.filter(contract_id=acme.pk).count() == 4
    # The follow-up task derived the active contract's obligations and billing schedule.
    assert PerformanceObligation.objects.filter(contract=acme).exists()
    assert BillingEvent.objects.filter(line__contract=acme).exists()


def test_a_changed_price_updates_its_line_and_leaves_the_others_unchanged(book):
    import_csv(ContractsLayout(), (HEAD + line(seq=1) + line(seq=2)).encode())

    report = import_csv(ContractsLayout(), (HEAD + line(seq=1) + line(seq=2, price="45")).encode())

    assert report.counts == {Status.UNCHANGED: 1, Status.UPDATED: 1}
    assert ContractLine.objects.get(sequence=2).unit_price == Money(45, "USD")
    assert [r[:2] for r in report.preview] == [(2, Status.UNCHANGED), (3, Status.UPDATED)]


def test_a_change_to_the_contract_counts_on_each_of_its_rows(book):
    import_csv(ContractsLayout(), (HEAD + line(seq=1) + line(seq=2)).encode())
    later = line(seq=1, start="2026-02-01") + line(seq=2, start="2026-02-01")

    report = import_csv(ContractsLayout(), (HEAD + later).encode())

    assert problems(report) == [
        "Row 2, column service_start: The service cannot start before the contract does "
        "(2026-02-01).",
        "Row 3, column service_start: The service cannot start before the contract does "
        "(2026-02-01).",
    ]
    assert Contract.objects.get().start_date == date(2026, 1, 1)


def test_every_bad_row_is_reported_and_nothing_is_written(book):
    class SmallChunks(ContractsLayout):
        chunk_size = 2

    data = HEAD + "".join(
        [
            line("K-1", seq=1),
            line("K-1", seq=2, start="2026-13-01"),
            line("K-2", customer="NOBODY"),
            line("K-3", sku="NOPE"),
            line("K-4", price="-5"),
            line("K-5", seq=1),
            line("K-5", seq=1),
        ]
    )
    report = import_csv(SmallChunks(), data.encode())

    assert problems(report) == [
        "Row 3, column start_date: 2026-13-01 is not a date (use YYYY-MM-DD, e.g. 2026-01-31).",
        "Row 4, column customer_number: no customer has account number NOBODY.",
        "Row 5, column sku: no product has the SKU NOPE.",
        "Row 6, column unit_price: -5 cannot be negative.",
        "Row 8, column contract_number: repeats the contract_number and line_sequence of row 7.",
    ]
    assert not report.imported
    assert report.summary() == "Nothing imported: 5 of 7 rows have errors."
    assert Contract.objects.count() == 0


def test_keep_good_rows_imports_whole_contracts_only_and_returns_the_bad_rows(book):
    data = HEAD + line("K-1", seq=1) + line("K-2", seq=1) + line("K-2", seq=2, sku="NOPE")

    report = import_csv(ContractsLayout(), data.encode(), mode=Mode.KEEP_GOOD_ROWS)

    assert report.imported
    assert list(Contract.objects.values_list("number", flat=True)) == ["K-1"]
    assert report.counts == {Status.NEW: 1, Status.ERROR: 2}
    bad = list(csv.DictReader(io.StringIO(report.errors_csv())))
    assert [(row["contract_number"], row["line_sequence"]) for row in bad] == [
        ("K-2", "1"),
        ("K-2", "2"),
    ]
    assert bad[0]["errors"] == "Row 3: not imported: this contract has errors on row 4."
    assert bad[1]["errors"] == "Row 4, column sku: no product has the SKU NOPE."

    fixed = report.errors_csv().replace(",NOPE,", ",PLAT-SUB,")
    again = import_csv(ContractsLayout(), fixed.encode(), mode=Mode.KEEP_GOOD_ROWS)
    assert again.counts == {Status.NEW: 2}
    assert ContractLine.objects.filter(contract__number="K-2").count() == 2


def test_a_dry_run_reports_what_would_happen_and_writes_nothing(book):
    report = import_csv(ContractsLayout(), SAMPLE.read_bytes(), dry_run=True)

    assert report.counts == {Status.NEW: 6}
    assert report.summary() == (
        "Dry run of 6 rows: 6 new, 0 updated, 0 unchanged, 0 with errors; nothing was written."
    )
    assert Contract.objects.count() == ContractLine.history.count() == 0


def test_rows_of_one_contract_must_agree_on_its_columns(book):
    other_end = line("K-1", seq=2).replace("2026-12-31", "2026-11-30")

    report = import_csv(ContractsLayout(), (HEAD + line("K-1") + other_end).encode())

    assert problems(report) == [
        "Row 3, column end_date: 2026-11-30 differs from 2026-12-31 on row 2, the first row of "
        "contract K-1; a contract's columns must agree."
    ]


def test_terms_are_checked_as_the_admin_checks_them(book, product_factory):
    product_factory(
        sku="USD-ONLY", ssp=Money(10, "USD"), default_billing_model=BillingModel.MILESTONE
    )
    head = "contract_number,customer_number,start_date,end_date,line_sequence,sku,unit_price\n"
    rows = [
        "K-1,ACME,2026-01-01,2026-12-31,1,PLAT-SUB,40",  # a subscription without its terms
        "K-2,ACME,2026-06-01,2026-01-31,1,ONBOARD,10",  # ends before it starts
        "K-3,GLOBEX,2026-01-01,2026-12-31,1,USD-ONLY,10",  # EUR contract, USD-only SSP
    ]

    report = import_csv(ContractsLayout(), (head + "\n".join(rows) + "\n").encode())

    assert problems(report) == [
        "Row 2, column interval_months: Required for a subscription line.",
        "Row 2, column bill_timing: Required for a subscription line.",
        "Row 2, column bill_day_mode: Required for a subscription line.",
        "Row 3, column end_date: The end date cannot be before the start date.",
        "Row 4, column ssp_override: The product's SSP is in USD but this contract is in EUR: "
        "enter an SSP override in EUR.",
    ]


def test_subscription_keys_stay_unique_across_the_file_and_the_book(book, contract_line_factory):
    contract_line_factory(subscription_key="TAKEN")
    head = "contract_number,customer_number,start_date,end_date,line_sequence,sku,"
    head += "subscription_key\n"
    rows = "K-1,ACME,2026-01-01,2026-12-31,1,API-CALLS,TAKEN\n"
    rows += "K-1,ACME,2026-01-01,2026-12-31,2,API-CALLS,NEW-KEY\n"
    rows += "K-1,ACME,2026-01-01,2026-12-31,3,API-CALLS,NEW-KEY\n"

    report = import_csv(ContractsLayout(), (head + rows).encode())

    assert problems(report) == [
        "Row 2, column subscription_key: TAKEN is the key of another contract line already.",
        "Row 4, column subscription_key: NEW-KEY is the key of the line on row 3 too.",
    ]


def test_an_export_imports_back_as_no_change_and_escapes_formulas(book):
    import_csv(ContractsLayout(), SAMPLE.read_bytes())
    Contract.objects.filter(number="ACME-2026-001").update(title="=HYPERLINK(evil)")

    exported = export_csv(ContractsLayout(), Contract.objects.all())

    assert exported.splitlines()[0] == ",".join(ContractsLayout.column_names())
    assert "'=HYPERLINK(evil)" in exported
    report = import_csv(ContractsLayout(), exported.encode())
    assert report.counts == {Status.UNCHANGED: 6}
    assert Contract.objects.get(number="ACME-2026-001").title == "=HYPERLINK(evil)"


def test_a_chunk_costs_the_same_lookups_for_ten_lines_as_for_a_hundred(book):
    """Lookups are per chunk; writes are bulk statements (SQLite splits them in batches)."""

    def reads_and_writes(count: int) -> tuple[int, int]:
        data = (HEAD + "".join(line(f"K-{count}-{n}") for n in range(count))).encode()
        with CaptureQueriesContext(connection) as captured:
            import_csv(ContractsLayout(), data)
        sql = [query["sql"] for query in captured]
        return sum(q.startswith("SELECT") for q in sql), len(sql)

    reads_10, _ = reads_and_writes(10)
    reads_100, all_100 = reads_and_writes(100)

    assert reads_10 == reads_100
    assert all_100 < 30
    assert Contract.objects.count() == 110


HOSTILE = ["x" * 256, "x" * 33, "bogus", "-1", "0", "121", "32", "1.00001", "1e400", "XXX", "EUR"]
PARSED_COLUMNS = [
    (column, field)
    for model, fields in (
        (Contract, PARSED_CONTRACT_FIELDS),
        (ContractLine, PARSED_LINE_FIELDS),
    )
    for field in sorted(fields)
    for column in [{**COLUMN_OF_CONTRACT, **COLUMN_OF_LINE}[field]]
]


@pytest.mark.parametrize(("column", "field"), PARSED_COLUMNS)
@settings(max_examples=40, deadline=None)
@given(cell=st.one_of(st.sampled_from(HOSTILE), st.text(max_size=300)))
def test_what_a_column_accepts_its_field_accepts_too(column, field, cell):
    """The field rules full_clean skips for parsed fields are the column parsers' to keep."""
    model = Contract if column in COLUMN_OF_CONTRACT.values() else ContractLine
    parse = {c.name: c.parse for c in ContractsLayout.columns}[column]
    assume(cell.strip())  # an empty cell is never parsed: it clears or defaults the field
    try:
        value = parse(cell.strip())
    except CellError:
        return
    model_field = model._meta.get_field(field)
    if isinstance(model_field, MoneyField):
        value = Money(value, "USD")
    model_field.clean(value, model())


def test_a_milestone_line_cannot_drop_below_what_its_milestones_fixed(book, contract_line_factory):
    line = contract_line_factory(
        contract__number="K-1",
        contract__customer__number="MILES",
        sequence=1,
        milestone=True,
        product__sku="PROJECT",
        unit_price=Money(1000, "USD"),
    )
    for sequence, status, amount in (
        (1, "achieved", 600),
        (2, "planned", 300),
        (3, "cancelled", 99),
    ):
        line.milestones.create(
            sequence=sequence,
            name=f"M{sequence}",
            planned_date=date(2026, 3, 1),
            amount=Money(amount, "USD"),
            status=status,
            achieved_on=date(2026, 3, 1) if status == "achieved" else None,
        )
    head = "contract_number,customer_number,start_date,end_date,line_sequence,sku,unit_price\n"

    def import_price(price: str):
        row = f"K-1,MILES,2026-01-01,2026-12-31,1,PROJECT,{price}\n"
        return import_csv(ContractsLayout(), (head + row).encode())

    # Achieved 600 and a fixed planned 300 count; the cancelled 99 does not.
    assert problems(import_price("899.99")) == [
        "Row 2, column unit_price: The milestones already achieved or fixed in amount total "
        "900.00 USD; the line's value cannot be less."
    ]
    assert import_price("900").counts == {Status.UPDATED: 1}


def maybe(values):
    return st.one_of(st.none(), st.sampled_from(values))


AMOUNTS = st.one_of(st.none(), st.decimals(min_value=-5, max_value=500, places=2))
DAYS = st.one_of(st.none(), st.dates(min_value=date(2025, 11, 1), max_value=date(2027, 2, 1)))
LINE_CELLS = st.fixed_dictionaries(
    {
        "description": maybe(["Seats"]),
        "billing_model": maybe(BillingModel.values),
        "quantity": st.one_of(st.none(), st.decimals(min_value=-1, max_value=50, places=1)),
        "unit_price": AMOUNTS,
        "ssp_override": AMOUNTS,
        "service_start": DAYS,
        "service_end": DAYS,
        "revenue_policy": maybe(RevenuePolicy.values),
        "interval_months": maybe([1, 3, 12]),
        "bill_timing": maybe(BillTiming.values),
        "bill_day_mode": maybe(BillDayMode.values),
        "bill_day": maybe([1, 31]),
        "one_time_trigger": maybe(OneTimeTrigger.values),
        "subscription_key": maybe(["METER-1"]),
    }
)


def fill_both(instance, draft, cells, *, fields, money_fields, currency):
    """Set the same cells on a model instance (as the import used to) and on a draft."""
    for column, name in fields.items():
        assign(instance, name, cells[column], new=True)
        draft.set(name, cells[column], new=True)
    for column, name in money_fields.items():
        setattr(instance, name, money(cells[column], currency))
        draft.set_money(name, money(cells[column], currency))


def assert_checked_alike(instance, draft, *, exclude, parsed):
    """The draft gets the instance's refusals, field by field, and would write its values."""
    expected = row_errors(instance, exclude=exclude, unique=False, parsed=parsed)
    assert draft_errors(draft, exclude=exclude, parsed=parsed) == expected
    fields = type(instance)._meta.concrete_fields
    assert {f.attname: getattr(draft, f.attname) for f in fields} == {
        f.attname: getattr(instance, f.attname) for f in fields
    }


@settings(max_examples=300, deadline=None)
@given(
    cells=LINE_CELLS,
    currency=st.sampled_from(["USD", "EUR"]),
    ssp_currency=st.sampled_from(["USD", "EUR"]),
    default_model=st.sampled_from(BillingModel.values),
    end=st.one_of(st.none(), st.just(date(2026, 12, 31))),
    evergreen=st.booleans(),
)
def test_a_line_draft_is_refused_and_filled_exactly_as_its_model_instance(
    cells, currency, ssp_currency, default_model, end, evergreen
):
    """The import checks lines as drafts: the same refusals, and the same values written, as
    ``row_errors`` gives a ``ContractLine`` built from the same cells."""
    contract = Contract(
        id=7, number="K-1", currency=currency, start_date=date(2026, 1, 1), end_date=end
    )
    contract.evergreen = evergreen
    product = Product(
        id=3, sku="P", ssp=Money(40, ssp_currency), default_billing_model=default_model
    )
    instance = ContractLine(sequence=1)
    instance.contract, instance.product = contract, product
    draft = LineDraft.new()
    draft.sequence = 1
    draft.relate("contract", contract)
    draft.relate("product", product)
    fill_both(
        instance, draft, cells, fields=LINE_FIELDS, money_fields=LINE_MONEY, currency=currency
    )
    for line in (instance, draft):
        line.billing_model = line.billing_model or default_model
        line.service_start = line.service_start or contract.start_date
        line.subscription_key = line.subscription_key or None
    assert_checked_alike(
        instance, draft, exclude={"contract", "product"}, parsed=PARSED_LINE_FIELDS
    )


@settings(max_examples=200, deadline=None)
@given(
    cells=st.fixed_dictionaries(
        {
            "title": maybe(["Platform"]),
            "status": maybe(Contract.Status.values),
            "signed_date": DAYS,
            "start_date": st.just(date(2026, 1, 1)),
            "end_date": DAYS,
            "evergreen": maybe([True, False]),
            "not_to_exceed": AMOUNTS,
            "cost_budget": AMOUNTS,
            "milestone_approval": maybe([True, False]),
            "milestones_in_order": maybe([True, False]),
        }
    ),
    currency=st.sampled_from(["USD", "EUR"]),
)
def test_a_contract_draft_is_refused_and_filled_exactly_as_its_model_instance(cells, currency):
    """As for lines: a contract is checked as a draft with ``Contract``'s own rules."""
    instance = Contract(number="K-1", currency=currency)
    draft = ContractDraft.new()
    draft.number, draft.currency = "K-1", currency
    fill_both(
        instance,
        draft,
        cells,
        fields=CONTRACT_FIELDS,
        money_fields=CONTRACT_MONEY,
        currency=currency,
    )
    assert_checked_alike(
        instance,
        draft,
        exclude={"customer", "finance_owner", "project_manager"},
        parsed=PARSED_CONTRACT_FIELDS,
    )
