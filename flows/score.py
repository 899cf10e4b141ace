"""Score: the champion's scores for the bronze rows not scored yet → ``predictions/<model>``.

Started by automations on ``featurelake.model.promoted`` (a new champion scores what landed since
the last batch) and ``featurelake.bronze-table.appended`` (new rows). Duplicate triggers are
harmless: a batch records the bronze version it scored as a Delta app transaction, checked first.
"""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.runtime import flow_run

from featurelake.core import catalog, commits, events
from featurelake.core.modelspec import model_resource_id
from featurelake.core.naming import predictions_path
from featurelake.io.delta.store import DeltaStore
from featurelake.io.prefect.events import emit
from featurelake.io.revision import code_revision
from featurelake.retrieve.featurestore import FeatureStore
from featurelake.serve import scoring
from featurelake.settings import get_settings


@flow(name="score", log_prints=True)
def score(model: str = "featurelake-fraud") -> dict[str, object]:
    """Score the new bronze rows of ``model``'s label source with its ``champion``; emit what was published."""
    settings = get_settings()
    found = catalog.load(settings.features_module)
    spec, store = found.get_model(model), DeltaStore(settings)
    run_id = str(flow_run.id)
    tags = {commits.FLOW_RUN_ID: run_id, commits.FLOW: "score", commits.CODE_REVISION: code_revision()}
    result = scoring.score(settings, store, FeatureStore(store, found.feature_sets.values()), spec, tags)
    table_uri = store.uri(predictions_path(spec.name))
    payload, event_id = result.event(table_uri, run_id), None
    if payload is not None:  # one id per batch: a retried emit collapses, the next batch is a new event
        at = f"{table_uri}@{payload.delta_version}"
        labels = {events.TABLE_URI_LABEL: table_uri, events.DELTA_VERSION_LABEL: str(payload.delta_version)}
        event_id = emit(events.PREDICTIONS_PUBLISHED, model_resource_id(spec.name), payload, at, labels=labels)
    get_run_logger().info("%s: %s (%d rows)", spec.name, result.reason, result.rows_scored)
    create_markdown_artifact(markdown=summary_markdown(result, table_uri), key="score-summary")
    summary = {"model": result.model, "rows_scored": result.rows_scored, "delta_version": result.delta_version}
    return summary | {"event_id": None if event_id is None else str(event_id)}


def summary_markdown(result: scoring.ScoreResult, table_uri: str) -> str:
    """The run's artifact: what was scored, by which version, into which table version."""
    rows = [
        ("outcome", result.reason),
        ("model version", result.model_version or "-"),
        ("input", f"{result.input_uri}@{result.input_version}"),
        ("rows scored", result.rows_scored),
        ("predictions", f"{table_uri}@{result.delta_version}" if result.delta_version is not None else "-"),
        ("feature versions", ", ".join(f"{r}@{v}" for r, v in result.feature_versions.items()) or "-"),
    ]
    body = "\n".join(f"| {name} | {value} |" for name, value in rows)
    return f"# Scores of {result.model}\n\n| | |\n|---|---|\n{body}\n"
