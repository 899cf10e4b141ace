"""The example's models, declared as data: what each trains on and when it becomes champion.

``featurelake-fraud``: one row per labelled transaction of ``fraud_labels`` (the chargeback
feed) is the spine; each is joined, as of the transaction's ``event_time``, to the customer's
trailing-window features, and the classifier predicts ``is_fraud``. A publish of
``customer_txn:v1`` retrains it; the new version becomes champion only if its holdout ROC AUC
beats the champion's on the same holdout.
"""

from __future__ import annotations

from featurelake.core.modelspec import ModelSpec
from features.sources import FRAUD_LABELS

FRAUD_MODEL = ModelSpec(
    name="featurelake-fraud",
    labels=FRAUD_LABELS,
    label="is_fraud",
    spine_time="event_time",
    features=("customer_txn:v1",),
    trainer=None,  # scikit-learn's histogram gradient boosting
    promotion_metric="holdout_roc_auc",
    min_improvement=0.0,
    description="Card-not-present fraud score of a transaction, from the customer's recent activity.",
    owner="fraud-ml",
    tags=("fraud", "classification"),
)
