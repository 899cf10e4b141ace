"""One chunk of a build: read its days (plus lookback) from bronze, compute, gate and write them.

Chunks are independent, so they can run one after another, on threads, or on Dask workers, and
commit concurrently: each reads its own window and replaces exactly its day partitions. A chunk
that fails the gate writes nothing and keeps its rows in the quarantine. What a chunk's commit
records, and whether it is the publish, is :mod:`featurelake.build.publish`'s decision.

No Prefect here: the flow decides where chunks run.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import polars as pl

from featurelake.build.plan import BuildPlan
from featurelake.build.publish import ChunkInstructions, add_constraints, chunk_instructions
from featurelake.build.quarantine import quarantine
from featurelake.build.source import chunk_source_objects, read_chunk_source, refuse_if_erased_since
from featurelake.core import catalog
from featurelake.core.drift_basis import DriftBasis
from featurelake.core.featureset import FeatureSet
from featurelake.core.increments import DayChunk, features_for_days
from featurelake.core.naming import bronze_path
from featurelake.io.delta.feature_tables import read_feature_table, write_feature_table
from featurelake.io.delta.store import DeltaStore
from featurelake.settings import Settings
from featurelake.validate.gate import ValidationEngine, ValidationOutcome, load_user_expectations, validate_batch

T = TypeVar("T")

#: Rows of the new batch (and of the previous publish) drift is measured on, over all chunks:
#: enough for PSI over deciles and KS to be stable, bounded whatever the batch's size.
DRIFT_SAMPLE_ROWS = 200_000


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


@dataclass(frozen=True)
class ChunkJob:
    """Everything a worker needs to build one chunk; it names the feature set, the worker loads it."""

    feature_set: str
    version: int
    chunk: DayChunk
    bronze_version: int
    #: What drift compares the chunk with (None: nothing published to compare with).
    drift_basis: DriftBasis | None
    instructions: ChunkInstructions
    sample_rows: int


def chunk_jobs(
    spec: FeatureSet, plan: BuildPlan, drift_basis: DriftBasis | None, audit: Mapping[str, str]
) -> list[ChunkJob]:
    """One job per chunk of ``plan``, each committing as the publish protocol says and sampling its share."""
    instructions = chunk_instructions(plan, spec, audit)
    sample_rows = max(1_000, DRIFT_SAMPLE_ROWS // max(1, len(plan.chunks)))
    return [
        ChunkJob(spec.name, spec.version, chunk, plan.bronze_version, drift_basis, instructions, sample_rows)
        for chunk in plan.chunks
    ]


def run_chunk_job(settings: Settings, job: ChunkJob) -> ChunkResult:
    """Build one job's chunk with the feature set, expectations and gate engine these settings name."""
    features = catalog.load(settings.features_module)
    spec = features.get(job.feature_set, job.version)
    return build_chunk(
        store=DeltaStore(settings),
        spec=spec,
        chunk=job.chunk,
        bronze_version=job.bronze_version,
        drift_basis=job.drift_basis,
        instructions=job.instructions,
        user_expectations=load_user_expectations(features.expectations_path(spec)),
        sample_rows=job.sample_rows,
        validation_engine=settings.validation_engine,
    )


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


def build_chunk(
    store: DeltaStore,
    spec: FeatureSet,
    chunk: DayChunk,
    *,
    bronze_version: int,
    instructions: ChunkInstructions,
    user_expectations: list[dict[str, Any]],
    sample_rows: int,
    validation_engine: ValidationEngine = "polars",
    drift_basis: DriftBasis | None = None,
) -> ChunkResult:
    """Read, compute, gate and write one chunk of days; a chunk that fails the gate writes nothing.

    The rows of a failed chunk are appended to the feature quarantine table (the build clears
    the bronze version's earlier attempts first), so concurrent chunks never overwrite each other's.
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
    previous = _reference(store, spec, drift_basis, chunk, sample_rows)
    sample = clock.lap("drift", _sample(features, sample_rows))
    version = _write(store, spec, chunk, features, outcome, bronze_version, instructions)
    clock.lap("write", None)
    return ChunkResult(chunk, features.height, source_rows, objects, outcome, sample, previous, version, clock.laps)


def _write(
    store: DeltaStore,
    spec: FeatureSet,
    chunk: DayChunk,
    features: pl.DataFrame,
    outcome: ValidationOutcome,
    bronze_version: int,
    instructions: ChunkInstructions,
) -> int | None:
    """Replace the chunk's days with rows that passed the gate (its commit's version), or quarantine them (None)."""
    if not outcome.success:
        quarantine(store, spec, features, outcome, bronze_version, instructions.metadata)
        return None
    refuse_if_erased_since(store, spec, bronze_version)
    if instructions.prepare_table:
        add_constraints(store, spec, features)
    metadata = instructions.commit_metadata(features.height, chunk, outcome.suite_hash)
    return write_feature_table(
        store,
        spec,
        features,
        metadata=metadata,
        days=chunk.write_bounds(),
        app_transaction=instructions.app_transaction,
    )


def _reference(
    store: DeltaStore, spec: FeatureSet, basis: DriftBasis | None, chunk: DayChunk, sample_rows: int
) -> pl.DataFrame:
    """A sample of the previous publish's rows on the days the chunk is compared with (drift's reference).

    Those are the chunk's own days, moved back by the days the batch adds (see
    :mod:`featurelake.core.drift_basis`), never the lookback days the chunk reads around them.
    """
    if basis is None:
        return pl.DataFrame()
    days = basis.reference_days(chunk.start, chunk.end)
    return _sample(read_feature_table(store, spec, delta_version=basis.version, days=days).frame, sample_rows)


def _sample(frame: pl.DataFrame, rows: int) -> pl.DataFrame:
    """Up to ``rows`` rows drawn at random, as a copy that owns its memory (it outlives ``frame``)."""
    drawn = frame.sample(rows, seed=0) if frame.height > rows else frame
    copy = pl.from_arrow(drawn.to_arrow(compat_level=pl.CompatLevel.oldest()))
    assert isinstance(copy, pl.DataFrame)
    return copy
