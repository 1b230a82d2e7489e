"""Read an uploaded CSV file as a finance user's spreadsheet wrote it, or say why it cannot be.

Files come from Excel (UTF-8 with a byte-order mark, or Windows-1252 on older setups), from
European locales (``;`` between cells, since ``,`` is their decimal mark), from CRMs and from
other billing systems. The reader decodes UTF-8 (with or without BOM) and falls back to
Windows-1252, a superset of Latin-1's printable characters; it detects ``,``, ``;``, tab or
``|`` from the header line; it checks the header against the layout (missing required columns,
unknown columns, a column named twice) before reading any row; and it numbers rows as a
spreadsheet shows them: the header is row 1, the first data row is row 2.
"""

import codecs
import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from django.conf import settings

DELIMITERS = ",;\t|"
FALLBACK_ENCODING = "cp1252"
UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
# Bytes read to decide the encoding: enough to reach past a header and a few rows of accents.
SNIFF_BYTES = 1 << 20


class FileError(Exception):
    """The file as a whole cannot be imported (its encoding, its header, its size)."""


@dataclass(frozen=True)
class CsvRow:
    """A data row: its number as a spreadsheet shows it, and its cells by column name."""

    number: int
    cells: dict[str, str]


def max_bytes() -> int:
    """The largest file accepted (``RMS_IMPORT_MAX_MB``), read when a file arrives."""
    return settings.RMS_IMPORT_MAX_MB * 1024 * 1024


def detect_encoding(data: bytes) -> str:
    """Return the encoding to read ``data`` in, or refuse a file that is not text or too big.

    UTF-8 is checked incrementally, a megabyte at a time, so a 50 MB file is never held twice.
    """
    if len(data) > max_bytes():
        raise FileError(
            f"The file is {len(data) / 1024 / 1024:.1f} MB; files up to "
            f"{settings.RMS_IMPORT_MAX_MB} MB are accepted. Split it and import each part."
        )
    if b"\x00" in data[:SNIFF_BYTES] and not data.startswith(UTF16_BOMS):
        raise FileError(
            "This is not a text CSV file (it holds binary data): save it from your spreadsheet "
            "as 'CSV UTF-8 (comma delimited)'."
        )
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if data.startswith(UTF16_BOMS):
        return "utf-16"
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        for start in range(0, len(data), SNIFF_BYTES):
            decoder.decode(data[start : start + SNIFF_BYTES])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return FALLBACK_ENCODING
    return "utf-8"


def sniff_delimiter(header_line: str) -> str:
    """Return the delimiter the header uses: the candidate it holds most of, ``,`` if none."""
    counts = {d: header_line.count(d) for d in DELIMITERS}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def normalize(name: str) -> str:
    """Read a header cell as a column name: trimmed, lower case, spaces as underscores."""
    return "_".join(name.strip().strip('"').lower().split())


@dataclass
class CsvTable:
    """A decoded file: its columns (as the layout names them) and its data rows, streamed."""

    columns: list[str]
    encoding: str
    _reader: Iterator[list[str]]

    def rows(self) -> Iterator[CsvRow]:
        """Yield each non-blank data row; a row of a different width is kept for the layout to
        refuse, with its cells padded so every column can be named."""
        width = len(self.columns)
        for index, cells in enumerate(self._reader, start=2):
            if not any(cell.strip() for cell in cells):
                continue
            padded = cells + [""] * (width - len(cells))
            row = CsvRow(index, dict(zip(self.columns, padded, strict=False)))
            if len(cells) > width:
                row.cells["__extra__"] = f"{len(cells)} cells; the header has {width}"
            yield row


def open_table(
    data: bytes, *, required: Sequence[str], optional: Sequence[str], ignored: Sequence[str] = ()
) -> CsvTable:
    """Decode ``data``, check its header against the columns a layout takes, and return it.

    ``ignored`` columns are allowed but not read (nor offered in the header's refusal).
    """
    encoding = detect_encoding(data)
    # Decoded as it is read: the file's text is never held whole beside its bytes.
    stream = io.TextIOWrapper(io.BytesIO(data), encoding=encoding, errors="replace", newline="")
    first_line = stream.readline()
    if not first_line.strip():
        raise FileError("The file is empty: it needs a header row and at least one data row.")
    stream.seek(0)
    delimiter = sniff_delimiter(first_line)
    # Rows are numbered by record, not by physical line; a quoted cell may hold line breaks.
    reader = csv.reader(stream, delimiter=delimiter, strict=True)
    try:
        header = [normalize(cell) for cell in next(reader)]
    except csv.Error as error:
        raise FileError(f"Row 1 (the header) cannot be read: {error}.") from error
    _check_header(header, required=required, optional=optional, ignored=ignored)
    return CsvTable(header, encoding, _records(reader))


def _records(reader) -> Iterator[list[str]]:
    """Yield the reader's records, turning a malformed one into a clear refusal."""
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise FileError(f"Row {reader.line_num} cannot be read: {error}.") from error


def _check_header(
    header: list[str], *, required: Sequence[str], optional: Sequence[str], ignored: Sequence[str]
) -> None:
    problems = []
    twice = sorted({name for name in header if name and header.count(name) > 1})
    if twice:
        problems.append(f"column(s) named twice: {', '.join(twice)}")
    missing = [name for name in required if name not in header]
    if missing:
        problems.append(f"missing column(s): {', '.join(missing)}")
    known = {*required, *optional, *ignored}
    unknown = [name or "(blank)" for name in header if name not in known]
    if unknown:
        problems.append(f"unknown column(s): {', '.join(unknown)}")
    if problems:
        raise FileError(
            "Row 1 (the header): "
            + "; ".join(problems)
            + f". The columns are: {', '.join([*required, *optional])} (required first)."
        )
