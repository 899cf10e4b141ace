"""Everything MLflow stores about runs and models, as (where, bytes) for an erasure proof to search.

Runs of every experiment (active and deleted): params, tags, metric names, dataset inputs
(name, digest, source, schema, profile) and every artifact file; registered models, their
versions' tags, descriptions and sources. Every listing is paged; artifacts are downloaded one
run at a time into a temporary directory that is removed before the next run.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

from featurelake.settings import Settings

_ALL = 3  # mlflow.entities.ViewType.ALL: deleted runs keep their data until garbage-collected


def mlflow_contents(settings: Settings) -> Iterator[tuple[str, bytes]]:
    """(location, bytes) of every run record, artifact file and registry record."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=settings.mlflow_tracking_uri)
    for experiment in _pages(partial(client.search_experiments, view_type=_ALL)):
        search = partial(client.search_runs, [experiment.experiment_id], run_view_type=_ALL, max_results=500)
        for run in _pages(search):
            yield from _run_contents(client, run)
    for model in _pages(client.search_registered_models):
        yield f"mlflow registered model {model.name}", _json({"description": model.description, "tags": model.tags})
        name = str(model.name).replace("'", "\\'")
        for version in _pages(partial(client.search_model_versions, f"name = '{name}'")):
            record = {"description": version.description, "tags": version.tags, "source": version.source}
            yield f"mlflow model {model.name} version {version.version}", _json(record)


def _pages(read: Callable[..., Any]) -> Iterator[Any]:
    """Every item of a paged MLflow listing (``read(page_token=...)`` returns a PagedList)."""
    token: str | None = None
    while True:
        page = read(page_token=token)
        yield from page
        token = page.token
        if not token:
            return


def _run_contents(client: Any, run: Any) -> Iterator[tuple[str, bytes]]:
    """A run's record, its dataset inputs and its artifact files."""
    run_id = run.info.run_id
    data = {
        "name": run.info.run_name,
        "params": run.data.params,
        "tags": run.data.tags,
        "metrics": sorted(run.data.metrics),
    }
    yield f"mlflow run {run_id} params/tags", _json(data)
    for dataset_input in getattr(run.inputs, "dataset_inputs", None) or []:
        dataset = dataset_input.dataset
        fields = {f: getattr(dataset, f, None) for f in ("name", "digest", "source", "schema", "profile")}
        fields["tags"] = [(t.key, t.value) for t in dataset_input.tags or []]
        yield f"mlflow run {run_id} dataset input {dataset.digest}", _json(fields)
    with tempfile.TemporaryDirectory(prefix="featurelake-proof-") as directory:
        if not client.list_artifacts(run_id):
            return
        local = Path(client.download_artifacts(run_id, "", directory))
        for path in sorted(p for p in local.rglob("*") if p.is_file()):
            yield f"mlflow run {run_id} artifact {path.relative_to(local)}", path.read_bytes()


def _json(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, default=str).encode("utf-8")
