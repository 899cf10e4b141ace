"""A raw object without one data subject's rows, in the format and compression it came in.

The raw bucket is the one copy of what a producer sent, so an erasure must change nothing but
the subject's rows. Text formats are edited as text: the lines of removed records go, every
other byte stays as it was (header, quoting, line endings, a UTF-8 byte-order mark, fields the
contract does not declare). Parquet cannot be edited in place (pages are compressed and carry
statistics), so it is re-encoded: the Arrow schema (types, nullability, field and schema
metadata), column order, every kept value, the compression codec and the row-group size are
kept; the byte layout (page boundaries, statistics, ``created_by``) is the writer's. A ``.gz``
object is compressed again with gzip, keeping the original header's modification time; the
compressed bytes differ because nobody can know the original compressor's settings.

Rows are recognised the way ingestion reads them (:mod:`featurelake.core.raw_formats`): CSV and
NDJSON values as text (an empty CSV field is no value), parquet values cast to text. Which
values are the subject is the caller's decision (``is_subject``, called once with the object's
distinct values), so no raw value needs to be known here.

Pure: bytes in, bytes out.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from featurelake.core.raw_formats import UnreadableObjectError, gunzip, json_as_text, parse_json_int, suffix_of

#: Given an object's distinct values of the subject's column, the ones that are the subject.
IsSubject = Callable[[list[str]], set[str]]
_UTF8_BOM = "\ufeff"


@dataclass(frozen=True)
class RawRewrite:
    """An object's new content (None: the subject is not in it, keep the object) and the row counts."""

    data: bytes | None
    rows_removed: int
    rows_kept: int


def without_subject(key: str, data: bytes, column: str, is_subject: IsSubject) -> RawRewrite:
    """``data`` without the rows whose ``column`` is the subject, in the same format and compression.

    Raises:
        UnreadableObjectError: for an unsupported suffix, a damaged gzip or parquet file, text that
            is not UTF-8, malformed CSV quoting or an NDJSON line that is not a JSON object: such
            content cannot be searched row by row and needs a person (the message names the key
            only, never the content).
    """
    compressed = key.lower().endswith(".gz")
    plain = gunzip(key, data) if compressed else data
    suffix = suffix_of(key)
    if suffix == ".parquet":
        rewritten, removed, kept = _parquet(key, plain, column, is_subject)
    else:
        text = _decode(key, plain)
        bom = _UTF8_BOM if text.startswith(_UTF8_BOM) else ""
        edit = _csv if suffix == ".csv" else _ndjson
        body, removed, kept = edit(key, text.removeprefix(bom), column, is_subject)
        rewritten = (bom + body).encode("utf-8")
    if not removed:
        return RawRewrite(None, 0, kept)
    return RawRewrite(_gzip_like(data, rewritten) if compressed else rewritten, removed, kept)


def _gzip_like(original: bytes, data: bytes) -> bytes:
    """Compress ``data`` with gzip, keeping the original header's modification time (bytes 4-8, little-endian)."""
    mtime = int.from_bytes(original[4:8], "little") if len(original) >= 8 else 0
    return gzip.compress(data, mtime=mtime)


def _decode(key: str, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise UnreadableObjectError(f"{key}: is not valid UTF-8 text; it cannot be rewritten") from error


def _matches(values: list[str | None], is_subject: IsSubject) -> set[str]:
    distinct = sorted({v for v in values if v is not None})
    return is_subject(distinct) if distinct else set()


def _csv(key: str, text: str, column: str, is_subject: IsSubject) -> tuple[str, int, int]:
    """Drop the physical lines of matching records; a record may span lines (quoted newlines)."""
    lines = list(io.StringIO(text, newline=""))  # the same line split the csv module reads
    records = list(_csv_records(key, lines))
    if not records:
        return text, 0, 0
    header = records[0][0]
    index = header.index(column) if column in header else None
    values = [_field(record, index) for record, _, _ in records[1:]]
    subject = _matches(values, is_subject)
    removed = {n for n, value in enumerate(values, 1) if value is not None and value in subject}
    dropped = {line for n in removed for line in range(records[n][1], records[n][2])}
    body = "".join(line for number, line in enumerate(lines) if number not in dropped)
    return body, len(removed), len(values) - len(removed)


def _csv_records(key: str, lines: list[str]) -> Iterator[tuple[list[str], int, int]]:
    """Each non-blank record with the range of physical lines it spans (start inclusive, end exclusive)."""
    reader = csv.reader(iter(lines), strict=True)
    end = 0
    try:
        for record in reader:
            start, end = end, reader.line_num
            if record:
                yield record, start, end
    except csv.Error as error:
        raise UnreadableObjectError(f"{key}: line {end + 1} is malformed CSV; it cannot be rewritten") from error


def _field(record: list[str], index: int | None) -> str | None:
    """A record's value of the column; an empty field (or a short row) is no value, as at ingest."""
    if index is None or index >= len(record) or record[index] == "":
        return None
    return record[index]


def _ndjson(key: str, text: str, column: str, is_subject: IsSubject) -> tuple[str, int, int]:
    """Drop the lines of matching objects; blank lines stay (they are not rows)."""
    lines = text.split("\n")  # not splitlines(): JSON strings may hold U+2028, as at ingest
    values = {n: _json_value(key, n, line, column) for n, line in enumerate(lines) if line.strip()}
    subject = _matches(list(values.values()), is_subject)
    removed = {n for n, value in values.items() if value is not None and value in subject}
    body = "\n".join(line for n, line in enumerate(lines) if n not in removed)
    return body, len(removed), len(values) - len(removed)


def _json_value(key: str, number: int, line: str, column: str) -> str | None:
    try:
        row = json.loads(line, parse_float=Decimal, parse_int=parse_json_int, parse_constant=str)
    except (ValueError, RecursionError) as error:
        raise UnreadableObjectError(f"{key}: line {number + 1} is not valid JSON; it cannot be rewritten") from error
    if not isinstance(row, dict):
        raise UnreadableObjectError(f"{key}: line {number + 1} is not a JSON object; it cannot be rewritten")
    return json_as_text(row.get(column))


def _parquet(key: str, data: bytes, column: str, is_subject: IsSubject) -> tuple[bytes, int, int]:
    try:
        source = pq.ParquetFile(io.BytesIO(data))
        table = source.read()
    except Exception as error:  # pyarrow's messages may quote statistics: not passed on
        raise UnreadableObjectError(f"{key}: is not readable parquet; it cannot be rewritten") from error
    if column not in table.column_names:
        return data, 0, table.num_rows
    text = pl.Series(values=table.column(column)).cast(pl.String, strict=False)
    subject = _matches(text.to_list(), is_subject)
    hit = text.is_in(sorted(subject)).fill_null(False)
    removed = int(hit.sum())
    if not removed:
        return data, 0, table.num_rows
    kept = table.filter(pa.array((~hit).to_list(), type=pa.bool_()))
    return _write_parquet_like(source, kept), removed, kept.num_rows


def _write_parquet_like(source: pq.ParquetFile, table: pa.Table) -> bytes:
    """``table`` as parquet with the source file's codec, row-group size and format version."""
    meta = source.metadata
    codec = meta.row_group(0).column(0).compression if meta.num_row_groups and meta.num_columns else "NONE"
    group_rows = max((meta.row_group(i).num_rows for i in range(meta.num_row_groups)), default=0)
    sink = io.BytesIO()
    pq.write_table(
        table,
        sink,
        compression="none" if codec.upper() == "UNCOMPRESSED" else codec.lower(),
        row_group_size=group_rows or None,
        version=meta.format_version if meta.format_version in ("1.0", "2.4", "2.6") else "2.6",
    )
    return sink.getvalue()
