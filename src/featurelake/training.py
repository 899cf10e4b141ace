"""The baseline classifier trained on point-in-time training sets.

Training sets come from :meth:`featurelake.featurestore.FeatureStore.get_training_set`; the
split here is by time, so the holdout is always later than anything trained on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import polars as pl

from featurelake.featurestore import TrainingSet

# Internals of HistGradientBoostingClassifier that skops-serialised models must be allowed to load.
TRUSTED_MODEL_TYPES = ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]


@dataclass(frozen=True)
class TrainedModel:
    """A fitted estimator with its holdout metrics."""

    model: Any
    metrics: dict[str, float]
    holdout_start: datetime
    train_rows: int
    test_rows: int
    feature_columns: list[str]


def train_classifier(
    training: TrainingSet, label: str, time_column: str, holdout_fraction: float = 0.2
) -> TrainedModel:
    """Fit the baseline classifier and score it on the most recent slice of time.

    Raises:
        ValueError: when either side of the time split lacks both classes.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import average_precision_score, log_loss, roc_auc_score

    frame = training.frame.sort(time_column)
    cutoff: datetime = frame[time_column][min(int(frame.height * (1 - holdout_fraction)), frame.height - 1)]
    train, test = frame.filter(pl.col(time_column) < cutoff), frame.filter(pl.col(time_column) >= cutoff)
    for side, part in (("training", train), ("holdout", test)):
        if part[label].n_unique() < 2:
            raise ValueError(f"the {side} split has only one class of {label!r}; need more labelled data")
    x_train, y_train = _matrix(train, training.feature_columns), train[label].to_numpy()
    x_test, y_test = _matrix(test, training.feature_columns), test[label].to_numpy()
    model = HistGradientBoostingClassifier(max_iter=200, random_state=7).fit(x_train, y_train)
    scores = model.predict_proba(x_test)[:, 1]
    metrics = {
        "holdout_roc_auc": float(roc_auc_score(y_test, scores)),
        "holdout_average_precision": float(average_precision_score(y_test, scores)),
        "holdout_log_loss": float(log_loss(y_test, scores, labels=[False, True])),
        "holdout_positive_rate": float(np.mean(y_test)),
    }
    return TrainedModel(model, metrics, cutoff, train.height, test.height, training.feature_columns)


def _matrix(frame: pl.DataFrame, columns: list[str]) -> Any:
    """Named columns, so the fitted model (and its MLflow signature) knows its inputs by name."""
    return frame.select(pl.col(columns).cast(pl.Float64)).to_pandas()
