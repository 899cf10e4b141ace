"""How a feature table's files are laid out: partitioning chosen from its volume, and row-group size.

Day partitions suit tables whose day holds enough rows to fill a file; a small table (an hourly
series of a few entities) partitioned by day becomes hundreds of tiny files, and every read pays
per file. So the partitioning is chosen once, when the table is created, from the volume of its
first write: by day when a day is big enough, else by month, else none.

Whatever the partitioning, ``event_date`` (the UTC day of the event time) stays a column of
every row, so backfills and incremental builds replace exactly their days with the same
predicate on ``event_date`` (delta-rs rewrites the files that hold those days and refuses rows
outside them), and readers take the partition columns from the table, not from this policy.
Files are written sorted by entity and time in row groups of :data:`ROW_GROUP_ROWS` rows, so a
read of a few entities skips the row groups whose key statistics exclude them.
"""

from __future__ import annotations

from enum import StrEnum

import polars as pl

from featurelake.core.featureset import MONTH_COLUMN, PARTITION_COLUMN, FeatureSet, with_partition

#: In-memory bytes a partition should reach to be worth its own files (parquet is ~3-5x smaller).
PARTITION_BYTES = 64 * 1024 * 1024
#: Rows per parquet row group: small enough that sorted files prune by key, large enough to compress.
ROW_GROUP_ROWS = 65_536


class Layout(StrEnum):
    """A feature table's partitioning."""

    DAY = "day"
    MONTH = "month"
    NONE = "none"


def choose_layout(frame_bytes: int, days: int) -> Layout:
    """The partitioning for a table whose first write holds ``frame_bytes`` over ``days`` distinct days.

    A write with no rows says nothing about volume: it gets day partitions, which builds split
    into chunks (large by construction) need.
    """
    if days <= 0 or frame_bytes <= 0:
        return Layout.DAY
    per_day = frame_bytes / days
    if per_day >= PARTITION_BYTES:
        return Layout.DAY
    if per_day * 30 >= PARTITION_BYTES:
        return Layout.MONTH
    return Layout.NONE


def layout_of(partition_columns: list[str] | tuple[str, ...]) -> Layout:
    """The layout of an existing table, from its partition columns.

    Raises:
        ValueError: for partition columns no layout writes, naming them.
    """
    for layout in Layout:
        if list(partition_columns) == partition_columns_of(layout):
            return layout
    raise ValueError(
        f"feature table partitioned by {list(partition_columns)}: not a featurelake layout "
        f"(expected one of {[partition_columns_of(layout) for layout in Layout]}); rebuild the table"
    )


def partition_columns_of(layout: Layout) -> list[str]:
    """The partition columns a layout writes."""
    return {Layout.DAY: [PARTITION_COLUMN], Layout.MONTH: [MONTH_COLUMN], Layout.NONE: []}[layout]


def layout_for(spec: FeatureSet, features: pl.DataFrame) -> Layout:
    """The layout a new table gets for a first write of ``features`` (see :func:`choose_layout`)."""
    if features.is_empty():
        return Layout.DAY
    days = features.select(pl.col(spec.event_time).dt.convert_time_zone("UTC").dt.date().n_unique()).item()
    return choose_layout(int(features.estimated_size()), int(days))


def with_layout_columns(spec: FeatureSet, features: pl.DataFrame, layout: Layout) -> pl.DataFrame:
    """The rows as a feature table stores them: ``event_date`` always, the month too when partitioned by it."""
    frame = with_partition(spec, features)
    if layout is Layout.MONTH:
        frame = frame.with_columns(pl.col(PARTITION_COLUMN).dt.strftime("%Y-%m").alias(MONTH_COLUMN))
    return frame
