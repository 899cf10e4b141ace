"""Per-customer trailing-window spend features.

Grain: one row per (customer_id, event_time) of the ``transactions`` source. Time semantics:
each value aggregates the customer's transactions in the window (t - w, t], so it includes the
transaction at t itself and nothing after it; transactions sharing a timestamp share a row.
Windows: 1 hour, 24 hours, 7 days. Amounts are in the transaction currency's minor-unit-free
decimal value, as produced upstream.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import polars as pl

from featurelake.core.featureset import Feature, FeatureSet
from features.sources import TRANSACTIONS

TIME = "event_time"


def _window_count(window: str) -> pl.Expr:
    return pl.col("amount").is_not_null().cast(pl.Int64).rolling_sum_by(TIME, window)


def amount_count_1h() -> pl.Expr:
    """Number of the customer's transactions in the trailing hour, this one included."""
    return _window_count("1h")


def amount_sum_1h() -> pl.Expr:
    """Sum of the customer's transaction amounts in the trailing hour, this one included."""
    return pl.col("amount").rolling_sum_by(TIME, "1h")


def amount_mean_1h() -> pl.Expr:
    """Mean of the customer's transaction amounts in the trailing hour, this one included."""
    return pl.col("amount").rolling_mean_by(TIME, "1h")


def amount_max_1h() -> pl.Expr:
    """Largest of the customer's transaction amounts in the trailing hour, this one included."""
    return pl.col("amount").rolling_max_by(TIME, "1h")


def amount_count_24h() -> pl.Expr:
    """Number of the customer's transactions in the trailing 24 hours, this one included."""
    return _window_count("24h")


def amount_sum_24h() -> pl.Expr:
    """Sum of the customer's transaction amounts in the trailing 24 hours, this one included."""
    return pl.col("amount").rolling_sum_by(TIME, "24h")


def amount_mean_24h() -> pl.Expr:
    """Mean of the customer's transaction amounts in the trailing 24 hours, this one included."""
    return pl.col("amount").rolling_mean_by(TIME, "24h")


def amount_max_24h() -> pl.Expr:
    """Largest of the customer's transaction amounts in the trailing 24 hours, this one included."""
    return pl.col("amount").rolling_max_by(TIME, "24h")


def amount_count_7d() -> pl.Expr:
    """Number of the customer's transactions in the trailing 7 days, this one included."""
    return _window_count("7d")


def amount_sum_7d() -> pl.Expr:
    """Sum of the customer's transaction amounts in the trailing 7 days, this one included."""
    return pl.col("amount").rolling_sum_by(TIME, "7d")


def amount_mean_7d() -> pl.Expr:
    """Mean of the customer's transaction amounts in the trailing 7 days, this one included."""
    return pl.col("amount").rolling_mean_by(TIME, "7d")


def amount_max_7d() -> pl.Expr:
    """Largest of the customer's transaction amounts in the trailing 7 days, this one included."""
    return pl.col("amount").rolling_max_by(TIME, "7d")


def _count(function: Callable[[], pl.Expr], window: str) -> Feature:
    return Feature.from_function(
        function,
        pl.Int64(),
        f"number of the customer's transactions in the trailing {window}",
        min_value=1,
        tags=("customer", "velocity"),
    )


def _amount(function: Callable[[], pl.Expr], statistic: str, window: str) -> Feature:
    return Feature.from_function(
        function,
        pl.Float64(),
        f"{statistic} of the customer's transaction amounts in the trailing {window}",
        min_value=0,
        tags=("customer", "spend"),
    )


CUSTOMER_TXN = FeatureSet(
    name="customer_txn",
    version=1,
    entity_keys=("customer_id",),
    event_time=TIME,
    source=TRANSACTIONS,
    description="Trailing 1h/24h/7d count, sum, mean and max of each customer's spend.",
    owner="fraud-ml",
    ttl=timedelta(days=7),
    lookback=timedelta(days=7),
    max_staleness=timedelta(hours=24),  # a daily feed: a day without a publish means something upstream stopped
    tags=("fraud",),
    features=(
        _count(amount_count_1h, "1h"),
        _amount(amount_sum_1h, "sum", "1h"),
        _amount(amount_mean_1h, "mean", "1h"),
        _amount(amount_max_1h, "max", "1h"),
        _count(amount_count_24h, "24h"),
        _amount(amount_sum_24h, "sum", "24h"),
        _amount(amount_mean_24h, "mean", "24h"),
        _amount(amount_max_24h, "max", "24h"),
        _count(amount_count_7d, "7d"),
        _amount(amount_sum_7d, "sum", "7d"),
        _amount(amount_mean_7d, "mean", "7d"),
        _amount(amount_max_7d, "max", "7d"),
    ),
)
