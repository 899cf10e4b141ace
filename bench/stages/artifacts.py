"""Inputs the stages share, derived once from the generated transactions and kept beside them.

* ``features``: ``features.parquet``, the customer_txn feature rows as featurelake computes
  them from bronze (the input of validation and publish, the feature rows Feast reads);
* ``feature_table``: those rows published with ``write_feature_table`` (the training-set input);
* ``spines``: ``spine.parquet`` (one row per 10 transactions: 1M at 10M) and
  ``spine-small.parquet`` (its first 100k rows, the size Feast is compared at);
* ``shape_spines``, ``stations``, ``stations_hourly``: the training-set shapes' inputs
  (``shapes_data.py``).

Each is produced in a child process (the parent imports nothing heavy) and recorded in
``artifacts.json`` with its sizes and a fingerprint of the code it came from, so it is rebuilt
when that code changes and reused otherwise.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import shapes_data
from harness import ROOT

from stages.base import Context

KEY, TIME, SPINE_TIME, ROW_ID = "customer_id", "event_time", "ts", "row_id"
SOURCE_COLUMNS = [KEY, TIME, "amount"]
BRONZE = "bronze/transactions"
FEATURE_TABLE = "features/customer_txn/v1"  # featurelake.core.naming.feature_table_path("customer_txn", 1)
SPINE_PER_TRANSACTIONS = 10
SMALL_SPINE = 100_000  # Feast passed 8 GB RSS at a 1M spine here; it is compared at this size
UNKNOWN_SHARE = 0.02  # spine rows of customers the feature table never saw
SPINE_SEED = 20_240_602


@dataclass(frozen=True)
class Artifact:
    """How to make one shared input: its producer, what it needs first, the code it depends on."""

    name: str
    produce: Callable[[Context], dict[str, Any]]
    requires: tuple[str, ...]
    code: tuple[str, ...]  # repository files or directories (their .py files) the artifact depends on
    parameters: Callable[[], str] | None = None  # settings the artifact depends on (e.g. the shapes' scale)

    def fingerprint(self) -> str:
        """A hash of the code the artifact comes from (and its parameters): any change there makes it again."""
        digest = hashlib.sha256()
        if self.parameters is not None:
            digest.update(self.parameters().encode() + b"\0")
        for entry in self.code:
            path = ROOT / entry
            for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
                digest.update(str(file.relative_to(ROOT)).encode() + b"\0" + file.read_bytes())
        return digest.hexdigest()[:16]


def source_frame(ctx: Context) -> Any:
    """The build input every engine gets: the bronze columns customer_txn reads, as a pyarrow table."""
    from deltalake import DeltaTable

    return DeltaTable(str(ctx.lake / BRONZE)).to_pyarrow_table(columns=SOURCE_COLUMNS)


def produce_features(ctx: Context) -> dict[str, Any]:
    """Compute customer_txn with featurelake from the bronze columns it reads, once."""
    import polars as pl

    from featurelake.core.featureset import compute_features
    from features.customer_txn import CUSTOMER_TXN

    source = pl.DataFrame(pl.from_arrow(source_frame(ctx)))
    features = compute_features(CUSTOMER_TXN, source)
    features.write_parquet(ctx.data_dir / "features.parquet")
    return {
        "build_input_rows": source.height,
        "build_input_bytes": source.estimated_size(),
        "features_rows": features.height,
        "features_columns": features.width,
        "features_bytes": features.estimated_size(),
    }


def produce_feature_table(ctx: Context) -> dict[str, Any]:
    """Publish the feature rows as a build would (its layout, its publish commit), in a fresh directory."""
    import polars as pl

    from featurelake.core.commits import publish_metadata
    from featurelake.io.delta.feature_tables import write_feature_table
    from features.customer_txn import CUSTOMER_TXN

    shutil.rmtree(ctx.lake / FEATURE_TABLE, ignore_errors=True)
    features = pl.read_parquet(ctx.data_dir / "features.parquet")
    metadata = publish_metadata(CUSTOMER_TXN.ref, 0, {"featurelake.actor": "bench"}, rows=features.height)
    version = write_feature_table(store(ctx), CUSTOMER_TXN, features, metadata=metadata)
    files = list((ctx.lake / FEATURE_TABLE).rglob("*.parquet"))
    return {"delta_version": version, "files": len(files), "bytes": sum(p.stat().st_size for p in files)}


def store(ctx: Context, lake: Path | None = None) -> Any:
    """A featurelake DeltaStore over a local directory lake (the data directory's by default)."""
    from featurelake.io.delta.store import DeltaStore
    from featurelake.settings import Settings

    return DeltaStore(Settings(lake_uri=str(lake or ctx.lake)))


def spine_rows(transactions: int) -> int:
    """One spine row per 10 transactions (1M at 10M), never fewer than the small spine."""
    return max(transactions // SPINE_PER_TRANSACTIONS, min(SMALL_SPINE, transactions))


def produce_spines(ctx: Context) -> dict[str, Any]:
    """Labelled spines in random order: known customers at uniform times, plus 2 % unknown ones.

    (customer, time) is unique so that no engine can attach features to a duplicate twice; the
    small spine is the first rows of the large one.
    """
    import numpy as np
    import polars as pl

    source = pl.DataFrame(pl.from_arrow(source_frame(ctx)))
    customers = source[KEY].unique().sort()
    start, end = source[TIME].min(), source[TIME].max()
    rows = spine_rows(source.height)
    rng = np.random.default_rng(SPINE_SEED)
    drawn = rows + rows // 100 + 10
    unknown = rng.random(drawn) < UNKNOWN_SHARE
    known = customers.gather(rng.integers(0, customers.len(), drawn))
    strangers = pl.Series([f"u{i:07d}" for i in rng.integers(0, 10**7, drawn)])
    start_us, end_us = (int(t.timestamp() * 1_000_000) for t in (start, end))
    spine = (
        pl.DataFrame(
            {
                KEY: pl.select(pl.when(pl.Series(unknown)).then(strangers).otherwise(known)).to_series(),
                SPINE_TIME: pl.Series(rng.integers(start_us, end_us + 1, drawn)).cast(pl.Datetime("us", "UTC")),
                "label": rng.integers(0, 2, drawn, dtype=np.int8),
            }
        )
        .unique([KEY, SPINE_TIME], keep="first", maintain_order=True)
        .head(rows)
        .with_row_index(ROW_ID)
        .with_columns(pl.col(ROW_ID).cast(pl.Int64))
    )
    small = spine.head(SMALL_SPINE)
    spine.write_parquet(ctx.data_dir / "spine.parquet")
    small.write_parquet(ctx.data_dir / "spine-small.parquet")
    return {
        "spine_rows": spine.height,
        "spine_bytes": spine.estimated_size(),
        "spine_unknown_customers": int(spine[KEY].str.starts_with("u").sum()),
        "small_spine_rows": small.height,
        "small_spine_bytes": small.estimated_size(),
    }


ARTIFACTS: dict[str, Artifact] = {
    a.name: a
    for a in (
        Artifact(
            "features",
            produce_features,
            (),
            ("src/featurelake/core", "features/customer_txn.py", "features/sources.py"),
        ),
        Artifact("feature_table", produce_feature_table, ("features",), ("src/featurelake/io",)),
        Artifact("spines", produce_spines, (), ()),
        Artifact("shape_spines", shapes_data.produce_shape_spines, ("spines",), ()),
        Artifact(
            "stations",
            shapes_data.produce_stations,
            (),
            ("bench/shapes_data.py", "src/featurelake/io", "src/featurelake/core"),
            lambda: f"scale={shapes_data.scale()}",
        ),
        Artifact(
            "stations_hourly",
            shapes_data.produce_stations_hourly,
            (),
            ("bench/shapes_data.py",),
            lambda: f"scale={shapes_data.scale()}",
        ),
    )
}


def needed(names: list[str]) -> list[str]:
    """``names`` and everything they require, each after its requirements."""
    ordered: list[str] = []

    def visit(name: str) -> None:
        for requirement in ARTIFACTS[name].requires:
            visit(requirement)
        if name not in ordered:
            ordered.append(name)

    for name in names:
        visit(name)
    return ordered


def is_current(ctx: Context, name: str) -> bool:
    """Whether the artifact exists and came from the code (and the requirements) now in the tree."""
    saved = ctx.artifacts().get(name)
    artifact = ARTIFACTS[name]
    fingerprint = artifact.fingerprint()
    return (
        bool(saved) and saved.get("fingerprint") == fingerprint and all(is_current(ctx, r) for r in artifact.requires)
    )


def produce(ctx: Context, name: str) -> None:
    """Make one artifact (in a child) and record it; a rebuilt artifact invalidates its dependants."""
    info = ARTIFACTS[name].produce(ctx)
    recorded = ctx.artifacts()
    for other in ARTIFACTS.values():
        if name in other.requires:
            recorded.pop(other.name, None)
    recorded[name] = {**info, "fingerprint": ARTIFACTS[name].fingerprint()}
    (ctx.data_dir / "artifacts.json").write_text(json.dumps(recorded, indent=2) + "\n")
