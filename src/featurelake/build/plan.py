"""Which days a build recomputes: the bronze change since the last publish, cut into day chunks.

A build compares the bronze snapshot it reads with the one the table was last built from (the
publish commit's bronze version, see :mod:`featurelake.core.commits`): only days whose windows
the changed bronze files can reach are recomputed (see :mod:`featurelake.core.increments`).
Files that a compaction merely rewrote are not a change. The days are cut into chunks whose
input (days plus lookback) fits the row limit the memory budget allows
(:mod:`featurelake.build.budget`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import polars as pl

from featurelake.core import commits
from featurelake.core.featureset import FeatureSet
from featurelake.core.fingerprint import fingerprint
from featurelake.core.increments import (
    DayChunk,
    affected_days,
    changed_spans,
    merge_ranges,
    open_outer_bounds,
    plan_chunks,
    rows_per_day,
    source_window,
    utc_day,
)
from featurelake.core.naming import bronze_path
from featurelake.io.delta.maintenance import data_files
from featurelake.io.delta.store import DeltaStore
from featurelake.io.delta.time_windows import file_spans


@dataclass(frozen=True)
class BuildPlan:
    """What one build recomputes: the bronze version, the base it is incremental to, the day chunks."""

    feature_set: str
    bronze_version: int
    base_bronze_version: int | None
    chunks: tuple[DayChunk, ...]
    estimated_source_rows: int
    reason: str
    #: The earliest event time in bronze at ``bronze_version`` (None: unknown): windows fill up from there.
    source_start: datetime | None = None
    #: The most source rows one chunk may read (the memory budget's limit; None: unbounded), and the
    #: estimated input of the largest chunk: above the limit when one day plus the lookback does not fit.
    max_rows: int | None = None
    largest_chunk_rows: int = 0

    @property
    def over_budget(self) -> str | None:
        """Why the build will exceed its memory budget, or None: a day is the smallest chunk there is."""
        if self.max_rows is None or self.largest_chunk_rows <= self.max_rows:
            return None
        return (
            f"one chunk (a day plus the lookback) reads ~{self.largest_chunk_rows:,} source rows, but the memory "
            f"budget allows {self.max_rows:,}: the build will go over FEATURELAKE_BUILD_MEMORY_BUDGET; raise it "
            f"about {self.largest_chunk_rows / max(self.max_rows, 1):.1f}-fold for that day to fit"
        )

    @property
    def full(self) -> bool:
        """True when every day is recomputed (first build, definition change, rollback, unknown base)."""
        return self.base_bronze_version is None

    def summary(self) -> dict[str, object]:
        """One row for the UI and the log."""
        return {
            "feature_set": self.feature_set,
            "mode": "full" if self.full else f"incremental since bronze {self.base_bronze_version}",
            "bronze_version": self.bronze_version,
            "chunks": len(self.chunks),
            "days": sum(c.days for c in self.chunks),
            "estimated_source_rows": self.estimated_source_rows,
            **({"over_budget": self.over_budget} if self.over_budget else {}),
            "reason": self.reason,
        }


def plan_build(store: DeltaStore, spec: FeatureSet, bronze_version: int, max_rows: int | None) -> BuildPlan:
    """Decide which days to recompute from ``bronze_version``, in chunks of at most ``max_rows`` input rows."""
    base, reason, pending = incremental_base(store, spec)
    return plan_from_base(store, spec, bronze_version, base, max_rows, reason=reason, pending=pending)


def plan_from_base(
    store: DeltaStore,
    spec: FeatureSet,
    bronze_version: int,
    base: int | None,
    max_rows: int | None,
    *,
    reason: str = "",
    pending: list[tuple[date, date]] | None = None,
) -> BuildPlan:
    """The plan for rebuilding what changed between bronze ``base`` and ``bronze_version`` (None: everything).

    ``pending`` are day ranges to rebuild anyway (half-built by a build that did not finish).
    """
    bronze = store.existing(bronze_path(spec.source.name), bronze_version)
    after = file_spans(bronze, spec.event_time)
    if base is not None:
        try:
            before = file_spans(store.existing(bronze_path(spec.source.name), base), spec.event_time)
        except (ValueError, FileNotFoundError) as error:  # the base's log is gone (metadata cleanup)
            base, reason = None, f"bronze version {base} can no longer be loaded ({error})"
    if base is None:
        ranges = _all_days(after)
    else:
        rewritten, replaced = compaction_rewrites(store, bronze_path(spec.source.name), base, bronze_version)
        changed = changed_spans(
            before.filter(~pl.col("path").is_in(list(replaced))), after.filter(~pl.col("path").is_in(list(rewritten)))
        )
        last_day = _last_day(pl.concat([after, changed]))
        ranges = [] if last_day is None else affected_days(changed, spec.lookback, last_day)
        ranges = merge_ranges(ranges + (pending or []))
    chunks = plan_chunks(ranges, rows_per_day(after), spec.lookback, max_rows)
    if base is None:
        chunks = open_outer_bounds(chunks)
    per_chunk = _chunk_rows(after, chunks, spec)
    start = after["min_time"].min()
    start = start if isinstance(start, datetime) else None
    largest = max(per_chunk, default=0)
    return BuildPlan(spec.ref, bronze_version, base, tuple(chunks), sum(per_chunk), reason, start, max_rows, largest)


def compaction_rewrites(store: DeltaStore, path: str, base: int, version: int) -> tuple[set[str], set[str]]:
    """Files that compactions (OPTIMIZE) between ``base`` and ``version`` wrote and replaced without changing rows.

    A compaction's new files hold exactly the rows of the files it removed. When every file it
    removed was already in the base snapshot (or is itself such a rewrite), its output adds no
    row the base lacked, and the files it removed lost none: neither side is a change. A
    compaction that merged a file added after the base is not excused, so its output's whole
    span is rebuilt (more than needed, never less).

    Returns:
        (files written by such compactions, files they replaced), as relative paths.
    """
    latest = store.existing(path)
    between = [c for c in latest.history(max(1, latest.version() - base)) if base < int(c["version"]) <= version]
    known = data_files(store.existing(path, base)) if between else set()
    rewritten: set[str] = set()
    replaced: set[str] = set()
    for commit in sorted(between, key=lambda c: int(c["version"])):
        if commit.get("operation") != "OPTIMIZE":
            continue
        number = int(commit["version"])
        previous, current = (
            set(file_spans(store.existing(path, v), "")["path"].to_list()) for v in (number - 1, number)
        )
        removed, added = previous - current, current - previous
        if removed <= known | rewritten:
            rewritten |= added
            replaced |= removed
    return rewritten, replaced


def incremental_base(store: DeltaStore, spec: FeatureSet) -> tuple[int | None, str, list[tuple[date, date]]]:
    """The bronze version the table's content reflects, why (or why none), and days a crash left half-built.

    The base is the newest publish not undone by a rollback and made by the current definition.
    Chunk commits newer than it belong to a build that did not finish: their days are rebuilt too.
    """
    history = store.history(spec.table_path)
    pending: list[tuple[date, date]] = []
    current = fingerprint(spec)
    for commit in history:  # newest first
        if commits.is_chunk(commit):
            pending.extend(commits.chunk_days(commit))
        bronze = commits.published_bronze_version(commit)
        if bronze is None or commits.undone_by_rollback(history, int(commit["version"])):
            continue
        if commit.get(commits.FINGERPRINT) not in (None, current):
            return None, "the feature set's definition changed since the last publish", []
        return int(bronze), f"bronze changed since version {bronze}", pending
    return None, "no publish to build on yet", []


def _all_days(spans: pl.DataFrame) -> list[tuple[date, date]]:
    known = spans.filter(pl.col("rows") > 0)
    first, last = known["min_time"].min(), known["max_time"].max()
    if first is None or last is None:
        return []
    return [(utc_day(first), utc_day(last))]  # type: ignore[arg-type]


def _last_day(spans: pl.DataFrame) -> Any:
    last = spans["max_time"].max()
    return None if last is None else utc_day(last)  # type: ignore[arg-type]


def _chunk_rows(spans: pl.DataFrame, chunks: list[DayChunk], spec: FeatureSet) -> list[int]:
    """The estimated source rows each chunk reads: its days plus the lookback before them."""
    per_day = rows_per_day(spans)
    estimates = []
    for chunk in chunks:
        since, until = source_window(spec, chunk)
        estimates.append(round(sum(rows for day, rows in per_day.items() if utc_day(since) <= day < utc_day(until))))
    return estimates
