"""Resolve a retrain before anything is read: which model, on which pinned publish, judged how.

A retrain names a model spec (``features/models.py`` declares them) and the publish that started
it; a run may override the spec's features, trainer or promotion rule for one retrain. Every
mistake a run's parameters can make (an unknown model, a publish the model does not read, a
trainer that cannot be imported, a metric that ranks nothing) fails here, before a table is read
or a second of training is spent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from featurelake.core.catalog import Catalog
from featurelake.core.featureset import FeatureSet
from featurelake.core.modelspec import ModelSpec, reference_problems
from featurelake.core.naming import bronze_path
from featurelake.train import champion
from featurelake.train.promotion import PromotionPolicy
from featurelake.train.trainers import Fit, resolve_trainer


@dataclass(frozen=True)
class Publish:
    """The publish that started a retrain (as the ``featurelake.feature-set.published`` payload names it)."""

    feature_set: str
    feature_set_version: int
    delta_version: int


@dataclass(frozen=True)
class RetrainPlan:
    """A retrain, resolved: the spec (with the run's overrides), the pinned publish, the policy and the fit."""

    model: ModelSpec
    trigger: FeatureSet
    delta_version: int
    policy: PromotionPolicy
    fit: Fit

    @property
    def labels_path(self) -> str:
        """The bronze table of the label source: the training spine."""
        return bronze_path(self.model.labels.name)

    @property
    def pins(self) -> dict[str, int]:
        """The published feature set read at the published Delta version; the others at their latest."""
        return {self.trigger.ref: self.delta_version}


def plan_retrain(
    found: Catalog,
    model: str,
    publish: Publish,
    features: Sequence[str] | None = None,
    trainer: str | None = None,
    promotion_metric: str | None = None,
    min_improvement: float | None = None,
) -> RetrainPlan:
    """The model spec ``model`` with the given overrides (None, or no features: the spec's), pinned to ``publish``.

    Raises:
        KeyError: an unknown model or feature set, listing the known ones.
        ValueError: an override the spec refuses, a reference the catalog cannot serve, a publish
            of a feature set the model does not read, or a trainer that cannot be used.
    """
    # A form's emptied feature list means "the spec's", as None does.
    spec = found.get_model(model).with_overrides(
        features=features or None, trainer=trainer, promotion_metric=promotion_metric, min_improvement=min_improvement
    )
    problems = reference_problems(spec, found.feature_sets)
    if problems:
        raise ValueError(f"model {spec.name!r}: {'; '.join(problems)}")
    trigger = found.get(publish.feature_set, publish.feature_set_version)
    if not spec.uses(trigger.ref):
        raise ValueError(
            f"model {spec.name!r} does not read {trigger.ref} (it reads {list(spec.feature_sets)}): "
            "a publish of it cannot pin this retrain; start the model's own retrain or add the reference"
        )
    policy = champion.policy_for(spec.promotion_metric, spec.min_improvement)
    return RetrainPlan(spec, trigger, publish.delta_version, policy, resolve_trainer(spec.trainer))
