"""Drift of a publish against the previous one, as MLflow metrics and as an event when it breaches.

The statistics themselves are pure (:mod:`featurelake.core.drift`); this module turns a report into
what the rest of the world reads: metrics on the build run and ``featurelake.feature-set.drifted``.
"""

from __future__ import annotations

from featurelake.core import events
from featurelake.core.drift import DriftReport
from featurelake.core.featureset import FeatureSet
from featurelake.core.naming import feature_set_resource_id
from featurelake.io.prefect.events import emit


def drift_metrics(report: DriftReport) -> dict[str, float]:
    """MLflow metrics: PSI and KS per feature (``drift_psi.<f>``, ``drift_ks.<f>``), breached and judged counts.

    The judged count tells "nothing breached" apart from "nothing could be judged" (windows still
    filling up, too few rows).
    """
    metrics: dict[str, float] = {
        "drift_breached_features": float(len(report.breached)),
        "drift_judged_features": float(len(report.judged)),
    }
    for result in report.features:
        if result.psi is not None:
            metrics[f"drift_psi.{result.name}"] = result.psi
        if result.ks is not None:
            metrics[f"drift_ks.{result.name}"] = result.ks
    return metrics


def announce_drift(
    table_uri: str, spec: FeatureSet, report: DriftReport, delta_version: int, reference_version: int
) -> None:
    """Emit ``featurelake.feature-set.drifted`` for a publish that breached the thresholds.

    Args:
        table_uri: The feature table's URI (``settings.table_uri(spec.table_path)``): with the
            Delta version it makes the event id, so two lakes reporting to one server stay apart.
        spec: The feature set version that was published.
        report: The drift of the publish against the reference.
        delta_version: The Delta version of the publish.
        reference_version: The Delta version it was compared with.
    """
    payload = events.FeatureSetDrifted(
        feature_set=spec.name,
        feature_set_version=spec.version,
        delta_version=delta_version,
        reference_delta_version=reference_version,
        psi_threshold=report.policy.psi_threshold,
        ks_threshold=report.policy.ks_threshold,
        features=[events.FeatureDrift.model_validate(f) for f in report.as_event_features()],
    )
    emit(events.FEATURE_SET_DRIFTED, feature_set_resource_id(spec), payload, events.at(table_uri, delta_version))
