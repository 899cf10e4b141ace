"""OpenLineage run events of featurelake's jobs: ingest, each feature set's build, each model's retrain.

Events are built by :mod:`featurelake.lineage.openlineage` and sent through the configured
transport (:mod:`featurelake.io.openlineage`); flows call these at START, COMPLETE and FAIL so
lineage tools see every run, under the settings' job namespace.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import polars as pl

from featurelake.core.featureset import FeatureSet
from featurelake.core.naming import bronze_path
from featurelake.io.delta.store import DeltaStore
from featurelake.io.openlineage import emit_lineage
from featurelake.lineage import openlineage
from featurelake.settings import Settings


def build_job_name(spec: FeatureSet) -> str:
    """The OpenLineage job of a feature set version's builds."""
    return f"build_features.{spec.name}.v{spec.version}"


def build_lineage(
    settings: Settings,
    event_type: openlineage.EventType,
    spec: FeatureSet,
    flow_run_id: str,
    bronze_version: int | None,
    output: tuple[int, pl.DataFrame, int] | None = None,
    error: BaseException | None = None,
) -> bool:
    """Send one OpenLineage event for a build: bronze (at its version) in, the feature table out.

    ``output`` is the published Delta version, a frame with the batch's schema, and its row count.
    """
    store = DeltaStore(settings)
    inputs = [openlineage.s3_dataset(store.uri(bronze_path(spec.source.name)), bronze_version)]
    outputs = []
    if output is not None:
        delta_version, frame, rows = output
        schema = {name: str(dtype) for name, dtype in frame.schema.items()}
        dataset = openlineage.s3_dataset(store.uri(spec.table_path), delta_version, schema)
        outputs.append(_with_rows(dataset, rows))
    return send_lineage(settings, event_type, build_job_name(spec), flow_run_id, inputs, outputs, error)


def send_lineage(
    settings: Settings,
    event_type: openlineage.EventType,
    job_name: str,
    flow_run_id: str,
    inputs: list[openlineage.LineageDataset],
    outputs: list[openlineage.LineageDataset],
    error: BaseException | None = None,
) -> bool:
    """One OpenLineage event for a flow run, stamped now, through the configured transport."""
    event: dict[str, Any] = openlineage.run_event(
        event_type,
        flow_run_id,
        job_name,
        inputs,
        outputs,
        now=dt.datetime.now(dt.UTC),
        namespace=settings.openlineage_namespace,
        error=error,
    )
    return emit_lineage(settings, event)


def model_dataset(settings: Settings, name: str, version: str | None) -> openlineage.LineageDataset:
    """A registered model as an OpenLineage dataset: namespace the MLflow registry, name ``models/<name>``."""
    return openlineage.LineageDataset(namespace=settings.mlflow_tracking_uri, name=f"models/{name}", version=version)


def _with_rows(dataset: openlineage.LineageDataset, rows: int) -> openlineage.LineageDataset:
    """The dataset with its row count, which becomes the ``outputStatistics`` facet."""
    return dataclasses.replace(dataset, row_count=rows)
