"""The edit a user makes in these scenarios: the 24-hour sum becomes a 12-hour sum."""

from __future__ import annotations

import dataclasses

import polars as pl

from featurelake.core.featureset import FeatureSet
from features import customer_txn


def half_day_sum(spec: FeatureSet) -> FeatureSet:
    """``spec`` with ``amount_sum_24h`` computed over 12 hours instead of 24 (same name, same dtype)."""
    expr = pl.col("amount").rolling_sum_by(customer_txn.TIME, "12h").alias("amount_sum_24h")
    features = tuple(dataclasses.replace(f, expr=expr) if f.name == "amount_sum_24h" else f for f in spec.features)
    return dataclasses.replace(spec, features=features)
