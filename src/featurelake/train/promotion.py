"""Champion gating: the ``champion`` alias moves only to a model that beats it on the same holdout.

Comparing logged metrics from two retrains compares two different holdouts (each retrain holds
out its own latest slice of time), so a later model could "win" only because its slice was
easier. The champion is therefore re-scored on the challenger's holdout whenever it can read
the challenger's features; only when it cannot (it was trained on other columns) does the
decision fall back on its logged metric, and says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ComparedOn = Literal["same holdout", "logged metric", "no champion"]


@dataclass(frozen=True)
class PromotionPolicy:
    """Which holdout metric decides, in which direction, and by how much a challenger must win."""

    metric: str = "holdout_roc_auc"
    greater_is_better: bool = True
    min_improvement: float = 0.0

    def __post_init__(self) -> None:
        if self.min_improvement < 0:
            raise ValueError(f"min_improvement must be >= 0, got {self.min_improvement}")


@dataclass(frozen=True)
class PromotionDecision:
    """Whether the challenger becomes champion, with the scores and why, for tags and events."""

    promote: bool
    reason: str
    metric: str
    challenger_score: float
    champion_score: float | None
    champion_version: str | None
    compared_on: ComparedOn


def decide(
    policy: PromotionPolicy,
    challenger_score: float,
    champion_version: str | None,
    champion_score: float | None,
    compared_on: ComparedOn,
) -> PromotionDecision:
    """Promote when there is no champion, or when the challenger beats it by more than the margin.

    A tie keeps the champion: moving the alias for no gain would only churn what serving loads.
    """
    if champion_version is None:
        return PromotionDecision(True, "no champion yet", policy.metric, challenger_score, None, None, "no champion")
    if champion_score is None:
        reason = f"champion v{champion_version} has no {policy.metric} to compare with"
        return PromotionDecision(True, reason, policy.metric, challenger_score, None, champion_version, compared_on)
    gain = challenger_score - champion_score if policy.greater_is_better else champion_score - challenger_score
    promote = gain > policy.min_improvement
    verdict = "beats" if promote else "does not beat"
    reason = (
        f"{policy.metric} {challenger_score:.4f} {verdict} champion v{champion_version} at {champion_score:.4f} "
        f"({compared_on}; needs a gain over {policy.min_improvement:g})"
    )
    return PromotionDecision(
        promote, reason, policy.metric, challenger_score, champion_score, champion_version, compared_on
    )
