"""The MLflow run of a build: what went in (bronze version, raw objects) and what came out (table, gate).

The run's tags are the publish's audit, so MLflow, the Delta log and the event name the same
flow run, definition and code; ``featurelake status`` and retrains read them back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from featurelake.build.audit import RUN_DIRECTLY
from featurelake.build.batch import PublishedBatch
from featurelake.core import commits
from featurelake.ingest.bronze import SOURCE_KEY
from featurelake.io.mlflow import runs
from featurelake.settings import Settings

#: MLflow caps a parameter's value; the raw object keys are kept whole in ``lineage/sources.json``.
_PARAM_CHARS = 6000


def build_run_arguments(published: PublishedBatch, drift_metrics: Mapping[str, float]) -> dict[str, Any]:
    """The keyword arguments of :func:`featurelake.io.mlflow.runs.log_build` for this publish.

    ``drift_metrics`` are the drift statistics as metrics (none without a previous publish).
    """
    spec, batch, delta_version = published.spec, published.batch, published.delta_version
    objects = batch.source_objects.sort(SOURCE_KEY)
    keys = ",".join(objects[SOURCE_KEY].unique(maintain_order=True).to_list())
    tags = published.audit | {
        commits.SUITE_HASH: batch.outcome.suite_hash,
        commits.FEATURE_SET: spec.ref,
        commits.DELTA_VERSION: str(delta_version),
    }
    return {
        "source": build_source(published.audit),
        "tags": tags,
        "params": {
            "bronze_version": published.bronze_version,
            "table_uri": published.table_uri,
            "delta_version": delta_version,
            "source_objects": keys[:_PARAM_CHARS],
            "source_rows": batch.source_rows,
        },
        "features": batch.sample,
        "feature_rows": batch.rows,
        "table_uri": published.table_uri,
        "validation_result": batch.outcome.result,
        "validation_metrics": {**batch.outcome.metrics(), **drift_metrics},
        "sources": {
            "bronze_table": published.bronze_table_uri,
            "bronze_version": published.bronze_version,
            "raw_objects": objects.to_dicts(),
        },
    }


def build_source(audit: Mapping[str, str]) -> runs.RunSource:
    """The build flow run as MLflow's Source names it: entry point, deployment (if any) and flow run."""
    deployment = audit.get(commits.DEPLOYMENT, RUN_DIRECTLY)
    named = None if deployment == RUN_DIRECTLY else f"build-features/{deployment}"
    return runs.RunSource(runs.BUILD_ENTRY_POINT, audit[commits.FLOW_RUN_ID], named)


def log_build_run(settings: Settings, published: PublishedBatch, drift_metrics: Mapping[str, float]) -> str:
    """Record the publish as an MLflow build run; returns the run id (the published event names it)."""
    return runs.log_build(settings, **build_run_arguments(published, drift_metrics))
