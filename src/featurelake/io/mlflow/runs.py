"""MLflow runs: what a build and a retrain record, and how flows find them again.

A build run records what went in (raw object keys, bronze version) and what came out (feature
table URI and Delta version, the GX result). A retrain run records the pinned feature tables
as dataset inputs, the manifest, metrics and the registered model. mlflow is imported inside
each function: it costs seconds, and most commands never need it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import polars as pl

from featurelake.core import commits
from featurelake.settings import Settings

#: The flows whose runs these are, as ``deployments/prefect.yaml`` names their entry points.
BUILD_ENTRY_POINT = "flows/build_features.py:build_features"
RETRAIN_ENTRY_POINT = "flows/retrain.py:retrain"
#: MLflow's own tags for a run's origin (the UI's Source column); left alone, MLflow names the
#: script the process started from, which under Prefect is its engine, never the flow.
SOURCE_NAME_TAG, SOURCE_TYPE_TAG = "mlflow.source.name", "mlflow.source.type"


@dataclass(frozen=True)
class RunSource:
    """Where a run comes from, as MLflow's Source shows it: the flow's entry point and the Prefect run."""

    entry_point: str
    flow_run_id: str
    #: ``flow/deployment`` when the run came from a deployment (None: the flow was called directly).
    deployment: str | None = None

    def tags(self) -> dict[str, str]:
        """MLflow's source tags. Type ``JOB``: the UI shows a job's name whole, not only its file name."""
        origin = f"deployment {self.deployment}, " if self.deployment else ""
        name = f"{self.entry_point} ({origin}flow run {self.flow_run_id})"
        return {SOURCE_NAME_TAG: name, SOURCE_TYPE_TAG: "JOB"}


@dataclass(frozen=True)
class RegisteredModel:
    """Where a retrain left its model: the run, and the version registered under the model spec's name."""

    run_id: str
    name: str
    version: str


def _start(settings: Settings, run_name: str, tags: dict[str, str]) -> Any:
    import mlflow

    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_experiment(settings.mlflow_experiment)
    return mlflow.start_run(run_name=run_name, tags=tags)


def log_build(
    settings: Settings,
    *,
    source: RunSource,
    tags: dict[str, str],
    params: dict[str, Any],
    features: pl.DataFrame,
    table_uri: str,
    validation_result: dict[str, Any],
    feature_rows: int | None = None,
    validation_metrics: dict[str, float],
    sources: dict[str, Any],
) -> str:
    """Record one feature build; return the MLflow run id.

    ``features`` is the batch or a sample of it (its first 1,000 rows are logged as the output
    dataset); ``feature_rows`` is the batch's row count when ``features`` is a sample.

    ``validation_metrics`` are the gate's own verdict (warn-only failures do not fail it), not GX's.
    ``sources`` names what the batch was built from (bronze table and version, the raw objects
    with their ETags); it is logged whole as ``lineage/sources.json`` and the bronze table as an
    input dataset, so the run links both ways. ``source`` is the flow run that built it.
    """
    import mlflow
    from mlflow.data.polars_dataset import from_polars

    with _start(settings, f"build {tags['featurelake.feature_set']}", tags | source.tags()) as run:
        mlflow.log_params(params)
        mlflow.log_dict(validation_result, "validation/gx_result.json")
        mlflow.log_dict(sources, "lineage/sources.json")
        mlflow.log_metrics(validation_metrics)
        bronze = f"{sources['bronze_table']}@{sources['bronze_version']}"
        reference = pl.DataFrame({"source": [bronze], "read_by": [tags[commits.FEATURE_SET]]})
        _log_input_retrying(from_polars(reference, source=bronze, name=bronze), context="input")
        dataset = from_polars(features.head(1000), source=table_uri, name=table_uri)
        mlflow.log_input(dataset, context="output")
        mlflow.log_metric("feature_rows", features.height if feature_rows is None else feature_rows)
        return str(run.info.run_id)


def _log_input_retrying(dataset: Any, context: str, attempts: int = 3) -> None:
    """``mlflow.log_input``, retried when the tracking server loses a race.

    Builds of several feature sets log the same bronze version at once, and the tracking server
    can lose the race to insert the shared dataset row (``UNIQUE constraint failed: datasets``);
    on the next try the row exists and is reused.
    The digest also differs per feature set (``read_by``), which makes the race rare.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    for attempt in range(attempts):
        try:
            mlflow.log_input(dataset, context=context)
            return
        except MlflowException:
            if attempt == attempts - 1:
                raise
            time.sleep(0.2 * 2**attempt)


def log_retrain(
    settings: Settings,
    *,
    model_name: str,
    tags: dict[str, str],
    params: dict[str, Any],
    metrics: dict[str, float],
    manifest: dict[str, Any],
    model: Any,
    example: pl.DataFrame,
    inputs: list[tuple[str, pl.DataFrame]],
    trusted_types: list[str] | None = None,
    source: RunSource | None = None,
) -> RegisteredModel:
    """Record one retrain, log and register its model under ``model_name`` tagged with the feature versions.

    ``model_name`` is the model spec's name: every spec is its own registered model, with its
    own versions and its own ``champion`` alias.

    ``trusted_types`` names the estimator internals that skops may load back (default: every
    type in the model); the model was fitted by this process, so they are ours to vouch for.
    The pyfunc flavour predicts probabilities: a score is what serving wants. ``source`` names
    the flow run (default: the retrain flow, with the run id the tags name).
    """
    import mlflow
    import skops.io
    from mlflow.data.polars_dataset import from_polars
    from mlflow.models import infer_signature

    if trusted_types is None:
        trusted_types = skops.io.get_untrusted_types(data=skops.io.dumps(model))

    source = source or RunSource(RETRAIN_ENTRY_POINT, tags.get(commits.FLOW_RUN_ID, "unknown"))
    with _start(settings, "retrain", tags | source.tags()) as run:
        mlflow.log_params(params)
        mlflow.log_metrics(metrics)
        mlflow.log_dict(manifest, "training_set/manifest.json")
        for table_uri, frame in inputs:
            dataset = from_polars(frame.head(1000), source=table_uri, name=table_uri)
            mlflow.log_input(dataset, context="training")
        x_example = example.to_pandas()
        signature = infer_signature(x_example, model.predict_proba(x_example)[:, 1])
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=signature,
            input_example=x_example.head(5),
            registered_model_name=model_name,
            skops_trusted_types=trusted_types,
            pyfunc_predict_fn="predict_proba",
        )
        version = str(info.registered_model_version)
        client = mlflow.MlflowClient()
        for key, value in tags.items():
            client.set_model_version_tag(model_name, version, key, value)
        return RegisteredModel(str(run.info.run_id), model_name, version)


def runs_of_flow_run(settings: Settings, flow_run_id: str) -> list[dict[str, Any]]:
    """MLflow runs recorded by one Prefect flow run (id, name, metrics, params)."""
    return search_runs(settings, {commits.FLOW_RUN_ID: flow_run_id})


def search_runs(settings: Settings, tags: dict[str, str]) -> list[dict[str, Any]]:
    """MLflow runs of the featurelake experiment carrying all of ``tags``, newest first."""
    import mlflow

    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    runs = mlflow.search_runs(
        experiment_names=[settings.mlflow_experiment],
        filter_string=" and ".join(f"tags.`{k}` = '{v}'" for k, v in tags.items()),
        order_by=["attributes.start_time DESC"],
        output_format="list",
    )
    return [
        {"run_id": r.info.run_id, "name": r.info.run_name, "metrics": r.data.metrics, "params": r.data.params}
        for r in runs
    ]


def logged_dict(settings: Settings, run_id: str, artifact_path: str) -> dict[str, Any] | None:
    """A JSON artifact of a run, or None when the run has no such artifact."""
    import json
    import tempfile
    from pathlib import Path

    import mlflow
    from mlflow.exceptions import MlflowException

    with tempfile.TemporaryDirectory() as directory:
        try:
            local = mlflow.artifacts.download_artifacts(
                run_id=run_id,
                artifact_path=artifact_path,
                dst_path=directory,
                tracking_uri=settings.mlflow_tracking_uri,
            )
        except (MlflowException, OSError):
            return None
        loaded = json.loads(Path(local).read_text())
    return loaded if isinstance(loaded, dict) else None


def build_runs(
    settings: Settings, feature_set_ref: str, delta_version: int | None = None, max_results: int = 50
) -> list[dict[str, Any]]:
    """Build runs of one feature set version (optionally of one publish), newest first.

    Retrain runs carry the same ``featurelake.feature_set`` and ``featurelake.delta_version``
    tags (they name what they trained on), so build runs are told apart by their run name.
    Each run comes with its tags, params, metrics and start time (ms since the epoch).
    """
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=settings.mlflow_tracking_uri)
    experiment = client.get_experiment_by_name(settings.mlflow_experiment)
    if experiment is None:  # nothing was ever tracked
        return []
    filters = [
        f"tags.`featurelake.feature_set` = '{feature_set_ref}'",
        f"attributes.run_name = 'build {feature_set_ref}'",
    ]
    if delta_version is not None:
        filters.append(f"tags.`featurelake.delta_version` = '{delta_version}'")
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string=" and ".join(filters),
        order_by=["attributes.start_time DESC"],
        max_results=max_results,
    )
    return [
        {
            "run_id": r.info.run_id,
            "name": r.info.run_name,
            "status": r.info.status,
            "start_time_ms": r.info.start_time,
            "tags": dict(r.data.tags),
            "params": dict(r.data.params),
            "metrics": dict(r.data.metrics),
        }
        for r in runs
    ]
