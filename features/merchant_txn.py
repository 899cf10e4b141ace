"""Per-merchant trailing-window velocity and ticket-size features.

Grain: one row per (merchant_id, event_time) of the ``transactions`` source. Time semantics:
each value aggregates the merchant's transactions in the window (t - w, t], including the one
at t and nothing after it; transactions sharing a timestamp share a row. A burst of volume or a
jump in ticket size at a merchant is a classic compromise signal that per-customer windows miss.
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from featurelake.core.featureset import Feature, FeatureSet
from features.sources import TRANSACTIONS

TIME = "event_time"


def merchant_txn_count_1h() -> pl.Expr:
    return pl.col("amount").is_not_null().cast(pl.Int64).rolling_sum_by(TIME, "1h")


def merchant_txn_count_24h() -> pl.Expr:
    return pl.col("amount").is_not_null().cast(pl.Int64).rolling_sum_by(TIME, "24h")


def merchant_amount_sum_24h() -> pl.Expr:
    return pl.col("amount").rolling_sum_by(TIME, "24h")


def merchant_amount_mean_7d() -> pl.Expr:
    return pl.col("amount").rolling_mean_by(TIME, "7d")


def merchant_amount_max_7d() -> pl.Expr:
    return pl.col("amount").rolling_max_by(TIME, "7d")


MERCHANT_TXN = FeatureSet(
    name="merchant_txn",
    version=1,
    entity_keys=("merchant_id",),
    event_time=TIME,
    source=TRANSACTIONS,
    description="Trailing 1h/24h transaction counts and 24h/7d spend statistics of each merchant.",
    owner="fraud-ml",
    ttl=timedelta(days=7),
    lookback=timedelta(days=7),
    tags=("fraud",),
    features=(
        Feature.from_function(
            merchant_txn_count_1h,
            pl.Int64(),
            "merchant's transactions in the trailing 1h",
            min_value=1,
            tags=("merchant", "velocity"),
        ),
        Feature.from_function(
            merchant_txn_count_24h,
            pl.Int64(),
            "merchant's transactions in the trailing 24h",
            min_value=1,
            tags=("merchant", "velocity"),
        ),
        Feature.from_function(
            merchant_amount_sum_24h,
            pl.Float64(),
            "sum of the merchant's amounts in the trailing 24h",
            min_value=0,
            tags=("merchant", "spend"),
        ),
        Feature.from_function(
            merchant_amount_mean_7d,
            pl.Float64(),
            "mean of the merchant's amounts in the trailing 7d",
            min_value=0,
            tags=("merchant", "spend"),
        ),
        Feature.from_function(
            merchant_amount_max_7d,
            pl.Float64(),
            "largest of the merchant's amounts in the trailing 7d",
            min_value=0,
            tags=("merchant", "spend"),
        ),
    ),
)
