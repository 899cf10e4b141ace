"""What a retrain records: registry tags and run params, the manifest, its summary and its events.

Pure builders, so what a model version says about itself (the feature versions, the labels,
the spec it was trained from, the champion decision) is tested without a registry. The tags
are what vacuum, lineage and ``featurelake status`` read back, so their keys must not drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from featurelake.core import commits, events, model_tags
from featurelake.io.mlflow.runs import RegisteredModel
from featurelake.retrieve.featurestore import TrainingSet
from featurelake.train.plan import RetrainPlan
from featurelake.train.promotion import PromotionDecision
from featurelake.train.trainers import DEFAULT_TRAINER, TrainedModel


@dataclass(frozen=True)
class RunContext:
    """The orchestrator's run a retrain belongs to, so a model version links back to it."""

    flow_run_id: str
    flow_run_url: str
    code_revision: str


@dataclass(frozen=True)
class RetrainOutcome:
    """What a retrain left: the registered version, the fitted model with its metrics, and the verdict."""

    registered: RegisteredModel
    trained: TrainedModel
    decision: PromotionDecision
    summary: dict[str, object]


def tags(plan: RetrainPlan, run: RunContext, manifest: dict[str, Any], labels_version: int) -> dict[str, str]:
    """The run's and the model version's tags: who trained it, on which pinned versions, from which labels."""
    pinned = {entry["ref"]: entry for entry in manifest["feature_sets"]}
    trigger = pinned[plan.trigger.ref]
    return {
        commits.FLOW_RUN_ID: run.flow_run_id,
        commits.FLOW_RUN_URL: run.flow_run_url,
        commits.CODE_REVISION: run.code_revision,
        commits.FEATURE_SET: plan.trigger.ref,
        model_tags.FEATURE_TABLE: trigger["table_uri"],
        commits.DELTA_VERSION: str(plan.delta_version),
        commits.FINGERPRINT: trigger["fingerprint"],
        model_tags.FEATURE_SETS: ",".join(f"{ref}@{entry['delta_version']}" for ref, entry in pinned.items()),
        model_tags.LABELS_VERSION: str(labels_version),
        model_tags.LABEL: f"{plan.model.labels.name}.{plan.model.label}",
    }


def params(plan: RetrainPlan, trained: TrainedModel) -> dict[str, Any]:
    """The run's params: the split, the pinned publish and the spec as this run applied it."""
    spec, model = plan.model, trained.model
    return {
        "train_rows": trained.train_rows,
        "holdout_rows": trained.test_rows,
        "holdout_start": trained.holdout_start.isoformat(),
        "delta_version": plan.delta_version,
        "features": ",".join(spec.features),
        "model_class": f"{type(model).__module__}.{type(model).__qualname__}",
        "labels_source": spec.labels.name,
        "label": spec.label,
        "spine_time": spec.spine_time,
        "trainer": spec.trainer or DEFAULT_TRAINER,
        "promotion_metric": spec.promotion_metric,
        "min_improvement": spec.min_improvement,
    }


def manifest(plan: RetrainPlan, training: TrainingSet, labels_uri: str, labels_version: int) -> dict[str, Any]:
    """The training set's manifest plus the labels it was spined on (lineage and vacuum read ``labels``)."""
    labels = {
        "source": plan.model.labels.name,
        "column": plan.model.label,
        "table_uri": labels_uri,
        "delta_version": labels_version,
    }
    return training.manifest | {"labels": labels}


def example_rows(training: TrainingSet) -> pl.DataFrame:
    """The model's input as serving sends it (named float columns), for the logged signature."""
    return training.frame.select(pl.col(training.feature_columns).cast(pl.Float64)).head(50)


def input_samples(training: TrainingSet) -> list[tuple[str, pl.DataFrame]]:
    """Each pinned table with a sample of the columns read from it, logged as the run's dataset inputs."""
    entries = training.manifest["feature_sets"]
    return [(e["table_uri"], training.frame.select(e["columns"].values()).head(1000)) for e in entries]


def summary(
    plan: RetrainPlan, registered: RegisteredModel, trained: TrainedModel, decision: PromotionDecision
) -> dict[str, object]:
    """The flow's result and its summary artifact: which version, trained on what, and whether it won."""
    return {
        "model": registered.name,
        "model_version": registered.version,
        "mlflow_run_id": registered.run_id,
        "feature_set": plan.trigger.ref,
        "delta_version": plan.delta_version,
        "promoted": decision.promote,
        "promotion": decision.reason,
        **trained.metrics,
    }


def trained_event(outcome: RetrainOutcome, plan: RetrainPlan) -> events.ModelTrained:
    """The ``featurelake.model.trained`` payload: sent for every retrain."""
    registered = outcome.registered
    return events.ModelTrained(
        model_name=registered.name,
        model_version=registered.version,
        feature_set=plan.trigger.name,
        feature_set_version=plan.trigger.version,
        delta_version=plan.delta_version,
        metrics=outcome.trained.metrics,
        promoted=outcome.decision.promote,
        mlflow_run_id=registered.run_id,
    )


def promoted_event(outcome: RetrainOutcome, plan: RetrainPlan) -> events.ModelPromoted | None:
    """The ``featurelake.model.promoted`` payload, or None when the champion kept its alias."""
    decision, registered = outcome.decision, outcome.registered
    if not decision.promote:
        return None
    return events.ModelPromoted(
        model_name=registered.name,
        model_version=registered.version,
        previous_version=decision.champion_version,
        metric=decision.metric,
        score=decision.challenger_score,
        previous_score=decision.champion_score,
        compared_on=decision.compared_on,
        feature_set=plan.trigger.name,
        feature_set_version=plan.trigger.version,
        delta_version=plan.delta_version,
    )


def lineage_markdown(registered: RegisteredModel, tree: str) -> str:
    """The model-lineage artifact: the rendered chain from the model version back to raw objects."""
    return f"# Lineage of {registered.name} version {registered.version}\n\n```\n{tree}\n```"
