"""Publish: the built customer_txn rows written as a Delta table, featurelake against bare deltalake.

* ``featurelake``: ``write_feature_table`` (adds the UTC-day partition column, sorts by entity
  and time, one day-partitioned commit with audit metadata);
* ``deltalake``: ``write_deltalake`` of the same frame as Arrow, unpartitioned;
* ``deltalake-partitioned``: the same with the ``event_date`` column added (in the timed call,
  as featurelake does) and ``partition_by=["event_date"]``.

Every run writes a new table to a local directory (the previous one is deleted untimed before
it). The tables are read back and compared with the input, row for row.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from harness import Job

from stages.artifacts import KEY, TIME, store
from stages.base import Context, Engine, Stage

STAGE = "publish"
PARTITION = "event_date"


def features_frame(ctx: Context) -> Any:
    import polars as pl

    return pl.read_parquet(ctx.data_dir / "features.parquet")


def target_dir(ctx: Context, engine: str) -> Path:
    return ctx.out_dir / f"{STAGE}-{engine}-lake"


def fresh(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)


def prepare_featurelake(ctx: Context) -> Job:
    from featurelake.io.delta.feature_tables import write_feature_table
    from features.customer_txn import CUSTOMER_TXN

    features, lake = features_frame(ctx), target_dir(ctx, "featurelake")
    lake_store = store(ctx, lake)
    return Job(
        lambda: write_feature_table(lake_store, CUSTOMER_TXN, features, metadata={"featurelake.actor": "bench"}),
        before_each=lambda: fresh(lake),
    )


def prepare_deltalake(ctx: Context, partitioned: bool = False) -> Job:
    import polars as pl
    from deltalake import write_deltalake

    features = features_frame(ctx)
    directory = target_dir(ctx, "deltalake-partitioned" if partitioned else "deltalake")
    uri = str(directory / "customer_txn")

    def write() -> None:
        if partitioned:
            frame = features.with_columns(pl.col(TIME).dt.date().alias(PARTITION))
            write_deltalake(uri, frame.to_arrow(), partition_by=[PARTITION])
        else:
            write_deltalake(uri, features.to_arrow())

    return Job(write, before_each=lambda: fresh(directory))


def prepare_partitioned(ctx: Context) -> Job:
    return prepare_deltalake(ctx, partitioned=True)


def save(ctx: Context, engine: str, result: Any) -> None:
    """Where the last run's table is (its Delta log is found under the engine's directory)."""
    logs = sorted(target_dir(ctx, engine).rglob("_delta_log"))
    ctx.output(STAGE, engine, ".json").write_text(json.dumps({"table": str(logs[0].parent)}))


def verify(ctx: Context, engines: list[str]) -> dict[str, Any]:
    """Each table holds exactly the input rows and values (read back, sorted, compared exactly)."""
    import polars as pl
    from deltalake import DeltaTable

    expected = features_frame(ctx).sort(KEY, TIME)
    problems, files = [], {}
    for engine in engines:
        uri = json.loads(ctx.output(STAGE, engine, ".json").read_text())["table"]
        table = DeltaTable(uri)
        files[engine] = len(table.file_uris())
        actual = pl.DataFrame(pl.from_arrow(table.to_pyarrow_table(columns=expected.columns))).sort(KEY, TIME)
        if not actual.equals(expected):
            problems.append(f"{engine}: the table at {uri} does not hold the input rows ({actual.height:,} rows)")
    if problems:
        raise SystemExit("PUBLISHED TABLES DIFFER FROM THE INPUT:\n  " + "\n  ".join(problems))
    return {"compared": engines, "rows": expected.height, "data_files": files}


STAGES = (
    Stage(
        name=STAGE,
        title="publish (Delta write of the features)",
        engines=(
            Engine("featurelake", prepare_featurelake, save, "write_feature_table (day partitions, sorted, audited)"),
            Engine("deltalake", prepare_deltalake, save, "write_deltalake(frame.to_arrow())", max_runs=2),
            Engine(
                "deltalake-partitioned",
                prepare_partitioned,
                save,
                "+ event_date, partition_by=['event_date']",
                max_runs=2,
            ),
        ),
        requires=("features",),
        input_bytes=lambda artifacts: int(artifacts["features"]["features_bytes"]),
        verify=verify,
        notes="input: the customer_txn feature rows; no speed target (reported for the pipeline's overhead budget)",
    ),
)
