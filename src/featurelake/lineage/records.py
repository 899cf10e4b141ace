"""The records of a model's lineage: what each hop of the walk in :mod:`featurelake.lineage.models` found.

Plain frozen data, so the walk, the text rendering and ``--json`` all read the same values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class RawObjectRef:
    """One raw object version whose rows a bronze version holds, with the ingest log's view of it."""

    key: str
    etag: str
    rows: int
    logged: bool
    note: str | None = None


@dataclass(frozen=True)
class BronzeVersion:
    """A bronze table pinned to the version a build (or the training spine) read."""

    source: str
    table_uri: str
    delta_version: int
    committed_at: datetime | None
    objects: tuple[RawObjectRef, ...]

    @property
    def rows(self) -> int:
        """Rows of the table at this version, summed over its objects."""
        return sum(o.rows for o in self.objects)


@dataclass(frozen=True)
class FeatureVersion:
    """One feature table at the Delta version a model was trained on, and the audit of that commit."""

    ref: str
    table_uri: str
    delta_version: int
    committed_at: datetime | None
    operation: str | None
    fingerprint: str | None
    suite_hash: str | None
    code_revision: str | None
    flow_run_id: str | None
    build_run_id: str | None
    bronze: BronzeVersion | None


@dataclass(frozen=True)
class TrainingSetRecord:
    """What the retrain's manifest says it joined: the spine and the pinned tables."""

    spine_rows: int | None
    spine_time_column: str | None
    spine_time_range: tuple[str, str] | None
    feature_sets: tuple[FeatureVersion, ...]
    labels: BronzeVersion | None
