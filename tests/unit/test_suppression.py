"""The suppression matcher: erased subjects recognised in raw rows by keyed hash, under any listed key."""

from __future__ import annotations

import dataclasses

import polars as pl
import pytest

from featurelake.core.erasure import record_hash, subject_of
from featurelake.core.pii import PiiKeyError, key_id
from featurelake.core.suppression import Suppression, Suppressions, suppressor
from features.sources import TRANSACTIONS

OLD, NEW = b"o" * 32, b"n" * 32
RAW = pl.DataFrame(
    {
        "customer_id": ["c001", "c002", "c001", None, "c0011"],
        "customer_email": ["a@x.org", "b@x.org", "c@x.org", "a@x.org", None],
        "ip_address": ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.1"],
    }
)


def _listed(column: str, value: str, keys: dict[str, bytes], request: str = "r1") -> tuple[Suppression, ...]:
    """What add_suppression stores for a subject: one entry per key the request could read."""
    current = next(iter(keys))
    subject = subject_of(TRANSACTIONS, column, value, keys, current)
    return tuple(Suppression(column, kid, h, request) for kid, h in subject.records)


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("customer_id", "c001", [True, False, True, False, False]),  # plain: the lake holds the value
        ("customer_email", "a@x.org", [True, False, False, True, False]),  # hashed in the lake
        ("ip_address", "10.0.0.1", [True, False, False, False, True]),  # dropped: only raw holds it
    ],
)
def test_plain_hashed_and_dropped_columns_match_on_raw_values(column: str, value: str, expected: list[bool]) -> None:
    keys = {key_id(NEW): NEW}
    suppressions = Suppressions("transactions", _listed(column, value, keys))

    assert suppressions.mask(RAW, keys).to_list() == expected


def test_a_subject_listed_under_a_retired_key_matches_with_that_key_only() -> None:
    listed = Suppressions("transactions", _listed("customer_id", "c002", {key_id(OLD): OLD}))

    assert listed.mask(RAW, {key_id(OLD): OLD, key_id(NEW): NEW}).to_list() == [False, True, False, False, False]
    assert listed.mask(RAW, {key_id(NEW): NEW}).to_list() == [False] * 5  # the hash was made with the old key
    assert listed.unmatchable({key_id(NEW): NEW}) == ["r1"]
    assert listed.unmatchable({key_id(OLD): OLD}) == []


def test_several_subjects_and_keys_combine() -> None:
    entries = _listed("customer_id", "c001", {key_id(NEW): NEW, key_id(OLD): OLD}, "r1")
    entries += _listed("customer_email", "b@x.org", {key_id(OLD): OLD}, "r2")
    suppressions = Suppressions("transactions", entries)

    assert suppressions.key_ids == {key_id(NEW), key_id(OLD)}
    assert suppressions.mask(RAW, {key_id(OLD): OLD}).to_list() == [True, True, True, False, False]
    assert suppressions.unmatchable({key_id(NEW): NEW}) == ["r2"]


def test_a_hash_listed_for_another_key_or_column_does_not_match() -> None:
    wrong_key = Suppression("customer_id", key_id(OLD), record_hash(NEW, "c001"), "r1")
    wrong_column = Suppression("customer_email", key_id(NEW), record_hash(NEW, "c001"), "r1")
    both = Suppressions("transactions", (wrong_key, wrong_column))

    assert not both.mask(RAW, {key_id(OLD): OLD, key_id(NEW): NEW}).any()


def test_values_match_as_text_and_absent_columns_are_ignored() -> None:
    typed = pl.DataFrame({"customer_id": [17, 18, None], "amount": [1.0, 2.0, 3.0]})
    suppressions = Suppressions("transactions", (Suppression("customer_id", key_id(NEW), record_hash(NEW, "17"), "r"),))
    assert suppressions.mask(typed, {key_id(NEW): NEW}).to_list() == [True, False, False]
    other = dataclasses.replace(suppressions.entries[0], column="customer_email")
    assert Suppressions("transactions", (other,)).mask(typed, {key_id(NEW): NEW}).to_list() == [False] * 3
    assert Suppressions("transactions").mask(typed, {}).to_list() == [False] * 3


def test_suppressor_refuses_subjects_whose_keys_cannot_be_read() -> None:
    listed = Suppressions("transactions", _listed("customer_id", "c002", {key_id(OLD): OLD}, "req-1"))

    assert suppressor(Suppressions("transactions"), {}) is None
    found = suppressor(listed, {key_id(OLD): OLD})
    assert found is not None
    assert found.mask(RAW).to_list() == [False, True, False, False, False]
    with pytest.raises(PiiKeyError, match="req-1") as error:
        suppressor(listed, {key_id(NEW): NEW})
    assert key_id(OLD) in str(error.value)
    assert "c002" not in str(error.value)
