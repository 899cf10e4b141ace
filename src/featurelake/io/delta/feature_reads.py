"""Pruned, projected, prefiltered scans of a feature table's files: a read costs what it asks for.

The files come from :func:`featurelake.core.retrieval_plan.plan_files` (partition values and
file statistics), in its deterministic order. They are scanned by polars with only the needed
columns and the row filter pushed into the scan: row groups whose statistics exclude the
request are skipped, and feature columns are decoded only for matching rows
(``parallel="prefiltered"``). Feature tables are written sorted by entity and time with small
row groups, so a few entities touch a few row groups.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import polars as pl
import pyarrow as pa
from deltalake import DeltaTable

from featurelake.core.featureset import PARTITION_COLUMN, FeatureSet
from featurelake.core.pointintime import ensure_time_order
from featurelake.core.retrieval_plan import FilePlan, FileRequest, plan_files, sorted_keys
from featurelake.io.delta.maintenance import relative_path


@dataclass(frozen=True)
class Rows:
    """The rows a read returns and the file plan that produced them (files and bytes opened)."""

    frame: pl.DataFrame
    plan: FilePlan


def read_rows(
    table: DeltaTable,
    spec: FeatureSet,
    wanted: list[str],
    storage_options: dict[str, str],
    *,
    days: tuple[date, date] | None = None,
    window: tuple[datetime, datetime] | None = None,
    entities: pl.DataFrame | None = None,
) -> Rows:
    """The requested rows of the loaded snapshot: only ``wanted`` columns, exactly the matching rows.

    Rows come back in file order, with event times ascending within each entity (checked in one
    pass; sorted only when the files do not already give that order).
    """
    typed, utc = _typed(entities, table, spec), _utc(window)
    plan = file_plan(table, spec, days=days, window=utc, entities=typed)
    if not plan.paths:
        return Rows(no_rows(table, wanted), plan)
    uris = {relative_path(uri, table.table_uri): uri for uri in table.file_uris()}
    paths = [uris[relative_path(p, table.table_uri)] for p in plan.paths]
    scan = pl.scan_parquet(
        paths, storage_options=storage_options or None, parallel="prefiltered", hive_partitioning=False
    )
    rows = scan.filter(_row_filter(spec, days, utc, typed)).select(wanted)
    if typed is not None and len(spec.entity_keys) > 1:
        rows = rows.join(typed.lazy().unique(), on=list(spec.entity_keys), how="semi", maintain_order="left")
    return Rows(ensure_time_order(rows.collect(), spec.entity_keys, spec.event_time), plan)


def file_plan(
    table: DeltaTable,
    spec: FeatureSet,
    *,
    days: tuple[date, date] | None = None,
    window: tuple[datetime, datetime] | None = None,
    entities: pl.DataFrame | None = None,
) -> FilePlan:
    """The files of the loaded snapshot that may hold requested rows, in read order.

    ``window`` in UTC and ``entities`` typed as the table's keys (as :func:`read_rows` passes them).
    """
    actions = pl.from_arrow(pa.table(table.get_add_actions(flatten=True)))
    assert isinstance(actions, pl.DataFrame)
    key = spec.entity_keys[0] if entities is not None and len(spec.entity_keys) == 1 else None
    request = FileRequest(
        time_column=spec.event_time,
        day_column=PARTITION_COLUMN,
        partition_columns=tuple(table.metadata().partition_columns),
        days=days,
        window=window,
        key_column=key,
        keys=sorted_keys(entities, key) if key is not None and entities is not None else None,
        order_key=spec.entity_keys[0],
    )
    return plan_files(actions, request)


def _row_filter(
    spec: FeatureSet,
    days: tuple[date, date] | None,
    window: tuple[datetime, datetime] | None,
    entities: pl.DataFrame | None,
) -> pl.Expr:
    """The scan predicate: event time within days and window, single key among the entities."""
    event = pl.col(spec.event_time)
    keep = pl.lit(True)
    if days is not None:  # event_date is the UTC day of the event time, in every layout
        keep &= (event >= _midnight(days[0])) & (event < _midnight(days[1] + timedelta(days=1)))
    if window is not None:
        keep &= event.is_between(window[0], window[1])
    if entities is not None and len(spec.entity_keys) == 1:
        key = spec.entity_keys[0]
        keep &= pl.col(key).is_in(entities.get_column(key).drop_nulls().unique().implode())
    return keep


def _typed(entities: pl.DataFrame | None, table: DeltaTable, spec: FeatureSet) -> pl.DataFrame | None:
    """The entity keys cast to the table's key types (a value that does not fit matches nothing)."""
    if entities is None:
        return None
    missing = [k for k in spec.entity_keys if k not in entities.columns]
    if missing:
        raise ValueError(
            f"reading {spec.ref}: the entities frame lacks key column(s) {missing}; "
            f"pass one row per entity with columns {list(spec.entity_keys)}"
        )
    schema = _schema(table)
    return entities.select(pl.col(k).cast(schema[k], strict=False) for k in spec.entity_keys)


def _schema(table: DeltaTable) -> pl.Schema:
    """The table's columns as polars types."""
    empty = pl.from_arrow(pa.schema(table.schema().to_arrow()).empty_table())
    assert isinstance(empty, pl.DataFrame)
    return empty.schema


def no_rows(table: DeltaTable, wanted: list[str]) -> pl.DataFrame:
    """No rows, with the columns and types a read of ``wanted`` would have."""
    return pl.DataFrame(schema={c: _schema(table)[c] for c in wanted})


def _midnight(day: date) -> datetime:
    """The first instant of a UTC day."""
    return datetime.combine(day, time(), tzinfo=UTC)


def _utc(window: tuple[datetime, datetime] | None) -> tuple[datetime, datetime] | None:
    """The window in UTC (aware bounds required: event times are UTC instants).

    Raises:
        ValueError: for a naive bound, saying how to make it aware.
    """
    if window is None:
        return None
    if window[0].tzinfo is None or window[1].tzinfo is None:
        raise ValueError(
            f"window {window[0].isoformat()} .. {window[1].isoformat()} has a naive bound; "
            "pass time-zone-aware datetimes, e.g. datetime(..., tzinfo=UTC)"
        )
    return window[0].astimezone(UTC), window[1].astimezone(UTC)
