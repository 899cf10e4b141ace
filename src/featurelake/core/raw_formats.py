"""Raw bytes to a table of text: parquet, CSV and NDJSON, each optionally gzip-compressed.

Pure (bytes in, polars out). Every way a file can be unreadable gets its own reason, naming the
key but never quoting the file's content, since a raw file may carry personal data and reasons
end up in lake tables and logs. CSV and NDJSON values come back as text, so that the source
contract, not the parser, decides what a value means and rejects bad values row by row.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import zlib
from decimal import Decimal

import polars as pl
from polars.exceptions import PanicException

SUPPORTED_SUFFIXES = (".parquet", ".csv", ".ndjson", ".jsonl")


class UnreadableObjectError(ValueError):
    """A raw object that cannot be parsed as a table; it goes to quarantine whole."""


#: What a column name looks like; anything else may be a data value (a file without a header row).
_COLUMN_LIKE = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]{0,63}")


def shown_names(names: list[str]) -> str:
    """Column names from a file, as a reason may quote them: only those that look like column names.

    A CSV without a header row makes its first data row the "header", and reasons travel to
    logs, artifacts and events: ``['jane.doe@example.org', '4111…']`` must not. Names that are
    not identifier-like are counted, not quoted.
    """
    shown = [name for name in names if _COLUMN_LIKE.fullmatch(name)]
    hidden = len(names) - len(shown)
    return f"{shown} + {hidden} not shown (not column-like; is the header row missing?)" if hidden else str(shown)


def parse_raw_bytes(key: str, data: bytes) -> pl.DataFrame:
    """Parse raw bytes by the key's suffix (``.gz`` is unwrapped first).

    Parquet keeps its column types. CSV and NDJSON come back with every column as text (nested
    NDJSON values as JSON text): whether ``"12.5"`` or ``"abc"`` is a valid amount is the
    contract's decision, row by row, so one bad value never rejects the whole file.

    Text must be UTF-8. A leading UTF-8 byte-order mark is stripped and the file accepted (Excel
    writes one); UTF-16/UTF-32 byte-order marks and invalid UTF-8 reject the file. Blank lines
    are not rows.

    Reasons name the key and what is wrong (format, encoding, line number, byte offset, header
    column names) but never quote cell contents: sources may carry personal data, and reasons
    end up in the quarantine table and in logs. Offsets and lines count in the decompressed
    content of a ``.gz`` object.

    Raises:
        UnreadableObjectError: for an unsupported suffix, an empty, corrupt or truncated file,
            content that does not match the suffix, a wrong encoding or delimiter, a ragged CSV
            row, or an NDJSON line that is not a JSON object.
    """
    suffix = suffix_of(key)
    if not data:
        raise UnreadableObjectError(f"{key}: is empty (0 bytes)")
    if key.lower().endswith(".gz"):
        data = gunzip(key, data)
    _check_magic(key, suffix, data)
    if suffix == ".parquet":
        frame = _read_parquet(key, data)
    else:
        text = _decode_utf8(key, data)
        frame = _read_csv(key, text) if suffix == ".csv" else _read_ndjson(key, text)
    if frame.height == 0:
        raise UnreadableObjectError(f"{key}: holds no rows")
    return frame


_GZIP_MAGIC, _PARQUET_MAGIC, _UTF8_BOM = b"\x1f\x8b", b"PAR1", b"\xef\xbb\xbf"
#: Leading bytes that identify a binary format, whatever the key says.
_MAGIC_KINDS = ((_PARQUET_MAGIC, "parquet"), (_GZIP_MAGIC, "gzip-compressed"), (b"PK\x03\x04", "a zip archive"))
#: UTF-32 first: its little-endian mark begins with UTF-16's.
_FOREIGN_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)
_OTHER_DELIMITERS = (";", "\t", "|")
#: An object, or an array of objects or arrays, as the first thing in the file.
_LOOKS_LIKE_JSON = re.compile(rb"\s*(\{|\[\s*[\[{])")


def suffix_of(key: str) -> str:
    """Which of :data:`SUPPORTED_SUFFIXES` the key ends with, case-insensitively and ignoring ``.gz``."""
    name = key.lower().removesuffix(".gz")
    for suffix in SUPPORTED_SUFFIXES:
        if name.endswith(suffix):
            return suffix
    raise UnreadableObjectError(f"{key}: unsupported format (expected one of {SUPPORTED_SUFFIXES}, optionally .gz)")


def gunzip(key: str, data: bytes) -> bytes:
    """Unwrap a ``.gz`` object, telling a misnamed file from a damaged one."""
    if not data.startswith(_GZIP_MAGIC):
        raise UnreadableObjectError(f"{key}: is not gzip-compressed (no gzip magic) although named .gz")
    try:
        return gzip.decompress(data)
    except EOFError as error:
        raise UnreadableObjectError(f"{key}: truncated gzip (the stream ends before its end marker)") from error
    except (OSError, zlib.error) as error:  # gzip.BadGzipFile is an OSError
        raise UnreadableObjectError(f"{key}: corrupt gzip (the compressed stream is damaged)") from error


def _check_magic(key: str, suffix: str, data: bytes) -> None:
    """Catch content of another format than the suffix says (e.g. parquet uploaded as .csv)."""
    if not data:
        raise UnreadableObjectError(f"{key}: is empty (0 bytes after gunzip)")
    for magic, kind in _MAGIC_KINDS:
        if data.startswith(magic) and not (suffix == ".parquet" and kind == "parquet"):
            raise UnreadableObjectError(f"{key}: is named {suffix} but its content is {kind}")
    if suffix == ".parquet" and not data.startswith(_PARQUET_MAGIC):
        raise UnreadableObjectError(f"{key}: is named {suffix} but its content is not parquet (no PAR1 magic)")
    if suffix == ".csv" and _LOOKS_LIKE_JSON.match(data.removeprefix(_UTF8_BOM)):
        raise UnreadableObjectError(f"{key}: is named {suffix} but its content looks like JSON")


def _read_parquet(key: str, data: bytes) -> pl.DataFrame:
    """Read parquet, classifying damage by where it is: the trailer, the footer or the column data.

    The reader's own message is not passed on: it may quote values (e.g. from statistics).
    """
    if len(data) < 12 or not data.endswith(_PARQUET_MAGIC):
        raise UnreadableObjectError(f"{key}: cannot be parsed: corrupt parquet (no closing PAR1 magic; truncated?)")
    try:
        pl.read_parquet_schema(io.BytesIO(data))
    except (Exception, PanicException) as error:
        raise UnreadableObjectError(f"{key}: cannot be parsed: corrupt parquet (unreadable footer metadata)") from error
    try:
        return pl.read_parquet(io.BytesIO(data))
    except (Exception, PanicException) as error:
        raise UnreadableObjectError(f"{key}: cannot be parsed: corrupt parquet (unreadable column data)") from error


def _decode_utf8(key: str, data: bytes) -> str:
    """Text formats must be UTF-8; a UTF-8 byte-order mark is dropped (Excel writes one)."""
    for bom, encoding in _FOREIGN_BOMS:
        if data.startswith(bom):
            raise UnreadableObjectError(f"{key}: is {encoding} encoded (byte-order mark); expected UTF-8")
    skipped = len(_UTF8_BOM) if data.startswith(_UTF8_BOM) else 0
    try:
        text = data[skipped:].decode("utf-8")
    except UnicodeDecodeError as error:
        offset = skipped + error.start
        raise UnreadableObjectError(
            f"{key}: is not valid UTF-8 (first invalid byte at offset {offset}, line {_line_at(data, offset)})"
        ) from error
    nul = data.find(b"\x00")
    if nul >= 0:  # valid UTF-8, but no text format has NUL bytes: UTF-16 without a mark, or binary
        raise UnreadableObjectError(
            f"{key}: contains a NUL byte at offset {nul}, line {_line_at(data, nul)} "
            "(UTF-16 without byte-order mark, or binary?)"
        )
    return text


def _line_at(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _read_csv(key: str, text: str) -> pl.DataFrame:
    """Comma-separated text with a header; every record must have as many fields as the header.

    Python's csv module rather than polars: polars fills a short row with nulls without a word
    (a shifted or cut-off row would pass as a row with empty columns), turns a blank line into
    an all-null row, and quotes the offending text in its errors. Values are collected flat and
    split into columns by polars, which keeps this within a few times polars' own speed.
    """
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    values: list[str] = []
    line = 0
    try:
        for record in reader:
            start, line = line + 1, reader.line_num
            if not record:
                continue  # a blank line is not a row
            if header is None:
                header = _check_header(key, record)
            elif len(record) != len(header):
                raise UnreadableObjectError(
                    f"{key}: line {start} has {len(record)} field(s); the header has {len(header)}"
                )
            else:
                values.extend(record)
    except csv.Error as error:
        raise UnreadableObjectError(_csv_error_reason(key, str(error), line + 1)) from error
    if header is None:
        return pl.DataFrame()
    flat = pl.Series(values, dtype=pl.String)
    columns = {name: flat.gather_every(len(header), offset=i) for i, name in enumerate(header)}  # a dict keeps ""
    return pl.DataFrame(columns).with_columns(pl.when(pl.col(c) != "").then(pl.col(c)).alias(c) for c in header)


def _check_header(key: str, header: list[str]) -> list[str]:
    """Header names must be distinct; a single name holding another delimiter means a wrong delimiter."""
    if len(header) == 1:
        counts = {d: header[0].count(d) for d in _OTHER_DELIMITERS}
        delimiter = max(counts, key=lambda d: counts[d])
        if counts[delimiter]:
            raise UnreadableObjectError(f"{key}: looks {delimiter!r}-delimited; expected ','")
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise UnreadableObjectError(f"{key}: header repeats column name(s) {shown_names(repeated)}")
    return header


def _csv_error_reason(key: str, message: str, line: int) -> str:
    """Classify a csv module error; its message is not passed on in case a future one quotes data."""
    if "field limit" in message:
        return f"{key}: line {line} has a field longer than {csv.field_size_limit()} characters"
    if "end of data" in message:
        return f"{key}: a quoted field opened on or after line {line} is never closed"
    return f"{key}: line {line} is malformed CSV (bad quoting)"


def _read_ndjson(key: str, text: str) -> pl.DataFrame:
    """One JSON object per line; every column as text, nested values as JSON text.

    The json module rather than polars: polars infers one type per column and fails the whole
    file on a value of another type, while here a mixed-type column reaches the contract and
    only its bad rows are quarantined. Numbers keep their precision (floats as Decimal), so an
    integer beyond Int64 or ``1e400`` arrives as text for the contract to judge; the non-standard
    literals ``NaN`` and ``Infinity`` arrive as text too.
    """
    records: list[dict[str, object]] = []
    for number, line in enumerate(text.split("\n"), start=1):  # not splitlines(): JSON strings may hold U+2028
        if line.strip():
            records.append(_parse_json_object(key, number, line))
    columns = dict.fromkeys(name for record in records for name in record)
    return pl.DataFrame(
        {name: [json_as_text(record.get(name)) for record in records] for name in columns},
        schema=dict.fromkeys(columns, pl.String),
    )


def _parse_json_object(key: str, number: int, line: str) -> dict[str, object]:
    try:
        value = json.loads(line, parse_float=Decimal, parse_int=parse_json_int, parse_constant=str)
    except json.JSONDecodeError as error:  # its message may quote an escape sequence: pass on the column only
        raise UnreadableObjectError(f"{key}: line {number} is not valid JSON (column {error.colno})") from error
    except RecursionError as error:
        raise UnreadableObjectError(f"{key}: line {number} nests JSON too deeply") from error
    if not isinstance(value, dict):
        raise UnreadableObjectError(f"{key}: line {number} is a JSON {_json_kind(value)}, not an object")
    return value


def parse_json_int(digits: str) -> int | Decimal:
    """Python refuses to convert integers of more than 4300 digits; Decimal keeps them as text."""
    return int(digits) if len(digits) <= 4000 else Decimal(digits)


def _json_kind(value: object) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    return "null" if value is None else "number"


def json_as_text(value: object) -> str | None:
    """A JSON value as the text a CSV would carry: scalars as written, objects and arrays as JSON."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal):
        return str(value)
    return json.dumps(value, ensure_ascii=False, default=float)
