"""A build's batch: what all its chunks produced together, one gate verdict, and where it was published.

The publish records the batch as a whole (rows, the raw objects read, drift samples, where the
time went), whatever the number of chunks it was computed in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from featurelake.build.chunks import ChunkResult
from featurelake.core.drift import DriftReport, drift_report
from featurelake.core.drift_basis import DriftBasis
from featurelake.core.featureset import FeatureSet
from featurelake.core.naming import bronze_path
from featurelake.io.delta.store import DeltaStore
from featurelake.validate.gate import ValidationOutcome

#: The steps a chunk's seconds are reported by (see :class:`featurelake.build.chunks.ChunkResult`).
_LAPS = ("read", "compute", "lineage", "validate", "drift", "write")


@dataclass(frozen=True)
class BuildBatch:
    """Everything a build's chunks produced, as the publish records it (rows, sources, gate, drift samples)."""

    rows: int
    source_rows: int
    source_objects: pl.DataFrame
    sample: pl.DataFrame
    reference: pl.DataFrame
    #: One gate verdict over every chunk (:func:`combine_outcomes`).
    outcome: ValidationOutcome
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
            outcome=combine_outcomes([r.outcome for r in results]),
            seconds={k: round(sum(r.seconds.get(k, 0.0) for r in results), 3) for k in _LAPS},
        )

    def drift(self, spec: FeatureSet, basis: DriftBasis | None) -> tuple[DriftReport, int] | None:
        """Drift of the batch against the previous publish's same span, on rows with full windows on both sides.

        None when there is nothing to compare with (no previous publish, or it had no rows on
        those days). When the windows of every row are still filling up, the features are
        reported as not judged, and the report says why.
        """
        if basis is None or self.reference.is_empty():
            return None
        reference = basis.settled(self.reference, spec.event_time)
        current = basis.settled(self.sample if self.sample.width else self.reference.clear(), spec.event_time)
        names = list(spec.feature_names)
        return drift_report(spec.drift, reference, current, names, basis=basis.describe()), basis.version


def _concat(frames: list[pl.DataFrame]) -> pl.DataFrame:
    """Concatenate the non-empty frames (chunks without rows carry no schema to agree on)."""
    present = [frame for frame in frames if frame.height]
    return pl.concat(present) if present else pl.DataFrame()


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


@dataclass(frozen=True)
class PublishedBatch:
    """A batch after its publish: where it landed, what it was built from and what gated it.

    It is what the build's MLflow run (:mod:`featurelake.build.record`) and its published event
    (:mod:`featurelake.build.announcements`) say.
    """

    spec: FeatureSet
    table_uri: str
    bronze_table_uri: str
    bronze_version: int
    delta_version: int
    batch: BuildBatch
    audit: dict[str, str]

    @classmethod
    def of(
        cls,
        store: DeltaStore,
        spec: FeatureSet,
        bronze_version: int,
        delta_version: int,
        batch: BuildBatch,
        audit: dict[str, str],
    ) -> PublishedBatch:
        """The publish of ``batch`` at ``delta_version`` of the feature table."""
        table_uri, bronze_uri = store.uri(spec.table_path), store.uri(bronze_path(spec.source.name))
        return cls(spec, table_uri, bronze_uri, bronze_version, delta_version, batch, audit)
