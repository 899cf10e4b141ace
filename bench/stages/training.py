"""Training set: point-in-time join of a labelled spine with the published customer_txn table.

For every spine row (customer, ``ts``): the feature row of that customer with the latest event
time t such that ``ts - 7 days <= t <= ts``, else nulls (``featurelake.core.pointintime``).
Three stages, one per comparison:

* ``training-join`` (large spine, inputs already in memory): featurelake ``join_as_of`` on the
  frame its reader returns; polars ``join_asof`` (both sides sorted, ``by``, ``tolerance``);
  pandas ``merge_asof``; DuckDB ``ASOF LEFT JOIN`` over Arrow, features nulled past the TTL;
* ``training-e2e`` (large spine, read the Delta table + join): ``FeatureStore.get_training_set``
  against ``DeltaTable.to_pyarrow_table()`` + the same joins;
* ``training-feast`` (100k spine, read + join): featurelake and DuckDB as above against Feast's
  offline ``get_historical_features`` (DuckDB offline store, a ``FileSource`` over the same
  feature rows as one parquet file), run in Feast's own environment (``bench/feast``).

Every output is (row_id, 12 features) and must equal every other exactly (the values are
copies of stored floats, never recomputed; null equals null, pandas' NaN counts as null), and a
sample of spine rows must equal a brute-force evaluation of the definition.
"""

from __future__ import annotations

import functools
import warnings
from datetime import timedelta
from pathlib import Path
from typing import Any

from harness import Job

from stages.artifacts import FEATURE_TABLE, KEY, ROW_ID, SPINE_TIME, TIME, store
from stages.base import Context, Engine, Stage, faster_than
from stages.build import FEATURES
from stages.feast_offline import prepare_feast

TTL = timedelta(days=7)
REFERENCE_SAMPLE = 2_000
SEED = 20_240_603
SPINES = {"large": "spine.parquet", "small": "spine-small.parquet"}


def spine_path(ctx: Context, spine: str) -> Path:
    return ctx.data_dir / SPINES[spine]


def read_delta_arrow(ctx: Context) -> Any:
    """How the baselines read the feature table: deltalake to a pyarrow table, the needed columns only."""
    from deltalake import DeltaTable

    return DeltaTable(str(ctx.lake / FEATURE_TABLE)).to_pyarrow_table(columns=[KEY, TIME, *FEATURES])


def warm_imports() -> None:
    """deltalake imports ``pyarrow.dataset`` on its first read (over a second): start-up, not work."""
    import pyarrow.dataset

    del pyarrow.dataset


def prepare_featurelake(ctx: Context, mode: str, spine: str) -> Job:
    """Join only: ``join_as_of`` on featurelake's day-ordered read. Read + join: ``get_training_set``."""
    import polars as pl

    from featurelake.core.pointintime import join_as_of
    from featurelake.io.delta.feature_tables import read_feature_table
    from featurelake.retrieve.featurestore import FeatureStore
    from features.customer_txn import CUSTOMER_TXN as SPEC

    warm_imports()
    lake, frame = store(ctx), pl.read_parquet(spine_path(ctx, spine))
    if mode == "e2e":
        feature_store = FeatureStore(lake, [SPEC])
        return Job(lambda: feature_store.get_training_set(frame, [SPEC.ref], spine_time=SPINE_TIME).frame)
    table = read_feature_table(lake, SPEC, columns=FEATURES).frame
    columns = {name: name for name in FEATURES}
    keys, ttl = SPEC.entity_keys, SPEC.ttl
    return Job(
        lambda: join_as_of(frame, table, keys=keys, spine_time=SPINE_TIME, feature_time=TIME, ttl=ttl, columns=columns)
    )


def prepare_polars(ctx: Context, mode: str, spine: str) -> Job:
    """Bare polars: sort both sides by time, then ``join_asof`` by customer with the TTL as tolerance."""
    import polars as pl

    warm_imports()
    # With ``by``, polars cannot verify sortedness and warns on every call; the sort makes it so.
    warnings.filterwarnings("ignore", message=".*[Ss]ortedness.*")
    frame = pl.read_parquet(spine_path(ctx, spine))

    def join(features: pl.DataFrame) -> pl.DataFrame:
        return frame.sort(SPINE_TIME).join_asof(
            features.sort(TIME), left_on=SPINE_TIME, right_on=TIME, by=KEY, strategy="backward", tolerance=TTL
        )

    if mode == "e2e":
        return Job(lambda: join(pl.DataFrame(pl.from_arrow(read_delta_arrow(ctx)))))
    features = pl.DataFrame(pl.from_arrow(read_delta_arrow(ctx)))
    return Job(lambda: join(features))


def prepare_pandas(ctx: Context, mode: str, spine: str) -> Job:
    """pandas: sort both sides by time, then ``merge_asof`` by customer with the TTL as tolerance."""
    import pandas as pd
    import pyarrow.parquet as pq

    warm_imports()
    frame = pq.read_table(spine_path(ctx, spine)).to_pandas()

    def join(features: pd.DataFrame) -> pd.DataFrame:
        return pd.merge_asof(
            frame.sort_values(SPINE_TIME),
            features.sort_values(TIME),
            left_on=SPINE_TIME,
            right_on=TIME,
            by=KEY,
            tolerance=pd.Timedelta(TTL),
            direction="backward",
        )

    if mode == "e2e":
        return Job(lambda: join(read_delta_arrow(ctx).to_pandas()))
    features = read_delta_arrow(ctx).to_pandas()
    return Job(lambda: join(features))


def duckdb_sql(spine: str, features: str) -> str:
    """ASOF LEFT JOIN on customer and time, then null the features of matches older than the TTL.

    DuckDB's ASOF JOIN has no tolerance, so the TTL is a CASE on the matched row's time, in
    microseconds so that no time zone or calendar arithmetic is involved.
    """
    ttl_us = int(TTL.total_seconds()) * 1_000_000
    fresh = f"f.{TIME} >= s.{SPINE_TIME} - to_microseconds({ttl_us})"
    values = ",\n  ".join(f"CASE WHEN {fresh} THEN f.{name} END AS {name}" for name in FEATURES)
    return (
        f"SELECT s.*,\n  {values}\n"
        f"FROM {spine} AS s ASOF LEFT JOIN {features} AS f\n"
        f"  ON s.{KEY} = f.{KEY} AND s.{SPINE_TIME} >= f.{TIME}"
    )


def prepare_duckdb(ctx: Context, mode: str, spine: str) -> Job:
    """DuckDB scanning Arrow tables in place (zero copy, its best case), the result fetched as Arrow."""
    import duckdb
    import pyarrow.parquet as pq

    warm_imports()
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    connection.register("spine", pq.read_table(spine_path(ctx, spine)))
    sql = duckdb_sql("spine", "features")
    if mode == "e2e":

        def end_to_end() -> Any:
            connection.register("features", read_delta_arrow(ctx))
            try:
                return connection.sql(sql).to_arrow_table()
            finally:
                connection.unregister("features")

        return Job(end_to_end)
    connection.register("features", read_delta_arrow(ctx))
    return Job(lambda: connection.sql(sql).to_arrow_table())


def stage_name(mode: str, spine: str) -> str:
    return "training-feast" if spine == "small" else f"training-{mode}"


def save(ctx: Context, engine: str, result: Any, *, stage: str) -> None:
    """(row_id, features) sorted by row id, with pyarrow only (Feast's environment has no polars)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not isinstance(result, pa.Table):
        result = result.to_arrow() if hasattr(result, "to_arrow") else pa.Table.from_pandas(result)
    table = result.select([ROW_ID, *FEATURES]).sort_by(ROW_ID)
    pq.write_table(table, ctx.output(stage, engine))


def engine(name: str, mode: str, spine: str, describe: str, **options: Any) -> Engine:
    prepare = {"featurelake": prepare_featurelake, "polars": prepare_polars, "pandas": prepare_pandas}.get(
        name, prepare_duckdb
    )
    return Engine(
        name,
        functools.partial(prepare, mode=mode, spine=spine),
        functools.partial(save, stage=stage_name(mode, spine)),
        describe,
        **options,
    )


# --------------------------------------------------------------------------------------------
# Verification: every output equals every other, and a brute-force reference on a sample.
# --------------------------------------------------------------------------------------------


def brute_force_reference(spine: Any, features: Any) -> Any:
    """The definition, evaluated naively for some spine rows: latest event in [ts - TTL, ts], else nulls.

    Independent of every engine's as-of machinery, so that engines agreeing on a wrong answer
    (an exclusive tolerance, say) would still fail.
    """
    import polars as pl

    candidates = (
        spine.join(features, on=KEY, how="inner")
        .filter(pl.col(TIME) <= pl.col(SPINE_TIME), pl.col(TIME) >= pl.col(SPINE_TIME) - TTL)
        .sort(ROW_ID, TIME)
        .group_by(ROW_ID, maintain_order=True)
        .last()
    )
    return spine.select(ROW_ID).join(candidates.select(ROW_ID, *FEATURES), on=ROW_ID, how="left").sort(ROW_ID)


def differences(frame: Any, reference: Any, label: str, features: tuple[str, ...] = tuple(FEATURES)) -> list[str]:
    """Feature columns where ``frame`` and ``reference`` differ (after casting to the reference's types)."""
    problems = []
    for name in features:
        mine = frame[name].fill_nan(None) if frame[name].dtype.is_float() else frame[name]
        differ = ~mine.cast(reference[name].dtype, strict=False).eq_missing(reference[name])
        if differ.any():
            rows = frame.filter(differ).head(3)[ROW_ID].to_list()
            problems.append(f"{label} on {name} in {int(differ.sum())} rows, e.g. row_id {rows}")
    return problems


def verify(ctx: Context, engines: list[str], *, stage: str, spine: str) -> dict[str, Any]:
    """One row per spine row everywhere, equal values everywhere, and equal to brute force on a sample."""
    import numpy as np
    import polars as pl

    frames = {e: pl.read_parquet(ctx.output(stage, e)) for e in engines}
    first, reference = next(iter(frames.items()))
    spine_frame = pl.read_parquet(spine_path(ctx, spine)).sort(ROW_ID)
    expected_ids = spine_frame[ROW_ID]
    problems = []
    for name, frame in frames.items():
        if frame.height != spine_frame.height or not frame[ROW_ID].equals(expected_ids):
            problems.append(f"{name}: {frame.height:,} rows, expected one per spine row ({spine_frame.height:,})")
        else:
            problems += differences(frame, reference, f"{name} and {first} differ")
    features = pl.DataFrame(pl.from_arrow(read_delta_arrow(ctx)))
    rng = np.random.default_rng(SEED)
    ids = rng.choice(spine_frame[ROW_ID].to_numpy(), size=min(REFERENCE_SAMPLE, spine_frame.height), replace=False)
    picked = pl.Series(ROW_ID, ids).implode()
    brute = brute_force_reference(spine_frame.filter(pl.col(ROW_ID).is_in(picked)), features)
    problems += differences(reference.filter(pl.col(ROW_ID).is_in(picked)), brute, f"{first} and brute force differ")
    if problems:
        raise SystemExit(f"TRAINING SETS DISAGREE ({stage}):\n  " + "\n  ".join(problems))
    missing = reference[FEATURES[0]].is_null()
    unknown = spine_frame[KEY].str.starts_with("u")
    return {
        "compared": engines,
        "rows": spine_frame.height,
        "rows_without_features": int(missing.sum()),
        "rows_without_features_unknown_customer": int((missing & unknown).sum()),
        "rows_without_features_nothing_within_ttl": int((missing & ~unknown).sum()),
        "brute_force_sample_rows": len(ids),
    }


def training_stage(mode: str, spine: str, title: str, engines: tuple[Engine, ...], targets: tuple[Any, ...]) -> Stage:
    name = stage_name(mode, spine)
    spine_bytes = "spine_bytes" if spine == "large" else "small_spine_bytes"
    return Stage(
        name=name,
        title=title,
        engines=engines,
        requires=("feature_table", "spines"),
        input_bytes=lambda artifacts: int(artifacts["features"]["features_bytes"] + artifacts["spines"][spine_bytes]),
        verify=functools.partial(verify, stage=name, spine=spine),
        targets=targets,
        notes="input: the feature rows (keys + 12 features) and the spine",
    )


BASELINES = {
    "polars": "sort both + join_asof(by, backward, tolerance=TTL)",
    "pandas": "sort both + merge_asof(by, backward, tolerance=TTL)",
    "duckdb": "ASOF LEFT JOIN over Arrow, TTL as CASE",
}
STAGES = (
    training_stage(
        "join",
        "large",
        "training set, join only (inputs in memory)",
        (
            engine("featurelake", "join", "large", "join_as_of on read_feature_table's frame"),
            *(engine(name, "join", "large", text) for name, text in BASELINES.items()),
        ),
        (faster_than("duckdb", 1, "DuckDB ASOF JOIN"),),
    ),
    training_stage(
        "e2e",
        "large",
        "training set, read Delta + join",
        (
            engine("featurelake", "e2e", "large", "FeatureStore.get_training_set"),
            *(engine(name, "e2e", "large", f"to_pyarrow_table + {text}") for name, text in BASELINES.items()),
        ),
        (faster_than("duckdb", 1, "DuckDB ASOF JOIN"),),
    ),
    training_stage(
        "e2e",
        "small",
        "training set vs Feast, read + join (100k spine)",
        (
            engine("featurelake", "e2e", "small", "FeatureStore.get_training_set"),
            engine("duckdb", "e2e", "small", "to_pyarrow_table + ASOF LEFT JOIN"),
            Engine(
                "feast",
                functools.partial(prepare_feast, spine_file=SPINES["small"]),
                functools.partial(save, stage="training-feast"),
                "get_historical_features(...).to_arrow(), DuckDB offline store",
                env="feast",
                max_runs=2,
            ),
        ),
        (faster_than("feast", 20, "Feast"),),
    ),
)
