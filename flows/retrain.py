"""Retrain: point-in-time training set pinned to the published Delta version → model → registry.

Started by the automation on ``featurelake.feature-set.published``; the event names the exact
feature table version, so the model is trained on what was validated, not on whatever is latest.
"""

from __future__ import annotations

import polars as pl
from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.runtime import flow_run

from featurelake import events, tracking
from featurelake.core.naming import bronze_path
from featurelake.io.delta import DeltaStore
from featurelake.settings import get_settings
from featurelake.training import TRUSTED_MODEL_TYPES, PinnedFeatures, build_training_set, train_classifier
from features import get_feature_set
from features.sources import FRAUD_LABELS

LABEL = "is_fraud"


@flow(name="retrain", log_prints=True)
def retrain(feature_set: str, feature_set_version: int, delta_version: int) -> dict[str, object]:
    """Train the fraud classifier on labels joined as of each transaction to pinned features."""
    settings, logger = get_settings(), get_run_logger()
    spec, store = get_feature_set(feature_set, feature_set_version), DeltaStore(settings)
    pinned = PinnedFeatures(spec, store.read(spec.table_path, delta_version), store.uri(spec.table_path), delta_version)
    labels_version = store.version(bronze_path(FRAUD_LABELS.name))
    if labels_version is None:
        raise FileNotFoundError(f"no labels: bronze table for source {FRAUD_LABELS.name!r} does not exist yet")
    labels = store.read(bronze_path(FRAUD_LABELS.name), labels_version)
    spine = labels.select(spec.entity, pl.col(FRAUD_LABELS.event_time).alias(spec.event_time), LABEL)
    training = build_training_set(spine, [pinned], spine_time=spec.event_time)
    trained = train_classifier(training, LABEL, spec.event_time)
    logger.info("trained on %d rows, holdout %d rows: %s", trained.train_rows, trained.test_rows, trained.metrics)
    tags = {
        "featurelake.flow_run_id": str(flow_run.id),
        "featurelake.feature_set": spec.ref,
        "featurelake.feature_table": pinned.table_uri,
        "featurelake.delta_version": str(delta_version),
        "featurelake.labels_version": str(labels_version),
    }
    manifest = training.manifest | {
        "labels": {"table_uri": store.uri(bronze_path(FRAUD_LABELS.name)), "delta_version": labels_version}
    }
    registered = tracking.log_retrain(
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
        },
        example=training.frame.select(pl.col(training.feature_columns).cast(pl.Float64)).head(50),
        inputs=[(pinned.table_uri, pinned.frame)],
        trusted_types=TRUSTED_MODEL_TYPES,
    )
    summary: dict[str, object] = {
        "model": registered.name,
        "model_version": registered.version,
        "mlflow_run_id": registered.run_id,
        "feature_set": spec.ref,
        "delta_version": delta_version,
        **trained.metrics,
    }
    create_table_artifact(table=[summary], key="retrain-summary", description="Model trained on pinned features")
    events.emit(
        events.MODEL_TRAINED,
        f"featurelake.model.{registered.name}",
        events.ModelTrained(
            model_name=registered.name,
            model_version=registered.version,
            feature_set=spec.name,
            feature_set_version=spec.version,
            delta_version=delta_version,
            metrics=trained.metrics,
        ),
        discriminator=registered.version,
    )
    return summary
