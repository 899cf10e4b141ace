"""The online store's item format: one item per entity, holding its latest feature row of one Delta version.

Pure conversions between polars rows and DynamoDB attribute values, so that the adapter
(:mod:`featurelake.io.aws.online_store`) only moves items and the rule that decides what a
reader sees (:func:`status_of`) is the training set's rule:

* the entity key is its key values in the spec's key order, as compact JSON: ``["c00042"]`` or
  ``[7,"DE"]`` (ints stay numbers, so ``42`` and ``"42"`` never meet);
* values are typed by the spec's output schema, so a round trip is exact: floats travel as
  ``repr`` (or as text when DynamoDB's number range cannot hold them: NaN, infinities, 1e200),
  datetimes as UTC epoch microseconds, nulls as NULL;
* an item records the event time and Delta version of the row it holds, and the fingerprint of
  the logic that computed it; an entity a version no longer holds is a tombstone (``absent``), not
  a delete, so an older write arriving late cannot bring it back.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

import polars as pl

ENTITY = "entity"
EVENT_TIME_US = "event_time_us"
DELTA_VERSION = "delta_version"
FINGERPRINT = "fingerprint"
VALUES = "values"
ABSENT = "absent"
MATERIALIZED_AT = "materialized_at"

Status = Literal["ok", "unknown_entity", "expired"]
Item = dict[str, Any]
#: DynamoDB numbers hold magnitudes from 1e-130 to below 1e126; floats outside travel as text.
_NUMBER_RANGE = (1e-130, 9.9e125)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def entity_id(values: Sequence[object]) -> str:
    """The partition key of one entity: its key values in key order, as compact JSON."""
    return json.dumps(list(values), separators=(",", ":"), ensure_ascii=False)


def entity_ids(frame: pl.DataFrame, keys: Sequence[str]) -> list[str]:
    """The partition key of every row of ``frame`` (its ``keys`` columns), in row order."""
    return [entity_id(row) for row in frame.select(keys).iter_rows()]


def encode(value: object) -> dict[str, Any]:
    """A Python value as a DynamoDB attribute value (see the module docstring for the rules)."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, float):
        low, high = _NUMBER_RANGE
        in_range = value == 0.0 or (math.isfinite(value) and low <= abs(value) <= high)
        return {"N": repr(value)} if in_range else {"S": repr(value)}
    if isinstance(value, datetime):
        return {"N": str(epoch_us(value))}
    if isinstance(value, date):
        return {"S": value.isoformat()}
    return {"S": str(value)}


def decode(attribute: Mapping[str, Any], dtype: pl.DataType) -> object:
    """The value an attribute holds, as the column type ``dtype`` expects it."""
    if "NULL" in attribute:
        return None
    if "BOOL" in attribute:
        return bool(attribute["BOOL"])
    text = str(attribute.get("N", attribute.get("S")))
    if dtype.is_float():
        return float(text)
    if dtype.is_integer():
        return int(text)
    if isinstance(dtype, pl.Datetime):
        return from_epoch_us(int(text))
    if dtype == pl.Date:
        return date.fromisoformat(text)
    return text


def epoch_us(when: datetime) -> int:
    """Microseconds since the epoch of an aware time (exact: no float on the way)."""
    delta = when - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_epoch_us(micros: int) -> datetime:
    """The UTC time ``micros`` microseconds after the epoch."""
    return _EPOCH + timedelta(microseconds=micros)


def to_items(
    rows: pl.DataFrame,
    keys: Sequence[str],
    event_time: str,
    features: Sequence[str],
    *,
    delta_version: int,
    fingerprint: str,
    materialized_at: datetime,
) -> list[Item]:
    """One item per row (each row an entity's latest), holding ``features`` and where they came from."""
    stamp = materialized_at.astimezone(UTC).isoformat()
    items = []
    for row in rows.select(*keys, event_time, *features).iter_rows():
        values = dict(zip(features, row[len(keys) + 1 :], strict=True))
        items.append(
            {
                ENTITY: {"S": entity_id(row[: len(keys)])},
                EVENT_TIME_US: {"N": str(epoch_us(row[len(keys)]))},
                DELTA_VERSION: {"N": str(delta_version)},
                FINGERPRINT: {"S": fingerprint},
                VALUES: {"M": {name: encode(value) for name, value in values.items()}},
                MATERIALIZED_AT: {"S": stamp},
            }
        )
    return items


def tombstone(entity: str, *, delta_version: int, fingerprint: str, materialized_at: datetime) -> Item:
    """The item of an entity that ``delta_version`` no longer holds: it reads as unknown."""
    return {
        ENTITY: {"S": entity},
        EVENT_TIME_US: {"N": "0"},
        DELTA_VERSION: {"N": str(delta_version)},
        FINGERPRINT: {"S": fingerprint},
        ABSENT: {"BOOL": True},
        MATERIALIZED_AT: {"S": materialized_at.astimezone(UTC).isoformat()},
    }


def is_absent(item: Mapping[str, Any] | None) -> bool:
    """True for no item or a tombstone: the store knows no row of the entity."""
    return item is None or bool(item.get(ABSENT, {}).get("BOOL", False))


def status_of(event_time: datetime | None, at: datetime, ttl: timedelta) -> Status:
    """What a reader at ``at`` may use: the training set's rule (a value at or after ``at - ttl`` is fresh)."""
    if event_time is None:
        return "unknown_entity"
    return "ok" if event_time >= at - ttl else "expired"
