"""A raw object without a subject's rows: same format, same compression, every other row and column kept."""

from __future__ import annotations

import datetime as dt
import gzip
import io

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from featurelake.core.raw_formats import UnreadableObjectError, parse_raw_bytes
from featurelake.core.raw_rewrite import without_subject

SUBJECT = "c001"
FRAME = pl.DataFrame(
    {
        "txn_id": ["t1", "t2", "t3", "t4", "t5"],
        "customer_id": [SUBJECT, "c002", SUBJECT, None, "c0010"],
        "amount": [1.5, 2.25, 3.0, 4.125, 5.0],
        "note": ["a,b", 'say "hi"', "x", "multi\nline", ""],
        "event_time": [dt.datetime(2026, 1, d, tzinfo=dt.UTC) for d in range(1, 6)],
    }
)
KEPT = FRAME.filter(pl.col("customer_id").ne_missing(SUBJECT))
CALLS: list[list[str]] = []


def is_subject(values: list[str]) -> set[str]:
    """The subject by exact value; records what it was asked, to check it sees distinct values once."""
    CALLS.append(values)
    return {v for v in values if v == SUBJECT}


def _parquet(frame: pl.DataFrame, **options: object) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(frame.to_arrow(), buffer, **options)  # type: ignore[arg-type]
    return buffer.getvalue()


def _text_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """What ingestion reads back from a text format: every column as text."""
    return frame.with_columns(
        pl.col("event_time").dt.strftime("%Y-%m-%dT%H:%M:%S%.fZ"), pl.col("amount").cast(pl.String)
    )


def _csv(frame: pl.DataFrame) -> bytes:
    return _text_frame(frame).write_csv().encode()


def _ndjson(frame: pl.DataFrame) -> bytes:
    return _text_frame(frame).write_ndjson().encode()


@pytest.mark.parametrize("suffix", [".csv", ".ndjson", ".parquet"])
@pytest.mark.parametrize("compressed", [False, True])
def test_each_format_round_trips_without_the_subject(suffix: str, compressed: bool) -> None:
    original = {".csv": _csv, ".ndjson": _ndjson, ".parquet": _parquet}[suffix](FRAME)
    key = f"transactions/day=1/part-0{suffix}" + (".gz" if compressed else "")
    data = gzip.compress(original, mtime=1_700_000_000) if compressed else original
    CALLS.clear()

    result = without_subject(key, data, "customer_id", is_subject)

    assert (result.rows_removed, result.rows_kept) == (2, 3)
    assert result.data is not None
    assert [sorted({"c001", "c002", "c0010"})] == CALLS  # distinct non-null values, one call
    if compressed:
        assert result.data[:2] == b"\x1f\x8b"
        assert int.from_bytes(result.data[4:8], "little") == 1_700_000_000  # the header's mtime kept
    before, after = parse_raw_bytes(key, data), parse_raw_bytes(key, result.data)
    assert after.columns == before.columns
    assert after.schema == before.schema
    assert after.equals(before.filter(pl.col("customer_id").ne_missing(SUBJECT)))
    assert SUBJECT.encode() not in (gzip.decompress(result.data) if compressed else result.data).replace(b"c0010", b"")


def test_text_formats_keep_every_other_byte() -> None:
    csv_data = b'\xef\xbb\xbftxn_id,customer_id,note\r\nt1,c001,"two\r\nlines"\r\nt2,c002,"q ""x"""\r\n\r\nt3,c001,z'
    result = without_subject("a.csv", csv_data, "customer_id", is_subject)
    assert result.data == b'\xef\xbb\xbftxn_id,customer_id,note\r\nt2,c002,"q ""x"""\r\n\r\n'
    ndjson = b'{"customer_id": "c001", "n": 1.50}\n\n{"n": 2, "customer_id": "c002", "extra": {"a": [1]}}\n'
    result = without_subject("a.ndjson", ndjson, "customer_id", is_subject)
    assert result.data == b'\n{"n": 2, "customer_id": "c002", "extra": {"a": [1]}}\n'


def test_values_are_matched_as_ingestion_reads_them() -> None:
    ndjson = b'{"customer_id": 17, "n": 1}\n{"customer_id": "17", "n": 2}\n{"customer_id": true}\n{"n": 4}\n'
    result = without_subject("a.ndjson", ndjson, "customer_id", lambda values: {"17"} & set(values))
    assert result.data == b'{"customer_id": true}\n{"n": 4}\n'
    empty_field = b"customer_id,n\n,1\nc001,2\n"
    result = without_subject("a.csv", empty_field, "customer_id", lambda values: set(values) | {""})
    assert result.data == b"customer_id,n\n,1\n"  # an empty CSV field is no value, never a match
    ints = _parquet(pl.DataFrame({"customer_id": [17, 18], "n": [1, 2]}))
    result = without_subject("a.parquet", ints, "customer_id", lambda values: {"17"} & set(values))
    assert result.data is not None
    assert pl.read_parquet(result.data).to_dict(as_series=False) == {"customer_id": [18], "n": [2]}


def test_parquet_keeps_schema_metadata_codec_and_row_groups() -> None:
    schema = pa.schema(
        [pa.field("customer_id", pa.string(), nullable=False), pa.field("amount", pa.decimal128(12, 3))],
        metadata={b"producer": b"billing-export"},
    )
    rows = {"customer_id": ["c001", "c002", "c003", "c001"], "amount": [1, 2, 3, 4]}
    table = pa.table({k: pa.array(v, type=schema.field(k).type) for k, v in rows.items()}, schema=schema)
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd", row_group_size=2)

    result = without_subject("a.parquet", buffer.getvalue(), "customer_id", is_subject)

    assert result.data is not None
    rewritten = pq.ParquetFile(io.BytesIO(result.data))
    assert rewritten.schema_arrow.equals(schema, check_metadata=True)
    assert rewritten.read().column("customer_id").to_pylist() == ["c002", "c003"]
    assert rewritten.metadata.row_group(0).column(0).compression == "ZSTD"
    assert rewritten.metadata.row_group(0).num_rows == 2


def test_nothing_to_remove_gives_no_new_content() -> None:
    for key, data in (
        ("a.csv", _csv(KEPT)),
        ("a.ndjson.gz", gzip.compress(_ndjson(KEPT))),
        ("a.parquet", _parquet(KEPT)),
    ):
        result = without_subject(key, data, "customer_id", is_subject)
        assert (result.data, result.rows_removed, result.rows_kept) == (None, 0, 3)
    assert without_subject("a.csv", _csv(FRAME), "no_such_column", is_subject).data is None


def test_a_file_with_only_the_subject_keeps_its_header_or_schema() -> None:
    only = FRAME.filter(pl.col("customer_id") == SUBJECT)
    result = without_subject("a.csv", _csv(only), "customer_id", is_subject)
    assert result.data == _csv(only).split(b"\n")[0] + b"\n"
    parquet = without_subject("a.parquet", _parquet(only), "customer_id", is_subject)
    assert parquet.data is not None
    assert pl.read_parquet(parquet.data).schema == only.schema
    assert pl.read_parquet(parquet.data).height == 0


@pytest.mark.parametrize(
    ("key", "data"),
    [
        ("a.csv.gz", b"\x1f\x8b\x08\x00broken"),
        ("a.csv", b"\xff\xfe\x00bad"),
        ("a.csv", b'customer_id,n\nc001,"never closed\n'),
        ("a.ndjson", b'{"customer_id": "c001"\n'),
        ("a.parquet", b"PAR1 not really PAR1"),
        ("a.xlsx", b"anything"),
    ],
)
def test_content_that_cannot_be_searched_is_refused_without_quoting_it(key: str, data: bytes) -> None:
    with pytest.raises(UnreadableObjectError) as error:
        without_subject(key, data, "customer_id", is_subject)
    assert key in str(error.value)
    assert SUBJECT not in str(error.value)
