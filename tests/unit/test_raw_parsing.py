"""parse_raw_bytes: format by key suffix, gzip unwrapping, unreadable objects."""

from __future__ import annotations

import gzip
import io
import re

import polars as pl
import pytest

from featurelake.core.raw_formats import UnreadableObjectError, parse_raw_bytes

CSV = b"txn_id,amount,event_time\nt1,012.50,2026-11-01T10:00:00Z\nt2,,2026-11-01 11:00:00\n"
NDJSON = (
    b'{"txn_id": "t1", "amount": 12.5, "event_time": "2026-11-01T10:00:00Z"}\n'
    b'{"txn_id": "t2", "amount": 3, "event_time": "2026-11-01T11:00:00Z", "note": "x"}\n'
)


def _parquet_bytes() -> bytes:
    frame = pl.DataFrame({"txn_id": ["t1", "t2"], "amount": [12.5, 3.0]})
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("key", ["raw/a.parquet", "raw/a.parquet.gz", "RAW/A.PARQUET"])
def test_parquet(key: str) -> None:
    data = _parquet_bytes()
    if key.lower().endswith(".gz"):
        data = gzip.compress(data)
    frame = parse_raw_bytes(key, data)
    assert frame.to_dict(as_series=False) == {"txn_id": ["t1", "t2"], "amount": [12.5, 3.0]}
    assert frame.schema == pl.Schema({"txn_id": pl.String, "amount": pl.Float64})


@pytest.mark.parametrize("key", ["raw/a.csv", "raw/a.csv.gz", "raw/a.CSV.GZ"])
def test_csv_reads_every_column_as_text(key: str) -> None:
    data = gzip.compress(CSV) if key.lower().endswith(".gz") else CSV
    frame = parse_raw_bytes(key, data)
    assert frame.columns == ["txn_id", "amount", "event_time"]
    assert all(dtype == pl.String for dtype in frame.dtypes)
    # no type inference: leading zeros survive, the contract decides what is valid
    assert frame["amount"].to_list() == ["012.50", None]
    assert frame["event_time"].to_list() == ["2026-11-01T10:00:00Z", "2026-11-01 11:00:00"]


@pytest.mark.parametrize("key", ["a.ndjson", "a.jsonl", "a.ndjson.gz", "a.jsonl.gz"])
def test_ndjson(key: str) -> None:
    data = gzip.compress(NDJSON) if key.endswith(".gz") else NDJSON
    frame = parse_raw_bytes(key, data)
    assert frame.height == 2
    assert frame["txn_id"].to_list() == ["t1", "t2"]
    # every column as text, numbers as written: the contract decides what is a valid amount
    assert frame["amount"].to_list() == ["12.5", "3"]
    assert all(dtype == pl.String for dtype in frame.dtypes)
    # a key present only in a later line is still a column
    assert frame["note"].to_list() == [None, "x"]


def test_corrupt_parquet_is_unreadable() -> None:
    with pytest.raises(UnreadableObjectError, match=re.escape("raw/bad.parquet")):
        parse_raw_bytes("raw/bad.parquet", b"PAR1 this is not a parquet file PAR1")


def test_truncated_parquet_is_unreadable() -> None:
    data = _parquet_bytes()
    with pytest.raises(UnreadableObjectError):
        parse_raw_bytes("a.parquet", data[: len(data) // 2])


def test_header_only_csv_is_unreadable() -> None:
    with pytest.raises(UnreadableObjectError, match="no rows"):
        parse_raw_bytes("raw/empty.csv", b"txn_id,amount,event_time\n")


def test_header_only_gzipped_csv_is_unreadable() -> None:
    with pytest.raises(UnreadableObjectError, match="no rows"):
        parse_raw_bytes("raw/empty.csv.gz", gzip.compress(b"txn_id,amount\n"))


@pytest.mark.parametrize("key", ["a.csv", "a.ndjson", "a.parquet"])
def test_zero_byte_object_is_unreadable(key: str) -> None:
    with pytest.raises(UnreadableObjectError):
        parse_raw_bytes(key, b"")


@pytest.mark.parametrize("key", ["raw/a.txt", "raw/a.json.xz", "raw/a", "raw/a.gz"])
def test_unknown_suffix_is_unreadable(key: str) -> None:
    with pytest.raises(UnreadableObjectError, match="unsupported format"):
        parse_raw_bytes(key, gzip.compress(CSV) if key.endswith(".gz") else CSV)


def test_bad_gzip_is_unreadable() -> None:
    with pytest.raises(UnreadableObjectError, match=re.escape("a.csv.gz")):
        parse_raw_bytes("a.csv.gz", CSV)


def test_invalid_json_line_is_unreadable() -> None:
    with pytest.raises(UnreadableObjectError):
        parse_raw_bytes("a.ndjson", NDJSON + b"{not json}\n")


def test_unreadable_is_a_value_error() -> None:
    # ingestion catches ValueError to quarantine a whole file
    assert issubclass(UnreadableObjectError, ValueError)
