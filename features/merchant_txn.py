"""Per-merchant trailing-window velocity and ticket-size features.

Grain: one row per (merchant_id, event_time) of the ``transactions`` source. Time semantics:
each value aggregates the merchant's transactions in the window (t - w, t], including the one
at t and nothing after it; transactions sharing a timestamp share a row. A burst of volume or a
jump in ticket size at a merchant is a classic compromise signal that per-customer windows miss.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import polars as pl

from featurelake.core.featureset import Feature, FeatureSet
from features.sources import TRANSACTIONS

TIME = "event_time"


def merchant_txn_count_1h() -> pl.Expr:
    """Number of the merchant's transactions in the trailing hour."""
    return pl.col("amount").is_not_null().cast(pl.Int64).rolling_sum_by(TIME, "1h")


def merchant_txn_count_24h() -> pl.Expr:
    """Number of the merchant's transactions in the trailing 24 hours."""
    return pl.col("amount").is_not_null().cast(pl.Int64).rolling_sum_by(TIME, "24h")


def merchant_amount_sum_24h() -> pl.Expr:
    """Sum of the merchant's transaction amounts in the trailing 24 hours."""
    return pl.col("amount").rolling_sum_by(TIME, "24h")


def merchant_amount_mean_7d() -> pl.Expr:
    """Mean of the merchant's transaction amounts in the trailing 7 days."""
    return pl.col("amount").rolling_mean_by(TIME, "7d")


def merchant_amount_max_7d() -> pl.Expr:
    """Largest of the merchant's transaction amounts in the trailing 7 days."""
    return pl.col("amount").rolling_max_by(TIME, "7d")


def _count(function: Callable[[], pl.Expr], window: str) -> Feature:
    return Feature.from_function(
        function,
        pl.Int64(),
        f"merchant's transactions in the trailing {window}",
        min_value=1,
        tags=("merchant", "velocity"),
    )


def _amount(function: Callable[[], pl.Expr], statistic: str, window: str) -> Feature:
    return Feature.from_function(
        function,
        pl.Float64(),
        f"{statistic} of the merchant's amounts in the trailing {window}",
        min_value=0,
        tags=("merchant", "spend"),
    )


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
    max_staleness=timedelta(hours=24),  # a daily feed: a day without a publish means something upstream stopped
    tags=("fraud",),
    features=(
        _count(merchant_txn_count_1h, "1h"),
        _count(merchant_txn_count_24h, "24h"),
        _amount(merchant_amount_sum_24h, "sum", "24h"),
        _amount(merchant_amount_mean_7d, "mean", "7d"),
        _amount(merchant_amount_max_7d, "max", "7d"),
    ),
)
