"""Files as spreadsheets and other systems really write them: each is read, or refused in words."""

import codecs

import pytest

from imports.reading import FileError, open_table

REQUIRED = ("number", "name")
OPTIONAL = ("city",)


def read(data: bytes) -> list[tuple[int, dict[str, str]]]:
    table = open_table(data, required=REQUIRED, optional=OPTIONAL)
    return [(row.number, row.cells) for row in table.rows()]


def test_utf8_with_a_byte_order_mark_reads_its_first_column():
    data = codecs.BOM_UTF8 + "number,name\nC-1,Société Générale\n".encode()
    assert read(data) == [(2, {"number": "C-1", "name": "Société Générale"})]


def test_latin1_is_read_as_windows_1252():
    table = open_table(
        "number;name\nC-1;Müller GmbH\n".encode("latin-1"), required=REQUIRED, optional=()
    )
    assert table.encoding == "cp1252"
    assert [row.cells["name"] for row in table.rows()] == ["Müller GmbH"]


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_the_delimiter_is_taken_from_the_header(delimiter):
    data = f"number{delimiter}name{delimiter}city\nC-1{delimiter}Acme, Inc.{delimiter}Köln\n"
    if delimiter == ",":
        data = data.replace("Acme, Inc.", '"Acme, Inc."')
    assert read(data.encode()) == [(2, {"number": "C-1", "name": "Acme, Inc.", "city": "Köln"})]


def test_header_names_are_read_loosely_and_rows_numbered_as_a_spreadsheet_shows_them():
    data = b' Number , NAME \nC-1,"Two\nlines"\n\n,\nC-2,Beta\n'
    # The quoted line break stays in its cell; blank rows are skipped but keep their numbers.
    assert read(data) == [
        (2, {"number": "C-1", "name": "Two\nlines"}),
        (5, {"number": "C-2", "name": "Beta"}),
    ]


def test_a_row_with_extra_cells_is_marked_for_refusal():
    [(number, cells)] = read(b"number,name\nC-1,Acme,surplus\n")
    assert number == 2
    assert cells["__extra__"] == "3 cells; the header has 2"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty"),
        (b"number\nC-1\n", "Row 1 (the header): missing column(s): name."),
        (b"number,name,colour\n", "unknown column(s): colour."),
        (b"number,name,name\n", "column(s) named twice: name"),
        (b"number,name,\n", "unknown column(s): (blank)"),
        (b"PK\x03\x04\x00\x00binary", "This is not a text CSV file"),
    ],
)
def test_unreadable_files_are_refused_saying_why(data, message):
    with pytest.raises(FileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read(data)


def test_the_header_refusal_lists_the_columns_the_layout_takes():
    with pytest.raises(FileError) as refusal:
        read(b"number,nom\n")
    assert str(refusal.value) == (
        "Row 1 (the header): missing column(s): name; unknown column(s): nom. "
        "The columns are: number, name, city (required first)."
    )


def test_a_file_over_the_size_limit_is_refused_before_reading(settings):
    settings.RMS_IMPORT_MAX_MB = 1
    data = b"number,name\n" + b"C-1,Acme\n" * 120_000
    with pytest.raises(FileError, match=r"The file is 1\.0 MB; files up to 1 MB are accepted"):
        read(data)


def test_a_malformed_quote_names_its_row():
    table = open_table(b'number,name\nC-1,"Acme\n', required=REQUIRED, optional=())
    with pytest.raises(FileError, match="cannot be read"):
        list(table.rows())


def test_excels_unicode_text_export_is_read():
    """Excel's "Unicode Text" is UTF-16 with a byte-order mark, tab-separated."""
    assert read("number\tname\nC-1\tÅland Oy\n".encode("utf-16")) == [
        (2, {"number": "C-1", "name": "Åland Oy"})
    ]
