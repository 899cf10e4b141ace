"""Every data file of a feature table is sorted by entity and time, whatever the frame's chunking.

Point-in-time reads rely on it (they check, then re-sort the whole table when it does not hold).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

from featurelake.core.featureset import compute_features
from featurelake.io.delta.feature_tables import write_feature_table
from featurelake.io.delta.store import DeltaStore
from featurelake.settings import Settings
from features.customer_txn import CUSTOMER_TXN


def test_files_are_sorted_even_when_the_features_come_in_many_chunks(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rows = 300_000  # enough for polars to sort in parallel and return several chunks
    start = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1_000_000)
    source = pl.DataFrame(
        {
            "customer_id": rng.integers(0, 50_000, rows).astype(str),
            "amount": rng.random(rows),
            "event_time": pl.Series(rng.integers(0, 10 * 86_400 * 10**6, rows) + start).cast(pl.Datetime("us", "UTC")),
        }
    )
    features = compute_features(CUSTOMER_TXN, source)
    assert features.n_chunks() > 1, "the case this test is about did not arise"
    store = DeltaStore(Settings(lake_uri=str(tmp_path / "lake")))
    write_feature_table(store, CUSTOMER_TXN, features, metadata={})
    files = sorted((tmp_path / "lake" / CUSTOMER_TXN.table_path).glob("*/*.parquet"))
    assert files
    for path in files:
        written = pl.read_parquet(path)
        assert written.equals(written.sort("customer_id", "event_time")), f"{path.name} is not sorted"
