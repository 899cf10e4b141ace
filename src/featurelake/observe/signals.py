"""What flows report besides their tables: drift against the last publish, and OpenLineage events.

Kept out of the flow so the flow stays a readable list of steps; the statistics themselves are
pure (:mod:`featurelake.core.drift`) and the transport is :mod:`featurelake.lineage.openlineage`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import polars as pl

from featurelake.core import events
from featurelake.core.drift import DriftReport
from featurelake.core.featureset import FeatureSet
from featurelake.core.naming import bronze_path, feature_set_resource_id
from featurelake.io.delta.store import DeltaStore
from featurelake.io.prefect.events import emit
from featurelake.lineage import openlineage
from featurelake.settings import Settings, get_settings


def drift_metrics(report: DriftReport) -> dict[str, float]:
    """MLflow metrics: ``drift_psi.<feature>``, ``drift_ks.<feature>`` and ``drift_breached_features``."""
    metrics: dict[str, float] = {"drift_breached_features": float(len(report.breached))}
    for result in report.features:
        if result.psi is not None:
            metrics[f"drift_psi.{result.name}"] = result.psi
        if result.ks is not None:
            metrics[f"drift_ks.{result.name}"] = result.ks
    return metrics


def announce_drift(spec: FeatureSet, report: DriftReport, delta_version: int, reference_version: int) -> None:
    """Emit ``featurelake.feature-set.drifted`` for a publish that breached the thresholds."""
    payload = events.FeatureSetDrifted(
        feature_set=spec.name,
        feature_set_version=spec.version,
        delta_version=delta_version,
        reference_delta_version=reference_version,
        psi_threshold=report.policy.psi_threshold,
        ks_threshold=report.policy.ks_threshold,
        features=[events.FeatureDrift.model_validate(f) for f in report.as_event_features()],
    )
    table_uri = get_settings().table_uri(spec.table_path)
    emit(events.FEATURE_SET_DRIFTED, feature_set_resource_id(spec), payload, events.at(table_uri, delta_version))


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
        event_type, flow_run_id, job_name, inputs, outputs, now=dt.datetime.now(dt.UTC), error=error
    )
    return openlineage.emit_lineage(settings, event)


def model_dataset(settings: Settings, name: str, version: str | None) -> openlineage.LineageDataset:
    """A registered model as an OpenLineage dataset: namespace the MLflow registry, name ``models/<name>``."""
    return openlineage.LineageDataset(namespace=settings.mlflow_tracking_uri, name=f"models/{name}", version=version)


def _with_rows(dataset: openlineage.LineageDataset, rows: int) -> openlineage.LineageDataset:
    return dataclasses.replace(dataset, row_count=rows)
