"""Point-in-time correct training sets and the baseline classifier.

For each spine row the join takes the latest feature row of the same entity whose event time
is at or before the spine time and within the feature set's TTL; never a later one. The
manifest names the exact Delta version of every feature table used, so a model can be traced
back and its training set rebuilt.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import polars as pl

from featurelake.core.featureset import FeatureSet

# Internals of HistGradientBoostingClassifier that skops-serialised models must be allowed to load.
TRUSTED_MODEL_TYPES = ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]
_ROW = "__spine_row"
_FEATURE_TIME = "__feature_time"


@dataclass(frozen=True)
class PinnedFeatures:
    """A feature table read at one Delta version."""

    spec: FeatureSet
    frame: pl.DataFrame
    table_uri: str
    delta_version: int


@dataclass(frozen=True)
class TrainingSet:
    """The joined frame plus the manifest that makes it reproducible."""

    frame: pl.DataFrame
    feature_columns: list[str]
    manifest: dict[str, Any]


@dataclass(frozen=True)
class TrainedModel:
    """A fitted estimator with its holdout metrics."""

    model: Any
    metrics: dict[str, float]
    holdout_start: datetime
    train_rows: int
    test_rows: int
    feature_columns: list[str]


def point_in_time_join(spine: pl.DataFrame, pinned: PinnedFeatures, spine_time: str) -> pl.DataFrame:
    """Attach one feature set's values as of each spine row's time (spine order kept)."""
    spec = pinned.spec
    columns = [f.name for f in spec.features]
    features = pinned.frame.select(pl.col(spec.entity), pl.col(spec.event_time).alias(_FEATURE_TIME), *columns).sort(
        _FEATURE_TIME
    )
    joined = (
        spine.with_row_index(_ROW)
        .sort(spine_time)
        .join_asof(
            features,
            left_on=spine_time,
            right_on=_FEATURE_TIME,
            by=spec.entity,
            strategy="backward",
            tolerance=spec.ttl,
            check_sortedness=False,
        )
    )
    return joined.sort(_ROW).drop(_ROW, _FEATURE_TIME)


def build_training_set(spine: pl.DataFrame, pinned: list[PinnedFeatures], spine_time: str) -> TrainingSet:
    """Join several pinned feature sets onto a spine and describe what was used."""
    frame = spine
    for item in pinned:
        frame = point_in_time_join(frame, item, spine_time)
    manifest = {
        "spine_rows": spine.height,
        "feature_sets": [
            {
                "feature_set": p.spec.name,
                "version": p.spec.version,
                "table_uri": p.table_uri,
                "delta_version": p.delta_version,
                "features": [f.name for f in p.spec.features],
            }
            for p in pinned
        ],
    }
    columns = [f.name for p in pinned for f in p.spec.features]
    return TrainingSet(frame=frame, feature_columns=columns, manifest=manifest)


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
