"""Train a classifier on a point-in-time training set and score it on a later slice of time.

Training sets come from :meth:`featurelake.retrieve.featurestore.FeatureStore.get_training_set`; the
split here is by time, so the holdout is always later than anything trained on. What is fitted
is pluggable (:func:`resolve_trainer`): scikit-learn's gradient boosting by default, or a
team's own estimator or training callable named by an import path.
"""

from __future__ import annotations

import copy
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import polars as pl

from featurelake.core.modelspec import import_path
from featurelake.retrieve.featurestore import TrainingSet

#: Fits a model on (features, labels) and returns it; the model must have ``predict_proba``.
Fit = Callable[[Any, Any], Any]

DEFAULT_TRAINER = "featurelake.train.trainers:default_estimator"


@dataclass(frozen=True)
class TrainedModel:
    """A fitted model with its holdout metrics and the holdout itself (to score a champion on)."""

    model: Any
    metrics: dict[str, float]
    holdout_start: datetime
    train_rows: int
    test_rows: int
    feature_columns: list[str]
    holdout_features: Any
    holdout_labels: Any


def default_estimator() -> Any:
    """The baseline: histogram gradient boosting, seeded so a retrain on the same data is repeatable."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(max_iter=200, random_state=7)


def resolve_trainer(spec: str | None) -> Fit:
    """The fit function an import path ``module:attribute`` names.

    The attribute may be an estimator (anything with ``fit`` and ``predict_proba``; a fresh copy
    is fitted each run), a class or factory that returns one, or a callable ``(X, y) -> model``.
    ``X`` is a pandas frame with named float columns, ``y`` a boolean array.

    Raises:
        ValueError: when the path is malformed or names nothing usable, with what was found.
    """
    module_name, attribute = import_path(spec or DEFAULT_TRAINER)
    try:
        target = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"trainer {spec!r} cannot be imported: {error}") from error
    if _is_estimator(target):
        return lambda x, y: _fresh(target).fit(x, y)
    if not callable(target):
        raise ValueError(f"trainer {spec!r} is a {type(target).__name__}: neither an estimator nor a callable")
    return lambda x, y: _fit_or_call(target, x, y, str(spec))


def _is_estimator(candidate: object) -> bool:
    return not isinstance(candidate, type) and hasattr(candidate, "fit") and hasattr(candidate, "predict_proba")


def _fresh(estimator: Any) -> Any:
    """An unfitted copy, so a module-level estimator is never refitted in place across runs."""
    try:
        from sklearn.base import clone

        return clone(estimator)
    except TypeError:  # not a scikit-learn estimator: copy it as it is
        return copy.deepcopy(estimator)


def _fit_or_call(target: Callable[..., Any], x: Any, y: Any, spec: str) -> Any:
    """A factory (no arguments) gives an estimator to fit; otherwise the callable fits and returns one."""
    import inspect

    takes_data = len(inspect.signature(target).parameters) >= 2
    model = target(x, y) if takes_data else target().fit(x, y)
    if not hasattr(model, "predict_proba"):
        raise ValueError(f"trainer {spec!r} returned a {type(model).__name__}, which has no predict_proba")
    return model


def train_classifier(
    training: TrainingSet, label: str, time_column: str, fit: Fit | None = None, holdout_fraction: float = 0.2
) -> TrainedModel:
    """Fit on the earlier part of the training set and score on the most recent ``holdout_fraction``.

    Raises:
        ValueError: when either side of the time split lacks both classes.
    """
    frame = training.frame.sort(time_column)
    cutoff: datetime = frame[time_column][min(int(frame.height * (1 - holdout_fraction)), frame.height - 1)]
    train, test = frame.filter(pl.col(time_column) < cutoff), frame.filter(pl.col(time_column) >= cutoff)
    for side, part in (("training", train), ("holdout", test)):
        if part[label].n_unique() < 2:
            raise ValueError(f"the {side} split has only one class of {label!r}; need more labelled data")
    x_test, y_test = feature_matrix(test, training.feature_columns), test[label].to_numpy()
    model = (fit or resolve_trainer(None))(feature_matrix(train, training.feature_columns), train[label].to_numpy())
    metrics = holdout_metrics(y_test, positive_scores(model, x_test))
    return TrainedModel(model, metrics, cutoff, train.height, test.height, training.feature_columns, x_test, y_test)


def positive_scores(model: Any, features: Any) -> Any:
    """The model's probability of the positive class for each row."""
    return model.predict_proba(features)[:, 1]


def holdout_metrics(labels: Any, scores: Any) -> dict[str, float]:
    """The metrics every model is judged by; a champion is re-scored with the same function."""
    from sklearn.metrics import average_precision_score, log_loss, roc_auc_score

    return {
        "holdout_roc_auc": float(roc_auc_score(labels, scores)),
        "holdout_average_precision": float(average_precision_score(labels, scores)),
        "holdout_log_loss": float(log_loss(labels, scores, labels=[False, True])),
        "holdout_positive_rate": float(np.mean(labels)),
    }


def feature_matrix(frame: pl.DataFrame, columns: list[str]) -> Any:
    """Named float columns, so the fitted model (and its MLflow signature) knows its inputs by name."""
    return frame.select(pl.col(columns).cast(pl.Float64)).to_pandas()
