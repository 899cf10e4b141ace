"""Retrain: a model spec's point-in-time training set, pinned to the published Delta version → model → registry.

Started by the automation on ``featurelake.feature-set.published``, debounced: a burst of
publishes starts one run, pinned to the version the last event of the burst names, so the model
is trained on what was validated, not on whatever is latest. What the model trains on (labels,
label column, spine time, features, trainer, promotion rule) is its spec in the features
package (``features/models.py``); the new version becomes ``champion`` only if it beats the
current champion on the same holdout.
"""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.runtime import flow_run

from featurelake.core import catalog
from featurelake.io.delta.store import DeltaStore
from featurelake.io.prefect.runners import chunk_mapper
from featurelake.io.revision import code_revision
from featurelake.lineage import openlineage
from featurelake.lineage.jobs import model_dataset, send_lineage
from featurelake.lineage.models import model_lineage
from featurelake.retrieve.featurestore import FeatureStore
from featurelake.settings import Settings, get_settings
from featurelake.train import records
from featurelake.train.plan import Publish, plan_retrain
from featurelake.train.retrain import labels_version, tables_read, train_and_register


@flow(name="retrain", log_prints=True)
def retrain(
    feature_set: str,
    feature_set_version: int,
    delta_version: int,
    model: str = "featurelake-fraud",
    features: list[str] | None = None,
    trainer: str | None = None,
    promotion_metric: str | None = None,
    min_improvement: float | None = None,
) -> dict[str, object]:
    """Retrain ``model`` (a model spec's name) with the published feature set pinned to ``delta_version``.

    ``features``, ``trainer`` (an import path), ``promotion_metric`` and ``min_improvement``
    override the spec's values for this run; None keeps the spec's.
    """
    settings = get_settings()
    found = catalog.load(settings.features_module)
    publish = Publish(feature_set, feature_set_version, delta_version)
    # A wrong model, publish, trainer or metric fails here, before anything is read.
    plan = plan_retrain(found, model, publish, features, trainer, promotion_metric, min_improvement)
    store = DeltaStore(settings)
    labels = labels_version(store, plan.model)
    inputs = [openlineage.s3_dataset(uri, version) for uri, version in tables_read(store, plan, labels)]
    job = f"retrain.{plan.model.name}"
    run = records.RunContext(str(flow_run.id), str(flow_run.ui_url or ""), code_revision())
    send_lineage(settings, "START", job, run.flow_run_id, inputs, [])
    try:
        features_store, mapper = FeatureStore(store, found.feature_sets.values()), chunk_mapper(settings)
        outcome = train_and_register(settings, store, features_store, plan, labels, run, get_run_logger(), mapper)
        publish_artifacts(settings, outcome)
    except BaseException as error:
        send_lineage(settings, "FAIL", job, run.flow_run_id, inputs, [], error)
        raise
    registered = model_dataset(settings, outcome.registered.name, outcome.registered.version)
    send_lineage(settings, "COMPLETE", job, run.flow_run_id, inputs, [registered])
    return outcome.summary


def publish_artifacts(settings: Settings, outcome: records.RetrainOutcome) -> None:
    """The run's summary table and the new version's lineage, back to the raw objects, in the Prefect UI."""
    create_table_artifact(
        table=[outcome.summary], key="retrain-summary", description="Model trained on pinned features"
    )
    chain = model_lineage(settings, outcome.registered.name, outcome.registered.version)
    create_markdown_artifact(
        markdown=records.lineage_markdown(outcome.registered, chain.render_text()),
        key="model-lineage",
        description="model → training set → feature versions → bronze versions → raw objects",
    )
