"""Tie rule v1: which of source rows sharing entity keys and event time a build keeps, whatever runs it.

The same input must publish the same values whatever the thread count, the day chunks of an
incremental build or backfill, or the order the source rows were read in.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from featurelake.build.source import read_chunk_source
from featurelake.core.featureset import Feature, FeatureSet, compute_features
from featurelake.core.increments import DayChunk, features_for_days
from featurelake.core.naming import bronze_path
from featurelake.core.ties import BRONZE_ORDER, TIE_RULE, sort_with_ties, tie_order
from featurelake.ingest.bronze import INGESTED_AT, SOURCE_KEY
from featurelake.io.delta.store import DeltaStore
from featurelake.settings import Settings
from features.sources import TRANSACTIONS

TIME = "event_time"
UTC_US = pl.Datetime("us", "UTC")
START = datetime(2026, 3, 1, tzinfo=UTC)

TIES = FeatureSet(
    name="ties",
    version=1,
    entity_keys=("customer_id",),
    event_time=TIME,
    source=TRANSACTIONS,
    features=(
        Feature("amount_now", pl.col("amount"), pl.Float64(), "pass-through: the winner's amount"),
        Feature("merchant_now", pl.col("merchant_id"), pl.String(), "pass-through of a string column"),
        Feature("amount_sum_1d", pl.col("amount").rolling_sum_by(TIME, "1d"), pl.Float64(), "one-pass window"),
        Feature(
            "amount_sum_1d_by_hour",  # reads the time column outside a window: the per-entity path
            pl.col("amount").rolling_sum_by(TIME, "1d") + pl.col(TIME).dt.hour().cast(pl.Float64),
            pl.Float64(),
            "per-entity window",
        ),
    ),
    description="tie-rule tests",
    owner="tests",
    lookback=timedelta(days=1),
)


def tied_source(rows: int, seed: int, *, bronze: bool = True, exact: bool = False) -> pl.DataFrame:
    """Source rows of which most share (customer, time) with others, under different values."""
    rng = np.random.default_rng(seed)
    distinct = max(1, rows // 3)
    customers = rng.integers(0, max(1, distinct // 4), distinct)
    minutes = rng.integers(0, 6 * 24 * 60, distinct)
    pick = rng.integers(0, distinct, rows)
    amounts = rng.integers(0, 400, rows) / 4 if exact else rng.random(rows) * 1000
    frame = pl.DataFrame(
        {
            "customer_id": [f"C{c:05d}" for c in customers[pick]],
            TIME: pl.Series([START + timedelta(minutes=int(m)) for m in minutes[pick]], dtype=UTC_US),
            "amount": amounts,
            "merchant_id": [f"M{m}" for m in rng.integers(0, 5, rows)],
        }
    )
    if not bronze:
        return frame
    return frame.with_columns(
        pl.Series(INGESTED_AT, [START + timedelta(days=int(d)) for d in rng.integers(0, 3, rows)], dtype=UTC_US),
        pl.Series(SOURCE_KEY, [f"raw/transactions/part-{k}.jsonl" for k in rng.integers(0, 4, rows)]),
    )


def test_the_bronze_columns_are_the_ones_ingestion_writes() -> None:
    assert BRONZE_ORDER == (INGESTED_AT, SOURCE_KEY)
    assert TIE_RULE == "tie-rule/v1"


def test_the_winner_is_the_greatest_by_ingest_time_object_tiebreak_then_read_columns() -> None:
    at = START
    rows = pl.DataFrame(
        {
            "customer_id": ["A"] * 4 + ["B"] * 3,
            TIME: pl.Series([at] * 7, dtype=UTC_US),
            "amount": [9.0, 1.0, 2.0, 3.0, 5.0, 7.0, None],
            "merchant_id": ["m9", "m1", "m2", "m3", "z", "a", "a"],
            INGESTED_AT: pl.Series([at, at + timedelta(1), at + timedelta(1), at] + [at] * 3, dtype=UTC_US),
            SOURCE_KEY: ["k9", "k1", "k2", "k9", "k", "k", "k"],
        }
    )
    out = compute_features(TIES, rows)
    # A: latest ingest (rows 2 and 3), then the greater object key: row 3. B: all bronze equal, then
    # the read columns in name order: amount (nulls least) decides before merchant_id.
    assert out.select("customer_id", "amount_now", "merchant_now").rows() == [("A", 2.0, "m2"), ("B", 7.0, "a")]
    declared = dataclasses.replace(TIES, tiebreak=("merchant_id",))
    out = compute_features(declared, rows.filter(pl.col("customer_id") == "B"))
    assert out.select("amount_now", "merchant_now").row(0) == (5.0, "z")  # declared merchant_id before amount


def test_sources_without_bronze_columns_fall_back_to_the_read_columns() -> None:
    assert tie_order(TIES.key_columns, TIES.source_columns(), (), ["customer_id", TIME, "amount"]) == [
        "amount",
        "merchant_id",
    ]
    assert tie_order(TIES.key_columns, TIES.source_columns(), ("merchant_id",), [*BRONZE_ORDER]) == [
        *BRONZE_ORDER,
        "merchant_id",
        "amount",
    ]
    out = compute_features(TIES, tied_source(300, seed=1, bronze=False))
    assert out.columns == ["customer_id", TIME, *TIES.feature_names]  # unread columns never leak out
    assert out.select(pl.struct("customer_id", TIME).is_unique().all()).item()


def test_rows_without_ties_keep_the_fast_sort_and_tied_rows_are_reordered_in_place() -> None:
    source = tied_source(500, seed=2)
    order = tie_order(TIES.key_columns, TIES.source_columns(), (), source.columns)
    ordered = sort_with_ties(source, ["customer_id", TIME], order)
    assert_frame_equal(ordered, source.sort(["customer_id", TIME, *order], nulls_last=False))
    untied = source.unique(["customer_id", TIME])
    assert sort_with_ties(untied, ["customer_id", TIME], order).height == untied.height


_CHILD = (
    "import sys, polars as pl; from tests.unit.test_ties import TIES; "
    "from featurelake.core.featureset import compute_features; "
    "compute_features(TIES, pl.read_parquet(sys.argv[1])).write_parquet(sys.argv[2])"
)


@pytest.mark.parametrize("bronze", [True, False], ids=["bronze-columns", "no-bronze-columns"])
def test_same_values_whatever_thread_count(tmp_path: Path, bronze: bool) -> None:
    """Every (customer, minute) has ~3 rows with different amounts: the issue's 1-vs-2-thread case."""
    source = tied_source(150_000, seed=3, bronze=bronze)
    source.write_parquet(tmp_path / "in.parquet")
    root = Path(__file__).resolve().parents[2]
    outputs = []
    for threads in ("1", "2"):
        out = tmp_path / f"out-{threads}.parquet"
        subprocess.run(
            [sys.executable, "-c", _CHILD, str(tmp_path / "in.parquet"), str(out)],
            env={**os.environ, "POLARS_MAX_THREADS": threads, "PYTHONPATH": str(root)},
            cwd=root,
            check=True,
        )
        outputs.append(pl.read_parquet(out))
    assert_frame_equal(outputs[0], outputs[1])
    assert_frame_equal(outputs[0], compute_features(TIES, source))


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    rows=st.integers(1, 400),
    cuts=st.sets(st.integers(1, 5), max_size=5),
    bronze=st.booleans(),
)
def test_same_values_whatever_chunking(seed: int, rows: int, cuts: set[int], bronze: bool) -> None:
    """Day chunks with their lookback (as incremental builds and backfills compute them) equal one pass.

    Amounts are quarters, so sums are exact whatever day a window's running sum starts on.
    """
    source = tied_source(rows, seed, bronze=bronze, exact=True)
    first, last = date(2026, 3, 1), date(2026, 3, 6)
    whole, _ = features_for_days(TIES, source, first, last)
    bounds = [first, *(first + timedelta(days=c) for c in sorted(cuts)), last + timedelta(days=1)]
    chunks = [
        features_for_days(TIES, source, start, end - timedelta(days=1))[0] for start, end in itertools.pairwise(bounds)
    ]
    assert_frame_equal(pl.concat(chunks).sort("customer_id", TIME), whole)  # chunks are days, not entities


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), rows=st.integers(1, 400), shuffle=st.integers(0, 2**16))
def test_shuffling_the_source_changes_nothing(seed: int, rows: int, shuffle: int) -> None:
    """The rule is carried by the data: any order of the same rows publishes the same values, to the last bit."""
    source = tied_source(rows, seed)
    shuffled = source.sample(fraction=1.0, shuffle=True, seed=shuffle)
    assert_frame_equal(compute_features(TIES, shuffled), compute_features(TIES, source))


def test_a_tiebreak_must_name_distinct_source_columns_that_are_not_keys() -> None:
    with pytest.raises(ValueError, match=r"tiebreak column\(s\) \['nope'\] are not columns of source"):
        dataclasses.replace(TIES, tiebreak=("nope",))
    with pytest.raises(ValueError, match=r"tiebreak column\(s\) \['customer_id'\] are key columns"):
        dataclasses.replace(TIES, tiebreak=("customer_id",))
    with pytest.raises(ValueError, match=r"tiebreak must be a tuple of distinct column names"):
        dataclasses.replace(TIES, tiebreak=("amount", "amount"))
    with pytest.raises(ValueError, match=r"already come first"):
        dataclasses.replace(TIES, tiebreak=(INGESTED_AT,))
    assert "txn_id" in dataclasses.replace(TIES, tiebreak=("txn_id",)).source_columns()


def _bronze_rows(amount: float, ingested: datetime, key: str, *, bookkeeping: bool = True) -> pl.DataFrame:
    row = pl.DataFrame(
        {
            "customer_id": ["A"],
            TIME: pl.Series([START + timedelta(hours=5)], dtype=UTC_US),
            "amount": [amount],
            "merchant_id": ["m"],
            "currency": ["EUR"],  # not read by the feature set: not read by the build either
        }
    )
    if not bookkeeping:
        return row
    return row.with_columns(pl.lit(ingested).cast(UTC_US).alias(INGESTED_AT), pl.lit(key).alias(SOURCE_KEY))


@pytest.mark.parametrize("bookkeeping", [True, False], ids=["bronze", "table-without-bronze-columns"])
def test_a_chunk_build_reads_the_bronze_columns_the_rule_needs(tmp_path: Path, bookkeeping: bool) -> None:
    """Builds read ``_ingested_at`` and ``_source_key`` from bronze: the later ingest wins, not the larger amount."""
    store = DeltaStore(Settings(lake_uri=str(tmp_path / "lake")))
    path = bronze_path(TRANSACTIONS.name)
    store.write(
        path, _bronze_rows(1.0, START + timedelta(days=2), "z", bookkeeping=bookkeeping), mode="append", metadata={}
    )
    version = store.write(
        path, _bronze_rows(0.5, START + timedelta(days=3), "a", bookkeeping=bookkeeping), mode="append", metadata={}
    )
    chunk = DayChunk(START.date(), START.date())

    source = read_chunk_source(store, TIES, version, chunk)

    expected = {*TIES.source_columns(), *(BRONZE_ORDER if bookkeeping else ())}
    assert set(source.columns) == expected
    features, _ = features_for_days(TIES, source, chunk.start, chunk.end)
    assert features["amount_now"].to_list() == ([0.5] if bookkeeping else [1.0])  # fallback: the greater amount
    assert features["amount_sum_1d"].to_list() == [1.5]
