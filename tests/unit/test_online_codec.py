"""The online store's item format round-trips every value exactly, and its freshness rule is training's."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from featurelake.core.online import (
    decode,
    encode,
    entity_id,
    entity_ids,
    epoch_us,
    from_epoch_us,
    is_absent,
    status_of,
    to_items,
    tombstone,
)

AT = datetime(2026, 3, 1, tzinfo=UTC)
_times = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC))


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_every_float_round_trips_including_those_dynamodb_numbers_cannot_hold(value: float) -> None:
    back = decode(encode(value), pl.Float64())
    assert isinstance(back, float)
    assert (math.isnan(back) and math.isnan(value)) or (
        back == value and math.copysign(1, back) == math.copysign(1, value)
    )


@given(st.integers(-(2**63), 2**63 - 1), st.text(), st.booleans(), _times)
def test_ints_strings_bools_and_times_round_trip(number: int, text: str, flag: bool, when: datetime) -> None:
    assert decode(encode(number), pl.Int64()) == number
    assert decode(encode(text), pl.String()) == text
    assert decode(encode(flag), pl.Boolean()) is flag
    assert decode(encode(when), pl.Datetime("us", "UTC")) == when
    assert from_epoch_us(epoch_us(when)) == when
    assert decode(encode(None), pl.Float64()) is None


def test_entity_ids_keep_types_apart_and_follow_key_order() -> None:
    assert entity_id(["42"]) != entity_id([42])
    assert entity_id([7, "DE"]) == '[7,"DE"]'
    frame = pl.DataFrame({"country": ["DE", "FR"], "shop": [7, 8]})
    assert entity_ids(frame, ["shop", "country"]) == ['[7,"DE"]', '[8,"FR"]']


def test_items_hold_values_time_version_and_fingerprint_and_tombstones_read_as_absent() -> None:
    rows = pl.DataFrame({"user_id": ["u1"], "event_time": [AT], "score": [float("nan")], "n": [3]})
    (item,) = to_items(
        rows, ["user_id"], "event_time", ["score", "n"], delta_version=4, fingerprint="f", materialized_at=AT
    )
    assert item["entity"] == {"S": '["u1"]'}
    assert item["event_time_us"] == {"N": str(epoch_us(AT))}
    assert item["values"]["M"]["n"] == {"N": "3"}
    assert math.isnan(float(decode(item["values"]["M"]["score"], pl.Float64())))  # type: ignore[arg-type]
    assert not is_absent(item)
    assert is_absent(tombstone('["u1"]', delta_version=5, fingerprint="f", materialized_at=AT))
    assert is_absent(None)


def test_freshness_is_the_training_rule_inclusive_at_the_ttl() -> None:
    ttl = timedelta(days=2)
    assert status_of(AT - ttl, AT, ttl) == "ok"
    assert status_of(AT - ttl - timedelta(microseconds=1), AT, ttl) == "expired"
    assert status_of(None, AT, ttl) == "unknown_entity"
