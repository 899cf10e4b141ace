"""Which data files of a table a read must open: pruning by partition values and file statistics.

Pure planning over the Delta log's add actions (one row per file: ``path``, ``size_bytes``,
``num_records``, ``partition.<col>``, ``min.<col>``, ``max.<col>``), so that a read costs what
the request asks for (a few entities over a few days open a few files), not the whole table.

Pruning only ever drops files that cannot hold a requested row: a file whose statistics are
missing is kept, and timestamp maxima are widened because delta-rs truncates them to
milliseconds. Rows are still filtered after the scan; pruning is what keeps it cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import polars as pl

#: delta-rs stores timestamp statistics truncated to milliseconds: widen a file's max by that much.
STATS_PRECISION = timedelta(milliseconds=1)


@dataclass(frozen=True)
class FileRequest:
    """What a read asks for, in the terms file statistics can answer.

    ``days`` and ``window`` are inclusive; ``keys`` are the sorted distinct values of the
    single entity key ``key_column`` (None: every entity, or a multi-key set pruned by time only).
    """

    time_column: str
    day_column: str
    partition_columns: tuple[str, ...] = ()
    days: tuple[date, date] | None = None
    window: tuple[datetime, datetime] | None = None
    key_column: str | None = None
    keys: pl.Series | None = None
    #: The table's first entity key: files whose times overlap are read in order of its minimum.
    order_key: str | None = None


@dataclass(frozen=True)
class FilePlan:
    """The files to open, in read order, with what they and the whole snapshot weigh."""

    files: pl.DataFrame
    files_total: int
    bytes_total: int

    @property
    def paths(self) -> list[str]:
        """Paths of the chosen files (as the log spells them), in read order."""
        return self.files["path"].to_list()

    @property
    def bytes_read(self) -> int:
        """Bytes of the chosen files: an upper bound, since row groups are pruned within them too."""
        return int(self.files["size_bytes"].sum() or 0)


def plan_files(actions: pl.DataFrame, request: FileRequest) -> FilePlan:
    """The files that may hold a requested row, in a deterministic read order (:func:`_read_order`)."""
    keep = pl.lit(True)
    if request.days is not None:
        keep &= _overlaps(actions, request, request.day_column, request.days[0], request.days[1])
    if request.window is not None:
        keep &= _overlaps(actions, request, request.time_column, request.window[0], request.window[1])
    chosen = actions.filter(keep)
    if request.key_column is not None and request.keys is not None:
        chosen = chosen.filter(_holds_a_key(chosen, request))
    return FilePlan(
        files=_read_order(chosen, request),
        files_total=actions.height,
        bytes_total=int(actions["size_bytes"].sum() or 0) if actions.height else 0,
    )


def _read_order(files: pl.DataFrame, request: FileRequest) -> pl.DataFrame:
    """Files by partition, then by time span, and files whose time spans overlap by their lowest key.

    A write sorts its rows by entity and time and delta-rs cuts them into files by size, so the
    files of one write cover the same days and consecutive key ranges: read by lowest key, they
    give one run sorted by entity and time. Writes of other days (incremental builds, backfills)
    follow in time order. Reads then find times ascending within every entity without a sort
    (:func:`featurelake.core.pointintime.ensure_time_order` checks it, and sorts when not).
    """
    partitions = [f"partition.{c}" for c in request.partition_columns if f"partition.{c}" in files.columns]
    low, high = f"min.{request.time_column}", f"max.{request.time_column}"
    order = [*partitions, *(c for c in (low, "path") if c in files.columns)]
    files = files.sort(order, nulls_last=True, maintain_order=True)
    if files.height < 2 or low not in files.columns or high not in files.columns:
        return files
    reach = pl.col(high).cum_max().shift(1)
    if partitions:
        reach = reach.over(partitions)
    span = (pl.col(low).is_null() | reach.is_null() | (pl.col(low) > reach)).cum_sum().alias("__span")
    key = f"min.{request.order_key}"
    within = [key] if request.order_key is not None and key in files.columns else []
    return files.with_columns(span).sort("__span", *within, *order[len(partitions) :], nulls_last=True).drop("__span")


def _bounds(actions: pl.DataFrame, request: FileRequest, column: str) -> tuple[pl.Expr, pl.Expr] | None:
    """A file's (lowest, highest) value of ``column``: its partition value, else its statistics."""
    if column in request.partition_columns and f"partition.{column}" in actions.columns:
        value = pl.col(f"partition.{column}")
        return value, value
    if f"min.{column}" in actions.columns and f"max.{column}" in actions.columns:
        return pl.col(f"min.{column}"), pl.col(f"max.{column}")
    return None


def _overlaps(actions: pl.DataFrame, request: FileRequest, column: str, low: object, high: object) -> pl.Expr:
    """Files whose range of ``column`` meets ``[low, high]``; files without statistics are kept."""
    bounds = _bounds(actions, request, column)
    if bounds is None:
        return pl.lit(True)
    first, last = bounds
    dtype = actions.schema[f"partition.{column}" if column in request.partition_columns else f"min.{column}"]
    if dtype == pl.String and isinstance(low, date):  # partition values may come back as text
        first, last = first.str.to_date(strict=False), last.str.to_date(strict=False)
    if isinstance(dtype, pl.Datetime):
        last = last + STATS_PRECISION
    return first.is_null() | last.is_null() | ((first <= pl.lit(high)) & (last >= pl.lit(low)))


def _holds_a_key(files: pl.DataFrame, request: FileRequest) -> pl.Series:
    """Files whose key range ``[min, max]`` contains at least one requested key (binary search, both ends)."""
    assert request.key_column is not None
    assert request.keys is not None
    bounds = _bounds(files, request, request.key_column)
    if bounds is None or files.height == 0:
        return pl.Series([True] * files.height, dtype=pl.Boolean)
    low, high = (files.select(b).to_series() for b in bounds)
    keys = request.keys.drop_nulls()
    if keys.is_empty():
        return pl.Series([False] * files.height, dtype=pl.Boolean)
    low, high = low.cast(keys.dtype, strict=False), high.cast(keys.dtype, strict=False)
    first = keys.search_sorted(low.fill_null(keys[0]), side="left")  # nulls (no statistics) are kept below
    past = keys.search_sorted(high.fill_null(keys[0]), side="right")
    return (past > first) | low.is_null() | high.is_null()


def sorted_keys(entities: pl.DataFrame, column: str) -> pl.Series:
    """The distinct non-null values of one key column, sorted, for :class:`FileRequest`."""
    return entities.get_column(column).drop_nulls().unique().sort()
