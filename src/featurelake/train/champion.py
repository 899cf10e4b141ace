"""Challenge the registered champion with a freshly trained model and record the verdict.

The decision itself is pure (:mod:`featurelake.train.promotion`); this module fetches the champion from
the registry, re-scores it on the challenger's holdout and writes the outcome back as model
version tags and the ``champion`` alias.
"""

from __future__ import annotations

from featurelake.core.modelspec import RANKING_METRICS
from featurelake.io.mlflow import registry
from featurelake.settings import Settings
from featurelake.train.promotion import PromotionDecision, PromotionPolicy, decide
from featurelake.train.trainers import TrainedModel, holdout_metrics, positive_scores


def policy_for(metric: str, min_improvement: float) -> PromotionPolicy:
    """The policy judging by ``metric`` in its own direction; checked before any training is spent.

    Raises:
        ValueError: when ``metric`` cannot rank models, naming those that can.
    """
    if metric not in RANKING_METRICS:
        raise ValueError(f"promotion metric {metric!r} cannot rank models; use one of {sorted(RANKING_METRICS)}")
    return PromotionPolicy(metric, RANKING_METRICS[metric], min_improvement)


def challenge(settings: Settings, name: str, trained: TrainedModel, policy: PromotionPolicy) -> PromotionDecision:
    """Judge ``trained`` against the current champion of ``name`` by ``policy``."""
    challenger_score = trained.metrics[policy.metric]
    current = registry.champion(settings, name)
    if current is None:
        return decide(policy, challenger_score, None, None, "no champion")
    columns = current.input_columns
    if current.model is not None and columns is not None and set(columns) <= set(trained.holdout_features.columns):
        scores = positive_scores(current.model, trained.holdout_features[columns])
        score = holdout_metrics(trained.holdout_labels, scores)[policy.metric]
        return decide(policy, challenger_score, current.version, score, "same holdout")
    return decide(policy, challenger_score, current.version, current.metrics.get(policy.metric), "logged metric")


def record(settings: Settings, name: str, version: str, decision: PromotionDecision) -> None:
    """Tag the challenger with the verdict (promoted or not, and why); move the alias if it won."""
    tags = {
        "featurelake.train.promotion": "promoted" if decision.promote else "kept champion",
        "featurelake.promotion_reason": decision.reason,
        "featurelake.promotion_metric": decision.metric,
        "featurelake.promotion_compared_on": decision.compared_on,
    }
    if decision.champion_version is not None:
        tags["featurelake.previous_champion"] = decision.champion_version
    registry.record_promotion(settings, name, version, decision.promote, tags)
