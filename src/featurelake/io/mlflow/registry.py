"""The MLflow model registry: the champion alias, model versions and the feature versions they name.

mlflow is imported inside each function: it costs seconds, and most commands never need it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from featurelake.io.mlflow.runs import logged_dict
from featurelake.settings import Settings

CHAMPION_ALIAS = "champion"


@dataclass(frozen=True)
class Champion:
    """The registered version the ``champion`` alias points at, with what it was judged by.

    ``model`` is None when it cannot be loaded any more (its trainer's code is gone, say); the
    gate then falls back on the logged metrics rather than failing every later retrain.
    """

    version: str
    model: Any
    input_columns: list[str] | None
    metrics: dict[str, float]


def champion(settings: Settings, name: str) -> Champion | None:
    """The current champion of a registered model, loaded, or None when no version holds the alias."""
    import mlflow

    version = champion_version(settings, name)
    if version is None:
        return None
    client = mlflow.MlflowClient(tracking_uri=settings.mlflow_tracking_uri)
    metrics = dict(client.get_run(client.get_model_version(name, version).run_id).data.metrics)
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    uri = f"models:/{name}/{version}"
    try:
        model = mlflow.sklearn.load_model(uri)
    except Exception:  # any load failure: judge by the logged metric instead
        return Champion(version, None, None, metrics)
    signature = mlflow.models.get_model_info(uri).signature
    return Champion(version, model, signature.inputs.input_names() if signature else None, metrics)


def record_promotion(settings: Settings, name: str, version: str, promote: bool, tags: dict[str, str]) -> None:
    """Tag the challenger with the decision and, when it won, point the ``champion`` alias at it."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=settings.mlflow_tracking_uri)
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)
    if promote:
        client.set_registered_model_alias(name, CHAMPION_ALIAS, version)


def champion_version(settings: Settings, name: str) -> str | None:
    """The version the ``champion`` alias points at; None when the model or the alias does not exist.

    Only a missing model means "no champion": any other registry error propagates, so an outage
    cannot make the gate promote a model for want of a champion.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient(tracking_uri=settings.mlflow_tracking_uri)
    try:
        model = client.get_registered_model(name)
    except MlflowException as error:
        if error.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise
    version = model.aliases.get(CHAMPION_ALIAS)
    return None if version is None else str(version)


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


def model_version_record(settings: Settings, name: str, version: str) -> dict[str, Any]:
    """A registered model version and what its run recorded: tags, params and the training-set manifest.

    Lineage starts here; the manifest is ``None`` when the run logged none (a model registered
    by hand), so the caller can fall back on the version's tags.

    Raises:
        KeyError: naming the model, the version and the registry when the version does not exist.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient(tracking_uri=settings.mlflow_tracking_uri)
    try:
        found = client.get_model_version(name, version)
    except MlflowException as error:
        raise KeyError(
            f"model {name!r} has no version {version!r} in the registry at {settings.mlflow_tracking_uri}; "
            "check the name and version (the MLflow UI lists them under Models)"
        ) from error
    run = client.get_run(found.run_id)
    return {
        "name": name,
        "version": str(found.version),
        "run_id": str(found.run_id),
        "run_name": run.info.run_name,
        "created_at_ms": found.creation_timestamp,
        "tags": dict(found.tags),
        "run_tags": dict(run.data.tags),
        "params": dict(run.data.params),
        "manifest": logged_dict(settings, str(found.run_id), "training_set/manifest.json"),
    }


@dataclass(frozen=True)
class ModelVersionTags:
    """One registered model version and its tags (the feature versions it was trained on)."""

    name: str
    version: str
    tags: dict[str, str]


def model_versions_naming(settings: Settings, feature_set_ref: str) -> list[ModelVersionTags]:
    """Registered model versions whose tags name ``feature_set_ref``, in any registered model.

    Retrain tags the feature set that triggered it (``featurelake.feature_set``) and every set it
    read, pinned, in ``featurelake.feature_sets`` (``ref@delta_version,...``); both are searched,
    so a set a model only joined in is found too. LIKE treats ``_`` as a wildcard and may match
    more than meant: callers parse the tags exactly. Deleted versions are gone from the registry
    and not returned; archived ones are.
    """
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=settings.mlflow_tracking_uri)
    filters = [
        f"tags.`featurelake.feature_set` = '{feature_set_ref}'",
        f"tags.`featurelake.feature_sets` LIKE '%{feature_set_ref}@%'",
    ]
    found: dict[tuple[str, str], ModelVersionTags] = {}
    for filter_string in filters:
        token = None
        while True:
            page = client.search_model_versions(filter_string, max_results=1000, page_token=token)
            for version in page:
                found[(version.name, str(version.version))] = ModelVersionTags(
                    version.name, str(version.version), dict(version.tags)
                )
            token = page.token
            if not token:
                break
    return sorted(found.values(), key=lambda v: (v.name, int(v.version)))


def tag_model_version(settings: Settings, name: str, version: str, tags: dict[str, str]) -> None:
    """Set ``tags`` on one registered model version (existing tags of other keys stay)."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=settings.mlflow_tracking_uri)
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)
