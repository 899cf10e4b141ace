"""MLflow lineage: the only module that imports mlflow (lazily: it costs seconds to import).

A build run records what went in (raw object keys, bronze version) and what came out (feature
table URI and Delta version, the GX result). A retrain run records the pinned feature tables
as dataset inputs, the manifest, metrics and the registered model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from featurelake.settings import Settings


@dataclass(frozen=True)
class RegisteredModel:
    """Where a retrain left its model."""

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
    tags: dict[str, str],
    params: dict[str, Any],
    features: pl.DataFrame,
    table_uri: str,
    validation_result: dict[str, Any],
) -> str:
    """Record one feature build; return the MLflow run id."""
    import mlflow
    from mlflow.data.polars_dataset import from_polars

    with _start(settings, f"build {tags['featurelake.feature_set']}", tags) as run:
        mlflow.log_params(params)
        mlflow.log_dict(validation_result, "validation/gx_result.json")
        statistics = validation_result.get("statistics", {})
        mlflow.log_metrics(
            {
                "validation_success": float(bool(validation_result.get("success"))),
                "expectations_evaluated": float(statistics.get("evaluated_expectations", 0)),
                "expectations_failed": float(statistics.get("unsuccessful_expectations", 0)),
            }
        )
        dataset = from_polars(features.head(1000), source=table_uri, name=table_uri)
        mlflow.log_input(dataset, context="output")
        mlflow.log_metric("feature_rows", features.height)
        return str(run.info.run_id)


def log_retrain(
    settings: Settings,
    *,
    tags: dict[str, str],
    params: dict[str, Any],
    metrics: dict[str, float],
    manifest: dict[str, Any],
    model: Any,
    example: pl.DataFrame,
    inputs: list[tuple[str, pl.DataFrame]],
    trusted_types: list[str] | None = None,
) -> RegisteredModel:
    """Record one retrain, log and register its model tagged with the feature versions.

    ``trusted_types`` names the estimator internals that skops may load back; the model was
    fitted by this process, so they are ours to vouch for.
    """
    import mlflow
    from mlflow.data.polars_dataset import from_polars
    from mlflow.models import infer_signature

    with _start(settings, "retrain", tags) as run:
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
            registered_model_name=settings.registered_model_name,
            skops_trusted_types=trusted_types,
        )
        version = str(info.registered_model_version)
        client = mlflow.MlflowClient()
        for key, value in tags.items():
            client.set_model_version_tag(settings.registered_model_name, version, key, value)
        return RegisteredModel(str(run.info.run_id), settings.registered_model_name, version)


def runs_of_flow_run(settings: Settings, flow_run_id: str) -> list[dict[str, Any]]:
    """MLflow runs recorded by one Prefect flow run (id, name, metrics, params)."""
    return search_runs(settings, {"featurelake.flow_run_id": flow_run_id})


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


def model_version_tags(settings: Settings, name: str, version: str) -> dict[str, str]:
    """The tags of one registered model version (its feature lineage)."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=settings.mlflow_tracking_uri)
    return dict(client.get_model_version(name, version).tags)


def model_versions_of_run(settings: Settings, run_id: str) -> list[str]:
    """Registered model versions created from a run."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=settings.mlflow_tracking_uri)
    found = client.search_model_versions(f"run_id = '{run_id}'")
    return [str(v.version) for v in found]
