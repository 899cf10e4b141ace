"""Training-set shapes: the request's size against the table's, each engine reading the published table itself.

* ``training-a10k`` / ``training-a100k``: small request, big table: 10k / 100k random spine rows
  over the customer_txn table (10M rows, 200k customers at ``--rows 10M``);
* ``training-b-dense``: few string entities, dense spine: 3M time-sorted rows over ~333k hourly
  rows of 40 stations (``station-017``), TTL 3 h;
* ``training-b-s3``: a small hourly table (3 stations x 8,760 h, ~26k rows) read through an S3
  endpoint (a moto server each child starts), 300k spine;
* ``training-c``: the 1M spine over the 10M-row table.

Every engine reads the table featurelake published (its writer, its layout) inside the timed call:
featurelake ``FeatureStore.get_training_set``; DuckDB ``ASOF LEFT JOIN`` over ``read_parquet`` of
the table's file URIs (over S3: a registered ``DeltaTable.to_pyarrow_dataset()``, since DuckDB's
httpfs extension is not installed here); polars ``join_asof`` and pandas ``merge_asof`` on
``DeltaTable.to_pyarrow_table(columns)``; Feast 0.67 over the same rows as one local parquet file
(for the S3 shape too: Feast reads a local copy). Every output must equal featurelake's (rows,
values; featurelake's also in spine order) and a brute-force sample, before the timings count.
"""

from __future__ import annotations

import functools
import json
import warnings
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import shapes_data
from harness import Job

from stages.artifacts import FEATURE_TABLE, KEY, ROW_ID, SPINE_TIME, TIME, store
from stages.base import REFERENCE, Context, Engine, Stage, Target, faster_than
from stages.build import FEATURES
from stages.feast_offline import prepare_feast
from stages.training import differences

REFERENCE_SAMPLE = 2_000
SEED = 20_261_205


@dataclass(frozen=True)
class Shape:
    """One shape: its spine, its table, its feature rows (for Feast and the brute-force check)."""

    stage: str
    title: str
    spine_file: str
    rows_file: str
    table: str
    key: str
    features: tuple[str, ...]
    ttl: timedelta
    set_name: str
    s3: bool = False


def customer_shape(stage: str, title: str, spine_file: str) -> Shape:
    return Shape(
        stage,
        title,
        spine_file,
        "features.parquet",
        FEATURE_TABLE,
        KEY,
        tuple(FEATURES),
        timedelta(days=7),
        "customer_txn",
    )


def station_shape(stage: str, title: str, data: shapes_data.StationShape, s3: bool = False) -> Shape:
    return Shape(
        stage,
        title,
        data.spine_file(Path()).name,
        data.rows_file(Path()).name,
        data.table,
        shapes_data.STATION_KEY,
        shapes_data.STATION_FEATURES,
        shapes_data.STATION_TTL,
        data.name,
        s3,
    )


def spec_of(shape: Shape) -> Any:
    if shape.set_name == "customer_txn":
        from features.customer_txn import CUSTOMER_TXN

        return CUSTOMER_TXN
    return shapes_data.station_spec(shape.set_name)


def open_table(ctx: Context, shape: Shape) -> tuple[Any, str, dict[str, str]]:
    """(featurelake store, table URI, storage options): the local lake, or a fresh moto S3 lake."""
    if shape.s3:
        return shapes_data.s3_lake(ctx.data_dir)
    return store(ctx), str(ctx.lake / shape.table), {}


def read_spine(ctx: Context, shape: Shape) -> Any:
    import pyarrow.dataset  # noqa: F401  (deltalake imports it on first read: start-up, not work)
    import pyarrow.parquet as pq

    return pq.read_table(ctx.data_dir / shape.spine_file)


def delta_arrow(uri: str, options: dict[str, str], shape: Shape) -> Any:
    from deltalake import DeltaTable

    return DeltaTable(uri, storage_options=options or None).to_pyarrow_table(columns=[shape.key, TIME, *shape.features])


def prepare_featurelake(ctx: Context, shape: Shape) -> Job:
    import polars as pl

    from featurelake.retrieve.featurestore import FeatureStore

    lake, _, _ = open_table(ctx, shape)
    spec, spine = spec_of(shape), pl.DataFrame(pl.from_arrow(read_spine(ctx, shape)))
    feature_store = FeatureStore(lake, [spec])
    return Job(lambda: feature_store.get_training_set(spine, [spec.ref], spine_time=SPINE_TIME))


def duckdb_sql(shape: Shape, features: str) -> str:
    """ASOF LEFT JOIN on key and time; features of matches older than the TTL nulled (no tolerance in DuckDB)."""
    ttl_us = int(shape.ttl.total_seconds()) * 1_000_000
    fresh = f"f.{TIME} >= s.{SPINE_TIME} - to_microseconds({ttl_us})"
    values = ",\n  ".join(f"CASE WHEN {fresh} THEN f.{name} END AS {name}" for name in shape.features)
    return (
        f"SELECT s.*,\n  {values}\n"
        f"FROM spine AS s ASOF LEFT JOIN {features} AS f\n"
        f"  ON s.{shape.key} = f.{shape.key} AND s.{SPINE_TIME} >= f.{TIME}"
    )


def prepare_duckdb(ctx: Context, shape: Shape) -> Job:
    import duckdb
    from deltalake import DeltaTable

    _, uri, options = open_table(ctx, shape)
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    connection.register("spine", read_spine(ctx, shape))
    columns = ", ".join([shape.key, TIME, *shape.features])

    def run() -> Any:
        table = DeltaTable(uri, storage_options=options or None)
        if shape.s3:
            connection.register("features", table.to_pyarrow_dataset())
            return connection.sql(duckdb_sql(shape, f"(SELECT {columns} FROM features)")).to_arrow_table()
        files = ", ".join(f"'{u}'" for u in table.file_uris())
        source = f"(SELECT {columns} FROM read_parquet([{files}], hive_partitioning = false))"
        return connection.sql(duckdb_sql(shape, source)).to_arrow_table()

    return Job(run)


def prepare_polars(ctx: Context, shape: Shape) -> Job:
    import polars as pl

    _, uri, options = open_table(ctx, shape)
    warnings.filterwarnings("ignore", message=".*[Ss]ortedness.*")
    spine = pl.DataFrame(pl.from_arrow(read_spine(ctx, shape)))

    def run() -> pl.DataFrame:
        features = pl.DataFrame(pl.from_arrow(delta_arrow(uri, options, shape))).sort(TIME)
        return spine.sort(SPINE_TIME).join_asof(
            features, left_on=SPINE_TIME, right_on=TIME, by=shape.key, strategy="backward", tolerance=shape.ttl
        )

    return Job(run)


def prepare_pandas(ctx: Context, shape: Shape) -> Job:
    import pandas as pd

    _, uri, options = open_table(ctx, shape)
    spine = read_spine(ctx, shape).to_pandas()

    def run() -> pd.DataFrame:
        features = delta_arrow(uri, options, shape).to_pandas().sort_values(TIME)
        return pd.merge_asof(
            spine.sort_values(SPINE_TIME), features, left_on=SPINE_TIME, right_on=TIME, by=shape.key,
            tolerance=pd.Timedelta(shape.ttl), direction="backward",
        )  # fmt: skip

    return Job(run)


def prepare_shape_feast(ctx: Context, shape: Shape) -> Job:
    return prepare_feast(
        ctx, shape.spine_file, rows_file=shape.rows_file, key=shape.key, features=shape.features, ttl=shape.ttl,
        name=shape.set_name,
    )  # fmt: skip


def save(ctx: Context, engine: str, result: Any, *, shape: Shape) -> None:
    """(row_id, features) in the engine's own row order; featurelake's read statistics beside it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if hasattr(result, "manifest"):
        entries = result.manifest.get("feature_sets", [])
        keys = ("files_read", "files_total", "bytes_read", "bytes_total")
        reads = {k: sum(e[k] for e in entries) for k in keys if entries and all(k in e for e in entries)}
        ctx.output(shape.stage, engine, ".reads.json").write_text(json.dumps(reads))
        result = result.frame
    if not isinstance(result, pa.Table):
        result = result.to_arrow() if hasattr(result, "to_arrow") else pa.Table.from_pandas(result)
    pq.write_table(result.select([ROW_ID, *shape.features]), ctx.output(shape.stage, engine))


def brute_force(spine: Any, rows: Any, shape: Shape) -> Any:
    """The definition, naively: the key's latest row in [ts - TTL, ts], else nulls."""
    import polars as pl

    candidates = (
        spine.join(rows, on=shape.key, how="inner")
        .filter(pl.col(TIME) <= pl.col(SPINE_TIME), pl.col(TIME) >= pl.col(SPINE_TIME) - shape.ttl)
        .sort(ROW_ID, TIME)
        .group_by(ROW_ID, maintain_order=True)
        .last()
    )
    return spine.select(ROW_ID).join(candidates.select(ROW_ID, *shape.features), on=ROW_ID, how="left").sort(ROW_ID)


def verify(ctx: Context, engines: list[str], *, shape: Shape) -> dict[str, Any]:
    """featurelake's rows in spine order; every engine equal to it; featurelake equal to brute force on a sample."""
    import numpy as np
    import polars as pl

    spine = pl.read_parquet(ctx.data_dir / shape.spine_file)
    frames = {e: pl.read_parquet(ctx.output(shape.stage, e)) for e in engines}
    first = REFERENCE if REFERENCE in frames else next(iter(frames))
    problems = []
    if first == REFERENCE and not frames[first][ROW_ID].equals(spine[ROW_ID]):
        problems.append("featurelake's rows are not in spine order (or not one per spine row)")
    frames = {e: f.sort(ROW_ID) for e, f in frames.items()}
    expected = spine[ROW_ID].sort()
    for name, frame in frames.items():
        if not frame[ROW_ID].equals(expected):
            problems.append(f"{name}: {frame.height:,} rows, expected one per spine row ({spine.height:,})")
        else:
            problems += differences(frame, frames[first], f"{name} and {first} differ", shape.features)
    rows = pl.read_parquet(ctx.data_dir / shape.rows_file, columns=[shape.key, TIME, *shape.features])
    ids = np.random.default_rng(SEED).choice(
        spine[ROW_ID].to_numpy(), min(REFERENCE_SAMPLE, spine.height), replace=False
    )
    sample = spine.filter(pl.col(ROW_ID).is_in(pl.Series(ids).implode()))
    brute = brute_force(sample, rows, shape)
    problems += differences(
        frames[first].filter(pl.col(ROW_ID).is_in(pl.Series(ids).implode())),
        brute,
        f"{first} and brute force differ",
        shape.features,
    )
    if problems:
        raise SystemExit(f"TRAINING SETS DISAGREE ({shape.stage}):\n  " + "\n  ".join(problems))
    reads_path = ctx.output(shape.stage, REFERENCE, ".reads.json")
    reads = json.loads(reads_path.read_text()) if reads_path.exists() else {}
    return {
        "compared": engines,
        "rows": spine.height,
        "rows_without_features": int(frames[first][shape.features[0]].is_null().sum()),
        "brute_force_sample_rows": len(ids),
        "featurelake_reads": reads,
    }


PREPARE = {
    "featurelake": prepare_featurelake,
    "duckdb": prepare_duckdb,
    "polars": prepare_polars,
    "pandas": prepare_pandas,
}
DESCRIBE = {
    "featurelake": "FeatureStore.get_training_set on the published table",
    "duckdb": "ASOF LEFT JOIN over read_parquet(the table's file URIs), TTL as CASE",
    "polars": "DeltaTable.to_pyarrow_table(columns) + sort + join_asof(by, backward, tolerance=TTL)",
    "pandas": "DeltaTable.to_pyarrow_table(columns) + sort + merge_asof(by, backward, tolerance=TTL)",
}
S3_DUCKDB = "ASOF LEFT JOIN over a registered DeltaTable.to_pyarrow_dataset() (no httpfs here), TTL as CASE"
RSS_VS_DUCKDB = Target(REFERENCE, "rss_vs:duckdb", "<=", 1.0, "peak RSS ≤ DuckDB's")


def shape_stage(
    shape: Shape, requires: tuple[str, ...], input_bytes: Any, targets: tuple[Target, ...], feast_runs: int
) -> Stage:
    saver = functools.partial(save, shape=shape)
    engines = [
        Engine(
            name,
            functools.partial(prepare, shape=shape),
            saver,
            S3_DUCKDB if shape.s3 and name == "duckdb" else DESCRIBE[name],
        )
        for name, prepare in PREPARE.items()
    ]
    feast_text = "get_historical_features(...).to_arrow(), DuckDB offline store, FileSource over the rows as parquet"
    feast_text += " (a local copy: Feast does not read the S3 table)" if shape.s3 else ""
    engines.append(
        Engine(
            "feast",
            functools.partial(prepare_shape_feast, shape=shape),
            saver,
            feast_text,
            env="feast",
            max_runs=feast_runs,
        )
    )
    return Stage(
        name=shape.stage,
        title=shape.title,
        engines=tuple(engines),
        requires=requires,
        input_bytes=input_bytes,
        verify=functools.partial(verify, shape=shape),
        targets=(faster_than("duckdb", 1, "DuckDB ASOF JOIN"), RSS_VS_DUCKDB, *targets),
        notes="input: the feature rows (key, time, features) and the spine",
    )


def _customer_bytes(spine_key: str) -> Any:
    return lambda a: int(a["features"]["features_bytes"] + a[spine_key.split(".")[0]][spine_key.split(".")[1]])


def _station_bytes(name: str) -> Any:
    return lambda a: int(a[name]["rows_bytes"] + a[name]["spine_bytes"])


STAGES = (
    shape_stage(
        customer_shape("training-a10k", "shape a: 10k random spine rows over the customer table", "spine-10k.parquet"),
        ("feature_table", "shape_spines"),
        _customer_bytes("shape_spines.spine_10k_bytes"),
        (faster_than("feast", 2, "Feast"),),
        2,
    ),
    shape_stage(
        customer_shape(
            "training-a100k", "shape a: 100k random spine rows over the customer table", "spine-small.parquet"
        ),
        ("feature_table", "spines"),
        _customer_bytes("spines.small_spine_bytes"),
        (faster_than("feast", 2, "Feast"),),
        2,
    ),
    shape_stage(
        station_shape(
            "training-b-dense",
            "shape b: dense time-sorted spine over 40 string entities, TTL 3 h",
            shapes_data.dense_shape(),
        ),
        ("stations",),
        _station_bytes("stations"),
        (),
        1,
    ),
    shape_stage(
        station_shape(
            "training-b-s3",
            "shape b-s3: small hourly table (3 stations, a year) through S3 (moto)",
            shapes_data.hourly_shape(),
            s3=True,
        ),
        ("stations_hourly",),
        _station_bytes("stations_hourly"),
        (),
        2,
    ),
    shape_stage(
        customer_shape("training-c", "shape c: the 1M spine over the customer table", "spine.parquet"),
        ("feature_table", "spines"),
        _customer_bytes("spines.spine_bytes"),
        (),
        1,
    ),
)
