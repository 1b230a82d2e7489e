"""Importing milestone schedules: sums to the line's value, history protected, refusals in words.

Also the samples chain: payment terms set up, then customers, products, contracts and milestones
import cleanly one after the other into an empty book.
"""

import csv
import io
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from djmoney.money import Money

from contracts.imports.contracts import ContractsLayout
from contracts.imports.customers import CustomersLayout
from contracts.imports.milestones import MilestonesLayout
from contracts.imports.products import ProductsLayout
from contracts.models import Contract, Milestone
from imports.engine import Mode, Status, import_csv
from imports.export import export_csv

pytestmark = pytest.mark.django_db

SAMPLES = Path(__file__).parents[2] / "docs" / "samples"
HEAD = "contract_number,line_sequence,milestone_sequence,name,planned_date,percent,amount\n"


def problems(report) -> list[str]:
    return [str(problem) for problem in report.problems]


def schedule(line) -> list[tuple]:
    return [
        (m.sequence, m.name, m.percent, m.amount, m.status)
        for m in Milestone.objects.filter(line=line).order_by("sequence")
    ]


@pytest.fixture
def line(contract_factory, contract_line_factory):
    """Line 2 of contract K-1: a milestone line worth 1,000.00 USD."""
    contract = contract_factory(number="K-1")
    contract_line_factory(contract=contract, sequence=1)  # a subscription line
    return contract_line_factory(
        contract=contract, sequence=2, milestone=True, unit_price=Money("1000.00", "USD")
    )


def milestone_of_history(line, sequence, amount, percent=None, *, status=Milestone.Status.ACHIEVED):
    """Store a milestone of ``line``'s history (achieved, invoiced or cancelled)."""
    return Milestone.objects.create(
        line=line,
        sequence=sequence,
        name=f"Step {sequence}",
        planned_date=date(2026, 2, 1),
        percent=percent,
        amount=Money(amount, "USD"),
        status=status,
        achieved_on=None if status == Milestone.Status.CANCELLED else date(2026, 2, 3),
        approved_at="2026-02-04T10:00Z" if status == Milestone.Status.INVOICED else None,
    )


def test_percents_are_priced_with_the_rounding_remainder_on_the_last(line):
    # 33.3333% of 1,000.00 is 333.333, rounded 333.33; the last takes what is left:
    # 1,000.00 - 333.33 - 333.33 = 333.34, where its own share would round to 333.33.
    data = HEAD + (
        "K-1,2,1,Design,2026-02-01,33.3333,\n"
        "K-1,2,2,Build,2026-05-01,33.3333,\n"
        "K-1,2,3,Go-live,2026-08-01,33.3334,\n"
    )

    report = import_csv(MilestonesLayout(), data.encode())

    assert problems(report) == []
    assert report.counts == {Status.NEW: 3}
    assert schedule(line) == [
        (1, "Design", Decimal("33.3333"), Money("333.33", "USD"), "planned"),
        (2, "Build", Decimal("33.3333"), Money("333.33", "USD"), "planned"),
        (3, "Go-live", Decimal("33.3334"), Money("333.34", "USD"), "planned"),
    ]
    assert Milestone.history.filter(history_type="+").count() == 3


def test_a_schedule_that_does_not_sum_to_the_value_is_refused_with_both_figures(line):
    # Three times 33.3333% is 99.9999%: 999.99, a cent short, and no milestone may absorb it.
    data = HEAD + (
        "K-1,2,1,Design,2026-02-01,33.3333,\n"
        "K-1,2,2,Build,2026-05-01,33.3333,\n"
        "K-1,2,3,Go-live,2026-08-01,33.3333,\n"
    )

    report = import_csv(MilestonesLayout(), data.encode())

    assert problems(report) == [
        "Row 2, column percent: the milestones of line 2 of K-1 sum to 999.99 USD but the "
        "line's value is 1,000.00 USD; they must sum exactly to it.",
        "Row 3: not imported: this line's schedule has errors on row 2.",
        "Row 4: not imported: this line's schedule has errors on row 2.",
    ]
    assert schedule(line) == []


def test_fixed_amounts_and_percents_mix_and_a_second_import_changes_nothing(line):
    data = HEAD + (
        "K-1,2,1,Kickoff,2026-01-15,,100.00\n"
        "K-1,2,2,Build,2026-05-01,45,\n"
        "K-1,2,3,Go-live,2026-08-01,45,\n"
    )
    import_csv(MilestonesLayout(), data.encode())

    again = import_csv(MilestonesLayout(), data.encode())
    later = import_csv(MilestonesLayout(), data.replace("2026-08-01", "2026-09-15").encode())

    assert again.counts == {Status.UNCHANGED: 3}
    assert later.counts == {Status.UNCHANGED: 2, Status.UPDATED: 1}
    assert schedule(line) == [
        (1, "Kickoff", None, Money("100.00", "USD"), "planned"),
        (2, "Build", Decimal(45), Money("450.00", "USD"), "planned"),
        (3, "Go-live", Decimal(45), Money("450.00", "USD"), "planned"),
    ]
    assert Milestone.objects.get(sequence=3).planned_date == date(2026, 9, 15)
    assert Milestone.history.filter(history_type="~").count() == 1


def test_an_achieved_milestone_is_unchanged_when_it_matches_and_refused_when_it_differs(line):
    milestone_of_history(line, 1, "300.00", Decimal(30))
    rows = "K-1,2,1,Step 1,2026-02-01,30,\n"
    rows += "K-1,2,2,Build,2026-05-01,40,\nK-1,2,3,Go,2026-08-01,30,\n"

    report = import_csv(MilestonesLayout(), (HEAD + rows).encode())
    changed = import_csv(
        MilestonesLayout(), (HEAD + rows.replace("Step 1,2026-02-01", "Start,2026-03-01")).encode()
    )

    assert problems(report) == []
    assert report.counts == {Status.UNCHANGED: 1, Status.NEW: 2}
    assert schedule(line) == [
        (1, "Step 1", Decimal(30), Money("300.00", "USD"), "achieved"),
        (2, "Build", Decimal(40), Money("400.00", "USD"), "planned"),
        (3, "Go", Decimal(30), Money("300.00", "USD"), "planned"),
    ]
    assert problems(changed) == [
        "Row 2, column name: milestone 1 is achieved; only planned milestones change by import "
        "(it has Step 1, the file Start).",
        "Row 2, column planned_date: milestone 1 is achieved; only planned milestones change by "
        "import (it has 2026-02-01, the file 2026-03-01).",
        "Row 3: not imported: this line's schedule has errors on row 2.",
        "Row 4: not imported: this line's schedule has errors on row 2.",
    ]


def test_history_counts_towards_the_sum_and_cancelled_milestones_do_not(line):
    milestone_of_history(line, 1, "250.00")
    milestone_of_history(line, 2, "400.00", status=Milestone.Status.CANCELLED)
    milestone_of_history(line, 3, "150.00", status=Milestone.Status.INVOICED)
    short = HEAD + "K-1,2,4,Rest,2026-08-01,,500.00\n"

    refused = import_csv(MilestonesLayout(), short.encode())
    report = import_csv(MilestonesLayout(), short.replace("500.00", "600.00").encode())

    assert problems(refused) == [
        "Row 2, column amount: the milestones of line 2 of K-1 sum to 900.00 USD (of which "
        "400.00 USD already achieved) but the line's value is 1,000.00 USD; they must sum "
        "exactly to it."
    ]
    assert report.counts == {Status.NEW: 1}


def test_planned_milestones_the_file_does_not_list_stay_and_count_towards_the_sum(line):
    import_csv(
        MilestonesLayout(),
        (HEAD + "K-1,2,1,Design,2026-02-01,50,\nK-1,2,2,Build,2026-05-01,50,\n").encode(),
    )
    # Milestone 1 is not in the file: it keeps its 50%, so 2 and 3 must share the other half.
    refused = import_csv(MilestonesLayout(), (HEAD + "K-1,2,3,Go-live,2026-08-01,20,\n").encode())
    report = import_csv(
        MilestonesLayout(),
        (HEAD + "K-1,2,2,Build,2026-05-01,30,\nK-1,2,3,Go-live,2026-08-01,20,\n").encode(),
    )

    assert problems(refused) == [
        "Row 2, column percent: the milestones of line 2 of K-1 sum to 1,200.00 USD but the "
        "line's value is 1,000.00 USD; they must sum exactly to it."
    ]
    assert report.counts == {Status.UPDATED: 1, Status.NEW: 1}
    assert [(seq, percent, amount) for seq, _, percent, amount, _ in schedule(line)] == [
        (1, Decimal(50), Money("500.00", "USD")),
        (2, Decimal(30), Money("300.00", "USD")),
        (3, Decimal(20), Money("200.00", "USD")),
    ]


def test_a_remainder_that_moves_reprices_the_milestone_that_had_it(line):
    # 33.3333% of 1,000.00 rounds to 333.33; the last, 33.3334%, absorbs the cent: 333.34.
    import_csv(
        MilestonesLayout(),
        (
            HEAD + "K-1,2,1,A,2026-02-01,33.3333,\nK-1,2,2,B,2026-03-01,33.3333,\n"
            "K-1,2,3,C,2026-04-01,33.3334,\n"
        ).encode(),
    )
    # Milestone 1 drops to 13.3333% (133.33) and a new last milestone 4 takes 20%: 4 now
    # absorbs the remainder, 1,000.00 - 133.33 - 333.33 - 333.33 = 200.01, and 3, not in the
    # file, is back to its own share of 333.334, 333.33.
    report = import_csv(
        MilestonesLayout(),
        (HEAD + "K-1,2,1,A,2026-02-01,13.3333,\nK-1,2,4,D,2026-05-01,20,\n").encode(),
    )

    assert problems(report) == []
    assert report.counts == {Status.UPDATED: 1, Status.NEW: 1}
    assert [amount for _, _, _, amount, _ in schedule(line)] == [
        Money("133.33", "USD"),
        Money("333.33", "USD"),
        Money("333.33", "USD"),
        Money("200.01", "USD"),
    ]
    assert Milestone.objects.get(sequence=3).history.filter(history_type="~").count() == 1


def test_every_bad_row_is_named_by_row_and_column(line, contract_line_factory):
    data = HEAD + (
        "K-9,2,1,Design,2026-02-01,100,\n"
        "K-1,7,1,Design,2026-02-01,100,\n"
        "K-1,1,1,Design,2026-02-01,100,\n"
        "K-1,2,1,Design,2026-02-01,50,500.00\n"
        "K-1,2,2,Build,2026-05-01,,\n"
        "K-1,2,3,Go-live,2026-08-01,,250.005\n"
        "K-1,2,4,Extra,2026-08-01,120,\n"
        "K-1,2,4,Extra,2026-31-08,,\n"
    )

    report = import_csv(MilestonesLayout(), data.encode())

    assert problems(report) == [
        "Row 2, column contract_number: no contract has the number K-9.",
        "Row 3, column line_sequence: contract K-1 has no line 7.",
        "Row 4, column line_sequence: line 1 of K-1 is billed by subscription, not by "
        "milestones; only milestone lines have a milestone schedule.",
        "Row 5, column percent: give a percent or an amount, exactly one (both are filled).",
        "Row 6, column percent: give a percent or an amount, exactly one (both are empty).",
        "Row 7, column amount: 250.005 has more decimals than USD has.",
        "Row 8, column percent: Ensure this value is less than or equal to 100.",
        "Row 9, column planned_date: 2026-31-08 is not a date (use YYYY-MM-DD, e.g. 2026-01-31).",
        "Row 9, column contract_number: repeats the contract_number and line_sequence and "
        "milestone_sequence of row 8.",
    ]
    assert not Milestone.objects.exists()


def test_a_new_milestone_needs_its_terms_when_the_file_has_neither_column(line):
    head = "contract_number,line_sequence,milestone_sequence,name,planned_date\n"

    report = import_csv(MilestonesLayout(), (head + "K-1,2,1,Design,2026-02-01\n").encode())

    assert problems(report) == [
        "Row 2, column percent: is missing: a new milestone needs a percent or an amount."
    ]


def test_a_lines_rows_must_be_next_to_each_other_and_keep_good_rows_leaves_it_out(
    line, contract_line_factory
):
    other = contract_line_factory(
        contract=line.contract, sequence=3, milestone=True, unit_price=Money("500.00", "USD")
    )
    data = HEAD + (
        "K-1,2,1,Design,2026-02-01,100,\n"
        "K-1,3,1,Training,2026-03-01,100,\n"
        "K-1,2,2,Build,2026-05-01,,0\n"
    )

    refused = import_csv(MilestonesLayout(), data.encode())
    kept = import_csv(MilestonesLayout(), data.encode(), mode=Mode.KEEP_GOOD_ROWS)

    assert problems(refused) == [
        "Row 4, column line_sequence: rows of one line's schedule must be next to each other; "
        "line 2 of K-1 was first seen on row 2."
    ]
    assert kept.counts == {Status.NEW: 1, Status.ERROR: 2}
    assert schedule(line) == []
    assert schedule(other) == [(1, "Training", Decimal(100), Money("500.00", "USD"), "planned")]
    bad = list(csv.DictReader(io.StringIO(kept.errors_csv())))
    assert [(row["milestone_sequence"], row["errors"]) for row in bad] == [
        ("1", "Row 2: not imported: this line's schedule has errors on row 4."),
        (
            "2",
            "Row 4, column line_sequence: rows of one line's schedule must be next to each "
            "other; line 2 of K-1 was first seen on row 2.",
        ),
    ]


def test_an_export_of_every_status_imports_back_as_no_change(line):
    milestone_of_history(line, 1, "250.00", Decimal(25), status=Milestone.Status.INVOICED)
    milestone_of_history(line, 2, "100.00", status=Milestone.Status.CANCELLED)
    import_csv(
        MilestonesLayout(),
        (HEAD + "K-1,2,3,Build,2026-05-01,,400.00\nK-1,2,4,=Go-live,2026-08-01,35,\n").encode(),
    )

    exported = export_csv(MilestonesLayout(), Milestone.objects.all())

    rows = list(csv.DictReader(io.StringIO(exported)))
    assert [(r["milestone_sequence"], r["name"], r["percent"], r["amount"]) for r in rows] == [
        ("1", "Step 1", "25", ""),
        ("2", "Step 2", "", "100"),
        ("3", "Build", "", "400"),
        ("4", "'=Go-live", "35", ""),
    ]
    report = import_csv(MilestonesLayout(), exported.encode())
    assert problems(report) == []
    assert report.counts == {Status.UNCHANGED: 4}


@pytest.mark.parametrize("count", [10, 100])
def test_a_chunk_of_schedules_costs_the_same_queries_for_ten_rows_as_for_a_hundred(
    contract_factory, contract_line_factory, django_assert_max_num_queries, count
):
    """Five milestones of 20% per line; the second import renames them all."""
    contract = contract_factory(number="K-1")
    for sequence in range(1, count // 5 + 1):
        contract_line_factory(contract=contract, sequence=sequence, milestone=True)
    rows = [f"K-1,{n // 5 + 1},{n % 5 + 1},Step {n},2026-02-01,20,\n" for n in range(count)]
    data = (HEAD + "".join(rows)).encode()
    created = import_csv(MilestonesLayout(), data)

    # 3 lookups (contracts, lines, milestones); update and its history; 3 savepoints and
    # their releases. One row more or less costs no query.
    with django_assert_max_num_queries(11):
        renamed = import_csv(MilestonesLayout(), data.replace(b",Step ", b",Phase "))

    assert created.counts == {Status.NEW: count}
    assert renamed.counts == {Status.UPDATED: count}


def test_the_samples_import_cleanly_one_after_the_other(payment_terms_factory):
    payment_terms_factory(name="Net 30", days=30)
    payment_terms_factory(name="Net 45", days=45)
    payment_terms_factory(name="Due on receipt", basis="due_on_receipt", days=0)
    layouts = [
        (CustomersLayout, "customers.csv", 5),
        (ProductsLayout, "products.csv", 7),
        (ContractsLayout, "contracts.csv", 6),
        (MilestonesLayout, "milestones.csv", 6),
    ]

    for layout, name, rows in layouts:
        report = import_csv(layout(), (SAMPLES / name).read_bytes())
        assert (name, problems(report), report.counts) == (name, [], {Status.NEW: rows})

    for layout, name, rows in layouts:
        again = import_csv(layout(), (SAMPLES / name).read_bytes())
        assert (name, again.counts) == (name, {Status.UNCHANGED: rows})
    acme = Contract.objects.get(number="ACME-2026-001").lines.get(sequence=2)
    assert sum((m.amount for m in acme.milestones.all()), Money(0, "USD")) == Money(
        "120000.00", "USD"
    )
