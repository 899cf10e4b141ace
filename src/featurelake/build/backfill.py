"""Backfill: rebuild a range of days of a feature table without touching any other day.

The range is recomputed from bronze with ``lookback`` of history before it, so trailing windows
start full and the rebuilt days equal what a full build computes for them. The new rows pass the
same Great Expectations gate as a publish, then replace exactly those day partitions in one
commit. Running the same backfill twice leaves the same rows: it is safe to retry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from featurelake.build.publish import backfill_metadata
from featurelake.build.source import bronze_version_of, read_chunk_source
from featurelake.core import commits
from featurelake.core.featureset import FeatureSet
from featurelake.core.increments import DayChunk, features_for_days
from featurelake.io.delta.feature_tables import write_feature_table
from featurelake.io.delta.registry import FeatureRegistry
from featurelake.io.delta.store import DeltaStore
from featurelake.validate.gate import ValidationEngine, ValidationFailedError, validate_batch


@dataclass(frozen=True)
class BackfillResult:
    """What a backfill rebuilt and where it is."""

    feature_set: str
    start: date
    end: date
    rows: int
    source_rows: int
    bronze_version: int
    delta_version: int
    suite_hash: str


def backfill(
    store: DeltaStore,
    spec: FeatureSet,
    start: date,
    end: date,
    audit: dict[str, str],
    *,
    validation_engine: ValidationEngine = "polars",
) -> BackfillResult:
    """Recompute, validate and replace the days ``start..end`` (inclusive) of a feature table.

    ``validation_engine`` is the gate's engine (``settings.validation_engine``), as for a build.

    Raises:
        ValueError: for an empty or reversed range, naming the feature set.
        ValidationFailedError: when the rebuilt rows fail the suite; nothing is written.
    """
    if end < start:
        raise ValueError(f"backfill of {spec.ref}: end {end} is before start {start}")
    FeatureRegistry(store).ensure_registered(spec, audit.get(commits.CODE_REVISION, ""), audit[commits.ACTOR])
    bronze_version = bronze_version_of(store, spec)
    chunk = DayChunk(start, end)
    features, source_rows = features_for_days(spec, read_chunk_source(store, spec, bronze_version, chunk), start, end)
    if features.is_empty():
        raise ValueError(
            f"backfill of {spec.ref}: source {spec.source.name!r} (bronze version {bronze_version}) has no rows "
            f"with {spec.event_time} between {start} and {end}; nothing was changed"
        )
    outcome = validate_batch(spec, features, source_rows, engine=validation_engine)
    if not outcome.success:
        raise ValidationFailedError(f"backfill of {spec.ref} {start}..{end}: failed {list(outcome.failed)}")
    metadata = backfill_metadata(spec, audit, chunk, bronze_version, outcome.suite_hash)
    delta_version = write_feature_table(store, spec, features, metadata=metadata, days=(start, end))
    return BackfillResult(
        spec.ref, start, end, features.height, source_rows, bronze_version, delta_version, outcome.suite_hash
    )
