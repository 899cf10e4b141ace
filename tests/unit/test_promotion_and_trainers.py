"""Champion gating decisions and the pluggable trainer, without a registry."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from featurelake.train.promotion import PromotionPolicy, decide
from featurelake.train.trainers import DEFAULT_TRAINER, holdout_metrics, positive_scores, resolve_trainer
from tests import trainers

X = pd.DataFrame({"a": np.linspace(0, 1, 200), "b": np.r_[np.zeros(100), np.ones(100)]})
Y = (X["a"] > 0.6).to_numpy()


def test_no_champion_means_the_first_model_is_promoted() -> None:
    decision = decide(PromotionPolicy(), 0.61, None, None, "no champion")
    assert decision.promote
    assert decision.reason == "no champion yet"
    assert decision.champion_version is None


@pytest.mark.parametrize(
    ("challenger", "champion", "margin", "promote"),
    [(0.91, 0.90, 0.0, True), (0.90, 0.90, 0.0, False), (0.89, 0.90, 0.0, False), (0.905, 0.90, 0.01, False)],
)
def test_the_challenger_must_beat_the_champion_by_more_than_the_margin(
    challenger: float, champion: float, margin: float, promote: bool
) -> None:
    decision = decide(PromotionPolicy(min_improvement=margin), challenger, "3", champion, "same holdout")
    assert decision.promote is promote
    assert ("beats champion v3" in decision.reason) is promote
    assert "same holdout" in decision.reason


def test_lower_is_better_metrics_invert_the_comparison() -> None:
    policy = PromotionPolicy(metric="holdout_log_loss", greater_is_better=False)
    assert decide(policy, 0.20, "1", 0.25, "same holdout").promote
    assert not decide(policy, 0.30, "1", 0.25, "same holdout").promote


def test_a_champion_without_the_metric_is_replaced_and_the_reason_says_so() -> None:
    decision = decide(PromotionPolicy(), 0.7, "4", None, "logged metric")
    assert decision.promote
    assert decision.reason == "champion v4 has no holdout_roc_auc to compare with"


def test_a_negative_margin_is_refused() -> None:
    with pytest.raises(ValueError, match="min_improvement must be >= 0"):
        PromotionPolicy(min_improvement=-0.1)


@pytest.mark.parametrize(
    "spec",
    [DEFAULT_TRAINER, "tests.trainers:constant", "tests.trainers:logistic", "tests.trainers:fit_logistic", None],
)
def test_every_kind_of_trainer_fits_a_model_with_probabilities(spec: str | None) -> None:
    model = resolve_trainer(spec)(X, Y)
    scores = positive_scores(model, X)
    assert scores.shape == (200,)
    metrics = holdout_metrics(Y, scores)
    assert metrics["holdout_roc_auc"] == (0.5 if spec == "tests.trainers:constant" else pytest.approx(1.0, abs=0.02))


def test_a_module_level_estimator_is_never_fitted_in_place() -> None:
    resolve_trainer("tests.trainers:constant")(X, Y)
    assert not hasattr(trainers.constant, "class_prior_")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("tests.trainers", "not an import path"),
        ("tests.nowhere:model", "cannot be imported: No module named 'tests.nowhere'"),
        ("tests.trainers:missing", "cannot be imported"),
        ("tests.trainers:not_a_model", "is a int: neither an estimator nor a callable"),
    ],
)
def test_unusable_trainers_are_refused_with_what_was_found(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        resolve_trainer(spec)


def test_a_trainer_returning_no_probabilities_is_refused() -> None:
    with pytest.raises(ValueError, match="returned a object, which has no predict_proba"):
        resolve_trainer("tests.trainers:no_proba")(X, Y)


def test_the_policy_takes_each_ranking_metrics_direction_and_refuses_the_rest() -> None:
    from featurelake.train.champion import policy_for

    assert policy_for("holdout_roc_auc", 0.01) == PromotionPolicy("holdout_roc_auc", True, 0.01)
    assert policy_for("holdout_log_loss", 0.0).greater_is_better is False
    with pytest.raises(ValueError, match=r"'holdout_positive_rate' cannot rank models; use one of \['holdout_av"):
        policy_for("holdout_positive_rate", 0.0)
    with pytest.raises(ValueError, match="cannot rank models"):
        policy_for("accuracy", 0.0)
