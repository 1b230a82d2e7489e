"""``manage.py import_csv`` and the per-layout commands: import here and now, fail loudly."""

import csv
import io

import pytest
from django.core.management import call_command, load_command_class
from django.core.management.base import CommandError

from contracts.imports.contracts import ContractsLayout
from contracts.models import Contract
from imports.registry import LAYOUTS

pytestmark = pytest.mark.django_db

HEAD = "contract_number,customer_number,start_date,end_date,line_sequence,sku,unit_price,"
HEAD += "interval_months,bill_timing,bill_day_mode\n"


def line(contract="K-1", seq=1, customer="ACME") -> str:
    dates = "2026-01-01,2026-12-31"
    return f"{contract},{customer},{dates},{seq},PLAT-SUB,40.00,1,advance,anniversary\n"


@pytest.fixture
def book(customer_factory, product_factory):
    customer_factory(number="ACME")
    product_factory(sku="PLAT-SUB")


@pytest.fixture
def csv_file(tmp_path):
    def csv_file(*lines: str):
        path = tmp_path / "contracts.csv"
        path.write_text(HEAD + "".join(lines))
        return path

    return csv_file


def test_import_contracts_imports_the_file_and_shows_its_progress(
    book, csv_file, capsys, monkeypatch
):
    monkeypatch.setattr(ContractsLayout, "chunk_size", 1)

    call_command("import_contracts", csv_file(line("K-1"), line("K-2")))

    out, err = capsys.readouterr()
    assert out == "Imported 2 rows: 2 new, 0 updated, 0 unchanged.\n"
    assert err == "\r1 rows read\r2 rows read\n"
    record = Contract.history.get(number="K-1")
    assert (record.history_username, record.history_via) == ("", "command import_contracts")


def test_import_csv_takes_the_layout_and_a_dry_run_writes_nothing(book, csv_file, capsys):
    call_command("import_csv", "contracts", csv_file(line()), "--dry-run")

    assert capsys.readouterr().out.startswith("Dry run of 1 rows: 1 new,")
    assert not Contract.objects.exists()


def test_bad_rows_fail_the_command_naming_each_row_and_write_the_errors_file(
    book, csv_file, tmp_path
):
    errors_file = tmp_path / "bad.csv"
    file = csv_file(line("K-1"), line("K-2", customer="NOBODY"), line("K-3", customer="GONE"))

    with pytest.raises(CommandError) as failure:
        call_command("import_contracts", file, "--errors-file", errors_file)

    assert str(failure.value).splitlines() == [
        "Nothing imported: 2 of 3 rows have errors.",
        "Row 3, column customer_number: no customer has account number NOBODY.",
        "Row 4, column customer_number: no customer has account number GONE.",
    ]
    assert not Contract.objects.exists()
    rows = list(csv.reader(io.StringIO(errors_file.read_text(encoding="utf-8-sig"))))
    assert [row[0] for row in rows] == ["contract_number", "K-2", "K-3"]
    assert rows[1][-1] == "Row 3, column customer_number: no customer has account number NOBODY."


def test_keeping_good_rows_imports_them_and_still_fails_the_command(book, csv_file):
    with pytest.raises(CommandError, match="1 with errors"):
        call_command(
            "import_contracts", csv_file(line("K-1"), line("K-2", "NOBODY")), "--keep-good-rows"
        )

    assert list(Contract.objects.values_list("number", flat=True)) == ["K-1"]


def test_the_command_lists_fifty_problems_and_counts_the_rest(book, csv_file):
    file = csv_file(*(line(f"K-{n}", customer="NOBODY") for n in range(53)))

    with pytest.raises(CommandError) as failure:
        call_command("import_contracts", file)

    lines = str(failure.value).splitlines()
    assert len(lines) == 1 + 50 + 1
    assert lines[50] == "Row 51, column customer_number: no customer has account number NOBODY."
    assert lines[-1] == "… and 3 more."


def test_a_file_that_cannot_be_read_fails_the_command(tmp_path):
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("import_contracts", tmp_path / "missing.csv")

    wrong = tmp_path / "wrong.csv"
    wrong.write_text("number,name\nK-1,Acme\n")
    with pytest.raises(CommandError, match=r"^Nothing imported: Row 1 \(the header\)"):
        call_command("import_contracts", wrong)


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_each_layout_has_its_command(layout):
    command = load_command_class("imports", f"import_{layout}")
    parser = command.create_parser("manage.py", f"import_{layout}")

    assert command.layout == layout
    assert f"in the {layout} layout" in parser.format_help()
    assert parser.parse_args(["f.csv"]).file.name == "f.csv"
