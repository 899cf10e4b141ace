"""The one-pass trailing windows equal polars' per-entity ``over`` evaluation, and are used only where sound."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from featurelake.core.featureset import Feature, FeatureSet, compute_features
from featurelake.core.rolling import rolling_only
from features.customer_txn import CUSTOMER_TXN

TIME = "event_time"


def _by_entity(spec: FeatureSet, source: pl.DataFrame) -> pl.DataFrame:
    """The reference: every feature evaluated per entity with ``over``, one row per key (the last)."""
    keys = list(spec.entity_keys)
    columns = [f.expr.over(keys).cast(f.dtype).alias(f.name) for f in spec.features]
    ordered = source.sort([*keys, TIME], maintain_order=True)
    return ordered.select(*spec.key_columns, *columns).unique(
        subset=list(spec.key_columns), keep="last", maintain_order=True
    )


def _transactions(seed: int, rows: int, customers: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    start = datetime(2026, 3, 1, tzinfo=UTC)
    seconds = rng.integers(0, 10 * 86_400, rows) // rng.choice([1, 600], rows)  # some timestamps repeat
    amounts = rng.lognormal(3, 1, rows).round(2)
    return pl.DataFrame(
        {
            "txn_id": [f"t{i}" for i in range(rows)],
            "customer_id": rng.integers(0, customers, rows).astype(str).tolist(),
            "amount": pl.Series(amounts).scatter(rng.integers(0, rows, rows // 20), None),
            TIME: [start + timedelta(seconds=int(s)) for s in seconds],
        }
    ).with_columns(pl.col(TIME).dt.cast_time_unit("us"))


@given(seed=st.integers(0, 100_000), rows=st.integers(1, 400), customers=st.integers(1, 30))
@settings(max_examples=60, deadline=None)
def test_one_pass_windows_equal_per_entity_windows(seed: int, rows: int, customers: int) -> None:
    source = _transactions(seed, rows, customers)
    assert all(rolling_only(f.expr, TIME) for f in CUSTOMER_TXN.features), "customer_txn should take the fast path"
    assert_frame_equal(compute_features(CUSTOMER_TXN, source), _by_entity(CUSTOMER_TXN, source), check_exact=False)


def _rank_in_window() -> pl.Expr:
    return pl.col("amount").cum_sum()


def _hour() -> pl.Expr:
    return pl.col(TIME).dt.hour().cast(pl.Int64)


def test_features_that_are_not_pure_trailing_windows_keep_the_per_entity_evaluation() -> None:
    cumulative = Feature.from_function(_rank_in_window, pl.Float64(), "running total", nullable=True)
    hour = Feature.from_function(_hour, pl.Int64(), "hour of the transaction")
    assert not rolling_only(cumulative.expr, TIME)  # across rows, but not a trailing window
    assert not rolling_only(hour.expr, TIME)  # reads the time's value
    assert not rolling_only(pl.col("amount").rolling_sum_by(TIME, "1mo"), TIME)  # calendar months vary in length
    assert not rolling_only(pl.col("amount").rolling_sum_by(TIME, "1h").sum(), TIME)  # an aggregation on top
    mixed = dataclasses.replace(CUSTOMER_TXN, features=(*CUSTOMER_TXN.features[:3], cumulative, hour))
    source = _transactions(3, 500, 12)
    assert_frame_equal(compute_features(mixed, source), _by_entity(mixed, source), check_exact=False)
