"""Incremental, chunked feature builds: plan the days to recompute, then compute, gate and write each chunk.

A build compares the bronze snapshot it reads with the one the table was last built from (the
publish commit's ``featurelake.bronze_version``): only days whose windows the changed bronze
files can reach are recomputed (see :mod:`featurelake.core.increments`). The days are cut into
chunks that fit the memory budget; each chunk reads its days plus the lookback from bronze,
passes the Great Expectations gate and replaces exactly its day partitions. Chunks are
independent, so they can run one after another, on threads, or on Dask workers, and commit
concurrently. A build of more than one chunk ends with a marker commit that carries the
publish's metadata and idempotency marker; a build of one chunk publishes in the chunk's commit.

No Prefect here: the flow decides where chunks run.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar

import polars as pl

from featurelake.core import commits
from featurelake.core.constraints import check_constraints
from featurelake.core.drift import DriftReport, drift_report
from featurelake.core.featureset import FeatureSet, with_partition
from featurelake.core.fingerprint import fingerprint
from featurelake.core.increments import (
    DayChunk,
    affected_days,
    changed_spans,
    features_for_days,
    merge_ranges,
    open_outer_bounds,
    plan_chunks,
    rows_per_day,
    source_window,
    utc_day,
)
from featurelake.core.naming import bronze_path, feature_quarantine_path
from featurelake.ingest.bronze import SOURCE_ETAG, SOURCE_KEY
from featurelake.io.delta.feature_tables import ensure_check_constraints, read_feature_table, write_feature_table
from featurelake.io.delta.maintenance import data_files
from featurelake.io.delta.store import AppTransaction, DeltaStore, Table
from featurelake.io.delta.time_windows import distinct_in_window, file_spans, read_window
from featurelake.validate.gate import ValidationEngine, ValidationOutcome, validate_batch

logger = logging.getLogger(__name__)
T = TypeVar("T")

#: Peak bytes a chunk holds per source row it reads, as a multiple of the row's own width: the
#: window, its sorted copy, the trailing windows and the output. Measured on customer_txn (12
#: windows, 43-byte rows): ~330 bytes per row on 3.3M-row windows, up to ~600 on small ones.
MEMORY_AMPLIFICATION = 16.0
#: Memory a build takes on top of its imports whatever the chunk size: the gate's first run, the
#: Delta writer, allocator caches (measured ~300 MiB after the first chunk of 500k rows).
CHUNK_OVERHEAD_BYTES = 384 * 2**20
#: Rows of the new batch (and of the previous publish) drift is measured on, over all chunks:
#: enough for PSI over deciles and KS to be stable, bounded whatever the batch's size.
DRIFT_SAMPLE_ROWS = 200_000


@dataclass(frozen=True)
class BuildPlan:
    """What one build recomputes: the bronze version, the base it is incremental to, the day chunks."""

    feature_set: str
    bronze_version: int
    base_bronze_version: int | None
    chunks: tuple[DayChunk, ...]
    estimated_source_rows: int
    reason: str

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
            "reason": self.reason,
        }


@dataclass(frozen=True)
class ChunkResult:
    """What one chunk computed and wrote; small enough to send back from a worker process."""

    chunk: DayChunk
    rows: int
    source_rows: int
    source_objects: pl.DataFrame
    outcome: ValidationOutcome
    sample: pl.DataFrame
    reference: pl.DataFrame
    delta_version: int | None
    #: Seconds spent reading, computing, gathering lineage, validating, sampling for drift, writing.
    seconds: dict[str, float] = field(default_factory=dict)


class _Stopwatch:
    """Named laps: ``lap(name, value)`` records the time since the previous lap and passes ``value`` on."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str, value: T) -> T:
        now = time.perf_counter()
        self.laps[name] = self.laps.get(name, 0.0) + now - self._last
        self._last = now
        return value


@dataclass(frozen=True)
class BuildBatch:
    """Everything a build's chunks produced, as the publish records it (rows, sources, drift samples)."""

    rows: int
    source_rows: int
    source_objects: pl.DataFrame
    sample: pl.DataFrame
    reference: pl.DataFrame
    seconds: dict[str, float] = field(default_factory=dict)

    @classmethod
    def of(cls, results: list[ChunkResult]) -> BuildBatch:
        """Combine chunk results; the raw objects read by several chunks are named once."""
        return cls(
            rows=sum(r.rows for r in results),
            source_rows=sum(r.source_rows for r in results),
            source_objects=_concat([r.source_objects for r in results]).unique(),
            sample=_concat([r.sample for r in results]),
            reference=_concat([r.reference for r in results]),
            seconds={k: round(sum(r.seconds.get(k, 0.0) for r in results), 3) for k in _LAPS},
        )

    def drift(self, spec: FeatureSet, reference_version: int | None) -> tuple[DriftReport, int] | None:
        """Drift of the batch's sample against the previous publish's rows on the same days (None: no reference)."""
        if reference_version is None or self.reference.is_empty():
            return None
        names = list(spec.feature_names)
        return drift_report(spec.drift, self.reference, self.sample, names), reference_version


_LAPS = ("read", "compute", "lineage", "validate", "drift", "write")


def _concat(frames: list[pl.DataFrame]) -> pl.DataFrame:
    """Concatenate the non-empty frames (chunks without rows carry no schema to agree on)."""
    present = [frame for frame in frames if frame.height]
    return pl.concat(present) if present else pl.DataFrame()


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
    estimate = _estimated_rows(after, chunks, spec)
    return BuildPlan(spec.ref, bronze_version, base, tuple(chunks), estimate, reason)


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


def _estimated_rows(spans: pl.DataFrame, chunks: list[DayChunk], spec: FeatureSet) -> int:
    per_day = rows_per_day(spans)
    total = 0.0
    for chunk in chunks:
        since, until = source_window(spec, chunk)
        total += sum(rows for day, rows in per_day.items() if utc_day(since) <= day < utc_day(until))
    return round(total)


def max_rows_for_budget(spec: FeatureSet, budget_bytes: int | None, resident_bytes: int) -> int | None:
    """How many source rows one chunk may read so that the build stays under ``budget_bytes`` of RSS.

    ``resident_bytes`` is what the process holds already (interpreter, libraries); the rest of the
    budget, less :data:`CHUNK_OVERHEAD_BYTES`, is divided by the in-memory width of a source row
    times :data:`MEMORY_AMPLIFICATION`.

    Raises:
        ValueError: when the budget is not above what the process already holds.
    """
    if budget_bytes is None:
        return None
    available = budget_bytes - resident_bytes - CHUNK_OVERHEAD_BYTES
    if available <= 0:
        raise ValueError(
            f"build memory budget {budget_bytes / 2**20:.0f} MiB leaves nothing for data: the process holds "
            f"{resident_bytes / 2**20:.0f} MiB and a build needs {CHUNK_OVERHEAD_BYTES / 2**20:.0f} MiB more "
            "whatever its chunks; raise FEATURELAKE_BUILD_MEMORY_BUDGET"
        )
    return max(1, int(available / (source_row_bytes(spec) * MEMORY_AMPLIFICATION)))


def source_row_bytes(spec: FeatureSet) -> int:
    """The in-memory width of one source row a build reads (strings counted as a 16-byte view plus bytes)."""
    schema = {c: spec.source.columns[c] for c in spec.source_columns()}
    return sum(_width(dtype) for dtype in schema.values())


def _width(dtype: pl.DataType) -> int:
    if dtype.is_numeric() or dtype.is_temporal():
        return 8 + 1  # value + validity
    return 16 + 1 + 8  # view, validity, a share of the buffer


def resident_bytes() -> int:
    """This process's current resident set size (Linux /proc; 0 where it is unavailable)."""
    try:
        pages = int(open("/proc/self/statm").read().split()[1])  # noqa: SIM115 - one read of a proc file
    except OSError:
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


def read_chunk_source(
    store: DeltaStore, spec: FeatureSet, bronze_version: int, chunk: DayChunk, bronze: Table | None = None
) -> pl.DataFrame:
    """The bronze rows a chunk's features read (only the columns they need): its days plus the lookback.

    ``bronze`` is the table already loaded at ``bronze_version``, when the caller has it.
    """
    since, until = source_window(spec, chunk)
    table = bronze or store.existing(bronze_path(spec.source.name), bronze_version)
    return read_window(table, spec.event_time, since, until, list(spec.source_columns()))


def chunk_source_objects(bronze: Table, spec: FeatureSet, chunk: DayChunk) -> pl.DataFrame:
    """The raw objects (key, ETag) whose rows a chunk read: its lineage."""
    since, until = source_window(spec, chunk)
    return distinct_in_window(bronze, spec.event_time, since, until, [SOURCE_KEY, SOURCE_ETAG])


def build_chunk(
    store: DeltaStore,
    spec: FeatureSet,
    chunk: DayChunk,
    *,
    bronze_version: int,
    reference_version: int | None,
    metadata: Mapping[str, str],
    user_expectations: list[dict[str, Any]],
    sample_rows: int,
    app_transaction: AppTransaction | None = None,
    prepare_table: bool = False,
    validation_engine: ValidationEngine = "polars",
) -> ChunkResult:
    """Read, compute, gate and write one chunk of days; a chunk that fails the gate writes nothing.

    The rows of a failed chunk are appended to the feature quarantine table (the flow clears the
    bronze version's earlier attempts first), so concurrent chunks never overwrite each other's.
    ``prepare_table`` (a build's only chunk) creates the table and adds its CHECK constraints
    after the gate passed, so a first build that fails its gate leaves no table behind.
    """
    clock = _Stopwatch()
    bronze = store.existing(bronze_path(spec.source.name), bronze_version)  # one log load for both reads
    source = clock.lap("read", read_chunk_source(store, spec, bronze_version, chunk, bronze))
    features, source_rows = clock.lap("compute", features_for_days(spec, source, chunk.start, chunk.end))
    del source
    objects = clock.lap("lineage", chunk_source_objects(bronze, spec, chunk))
    outcome = clock.lap(
        "validate", validate_batch(spec, features, source_rows, user_expectations, engine=validation_engine)
    )
    reference = _reference(store, spec, reference_version, chunk, sample_rows)
    sample = clock.lap("drift", _sample(features, sample_rows))
    if not outcome.success:
        quarantine(store, spec, features, outcome, bronze_version, metadata)
        return ChunkResult(chunk, features.height, source_rows, objects, outcome, sample, reference, None, clock.laps)
    if prepare_table:
        added = ensure_check_constraints(store, spec, check_constraints(spec), features)
        if added:
            logger.info("added Delta CHECK constraints %s to %s", added, store.uri(spec.table_path))
    written = {
        **metadata,
        commits.BATCH_ROWS: str(features.height),
        commits.DAYS: chunk.label,
        commits.SUITE_HASH: outcome.suite_hash,
    }
    version = write_feature_table(
        store, spec, features, metadata=written, days=chunk.write_bounds(), app_transaction=app_transaction
    )
    clock.lap("write", None)
    return ChunkResult(chunk, features.height, source_rows, objects, outcome, sample, reference, version, clock.laps)


def _reference(
    store: DeltaStore, spec: FeatureSet, version: int | None, chunk: DayChunk, sample_rows: int
) -> pl.DataFrame:
    """A sample of the previous publish's rows on the chunk's days and its lookback (drift's reference)."""
    if version is None:
        return pl.DataFrame()
    days = (utc_day(source_window(spec, chunk)[0]), chunk.end)
    return _sample(read_feature_table(store, spec, delta_version=version, days=days).frame, sample_rows)


def _sample(frame: pl.DataFrame, rows: int) -> pl.DataFrame:
    """Up to ``rows`` rows drawn at random, as a copy that owns its memory (it outlives ``frame``)."""
    drawn = frame.sample(rows, seed=0) if frame.height > rows else frame
    copy = pl.from_arrow(drawn.to_arrow(compat_level=pl.CompatLevel.oldest()))
    assert isinstance(copy, pl.DataFrame)
    return copy


def quarantine(
    store: DeltaStore,
    spec: FeatureSet,
    features: pl.DataFrame,
    outcome: ValidationOutcome,
    bronze_version: int,
    metadata: Mapping[str, str],
) -> None:
    """Keep a failed chunk's rows with why they failed, for the owner to inspect."""
    kept = features.with_columns(
        pl.lit(bronze_version).alias("_bronze_version"),
        pl.lit(json.dumps(list(outcome.failed))).alias("_failed_expectations"),
        pl.lit(metadata.get(commits.FLOW_RUN_ID, "")).alias("_flow_run_id"),
    )
    store.write(feature_quarantine_path(spec.name, spec.version), kept, mode="append", metadata=dict(metadata))


def clear_quarantine(store: DeltaStore, spec: FeatureSet, bronze_version: int) -> None:
    """Remove an earlier attempt's quarantined rows of this bronze version, so a retry does not repeat them."""
    table = store.table(feature_quarantine_path(spec.name, spec.version))
    if table is not None:
        table.delete(f"_bronze_version = {bronze_version}")


def publish_marker(store: DeltaStore, spec: FeatureSet, bronze_version: int, metadata: Mapping[str, str]) -> int:
    """Close a build of several chunks with one commit that is its publish (no rows of its own).

    ``metadata`` is :func:`publish_metadata`'s; the commit also carries the idempotency marker.
    """
    empty = with_partition(spec, pl.DataFrame(schema=spec.output_schema()))
    marker = AppTransaction(commits.build_app_id(spec), bronze_version)
    return store.write(spec.table_path, empty, mode="append", metadata=metadata, app_transaction=marker)


def publish_metadata(spec: FeatureSet, bronze_version: int, audit: Mapping[str, str], rows: int) -> dict[str, str]:
    """The metadata that makes a commit the publish of ``bronze_version`` (what retries look for)."""
    return commits.publish_metadata(spec.ref, bronze_version, audit, rows)


def combine_outcomes(outcomes: list[ValidationOutcome]) -> ValidationOutcome:
    """One gate verdict for a build of several chunks: every failure, each expectation named once."""
    if len(outcomes) == 1:
        return outcomes[0]
    failures: dict[str, Any] = {}
    for outcome in outcomes:
        for failure in outcome.failures:
            failures.setdefault(failure.expectation, failure)
    return ValidationOutcome(
        evaluated=sum(o.evaluated for o in outcomes),
        failures=tuple(failures.values()),
        suite_hash=outcomes[0].suite_hash if outcomes else "",
        result={"chunks": [o.result for o in outcomes]},
    )
