"""The pure core of erasure: parsing a subject, matching it as the lake holds it, and the proof scan's needles."""

from __future__ import annotations

import json

import polars as pl
import pytest

from featurelake.core.erasure import (
    ErasureError,
    Needles,
    match_kind,
    matching_values,
    parse_subject,
    raw_content_values,
    record_hash,
    subject_of,
    without_subject_lines,
)
from featurelake.core.pii import hmac_hex, key_id
from features.sources import FRAUD_LABELS, TRANSACTIONS

OLD, NEW = b"o" * 32, b"n" * 32
KEYS = {key_id(OLD): OLD, key_id(NEW): NEW}


def test_a_subject_is_column_equals_value_and_errors_never_repeat_the_value() -> None:
    assert parse_subject("customer_email=a=b@x.org") == ("customer_email", "a=b@x.org")
    for bad in ("c00042", "=c00042", "customer_id="):
        with pytest.raises(ErasureError) as raised:
            parse_subject(bad)
        assert "c00042" not in str(raised.value)


def test_the_match_kind_follows_the_contracts_pii_policy_and_masked_columns_are_refused() -> None:
    assert match_kind(TRANSACTIONS, "customer_id") == "plain"
    assert match_kind(TRANSACTIONS, "customer_email") == "hash"
    assert match_kind(TRANSACTIONS, "ip_address") == "drop"
    with pytest.raises(ErasureError, match="masked"):
        match_kind(TRANSACTIONS, "card_number")
    with pytest.raises(ErasureError, match="no column 'email'"):
        match_kind(TRANSACTIONS, "email")


def test_a_subject_holds_hashes_under_every_key_and_its_record_hash_is_another_derivation() -> None:
    subject = subject_of(TRANSACTIONS, "customer_email", "a@x.org", KEYS, key_id(NEW))
    assert dict(subject.hashes) == {key_id(OLD): hmac_hex(OLD, "a@x.org"), key_id(NEW): hmac_hex(NEW, "a@x.org")}
    assert subject.record_hash == record_hash(NEW, "a@x.org") != subject.data_hash
    assert subject.record_hash not in subject.all_hashes
    again = subject_of(TRANSACTIONS, "customer_email", "a@x.org", KEYS, key_id(NEW))
    other_source = subject_of(FRAUD_LABELS, "customer_id", "a@x.org", KEYS, key_id(NEW))
    assert again.request_id == subject.request_id != other_source.request_id
    assert "a@x.org" not in repr(subject)
    with pytest.raises(ErasureError, match="current PII key"):
        subject_of(TRANSACTIONS, "customer_id", "c1", {key_id(OLD): OLD}, key_id(NEW))


def test_plain_columns_match_by_keyed_hash_hashed_columns_under_any_key_dropped_ones_never() -> None:
    plain = subject_of(TRANSACTIONS, "customer_id", "c00042", KEYS, key_id(NEW))
    assert matching_values(["c00042", "c000420", None, "c00043"], plain, NEW) == ["c00042"]
    hashed = subject_of(TRANSACTIONS, "customer_email", "a@x.org", KEYS, key_id(NEW))
    held = [hmac_hex(OLD, "a@x.org"), hmac_hex(NEW, "a@x.org"), hmac_hex(NEW, "b@x.org"), "a@x.org"]
    assert matching_values(held, hashed, NEW) == sorted(held[:2])  # the raw value itself never sits in a hashed column
    dropped = subject_of(TRANSACTIONS, "ip_address", "10.0.0.1", KEYS, key_id(NEW))
    assert matching_values(["10.0.0.1"], dropped, NEW) == []


def test_quarantine_raw_content_is_read_per_json_line_and_rewritten_without_the_subject() -> None:
    one = json.dumps({"customer_id": "c1", "amount": "x"})
    many = "\n".join(json.dumps({"customer_id": c}) for c in ("c1", "c2", "c1")) + "\n"
    assert raw_content_values(one, "customer_id") == ["c1"]
    assert raw_content_values("not json at all", "customer_id") == []
    kept, removed = without_subject_lines(many, "customer_id", frozenset({"c1"}))
    assert (kept, removed) == (json.dumps({"customer_id": "c2"}) + "\n", 2)


def test_needles_find_whole_tokens_hash_prefixes_and_cells_but_never_part_of_a_longer_value() -> None:
    digest = hmac_hex(NEW, "c00042")
    needles = Needles(value="c00042", hashes=frozenset({digest}))
    assert needles.in_text('{"min":{"customer_id":"c00042"}}') == {"value"}
    assert needles.in_text("customer_id IN ('c000421')") == set()
    assert needles.in_text(f"stats {digest[:32]}") == {"hash"}  # a truncated statistic still leaks the hash
    frame = pl.DataFrame({"id": ["c00042", "c1"], "nested": [{"k": "c00042"}, {"k": "x"}], "n": [1, 2]})
    assert needles.in_frame(frame) == {"id": {"value"}, "nested": {"value"}}
    short = Needles(value="7")
    assert short.in_text("17 apples, 7") == set()  # too short to search in text
    assert short.in_frame(pl.DataFrame({"n": [7, 8]})) == {"n": {"value"}}  # but a whole cell matches
