"""Training plug-ins the tests name by import path, as a team would in a deployment's parameters."""

from __future__ import annotations

from typing import Any

from sklearn.dummy import DummyClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline

#: An estimator instance: predicts the base rate for everyone, so its ROC AUC is 0.5.
constant = DummyClassifier(strategy="prior")


def logistic() -> Pipeline:
    """A factory: the retrain calls it for a fresh estimator and fits that."""
    return make_pipeline(SimpleImputer(), LogisticRegression(max_iter=1000))


def fit_logistic(features: Any, labels: Any) -> Pipeline:
    """A training callable: fits and returns the model itself."""
    return logistic().fit(features, labels)


#: Not a model at all: resolving it must fail clearly.
not_a_model = 42


def no_proba(features: Any, labels: Any) -> object:
    """Returns something without predict_proba, which the retrain must refuse."""
    return object()
