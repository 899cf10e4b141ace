"""A second model, unlike the fraud one, to prove that retrain reads everything from the spec.

Other labels (``merchant_disputes``: one row per dispute a merchant's customer opened, spined at
``opened_at``; the label is ``escalated``), other features (a few columns of ``merchant_txn:v1``,
not a whole set, and no customer features at all), another trainer (a logistic regression named
by import path) and another promotion rule (average precision, needing a gain over 0.01).
"""

from __future__ import annotations

import polars as pl

from featurelake.core.contracts import SourceContract
from featurelake.core.modelspec import ModelSpec
from features.merchant_txn import MERCHANT_TXN

UTC_TIMESTAMP = pl.Datetime("us", "UTC")

MERCHANT_DISPUTES = SourceContract(
    name="merchant_disputes",
    columns={
        "dispute_id": pl.String(),
        "merchant_id": pl.String(),
        "opened_at": UTC_TIMESTAMP,
        "escalated": pl.Boolean(),
    },
    required=("dispute_id", "merchant_id", "opened_at", "escalated"),
    primary_key=("dispute_id",),
    event_time="opened_at",
)

DISPUTE_MODEL = ModelSpec(
    name="featurelake-disputes",
    labels=MERCHANT_DISPUTES,
    label="escalated",
    spine_time="opened_at",
    features=(
        "merchant_txn:v1:merchant_txn_count_1h",
        "merchant_txn:v1:merchant_amount_sum_24h",
        "merchant_txn:v1:merchant_amount_max_7d",
    ),
    trainer="tests.trainers:logistic",
    promotion_metric="holdout_average_precision",
    min_improvement=0.01,
    description="Whether a merchant's dispute escalates, from the merchant's recent volume and spend.",
    owner="merchant-risk",
)

__all__ = ["DISPUTE_MODEL", "MERCHANT_DISPUTES", "MERCHANT_TXN"]
