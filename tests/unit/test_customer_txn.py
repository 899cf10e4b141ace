"""Hand-computed checks of the customer_txn trailing-window features.

Window semantic: the value at time t aggregates the customer's transactions in (t - w, t]:
the transaction at t itself is included, one exactly w earlier is excluded.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from featurelake.core.featureset import compute_features
from features.customer_txn import CUSTOMER_TXN

T0 = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

# (txn_id, customer_id, amount, event_time)
TRANSACTIONS = [
    ("a1", "A", 10.0, T0),
    ("a2", "A", 20.0, T0 + 30 * MIN),
    ("a3", "A", 5.0, T0 + 2 * HOUR),
    ("a4", "A", 7.0, T0 + 2 * HOUR),  # tie with a3: one output row covering both
    ("a5", "A", 40.0, T0 + DAY + HOUR),
    ("a6", "A", 1.0, T0 + 8 * DAY),
    ("b1", "B", 100.0, T0 + 30 * MIN),
    ("b2", "B", 50.0, T0 + 90 * MIN),  # exactly 1h after b1: b1 leaves the 1h window
    ("b3", "B", 3.0, T0 + 7 * DAY + 30 * MIN),  # exactly 7d after b1: b1 leaves the 7d window
]

# Per output row: (count, sum, mean, max) for 1h, 24h and 7d, computed by hand.
EXPECTED: dict[tuple[str, datetime], tuple[tuple[float, ...], ...]] = {
    # A@T0: only a1 in every window.
    ("A", T0): ((1, 10.0, 10.0, 10.0), (1, 10.0, 10.0, 10.0), (1, 10.0, 10.0, 10.0)),
    # A@T0+30m: a1, a2 in every window.
    ("A", T0 + 30 * MIN): (
        (2, 30.0, 15.0, 20.0),
        (2, 30.0, 15.0, 20.0),
        (2, 30.0, 15.0, 20.0),
    ),
    # A@T0+2h: 1h window (T0+1h, T0+2h] holds only the tie a3, a4; 24h/7d hold a1..a4.
    ("A", T0 + 2 * HOUR): (
        (2, 12.0, 6.0, 7.0),
        (4, 42.0, 10.5, 20.0),
        (4, 42.0, 10.5, 20.0),
    ),
    # A@T0+1d+1h: 1h holds a5; 24h (T0+1h, T0+1d+1h] holds a3, a4, a5; 7d holds a1..a5.
    ("A", T0 + DAY + HOUR): (
        (1, 40.0, 40.0, 40.0),
        (3, 52.0, 52.0 / 3, 40.0),
        (5, 82.0, 16.4, 40.0),
    ),
    # A@T0+8d: 1h/24h hold a6; 7d (T0+1d, T0+8d] holds a5, a6.
    ("A", T0 + 8 * DAY): ((1, 1.0, 1.0, 1.0), (1, 1.0, 1.0, 1.0), (2, 41.0, 20.5, 40.0)),
    # B@T0+30m: only b1; customer A's a2 at the same instant must not leak in.
    ("B", T0 + 30 * MIN): (
        (1, 100.0, 100.0, 100.0),
        (1, 100.0, 100.0, 100.0),
        (1, 100.0, 100.0, 100.0),
    ),
    # B@T0+90m: b1 is exactly 1h earlier, so excluded from 1h; 24h/7d hold b1, b2.
    ("B", T0 + 90 * MIN): (
        (1, 50.0, 50.0, 50.0),
        (2, 150.0, 75.0, 100.0),
        (2, 150.0, 75.0, 100.0),
    ),
    # B@T0+7d+30m: 1h/24h hold b3; 7d excludes b1 (exactly 7d earlier) and holds b2, b3.
    ("B", T0 + 7 * DAY + 30 * MIN): (
        (1, 3.0, 3.0, 3.0),
        (1, 3.0, 3.0, 3.0),
        (2, 53.0, 26.5, 50.0),
    ),
}
WINDOWS = ("1h", "24h", "7d")
STATS = ("count", "sum", "mean", "max")


def _frame(rows: list[tuple[str, str, float, datetime]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "txn_id": [r[0] for r in rows],
            "customer_id": [r[1] for r in rows],
            "merchant_id": [f"m-{r[0]}" for r in rows],
            "amount": [r[2] for r in rows],
            "currency": ["EUR"] * len(rows),
            "country": ["FR"] * len(rows),
            "event_time": [r[3] for r in rows],
        },
        schema={
            "txn_id": pl.String,
            "customer_id": pl.String,
            "merchant_id": pl.String,
            "amount": pl.Float64,
            "currency": pl.String,
            "country": pl.String,
            "event_time": pl.Datetime("us", "UTC"),
        },
    )


def _by_key(out: pl.DataFrame) -> dict[tuple[str, datetime], dict[str, object]]:
    return {(r["customer_id"], r["event_time"]): r for r in out.iter_rows(named=True)}


def test_output_has_one_row_per_customer_and_event_time() -> None:
    out = compute_features(CUSTOMER_TXN, _frame(TRANSACTIONS))
    assert out.height == 8  # 9 transactions, one (A, T0+2h) tie
    assert set(_by_key(out)) == set(EXPECTED)
    assert out.select("customer_id", "event_time").is_duplicated().sum() == 0


@pytest.mark.parametrize("key", list(EXPECTED), ids=lambda k: f"{k}")
def test_hand_computed_window_values(key: tuple[str, datetime]) -> None:
    row = _by_key(compute_features(CUSTOMER_TXN, _frame(TRANSACTIONS)))[key]
    for window, expected in zip(WINDOWS, EXPECTED[key], strict=True):
        for stat, value in zip(STATS, expected, strict=True):
            assert row[f"amount_{stat}_{window}"] == pytest.approx(value), (stat, window)


def test_tied_transactions_share_one_row_including_both() -> None:
    ties = [
        ("x1", "C", 5.0, T0),
        ("x2", "C", 9.0, T0),
    ]
    out = compute_features(CUSTOMER_TXN, _frame(ties))
    assert out.height == 1
    row = out.row(0, named=True)
    for window in WINDOWS:
        assert row[f"amount_count_{window}"] == 2
        assert row[f"amount_sum_{window}"] == 14.0
        assert row[f"amount_mean_{window}"] == 7.0
        assert row[f"amount_max_{window}"] == 9.0


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_unsorted_input_gives_same_output(seed: int) -> None:
    expected = compute_features(CUSTOMER_TXN, _frame(TRANSACTIONS))
    shuffled = list(TRANSACTIONS)
    random.Random(seed).shuffle(shuffled)
    out = compute_features(CUSTOMER_TXN, _frame(shuffled))
    assert out.equals(expected)


def test_customers_never_mix() -> None:
    only_b = [r for r in TRANSACTIONS if r[1] == "B"]
    alone = compute_features(CUSTOMER_TXN, _frame(only_b))
    together = compute_features(CUSTOMER_TXN, _frame(TRANSACTIONS))
    assert together.filter(pl.col("customer_id") == "B").equals(alone)
    assert alone["amount_count_7d"].to_list() == [1, 2, 2]


def test_output_dtypes_match_spec() -> None:
    out = compute_features(CUSTOMER_TXN, _frame(TRANSACTIONS))
    assert out.columns[:2] == ["customer_id", "event_time"]
    assert out.schema["event_time"] == pl.Datetime("us", "UTC")
    assert out.columns[2:] == [f.name for f in CUSTOMER_TXN.features]
    assert len(out.columns) == 14
    for window in WINDOWS:
        assert out.schema[f"amount_count_{window}"] == pl.Int64
        for stat in ("sum", "mean", "max"):
            assert out.schema[f"amount_{stat}_{window}"] == pl.Float64


def test_missing_key_column_raises() -> None:
    frame = _frame(TRANSACTIONS).drop("event_time")
    with pytest.raises(ValueError, match="event_time"):
        compute_features(CUSTOMER_TXN, frame)
