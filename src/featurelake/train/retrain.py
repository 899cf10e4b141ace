"""Retrain a model spec: labels as the spine, a point-in-time training set, train, register, gate, announce.

Generic over model specs: the labels, the label column, the spine time and the feature
references come from the spec (:mod:`featurelake.train.plan` resolves it), so the same code
trains the example's fraud model and any team's own. The publish that started the retrain is
read at its published Delta version; other feature sets at their latest version when the run
starts, and the manifest logged with the model names every version read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any

import polars as pl

from featurelake.core import events
from featurelake.core.modelspec import ModelSpec, model_resource_id
from featurelake.core.naming import bronze_path
from featurelake.io.delta.store import DeltaStore
from featurelake.io.mlflow import runs
from featurelake.io.prefect.events import emit
from featurelake.retrieve.featurestore import FeatureStore, TrainingSet
from featurelake.retrieve.training import ChunkMapper
from featurelake.settings import Settings
from featurelake.train import champion, records
from featurelake.train.plan import RetrainPlan
from featurelake.train.records import RetrainOutcome, RunContext
from featurelake.train.trainers import TrainedModel, train_classifier

Log = logging.Logger | logging.LoggerAdapter[Any]
_logger = logging.getLogger(__name__)


def labels_version(store: DeltaStore, spec: ModelSpec) -> int:
    """The label source's bronze version now: the spine is read at it, and the model records it.

    Raises:
        FileNotFoundError: when the label source has landed nothing yet.
    """
    version = store.version(bronze_path(spec.labels.name))
    if version is None:
        raise FileNotFoundError(
            f"no labels for model {spec.name!r}: the bronze table of source {spec.labels.name!r} does not exist "
            "yet; ingest its raw objects first"
        )
    return version


def tables_read(store: DeltaStore, plan: RetrainPlan, labels: int) -> list[tuple[str, int]]:
    """The pinned tables a retrain reads, as (URI, Delta version): the published features and the labels."""
    return [(store.uri(plan.trigger.table_path), plan.delta_version), (store.uri(plan.labels_path), labels)]


def spine(store: DeltaStore, features_store: FeatureStore, plan: RetrainPlan, labels: int) -> pl.DataFrame:
    """The labelled rows with every key the features join on, the spine time and the label (rows lacking one drop)."""
    spec = plan.model
    keys = sorted({k for ref in spec.features for k in features_store.spec(ref).entity_keys})
    return store.read(plan.labels_path, labels).select(*keys, spec.spine_time, spec.label).drop_nulls()


def train_and_register(
    settings: Settings,
    store: DeltaStore,
    features_store: FeatureStore,
    plan: RetrainPlan,
    labels: int,
    run: RunContext,
    logger: Log = _logger,
    map_chunks: ChunkMapper | None = None,
) -> RetrainOutcome:
    """Train on the pinned training set, register with lineage, judge against the champion, announce.

    The training set keeps to the settings' retrieval memory budget, its slabs run through
    ``map_chunks`` (this process by default). The events go out after the alias moved, so a
    consumer of ``featurelake.model.promoted`` loads the new champion.
    """
    joining = partial(features_store.get_training_set, memory_budget=settings.retrieval_budget, map_chunks=map_chunks)
    training, trained = _train(store, features_store, joining, plan, labels, logger)
    registered = runs.log_retrain(
        settings,
        model_name=plan.model.name,
        tags=records.tags(plan, run, training.manifest, labels),
        params=records.params(plan, trained),
        metrics=trained.metrics,
        manifest=records.manifest(plan, training, store.uri(plan.labels_path), labels),
        model=trained.model,
        example=records.example_rows(training),
        inputs=records.input_samples(training),
    )
    decision = champion.challenge(settings, registered.name, trained, plan.policy)
    champion.record(settings, registered.name, registered.version, decision)
    logger.info("%s version %s: %s", registered.name, registered.version, decision.reason)
    outcome = RetrainOutcome(registered, trained, decision, records.summary(plan, registered, trained, decision))
    announce(outcome, plan)
    return outcome


def _train(
    store: DeltaStore,
    features_store: FeatureStore,
    joining: Callable[..., TrainingSet],
    plan: RetrainPlan,
    labels: int,
    logger: Log,
) -> tuple[TrainingSet, TrainedModel]:
    """The point-in-time training set of the spec's references, and the model fitted on its earlier part."""
    spec = plan.model
    rows = spine(store, features_store, plan, labels)
    logger.info("spine: %d labelled rows of %s (label %r)", rows.height, spec.labels.name, spec.label)
    training = joining(rows, list(spec.features), spine_time=spec.spine_time, pins=plan.pins)
    trained = train_classifier(training, spec.label, spec.spine_time, fit=plan.fit)
    logger.info("trained on %d rows, holdout %d rows: %s", trained.train_rows, trained.test_rows, trained.metrics)
    return training, trained


def announce(outcome: RetrainOutcome, plan: RetrainPlan) -> None:
    """``featurelake.model.trained`` always; ``featurelake.model.promoted`` when the alias moved.

    Ids come from the MLflow run, which is unique across registries sharing one Prefect server.
    """
    resource, run_id = model_resource_id(outcome.registered.name), outcome.registered.run_id
    emit(events.MODEL_TRAINED, resource, records.trained_event(outcome, plan), discriminator=run_id)
    promoted = records.promoted_event(outcome, plan)
    if promoted is not None:
        emit(events.MODEL_PROMOTED, resource, promoted, discriminator=run_id)
