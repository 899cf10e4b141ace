"""Online reads: each entity's materialized values, with the time, version and status a caller needs.

The same rule as training and ``lookup(as_of=...)``: a value whose event time is older than the
feature set's TTL at the request time is not served (null, status ``expired``); an entity the
store holds no row for is null with status ``unknown_entity``. Entities keep their order and
duplicates, and each distinct entity is fetched once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import polars as pl

from featurelake.core.featureset import FeatureSet
from featurelake.core.online import DELTA_VERSION, EVENT_TIME_US, VALUES, decode, entity_ids, from_epoch_us, is_absent
from featurelake.core.online import status_of as freshness
from featurelake.io.aws.online_store import OnlineStore


def check_entities(entities: pl.DataFrame, spec: FeatureSet) -> None:
    """Refuse an entities frame whose keys would never match an item, before any read.

    Any integer width encodes alike (JSON numbers), so only the kind must match: a string
    ``"42"`` and an int ``42`` are different entities.

    Raises:
        KeyError: when a key column is missing.
        ValueError: when a key column's type differs from the feature table's.
    """
    missing = [k for k in spec.entity_keys if k not in entities.columns]
    if missing:
        raise KeyError(f"online read of {spec.ref}: the entities frame lacks key column(s) {missing}")
    for key in spec.entity_keys:
        given, expected = entities.schema[key], spec.source.columns[key]
        if given != expected and not (given.is_integer() and expected.is_integer()):
            raise ValueError(
                f"online read of {spec.ref}: key column {key!r} is {given} but the feature table's is {expected}; "
                f"cast it first (pl.col({key!r}).cast(pl.{expected}))"
            )


def online_columns(
    online: OnlineStore, spec: FeatureSet, columns: dict[str, str], entities: pl.DataFrame, at: datetime
) -> pl.DataFrame:
    """One row per entity row: the feature columns (as named in ``columns``) and the set's three metadata columns.

    Raises:
        ValueError: for a naive request time.
    """
    if at.tzinfo is None:
        raise ValueError(f"online read of {spec.ref}: the request time {at.isoformat()} has no time zone")
    ids = entity_ids(entities, spec.entity_keys)
    items = online.get(online.table_name(spec), ids) if online.exists(spec) else {}
    schema = spec.output_schema()
    rows = [_row(items.get(e), spec, columns, schema, at) for e in ids]
    prefix = f"{spec.name}__v{spec.version}__"
    frame_schema: dict[str, Any] = {target: schema[source] for source, target in columns.items()}
    frame_schema |= {
        f"{prefix}event_time": pl.Datetime("us", "UTC"),
        f"{prefix}delta_version": pl.Int64,
        f"{prefix}status": pl.String,
    }
    return pl.DataFrame(rows, schema=frame_schema, orient="row")


def _row(
    item: dict[str, Any] | None, spec: FeatureSet, columns: dict[str, str], schema: dict[str, pl.DataType], at: datetime
) -> list[Any]:
    """The values (nulled unless fresh), then event time, Delta version and status of one entity."""
    if item is None or is_absent(item):
        version = None if item is None else int(item[DELTA_VERSION]["N"])
        return [*(None for _ in columns), None, version, "unknown_entity"]
    event_time = from_epoch_us(int(item[EVENT_TIME_US]["N"]))
    status = freshness(event_time, at, spec.ttl)
    values = item[VALUES]["M"]
    served = [decode(values[source], schema[source]) if status == "ok" else None for source in columns]
    return [*served, event_time, int(item[DELTA_VERSION]["N"]), status]
