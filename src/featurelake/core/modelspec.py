"""Model specifications: what a model trains on, declared as data beside the feature sets.

A model spec names the registered model, the label source whose bronze table is the training
spine (its label column and the time each label row is joined at), the feature references it
reads, the trainer and the rule that moves the ``champion`` alias. The retrain flow reads the
spec; a team with its own labels adds a spec to its features package instead of editing a flow.
Which publishes retrain a model follows from its references: a publish of any feature set it
reads.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from featurelake.core.contracts import SourceContract
from featurelake.core.featureset import FeatureSet
from featurelake.core.refs import FeatureRef

#: Holdout metrics a model can be ranked by, with whether a higher value is better (the positive
#: rate describes the data, not the model, so it ranks nothing).
RANKING_METRICS: dict[str, bool] = {
    "holdout_roc_auc": True,
    "holdout_average_precision": True,
    "holdout_log_loss": False,
}
#: Registered model names: they also name the model's events (``featurelake.model.<name>``) and
#: its OpenLineage dataset (``models/<name>``), so no spaces, slashes or quotes.
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class ModelSpec:
    """A model as data: registered name, labels, features, trainer and promotion rule.

    ``features`` are references as :meth:`FeatureStore.get_training_set` takes them
    (``customer_txn:v1`` for a whole set, ``merchant_txn:v1:merchant_txn_count_1h`` for one
    column). ``spine_time`` is the label source's column each label is joined at (default: the
    source's event time). ``trainer`` is an import path ``module:attribute`` (None: the default
    gradient boosting). The champion moves when ``promotion_metric`` improves by more than
    ``min_improvement``.
    """

    name: str
    labels: SourceContract
    label: str
    features: tuple[str, ...]
    description: str
    owner: str
    spine_time: str = ""
    trainer: str | None = None
    promotion_metric: str = "holdout_roc_auc"
    min_improvement: float = 0.0
    tags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.features, str):  # a bare string is refused below, not split into letters
            object.__setattr__(self, "features", tuple(self.features))
        object.__setattr__(self, "spine_time", self.spine_time or self.labels.event_time)
        problems = _spec_problems(self)
        if problems:
            raise ValueError(f"model spec {self.name!r} is invalid: {'; '.join(problems)}")

    @property
    def feature_sets(self) -> tuple[str, ...]:
        """The feature set versions the model reads (``name:vN``), in reference order, once each."""
        return tuple(dict.fromkeys(FeatureRef.parse(ref).set_ref for ref in self.features))

    def uses(self, feature_set_ref: str) -> bool:
        """Whether a publish of ``feature_set_ref`` (``name:vN``) changes what this model trains on."""
        return FeatureRef.parse(feature_set_ref).set_ref in self.feature_sets

    def with_overrides(
        self,
        *,
        features: Sequence[str] | None = None,
        trainer: str | None = None,
        promotion_metric: str | None = None,
        min_improvement: float | None = None,
    ) -> ModelSpec:
        """This spec with the given values replaced (None keeps the spec's), validated again.

        A run's parameters override the spec for one retrain (an experiment with another trainer
        or feature list) without editing the declared model.
        """
        if features is None and trainer is None and promotion_metric is None and min_improvement is None:
            return self
        return dataclasses.replace(
            self,
            features=self.features if features is None else tuple(features),
            trainer=self.trainer if trainer is None else trainer,
            promotion_metric=self.promotion_metric if promotion_metric is None else promotion_metric,
            min_improvement=self.min_improvement if min_improvement is None else min_improvement,
        )


def model_resource_id(name: str) -> str:
    """The Prefect resource of a registered model's events, e.g. ``featurelake.model.featurelake-fraud``."""
    return f"featurelake.model.{name}"


def import_path(text: str) -> tuple[str, str]:
    """Split a trainer's import path ``package.module:attribute``.

    Raises:
        ValueError: quoting the text and the expected form.
    """
    module, _, attribute = text.partition(":")
    if not module or not attribute:
        raise ValueError(f"trainer {text!r} is not an import path of the form 'package.module:attribute'")
    return module, attribute


def reference_problems(spec: ModelSpec, feature_sets: Mapping[str, FeatureSet]) -> list[str]:
    """What in ``spec`` the feature sets in code cannot serve: unknown sets or features, keys the labels lack."""
    problems = []
    for text in spec.features:
        ref = FeatureRef.parse(text)
        found = feature_sets.get(ref.set_ref)
        if found is None:
            problems.append(f"feature reference {text!r} names an unknown feature set; known: {sorted(feature_sets)}")
            continue
        if ref.feature is not None and ref.feature not in found.feature_names:
            problems.append(
                f"feature set {found.ref} has no feature {ref.feature!r}; it has {list(found.feature_names)}"
            )
        missing = [k for k in found.entity_keys if k not in spec.labels.columns]
        if missing:
            problems.append(
                f"{found.ref} is joined on {list(found.entity_keys)} but label source {spec.labels.name!r} "
                f"has no column(s) {missing}: the spine cannot be joined to it"
            )
    return problems


def _spec_problems(spec: ModelSpec) -> list[str]:
    problems = []
    if not isinstance(spec.name, str) or not _MODEL_NAME.match(spec.name):
        problems.append("name must be letters, digits, '.', '_' or '-' (it is the registered model's name)")
    problems += _label_problems(spec)
    problems += _feature_problems(spec.features)
    if spec.trainer is not None:
        try:
            import_path(spec.trainer)
        except ValueError as error:
            problems.append(str(error))
    if spec.promotion_metric not in RANKING_METRICS:
        problems.append(
            f"promotion metric {spec.promotion_metric!r} cannot rank models; use one of {sorted(RANKING_METRICS)}"
        )
    if not math.isfinite(spec.min_improvement) or spec.min_improvement < 0:
        problems.append(f"min_improvement must be a number >= 0, got {spec.min_improvement}")
    return problems


def _label_problems(spec: ModelSpec) -> list[str]:
    """The label must be a binary column of the label source, and the spine time one of its times."""
    columns, source = spec.labels.columns, spec.labels.name
    problems = []
    if spec.label not in columns:
        problems.append(f"label column {spec.label!r} is not a column of label source {source!r}: {sorted(columns)}")
    elif not (columns[spec.label] == pl.Boolean or columns[spec.label].is_integer()):
        problems.append(
            f"label column {spec.label!r} is {columns[spec.label]}; a classifier needs Boolean (or 0/1) labels"
        )
    if spec.spine_time not in columns:
        problems.append(f"spine time {spec.spine_time!r} is not a column of label source {source!r}: {sorted(columns)}")
    elif not isinstance(columns[spec.spine_time], pl.Datetime):
        problems.append(f"spine time {spec.spine_time!r} is {columns[spec.spine_time]}, not a timestamp")
    if spec.label == spec.spine_time:
        problems.append(f"the label and the spine time are the same column {spec.label!r}")
    return problems


def _feature_problems(features: tuple[str, ...] | str) -> list[str]:
    if isinstance(features, str):
        return [f"features must be a list of references, not the string {features!r}"]
    if not features:
        return ["features is empty: name at least one reference like 'customer_txn:v1'"]
    problems = []
    for text in features:
        try:
            FeatureRef.parse(text)
        except ValueError as error:
            problems.append(str(error))
    repeated = sorted({text for text in features if features.count(text) > 1})
    if repeated:
        problems.append(f"feature reference(s) {repeated} are listed more than once")
    return problems
