"""Backfill: rebuild a range of days of a feature table without touching any other day.

The range is recomputed from bronze with ``lookback`` of history before it, so trailing windows
start full and the rebuilt days equal what a full build computes for them. The new rows pass the
same Great Expectations gate as a publish, then replace exactly those day partitions in one
commit. Running the same backfill twice leaves the same rows: it is safe to retry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import polars as pl

from featurelake.core.featureset import PARTITION_COLUMN, FeatureSet, compute_features, with_partition
from featurelake.core.fingerprint import fingerprint
from featurelake.io.delta import DeltaStore
from featurelake.io.feature_tables import write_feature_table
from featurelake.io.registry import FeatureRegistry
from featurelake.publishing import read_source
from featurelake.validation import ValidationFailedError, validate_batch


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


def rows_for_days(spec: FeatureSet, source: pl.DataFrame, start: date, end: date) -> tuple[pl.DataFrame, int]:
    """Feature rows of the days ``start..end`` (inclusive), and how many source rows fed them.

    Source rows from ``lookback`` before ``start`` are read so the first day's windows are full;
    only the rows of the requested days are kept.
    """
    since = datetime.combine(start, time(), tzinfo=UTC) - spec.lookback
    until = datetime.combine(end + timedelta(days=1), time(), tzinfo=UTC)
    window = source.filter(pl.col(spec.event_time).is_between(since, until, closed="left"))
    features = with_partition(spec, compute_features(spec, window))
    in_range = features.filter(pl.col(PARTITION_COLUMN).is_between(start, end)).drop(PARTITION_COLUMN)
    return in_range, window.height


def backfill(store: DeltaStore, spec: FeatureSet, start: date, end: date, audit: dict[str, str]) -> BackfillResult:
    """Recompute, validate and replace the days ``start..end`` (inclusive) of a feature table.

    Raises:
        ValueError: for an empty or reversed range, naming the feature set.
        ValidationFailedError: when the rebuilt rows fail the suite; nothing is written.
    """
    if end < start:
        raise ValueError(f"backfill of {spec.ref}: end {end} is before start {start}")
    FeatureRegistry(store).ensure_registered(
        spec, audit.get("featurelake.code_revision", ""), audit["featurelake.actor"]
    )
    source, bronze_version = read_source(store, spec)
    features, source_rows = rows_for_days(spec, source, start, end)
    if features.is_empty():
        raise ValueError(
            f"backfill of {spec.ref}: source {spec.source.name!r} (bronze version {bronze_version}) has no rows "
            f"with {spec.event_time} between {start} and {end}; nothing was changed"
        )
    outcome = validate_batch(spec, features, source_rows)
    if not outcome.success:
        raise ValidationFailedError(f"backfill of {spec.ref} {start}..{end}: failed {list(outcome.failed)}")
    metadata = {
        **audit,
        "featurelake.operation": "backfill",
        "featurelake.feature_set": spec.ref,
        "featurelake.days": f"{start.isoformat()}..{end.isoformat()}",
        "featurelake.suite_hash": outcome.suite_hash,
        "featurelake.fingerprint": fingerprint(spec),
        # Not BRONZE_VERSION_KEY: that key marks publishes, which a retried build re-announces.
        "featurelake.source_bronze_version": str(bronze_version),
    }
    delta_version = write_feature_table(store, spec, features, metadata=metadata, days=(start, end))
    return BackfillResult(
        spec.ref, start, end, features.height, source_rows, bronze_version, delta_version, outcome.suite_hash
    )
