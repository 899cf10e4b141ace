"""Retrain: point-in-time training set pinned to the published Delta version → model → registry.

Started by the automation on ``featurelake.feature-set.published``, debounced: a burst of
publishes starts one run, pinned to the version the last event of the burst names, so the model
is trained on what was validated, not on whatever is latest. Other feature sets the model uses
are pinned to their latest version when the run starts, and the manifest logged with the model
names every version read. The new version becomes ``champion`` only if it beats the current
champion on the same holdout.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl
from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.runtime import flow_run

from featurelake.core import catalog, commits, events
from featurelake.core.featureset import FeatureSet
from featurelake.core.naming import bronze_path
from featurelake.io.delta.store import DeltaStore
from featurelake.io.mlflow import runs
from featurelake.io.prefect.events import emit
from featurelake.io.revision import code_revision
from featurelake.lineage import openlineage
from featurelake.lineage.jobs import model_dataset, send_lineage
from featurelake.lineage.models import model_lineage
from featurelake.retrieve.featurestore import FeatureStore
from featurelake.settings import get_settings
from featurelake.train import champion
from featurelake.train.promotion import PromotionDecision, PromotionPolicy
from featurelake.train.trainers import TrainedModel, resolve_trainer, train_classifier
from features.sources import FRAUD_LABELS

LABEL = "is_fraud"
SPINE_TIME = "event_time"


@flow(name="retrain", log_prints=True)
def retrain(
    feature_set: str,
    feature_set_version: int,
    delta_version: int,
    features: list[str] | None = None,
    trainer: str | None = None,
    promotion_metric: str = "holdout_roc_auc",
    min_improvement: float = 0.0,
) -> dict[str, object]:
    """Train the fraud classifier on labels joined as of each transaction to pinned features.

    ``features`` lists the references the model uses (default: the whole published feature set);
    the published one is pinned to ``delta_version``. ``trainer`` is an import path to an
    estimator or training callable (default: scikit-learn gradient boosting). The champion moves
    when ``promotion_metric`` (higher is better, except log loss) improves by more than
    ``min_improvement``.
    """
    policy = champion.policy_for(promotion_metric, min_improvement)  # fail before reading anything
    fit = resolve_trainer(trainer)
    settings = get_settings()
    store = DeltaStore(settings)
    features_store = FeatureStore(store, catalog.load(settings.features_module).feature_sets.values())
    trigger = features_store.spec(f"{feature_set}:v{feature_set_version}")
    references = features or [trigger.ref]
    labels_version = store.version(bronze_path(FRAUD_LABELS.name))
    if labels_version is None:
        raise FileNotFoundError(f"no labels: bronze table for source {FRAUD_LABELS.name!r} does not exist yet")
    job = f"retrain.{settings.registered_model_name}"
    inputs = [
        openlineage.s3_dataset(store.uri(trigger.table_path), delta_version),
        openlineage.s3_dataset(store.uri(bronze_path(FRAUD_LABELS.name)), labels_version),
    ]
    send_lineage(settings, "START", job, str(flow_run.id), inputs, [])
    try:
        summary = train_and_register(
            features_store, store, trigger, references, (delta_version, labels_version), fit, policy
        )
    except BaseException as error:
        send_lineage(settings, "FAIL", job, str(flow_run.id), inputs, [], error)
        raise
    model = model_dataset(settings, str(summary["model"]), str(summary["model_version"]))
    send_lineage(settings, "COMPLETE", job, str(flow_run.id), inputs, [model])
    return summary


def train_and_register(
    features_store: FeatureStore,
    store: DeltaStore,
    trigger: FeatureSet,
    references: list[str],
    versions: tuple[int, int],
    fit: Callable[[Any, Any], Any],
    policy: PromotionPolicy,
) -> dict[str, object]:
    """Spine from the labels, point-in-time training set, train, register with lineage, gate, announce."""
    settings, logger = get_settings(), get_run_logger()
    delta_version, labels_version = versions
    keys = sorted({k for ref in references for k in features_store.spec(ref).entity_keys})
    labels = store.read(bronze_path(FRAUD_LABELS.name), labels_version)
    spine = labels.select(*keys, SPINE_TIME, LABEL).drop_nulls()
    logger.info("spine: %d labelled transactions (%d lack a key)", spine.height, labels.height - spine.height)
    training = features_store.get_training_set(
        spine, references, spine_time=SPINE_TIME, pins={trigger.ref: delta_version}
    )
    trained = train_classifier(training, LABEL, SPINE_TIME, fit=fit)
    logger.info("trained on %d rows, holdout %d rows: %s", trained.train_rows, trained.test_rows, trained.metrics)
    pinned = {entry["ref"]: entry for entry in training.manifest["feature_sets"]}
    tags = {
        commits.FLOW_RUN_ID: str(flow_run.id),
        commits.FLOW_RUN_URL: str(flow_run.ui_url or ""),
        commits.CODE_REVISION: code_revision(),
        commits.FEATURE_SET: trigger.ref,
        "featurelake.feature_table": pinned[trigger.ref]["table_uri"],
        commits.DELTA_VERSION: str(delta_version),
        commits.FINGERPRINT: pinned[trigger.ref]["fingerprint"],
        "featurelake.feature_sets": ",".join(f"{ref}@{e['delta_version']}" for ref, e in pinned.items()),
        "featurelake.labels_version": str(labels_version),
    }
    manifest = training.manifest | {
        "labels": {"table_uri": store.uri(bronze_path(FRAUD_LABELS.name)), "delta_version": labels_version}
    }
    registered = runs.log_retrain(
        settings,
        tags=tags,
        metrics=trained.metrics,
        manifest=manifest,
        model=trained.model,
        params={
            "train_rows": trained.train_rows,
            "holdout_rows": trained.test_rows,
            "holdout_start": trained.holdout_start.isoformat(),
            "delta_version": delta_version,
            "features": ",".join(references),
            "model_class": f"{type(trained.model).__module__}.{type(trained.model).__qualname__}",
        },
        example=training.frame.select(pl.col(training.feature_columns).cast(pl.Float64)).head(50),
        inputs=[(e["table_uri"], training.frame.select(e["columns"].values()).head(1000)) for e in pinned.values()],
    )
    decision = champion.challenge(settings, registered.name, trained, policy)
    champion.record(settings, registered.name, registered.version, decision)
    logger.info("promotion: %s", decision.reason)
    announce(registered, trigger, delta_version, trained, decision)  # first: the alias may have moved
    summary: dict[str, object] = {
        "model": registered.name,
        "model_version": registered.version,
        "mlflow_run_id": registered.run_id,
        "feature_set": trigger.ref,
        "delta_version": delta_version,
        "promoted": decision.promote,
        "promotion": decision.reason,
        **trained.metrics,
    }
    create_table_artifact(table=[summary], key="retrain-summary", description="Model trained on pinned features")
    chain = model_lineage(settings, registered.name, registered.version)
    create_markdown_artifact(
        markdown=f"# Lineage of {registered.name} version {registered.version}\n\n```\n{chain.render_text()}\n```",
        key="model-lineage",
        description="model → training set → feature versions → bronze versions → raw objects",
    )
    return summary


def announce(
    registered: runs.RegisteredModel,
    trigger: FeatureSet,
    delta_version: int,
    trained: TrainedModel,
    decision: PromotionDecision,
) -> None:
    """``featurelake.model.trained`` always; ``featurelake.model.promoted`` when the alias moved.

    Ids come from the MLflow run, which is unique across registries sharing one Prefect server.
    """
    resource = f"featurelake.model.{registered.name}"
    emit(
        events.MODEL_TRAINED,
        resource,
        events.ModelTrained(
            model_name=registered.name,
            model_version=registered.version,
            feature_set=trigger.name,
            feature_set_version=trigger.version,
            delta_version=delta_version,
            metrics=trained.metrics,
            promoted=decision.promote,
            mlflow_run_id=registered.run_id,
        ),
        discriminator=registered.run_id,
    )
    if decision.promote:
        emit(
            events.MODEL_PROMOTED,
            resource,
            events.ModelPromoted(
                model_name=registered.name,
                model_version=registered.version,
                previous_version=decision.champion_version,
                metric=decision.metric,
                score=decision.challenger_score,
                previous_score=decision.champion_score,
                compared_on=decision.compared_on,
                feature_set=trigger.name,
                feature_set_version=trigger.version,
                delta_version=delta_version,
            ),
            discriminator=registered.run_id,
        )
