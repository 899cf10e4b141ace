"""The feature quarantine: rows of a chunk that failed its gate, kept with why, never published.

Failed chunks append (so concurrent chunks never overwrite each other's rows); a build clears
the rows an earlier attempt at the same bronze version kept before it starts, so a retry
quarantines them once, not twice.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import polars as pl

from featurelake.core import commits
from featurelake.core.featureset import FeatureSet
from featurelake.core.naming import feature_quarantine_path
from featurelake.io.delta.store import DeltaStore
from featurelake.validate.gate import ValidationOutcome


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
