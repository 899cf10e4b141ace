"""How the proof scan reads one piece of content (parquet decoded, gzip opened, text as is), and what a report says."""

from __future__ import annotations

import gzip
import io
import pickle

import polars as pl

from featurelake.core.erasure import Needles
from featurelake.core.pii import hmac_hex
from featurelake.erase.proof import Hit, ProofReport, _redacted, _search

VALUE = "cust-" + "q" * 24 + "x1"
DIGEST = hmac_hex(b"k" * 32, VALUE)
NEEDLES = Needles(VALUE, frozenset({DIGEST}))


def _parquet(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer, compression="zstd", statistics=False)
    return buffer.getvalue()


def test_parquet_is_decoded_column_by_column() -> None:
    blob = _parquet(pl.DataFrame({"id": [VALUE] * 200, "other": ["a"] * 200, "nested": [[{"h": DIGEST}]] * 200}))
    assert VALUE.encode() not in blob  # a byte search alone would miss it
    notes: list[str] = []
    found = dict(_search("s3://b/part.parquet", blob, NEEDLES, notes))
    found.pop("s3://b/part.parquet", None)  # the hash may also be plain in a dictionary page
    assert found == {"s3://b/part.parquet#id": {"value"}, "s3://b/part.parquet#nested": {"hash"}}
    assert notes == []


def test_gzip_is_opened_and_text_searched_as_is() -> None:
    assert _search("k.json.gz", gzip.compress(f'{{"id": "{VALUE}"}}'.encode()), NEEDLES, []) == [
        ("k.json.gz", {"value"})
    ]
    assert _search("k.csv", f"id\n{DIGEST}\n".encode(), NEEDLES, []) == [("k.csv", {"hash"})]
    assert _search("k.csv", b"id\nsomeone-else\n", NEEDLES, []) == []


def test_other_binaries_are_searched_as_bytes_and_broken_parquet_is_noted() -> None:
    assert _search("model.pkl", pickle.dumps({"seen": VALUE}), NEEDLES, []) == [("model.pkl", {"value"})]
    notes: list[str] = []
    assert _search("bad.parquet", b"PAR1garbagePAR1", NEEDLES, notes) == []
    assert len(notes) == 1
    assert "bad.parquet" in notes[0]
    assert "bytes only" in notes[0]


def test_short_value_matches_only_a_whole_cell() -> None:
    needles = Needles("x7q")
    blob = _parquet(pl.DataFrame({"a": ["ax7qb"] * 3, "b": ["x7q", "y", "z"]}))
    assert [place for place, _ in _search("p", blob, needles, [])] == ["p#b"]
    assert _search("t.json", b'{"a": "x7q"}', needles, []) == []


def test_a_report_never_holds_the_needle() -> None:
    location = _redacted(f"s3://b/customer_id={VALUE}/x.json#{DIGEST}", NEEDLES)
    assert VALUE not in location
    assert DIGEST[:20] not in location
    assert "[value]" in location
    assert "[hash]" in location
    report = ProofReport((Hit("lake", location, "value"),), {"lake": 3, "raw": 0}, ("raw bucket not scanned",))
    assert not report.clean
    assert report.rows() == [{"system": "lake", "location": location, "kind": "value"}]
    text = report.markdown()
    assert "1 hit" in text
    assert "3 lake" in text
    assert "raw bucket not scanned" in text
    assert VALUE not in text
    assert ProofReport((), {"lake": 1}).clean
    assert "no trace" in ProofReport((), {"lake": 1}).markdown()
