"""A corpus of bad raw input: every kind is quarantined with a specific reason (issue 4).

File-level damage (empty, corrupt, wrong format, encoding or delimiter, ragged or malformed
lines) makes :func:`parse_raw_bytes` reject the whole file; ingestion counts such a file as one
record read and one quarantined. Row-level damage (mixed types, NaN, huge values, timestamps)
reaches the contract and quarantines only the bad rows, so rows read = accepted + quarantined.
Reasons name what is wrong but never quote cell contents.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import zipfile
from datetime import UTC, datetime
from typing import Literal

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from featurelake.core.contracts import REASON_COLUMN, ContractSplit, SourceContract, _cast_failure, apply_contract
from featurelake.core.raw_formats import UnreadableObjectError, parse_raw_bytes

EMAIL = "jane.doe@example.com"
HEADER = b"id,amount,count,event_time\n"
GOOD = b"g1,12.5,3,2026-11-01T10:00:00Z\n"
NDJSON_GOOD = b'{"id": "g1", "amount": 12.5, "count": 3, "event_time": "2026-11-01T10:00:00Z"}\n'

CONTRACT = SourceContract(
    name="corpus",
    columns={"id": pl.String(), "amount": pl.Float64(), "count": pl.Int64(), "event_time": pl.Datetime("us", "UTC")},
    required=("id", "event_time"),
    primary_key=("id",),
    event_time="event_time",
)


def _parquet(rows: int = 50) -> bytes:
    buffer = io.BytesIO()
    pl.DataFrame({"id": [f"t{i}" for i in range(rows)], "amount": [float(i) for i in range(rows)]}).write_parquet(
        buffer
    )
    return buffer.getvalue()


def _flip(data: bytes, start: int, length: int = 8) -> bytes:
    damaged = bytearray(data)
    for i in range(start, start + length):
        damaged[i] ^= 0xFF
    return bytes(damaged)


def _parquet_with_damaged_footer() -> bytes:
    data = _parquet()
    footer_length = int.from_bytes(data[-8:-4], "little")
    return _flip(data, len(data) - 8 - footer_length + 5)


def _zip(data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("export.csv", data)
    return buffer.getvalue()


GZIPPED_CSV = gzip.compress(HEADER + GOOD * 200)

# (case id, key, bytes, the whole reason)
FILE_LEVEL = [
    ("empty 0-byte csv", "raw/a.csv", b"", "raw/a.csv: is empty (0 bytes)"),
    ("empty 0-byte parquet", "raw/a.parquet", b"", "raw/a.parquet: is empty (0 bytes)"),
    ("empty 0-byte csv.gz", "raw/a.csv.gz", b"", "raw/a.csv.gz: is empty (0 bytes)"),
    ("gzip of nothing", "raw/a.csv.gz", gzip.compress(b""), "raw/a.csv.gz: is empty (0 bytes after gunzip)"),
    ("header only", "raw/a.csv", HEADER, "raw/a.csv: holds no rows"),
    ("header and blank lines", "raw/a.csv", HEADER + b"\n\r\n\n", "raw/a.csv: holds no rows"),
    ("blank ndjson", "raw/a.ndjson", b"\n  \n", "raw/a.ndjson: holds no rows"),
    ("unsupported suffix", "raw/a.xlsx", b"x", "raw/a.xlsx: unsupported format"),
    (
        "truncated parquet",
        "raw/a.parquet",
        _parquet()[:500],
        "raw/a.parquet: cannot be parsed: corrupt parquet (no closing PAR1 magic; truncated?)",
    ),
    (
        "parquet with damaged footer",
        "raw/a.parquet",
        _parquet_with_damaged_footer(),
        "raw/a.parquet: cannot be parsed: corrupt parquet (unreadable footer metadata)",
    ),
    (
        "parquet with damaged column data",
        "raw/a.parquet",
        _flip(_parquet(), 4),
        "raw/a.parquet: cannot be parsed: corrupt parquet (unreadable column data)",
    ),
    ("parquet named .csv", "raw/a.csv", _parquet(), "raw/a.csv: is named .csv but its content is parquet"),
    ("parquet named .jsonl", "raw/a.jsonl", _parquet(), "raw/a.jsonl: is named .jsonl but its content is parquet"),
    (
        "csv named .parquet",
        "raw/a.parquet",
        HEADER + GOOD,
        "raw/a.parquet: is named .parquet but its content is not parquet (no PAR1 magic)",
    ),
    ("gzip named .csv", "raw/a.csv", GZIPPED_CSV, "raw/a.csv: is named .csv but its content is gzip-compressed"),
    (
        "gzip twice",
        "raw/a.csv.gz",
        gzip.compress(GZIPPED_CSV),
        "raw/a.csv.gz: is named .csv but its content is gzip-compressed",
    ),
    ("zip named .csv", "raw/a.csv", _zip(HEADER + GOOD), "raw/a.csv: is named .csv but its content is a zip archive"),
    (
        "ndjson named .csv",
        "raw/a.csv",
        NDJSON_GOOD,
        "raw/a.csv: is named .csv but its content looks like JSON",
    ),
    (
        ".csv.gz that is not gzip",
        "raw/a.csv.gz",
        HEADER + GOOD,
        "raw/a.csv.gz: is not gzip-compressed (no gzip magic) although named .gz",
    ),
    (
        "truncated gzip",
        "raw/a.csv.gz",
        GZIPPED_CSV[: len(GZIPPED_CSV) // 2],
        "raw/a.csv.gz: truncated gzip (the stream ends before its end marker)",
    ),
    (
        "corrupt gzip",
        "raw/a.csv.gz",
        _flip(GZIPPED_CSV, 20, 1),
        "raw/a.csv.gz: corrupt gzip (the compressed stream is damaged)",
    ),
    (
        "UTF-16 with BOM",
        "raw/a.csv",
        (HEADER + GOOD).decode().encode("utf-16"),
        "raw/a.csv: is UTF-16 encoded (byte-order mark); expected UTF-8",
    ),
    (
        "UTF-16 big-endian with BOM, ndjson",
        "raw/a.ndjson",
        b"\xfe\xff" + NDJSON_GOOD.decode().encode("utf-16-be"),
        "raw/a.ndjson: is UTF-16 encoded (byte-order mark); expected UTF-8",
    ),
    (
        "UTF-32 with BOM",
        "raw/a.csv",
        (HEADER + GOOD).decode().encode("utf-32"),
        "raw/a.csv: is UTF-32 encoded (byte-order mark); expected UTF-8",
    ),
    (
        "UTF-16 without BOM",
        "raw/a.csv",
        (HEADER + GOOD).decode().encode("utf-16-le"),
        "raw/a.csv: contains a NUL byte at offset 1, line 1 (UTF-16 without byte-order mark, or binary?)",
    ),
    (
        "Latin-1 (invalid UTF-8)",
        "raw/a.csv",
        HEADER + "g1,12.5,3,caf\xe9\n".encode("latin-1"),
        f"raw/a.csv: is not valid UTF-8 (first invalid byte at offset {len(HEADER) + len('g1,12.5,3,caf')}, line 2)",
    ),
    (
        "Latin-1 after a UTF-8 BOM (offset counts the BOM)",
        "raw/a.csv",
        b"\xef\xbb\xbf" + HEADER + "x,caf\xe9".encode("latin-1"),
        f"raw/a.csv: is not valid UTF-8 (first invalid byte at offset {3 + len(HEADER) + 5}, line 2)",
    ),
    (
        "semicolon-delimited",
        "raw/a.csv",
        b"id;amount;count;event_time\ng1;12,5;3;2026-11-01\n",
        "raw/a.csv: looks ';'-delimited; expected ','",
    ),
    (
        "tab-delimited",
        "raw/a.csv",
        b"id\tamount\tcount\tevent_time\ng1\t12.5\t3\t2026-11-01\n",
        "raw/a.csv: looks '\\t'-delimited; expected ','",
    ),
    ("pipe-delimited", "raw/a.csv", b"id|amount\ng1|12.5\n", "raw/a.csv: looks '|'-delimited; expected ','"),
    (
        "ragged row, too many fields",
        "raw/a.csv",
        HEADER + GOOD + b"g2,12.5,3,2026-11-01T10:00:00Z,extra\n",
        "raw/a.csv: line 3 has 5 field(s); the header has 4",
    ),
    (
        "ragged row, too few fields",
        "raw/a.csv",
        HEADER + GOOD + b"\n" + b"g2,12.5\n",
        "raw/a.csv: line 4 has 2 field(s); the header has 4",
    ),
    (
        "ragged row after a quoted newline",
        "raw/a.csv",
        HEADER + b'g1,"12\n.5",3,2026-11-01\ng2,1\n',
        "raw/a.csv: line 4 has 2 field(s); the header has 4",
    ),
    (
        "unterminated quote",
        "raw/a.csv",
        HEADER + GOOD + b'g2,"12.5,3,2026-11-01\ng3,1,2,2026-11-01\n',
        "raw/a.csv: a quoted field opened on or after line 3 is never closed",
    ),
    (
        "text after a closing quote",
        "raw/a.csv",
        HEADER + GOOD + b'g2,"12"5,3,2026-11-01\n',
        "raw/a.csv: line 3 is malformed CSV (bad quoting)",
    ),
    (
        "huge field",
        "raw/a.csv",
        HEADER + b"g1," + b"9" * 200_000 + b",3,2026-11-01\n",
        "raw/a.csv: line 2 has a field longer than 131072 characters",
    ),
    (
        "repeated header name",
        "raw/a.csv",
        b"id,amount,id\ng1,1,g2\n",
        "raw/a.csv: header repeats column name(s) ['id']",
    ),
    (
        "ndjson line that is not JSON",
        "raw/a.ndjson",
        NDJSON_GOOD + b"{id: g2, amount: 1}\n",
        "raw/a.ndjson: line 2 is not valid JSON (column 2)",
    ),
    (
        "ndjson truncated last line",
        "raw/a.jsonl.gz",
        gzip.compress(NDJSON_GOOD + b"\n" + NDJSON_GOOD[:30]),
        "raw/a.jsonl.gz: line 3 is not valid JSON (column 30)",
    ),
    (
        "ndjson array line",
        "raw/a.ndjson",
        NDJSON_GOOD + b'["g2", 1]\n',
        "raw/a.ndjson: line 2 is a JSON array, not an object",
    ),
    (
        "ndjson string line",
        "raw/a.ndjson",
        NDJSON_GOOD + b'"g2"\n',
        "raw/a.ndjson: line 2 is a JSON string, not an object",
    ),
    ("ndjson number line", "raw/a.ndjson", b"42\n", "raw/a.ndjson: line 1 is a JSON number, not an object"),
    ("ndjson null line", "raw/a.ndjson", b"null\n", "raw/a.ndjson: line 1 is a JSON null, not an object"),
    (
        "a JSON array of objects named .ndjson",
        "raw/a.ndjson",
        b"[" + NDJSON_GOOD.strip() + b"]\n",
        "raw/a.ndjson: line 1 is a JSON array, not an object",
    ),
    (
        "csv named .ndjson",
        "raw/a.ndjson",
        HEADER + GOOD,
        "raw/a.ndjson: line 1 is not valid JSON (column 1)",
    ),
    (
        "ndjson nested too deeply",
        "raw/a.ndjson",
        b'{"id": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n",
        "raw/a.ndjson: line 1 nests JSON too deeply",
    ),
]


@pytest.mark.parametrize(("key", "data", "reason"), [c[1:] for c in FILE_LEVEL], ids=[c[0] for c in FILE_LEVEL])
def test_file_level_damage_rejects_the_file_with_a_specific_reason(key: str, data: bytes, reason: str) -> None:
    with pytest.raises(UnreadableObjectError) as raised:
        parse_raw_bytes(key, data)

    assert str(raised.value).startswith(reason)


# Damaged files that carry personal data: the reason must not repeat any of it.
PII_CORPUS = [
    ("ragged", "a.csv", HEADER + f"g1,{EMAIL},3,2026-11-01,{EMAIL}\n".encode()),
    ("bad quoting", "a.csv", HEADER + f'g1,"{EMAIL}"x,3,2026-11-01\n'.encode()),
    ("unterminated quote", "a.csv", HEADER + f'g1,"{EMAIL},3,2026-11-01\n'.encode()),
    ("latin-1", "a.csv", HEADER + f"g1,{EMAIL},3,caf\xe9\n".encode("latin-1")),
    ("delimiter", "a.csv", f"id;{EMAIL}\ng1;2\n".encode()),
    ("invalid json", "a.ndjson", f'{{"email": "{EMAIL}", "bad\\x": 1}}\n'.encode()),
    ("json, not an object", "a.ndjson", f'["{EMAIL}"]\n'.encode()),
    ("corrupt parquet", "a.parquet", b"PAR1" + EMAIL.encode() + b"\x00" * 8 + b"PAR1"),
    ("polars would quote it", "a.csv", b'email,n\n"' + EMAIL.encode() + b'"oops,1\n'),
    ("a data row as header, repeated", "a.csv", f"g1,{EMAIL},{EMAIL}\ng2,x,y\n".encode()),
]


@pytest.mark.parametrize(("key", "data"), [c[1:] for c in PII_CORPUS], ids=[c[0] for c in PII_CORPUS])
def test_reasons_never_quote_the_file_content(key: str, data: bytes) -> None:
    with pytest.raises(UnreadableObjectError) as raised:
        parse_raw_bytes(key, data)

    reason = str(raised.value)
    assert EMAIL not in reason
    assert "jane" not in reason
    assert "example.com" not in reason


@pytest.mark.parametrize(
    ("key", "data"),
    [
        ("a.csv", b"\xef\xbb\xbf" + HEADER + GOOD),
        ("a.csv.gz", gzip.compress(b"\xef\xbb\xbf" + HEADER + GOOD)),
        ("a.ndjson", b"\xef\xbb\xbf" + NDJSON_GOOD),
        ("a.csv", (HEADER + b"\r\n" + GOOD + b"\n\n").replace(b"\n", b"\r\n")),
    ],
    ids=["csv with UTF-8 BOM", "gzipped csv with UTF-8 BOM", "ndjson with UTF-8 BOM", "CRLF and blank lines"],
)
def test_utf8_bom_and_blank_lines_are_accepted(key: str, data: bytes) -> None:
    frame = parse_raw_bytes(key, data)

    assert frame.columns == ["id", "amount", "count", "event_time"]  # no BOM in the first name
    assert frame.height == 1
    assert apply_contract(CONTRACT, frame).accepted.height == 1


def _split(key: str, data: bytes, contract: SourceContract = CONTRACT) -> tuple[ContractSplit, dict[str, str]]:
    raw = parse_raw_bytes(key, data)
    split = apply_contract(contract, raw)
    assert raw.height == split.accepted.height + split.rejected.height  # rows read = accepted + quarantined
    reasons = dict(zip(split.rejected["id"], split.rejected[REASON_COLUMN], strict=True))
    for quoted in ("abc", "yesterday", "9999", "1e400", "1E+400", "Infinity", '{"x"', "12.0", "2.5"):
        assert not any(quoted in reason for reason in reasons.values())  # the raw text stays in the row
    return split, reasons


CSV_ROWS = HEADER + (
    b"ok,12.5,3,2026-11-01T10:00:00Z\n"
    b"nan,NaN,1,2026-11-01T10:00:00Z\n"
    b"inf,inf,1,2026-11-01T10:00:00Z\n"
    b"neg-inf,-inf,1,2026-11-01T10:00:00Z\n"
    b"infinity,-Infinity,1,2026-11-01T10:00:00Z\n"
    b"huge-float,1e400,1,2026-11-01T10:00:00Z\n"
    b"tiny-float,1e-400,1,2026-11-01T10:00:00Z\n"
    b"text-float,abc,1,2026-11-01T10:00:00Z\n"
    b"huge-int,1,99999999999999999999,2026-11-01T10:00:00Z\n"
    b"int-max-plus-one,1,9223372036854775808,2026-11-01T10:00:00Z\n"
    b"int-min,1,-9223372036854775808,2026-11-01T10:00:00Z\n"
    b"decimal-in-int,1,12.0,2026-11-01T10:00:00Z\n"
    b"offset,1,1,2026-11-01T12:00:00+02:00\n"
    b"naive,1,1,2026-11-01 10:00:00\n"
    b"garbage-time,1,1,yesterday at ten\n"
    b"date-only,1,1,2026-11-01\n"
    b"two-problems,abc,x,\n"
)

CSV_EXPECTED = {
    "nan": "amount: NaN is not a finite Float64",
    "inf": "amount: infinite value is not a finite Float64",
    "neg-inf": "amount: infinite value is not a finite Float64",
    "infinity": "amount: infinite value is not a finite Float64",
    "huge-float": "amount: infinite value is not a finite Float64",
    "text-float": "amount: not a valid Float64",
    "huge-int": "count: out of range for Int64",
    "int-max-plus-one": "count: out of range for Int64",
    "decimal-in-int": "count: not a valid Int64",
    "garbage-time": "event_time: not a valid Datetime(time_unit='us', time_zone='UTC')",
    "date-only": "event_time: not a valid Datetime(time_unit='us', time_zone='UTC')",
    "two-problems": "amount: not a valid Float64; count: not a valid Int64; event_time: required but null",
}


def test_row_level_damage_in_csv_quarantines_only_the_bad_rows() -> None:
    split, reasons = _split("raw/a.csv", CSV_ROWS)

    assert reasons == CSV_EXPECTED
    accepted = {row["id"]: row for row in split.accepted.iter_rows(named=True)}
    assert sorted(accepted) == ["int-min", "naive", "offset", "ok", "tiny-float"]
    assert accepted["int-min"]["count"] == -9223372036854775808
    assert accepted["tiny-float"]["amount"] == 0.0  # underflow is a finite zero
    assert accepted["offset"]["event_time"] == datetime(2026, 11, 1, 10, tzinfo=UTC)  # +02:00 converted
    assert accepted["naive"]["event_time"] == datetime(2026, 11, 1, 10, tzinfo=UTC)  # naive taken as UTC


NDJSON_ROWS = (
    NDJSON_GOOD.replace(b"g1", b"ok")
    + b'{"id": "text-amount", "amount": "abc", "count": 1, "event_time": "2026-11-01T10:00:00Z"}\n'
    + b'{"id": "object-amount", "amount": {"x": 1}, "count": 1, "event_time": "2026-11-01T10:00:00Z"}\n'
    + b'{"id": "array-amount", "amount": [1, 2], "count": 1, "event_time": "2026-11-01T10:00:00Z"}\n'
    + b'{"id": "bool-amount", "amount": true, "count": 1, "event_time": "2026-11-01T10:00:00Z"}\n'
    + b'{"id": "string-number", "amount": "7.25", "count": "8", "event_time": "2026-11-01T10:00:00Z"}\n'
    + b'{"id": "null-amount", "amount": null, "event_time": "2026-11-01T10:00:00Z"}\n'
    + b"\n"
    + b'{"id": "nan", "amount": NaN, "count": 1, "event_time": "2026-11-01T10:00:00Z"}\n'
    + b'{"id": "infinity", "amount": -Infinity, "count": 1, "event_time": "2026-11-01T10:00:00Z"}\n'
    + b'{"id": "huge-float", "amount": 1e400, "count": 1, "event_time": "2026-11-01T10:00:00Z"}\n'
    + b'{"id": "precise", "amount": 0.1000000000000000055511151231257827, "count": 1, '
    + b'"event_time": "2026-11-01T10:00:00Z"}\n'
    + b'{"id": "huge-int", "amount": 1, "count": 99999999999999999999, "event_time": "2026-11-01T10:00:00Z"}\n'
    + b'{"id": "giant-int", "amount": 1, "count": '
    + b"9" * 5000
    + b', "event_time": "2026-11-01T10:00:00Z"}\n'
    + b'{"id": "float-count", "amount": 1, "count": 2.5, "event_time": "2026-11-01T10:00:00Z"}\n'
    + b'{"id": "number-time", "amount": 1, "count": 1, "event_time": 1793527200}\n'
    + b'{"id": "offset", "amount": 1, "count": 1, "event_time": "2026-11-01T05:00:00-05:00"}\n'
)

NDJSON_EXPECTED = {
    "text-amount": "amount: not a valid Float64",
    "object-amount": "amount: not a valid Float64",
    "array-amount": "amount: not a valid Float64",
    "bool-amount": "amount: not a valid Float64",
    "nan": "amount: NaN is not a finite Float64",
    "infinity": "amount: infinite value is not a finite Float64",
    "huge-float": "amount: infinite value is not a finite Float64",
    "huge-int": "count: out of range for Int64",
    "giant-int": "count: out of range for Int64",
    "float-count": "count: not a valid Int64",
    "number-time": "event_time: not a valid Datetime(time_unit='us', time_zone='UTC')",
}


@pytest.mark.parametrize("key", ["raw/a.ndjson", "raw/a.jsonl.gz"])
def test_mixed_types_in_ndjson_reach_the_contract_row_by_row(key: str) -> None:
    data = gzip.compress(NDJSON_ROWS) if key.endswith(".gz") else NDJSON_ROWS

    split, reasons = _split(key, data)

    assert reasons == NDJSON_EXPECTED
    accepted = {row["id"]: row for row in split.accepted.iter_rows(named=True)}
    assert sorted(accepted) == ["null-amount", "offset", "ok", "precise", "string-number"]
    assert accepted["string-number"]["amount"] == 7.25
    assert accepted["string-number"]["count"] == 8
    assert accepted["null-amount"]["count"] is None  # a key missing from a line is a null
    assert accepted["offset"]["event_time"] == datetime(2026, 11, 1, 10, tzinfo=UTC)


def test_ndjson_values_arrive_as_text_as_written() -> None:
    frame = parse_raw_bytes(
        "a.ndjson",
        b'{"a": 12.50, "b": 3, "c": true, "d": {"x": [1, "y"]}, "e": null, "f": 1e400, "g": NaN}\n',
    )

    assert frame.schema == pl.Schema(dict.fromkeys("abcdefg", pl.String))
    assert frame.row(0) == ("12.50", "3", "true", '{"x": [1, "y"]}', None, "1E+400", "NaN")


@pytest.mark.parametrize(
    ("value", "policy", "reason"),
    [
        ("2026-11-01 10:00:00", "utc", None),
        ("2026-11-01T10:00:00", "utc", None),
        ("2026-11-01T12:00:00+02:00", "reject", None),
        ("2026-11-01T10:00:00Z", "reject", None),
        ("2026-11-01 10:00:00", "reject", "event_time: timestamp has no time zone"),
        ("2026-11-01T10:00:00.5", "reject", "event_time: timestamp has no time zone"),
        ("yesterday", "reject", "event_time: not a valid Datetime(time_unit='us', time_zone='UTC')"),
        ("yesterday", "utc", "event_time: not a valid Datetime(time_unit='us', time_zone='UTC')"),
    ],
)
def test_naive_timestamp_reasons_follow_the_policy(
    value: str, policy: Literal["utc", "reject"], reason: str | None
) -> None:
    frame = pl.DataFrame({"event_time": [value]})

    failure = frame.select(_cast_failure("event_time", pl.Datetime("us", "UTC"), policy))

    assert failure.item() == reason


def test_naive_timestamps_are_accepted_as_utc_by_default() -> None:
    split, reasons = _split("a.csv", HEADER + b"n1,1,1,2026-11-01 10:00:00\n")

    assert reasons == {}
    assert split.accepted["event_time"].to_list() == [datetime(2026, 11, 1, 10, tzinfo=UTC)]


def test_naive_timestamps_are_rejected_under_reject() -> None:
    contract = dataclasses.replace(CONTRACT, naive_timestamps="reject")

    split, reasons = _split("a.csv", HEADER + b"n1,1,1,2026-11-01 10:00:00\nz1,1,1,2026-11-01T10:00:00Z\n", contract)

    assert reasons == {"n1": "event_time: timestamp has no time zone"}
    assert split.accepted["id"].to_list() == ["z1"]


# Property: whatever the bytes, parsing either yields rows or raises UnreadableObjectError.
KEYS = st.sampled_from(["a.csv", "a.ndjson", "a.jsonl", "a.parquet", "a.csv.gz", "a.ndjson.gz", "a.parquet.gz"])
PREFIXES = st.sampled_from([b"", b"PAR1", b"\x1f\x8b", b"\xef\xbb\xbf", b"\xff\xfe", HEADER, b'{"id": '])
TEXTISH = st.text(alphabet=st.sampled_from(list('ab,;\t"{}[]:\n\r 1.eE-\\\x00é')), max_size=80).map(str.encode)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    key=KEYS,
    data=st.tuples(PREFIXES, st.one_of(st.binary(max_size=200), TEXTISH), st.sampled_from([b"", b"PAR1"])).map(
        b"".join
    ),
    gzipped=st.booleans(),
)
def test_arbitrary_bytes_never_raise_anything_but_unreadable(key: str, data: bytes, gzipped: bool) -> None:
    if key.endswith(".gz") and gzipped:  # well-formed gzip, to reach the inner parsers
        data = gzip.compress(data)
    frame, reason = None, ""
    try:
        frame = parse_raw_bytes(key, data)
    except UnreadableObjectError as error:
        reason = str(error)
    if frame is None:
        assert reason.startswith(f"{key}: ")
    else:
        assert frame.height > 0
        if ".parquet" not in key:
            assert set(frame.dtypes) <= {pl.String}
