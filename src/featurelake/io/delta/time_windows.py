"""Read the rows of a Delta table within an event-time window, touching only the files that can hold them.

Bronze is append-only and each commit holds the rows of a few raw objects, which cover a short
span of event time; the Delta log records each file's min/max per column. Choosing files by
those statistics makes reading one day plus a lookback cost that much, not the whole history.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import polars as pl
import pyarrow as pa
from deltalake import DeltaTable

from featurelake.core.increments import SPAN_COLUMNS
from featurelake.io.delta.maintenance import relative_path

if TYPE_CHECKING:
    import pyarrow.dataset as ds

#: delta-rs stores timestamp statistics truncated to milliseconds: widen max by that much.
_STATS_PRECISION = timedelta(milliseconds=1)


def file_spans(table: DeltaTable, time_column: str) -> pl.DataFrame:
    """One row per data file of the loaded snapshot: path, rows and the span of ``time_column``.

    The span is null for files written without statistics on that column.
    """
    actions = pl.from_arrow(pa.table(table.get_add_actions(flatten=True)))
    assert isinstance(actions, pl.DataFrame)
    low, high = f"min.{time_column}", f"max.{time_column}"
    missing = pl.lit(None, dtype=pl.Datetime("us", "UTC"))
    return actions.select(
        pl.col("path").map_elements(lambda p: relative_path(p, table.table_uri), return_dtype=pl.String),
        pl.col("num_records").alias("rows"),
        (pl.col(low).dt.convert_time_zone("UTC") if low in actions.columns else missing).alias("min_time"),
        (pl.col(high).dt.convert_time_zone("UTC") + _STATS_PRECISION if high in actions.columns else missing).alias(
            "max_time"
        ),
    ).select(SPAN_COLUMNS)


def read_window(
    table: DeltaTable,
    time_column: str,
    since: datetime,
    until: datetime,
    columns: list[str],
    optional: tuple[str, ...] = (),
) -> pl.DataFrame:
    """The rows with ``since <= time_column < until``, reading only files whose span overlaps it.

    ``optional`` columns are read too when the table has them (the bronze bookkeeping columns
    the tie rule orders by, absent from tables not written by ingestion).
    """
    files = _window_files(table, time_column, since, until)
    present = [c for c in optional if c in files.schema.names and c not in columns]
    frame = pl.from_arrow(files.to_table(columns=[*columns, *present]))
    assert isinstance(frame, pl.DataFrame)
    return frame.filter(pl.col(time_column).is_between(since, until, closed="left"))


def distinct_in_window(
    table: DeltaTable, time_column: str, since: datetime, until: datetime, columns: list[str]
) -> pl.DataFrame:
    """The distinct values of ``columns`` over the rows in the window, read batch by batch.

    For wide, repetitive columns such as the raw object a row came from: only the distinct
    values are ever held, not a column per row.
    """
    distinct = pl.DataFrame()
    for batch in _window_files(table, time_column, since, until).to_batches(columns=[*columns, time_column]):
        rows = pl.from_arrow(batch)
        assert isinstance(rows, pl.DataFrame)
        rows = rows.filter(pl.col(time_column).is_between(since, until, closed="left")).select(columns).unique()
        distinct = pl.concat([distinct, rows]).unique() if distinct.width else rows
    return _detached(distinct)


def _window_files(table: DeltaTable, time_column: str, since: datetime, until: datetime) -> ds.Dataset:
    """The table's files whose statistics say they may hold rows in ``[since, until)``, as one dataset."""
    spans = file_spans(table, time_column)
    overlapping = spans.filter(
        pl.col("min_time").is_null() | ((pl.col("min_time") < until) & (pl.col("max_time") >= since))
    )
    dataset = table.to_pyarrow_dataset()
    fragments = {relative_path(f.path, table.table_uri): f for f in dataset.get_fragments()}
    chosen = [fragments[path] for path in overlapping["path"].to_list() if path in fragments]
    import pyarrow.dataset as ds  # pandas and more: ~0.9 s, only when a table is read

    return ds.FileSystemDataset(chosen, dataset.schema, dataset.format, dataset.filesystem)


def _detached(frame: pl.DataFrame) -> pl.DataFrame:
    """A copy that owns its strings.

    Polars string columns share their byte buffers with the frame they were selected from, so a
    small frame can otherwise keep a large one's memory.
    """
    copy = pl.from_arrow(frame.to_arrow(compat_level=pl.CompatLevel.oldest()))
    assert isinstance(copy, pl.DataFrame)
    return copy
