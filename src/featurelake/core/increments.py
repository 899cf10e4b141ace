"""Which days a build must recompute, and how to cut them into chunks that fit in memory.

A feature row at time ``t`` aggregates source rows in ``(t - w, t]`` for windows ``w`` no wider
than the feature set's ``lookback``. So a source row at time ``s`` can change only feature rows
with ``s <= t < s + lookback``: when bronze gains or loses rows, the days to recompute are the
days those rows fall on plus ``lookback`` after them, and recomputing a day needs ``lookback``
of source history before it. A build after one new day therefore costs one day plus one
lookback of input, whatever the history.

Everything here is pure: the spans of changed files come from the Delta log (``io``), and the
chunks are planned from per-file row counts, never from reading rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import polars as pl

from featurelake.core.featureset import PARTITION_COLUMN, FeatureSet, compute_features, with_partition

#: Columns of a file-span frame: one row per data file of a table snapshot.
SPAN_COLUMNS = ("path", "rows", "min_time", "max_time")


@dataclass(frozen=True)
class DayChunk:
    """Days ``start..end`` (inclusive) computed together; the bounds a write of them replaces.

    ``open_start``/``open_end`` make the write's predicate unbounded on that side: a full
    rebuild's first and last chunks then also remove rows of days the source no longer has.
    """

    start: date
    end: date
    open_start: bool = False
    open_end: bool = False

    @property
    def label(self) -> str:
        """``2026-01-01..2026-01-07``: how logs, artifacts and commit metadata name the chunk."""
        return f"{self.start.isoformat()}..{self.end.isoformat()}"

    def write_bounds(self) -> tuple[date | None, date | None]:
        """The day range a write of this chunk replaces (None: unbounded on that side)."""
        return (None if self.open_start else self.start, None if self.open_end else self.end)

    @property
    def days(self) -> int:
        """How many calendar days the chunk spans."""
        return (self.end - self.start).days + 1


def utc_day(moment: datetime) -> date:
    """The UTC calendar day of an aware datetime (the partition of a feature row at that time)."""
    return moment.astimezone(UTC).date()


def day_start(day: date) -> datetime:
    """Midnight UTC at the start of ``day``."""
    return datetime.combine(day, time(), tzinfo=UTC)


def changed_spans(before: pl.DataFrame, after: pl.DataFrame) -> pl.DataFrame:
    """Files of one snapshot that the other lacks (added or removed), with their time spans.

    A file's rows changed the source exactly when the file was added or removed; files in both
    snapshots hold the same rows (Delta data files are immutable).
    """
    added = after.join(before.select("path"), on="path", how="anti")
    removed = before.join(after.select("path"), on="path", how="anti")
    return pl.concat([added, removed]).select(SPAN_COLUMNS)


def affected_days(changed: pl.DataFrame, lookback: timedelta, last_day: date) -> list[tuple[date, date]]:
    """The day ranges whose feature rows a change of these file spans can alter, merged and sorted.

    A span with no time statistics could hold rows on any day: it affects every day up to
    ``last_day``, from the earliest day any span starts on.
    """
    if changed.is_empty():
        return []
    known = changed.filter(pl.col("min_time").is_not_null() & pl.col("max_time").is_not_null())
    ranges = [
        (utc_day(low), min(last_day, utc_day(high + lookback)))
        for low, high in known.select("min_time", "max_time").iter_rows()
    ]
    if known.height < changed.height:
        first = min((start for start, _ in ranges), default=date.min)
        ranges.append((first, last_day))
    return merge_ranges([(start, end) for start, end in ranges if start <= end])


def merge_ranges(ranges: list[tuple[date, date]]) -> list[tuple[date, date]]:
    """Sort inclusive day ranges and merge the ones that overlap or touch."""
    merged: list[tuple[date, date]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1] + timedelta(days=1):
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def rows_per_day(spans: pl.DataFrame) -> dict[date, float]:
    """An estimate of source rows per UTC day: each file's rows spread evenly over its days.

    Files without time statistics are left out (they are read whatever the window, and their
    rows are unknown per day).
    """
    per_day: dict[date, float] = {}
    for rows, low, high in spans.select("rows", "min_time", "max_time").iter_rows():
        if low is None or high is None:
            continue
        first, last = utc_day(low), utc_day(high)
        count = (last - first).days + 1
        for offset in range(count):
            day = first + timedelta(days=offset)
            per_day[day] = per_day.get(day, 0.0) + rows / count
    return per_day


def plan_chunks(
    ranges: list[tuple[date, date]], per_day: dict[date, float], lookback: timedelta, max_rows: int | None
) -> list[DayChunk]:
    """Cut day ranges into chunks whose input (their days plus ``lookback`` before) stays under ``max_rows``.

    A chunk never spans two ranges. A single day whose input alone exceeds ``max_rows`` still
    becomes a chunk of its own: a day is the smallest unit a write replaces.
    """
    lookback_days = math.ceil(lookback / timedelta(days=1))
    chunks: list[DayChunk] = []
    for start, end in ranges:
        chunk_start, day = start, start
        while day <= end:
            if max_rows is not None and day > chunk_start:
                needed = _window_rows(per_day, chunk_start - timedelta(days=lookback_days), day)
                if needed > max_rows:
                    chunks.append(DayChunk(chunk_start, day - timedelta(days=1)))
                    chunk_start = day
            day += timedelta(days=1)
        chunks.append(DayChunk(chunk_start, end))
    return chunks


def _window_rows(per_day: dict[date, float], first: date, last: date) -> float:
    return sum(rows for day, rows in per_day.items() if first <= day <= last)


def open_outer_bounds(chunks: list[DayChunk]) -> list[DayChunk]:
    """The chunks of a full rebuild: the first replaces everything before it, the last everything after."""
    if not chunks:
        return []
    opened = list(chunks)
    opened[0] = DayChunk(opened[0].start, opened[0].end, True, opened[0].open_end)
    opened[-1] = DayChunk(opened[-1].start, opened[-1].end, opened[-1].open_start, True)
    return opened


def source_window(spec: FeatureSet, chunk: DayChunk) -> tuple[datetime, datetime]:
    """The event-time interval ``[since, until)`` of source rows a chunk's features read."""
    return day_start(chunk.start) - spec.lookback, day_start(chunk.end + timedelta(days=1))


def features_for_days(spec: FeatureSet, source: pl.DataFrame, start: date, end: date) -> tuple[pl.DataFrame, int]:
    """Feature rows of the days ``start..end`` (inclusive), and how many source rows fed them.

    Source rows from ``lookback`` before ``start`` are used so the first day's windows are full;
    only the rows of the requested days are kept, so they equal what a full build computes.
    """
    since, until = source_window(spec, DayChunk(start, end))
    window = source.filter(pl.col(spec.event_time).is_between(since, until, closed="left"))
    features = with_partition(spec, compute_features(spec, window))
    in_range = features.filter(pl.col(PARTITION_COLUMN).is_between(start, end)).drop(PARTITION_COLUMN)
    return in_range, window.height
