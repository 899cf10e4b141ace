"""Feature build: customer_txn's 1h/24h/7d trailing count/sum/mean/max of amount per customer.

Every engine gets the same input, the three bronze columns the feature set reads
(``customer_id``, ``event_time``, ``amount``) in bronze order (by time, day after day), loaded
untimed into its own format, and returns one row per (customer, event time) with 12 features:

* ``featurelake``: ``compute_features(CUSTOMER_TXN, frame)``, the real spec;
* ``polars``: the same windows by hand, no featurelake code: sort by customer and time, then
  ``rolling_{sum,mean,max}_by`` over ``customer_id``;
* ``duckdb``: window functions ``RANGE BETWEEN INTERVAL w - 1 µs PRECEDING AND CURRENT ROW``
  partitioned by customer, over the Arrow table (zero copy), fetched as Arrow;
* ``pandas``: ``groupby("customer_id").rolling("1h" | "24h" | "7d")`` on a time index.

Windows are (t - w, t] in all four (polars' and pandas' default ``closed="right"``; DuckDB's
RANGE frame is inclusive, hence w - 1 µs on microsecond times). Generated times are unique per
customer, so no engine has to decide how ties share a window.
"""

from __future__ import annotations

from typing import Any

from harness import Job

from stages.artifacts import KEY, SOURCE_COLUMNS, TIME, source_frame
from stages.base import Context, Engine, Stage, faster_than, within

STAGE = "build"
WINDOWS = {"1h": 3_600, "24h": 86_400, "7d": 7 * 86_400}  # seconds
STATS = ("count", "sum", "mean", "max")
FEATURES = [f"amount_{stat}_{window}" for window in WINDOWS for stat in STATS]
RTOL, ATOL = 1e-9, 1e-6  # different summation orders round differently; nothing else may differ


def prepare_featurelake(ctx: Context) -> Job:
    """featurelake's pure transform with the real spec, on a polars frame."""
    import polars as pl

    from featurelake.core.featureset import compute_features
    from features.customer_txn import CUSTOMER_TXN

    source = pl.DataFrame(pl.from_arrow(source_frame(ctx)))
    return Job(lambda: compute_features(CUSTOMER_TXN, source))


def polars_windows(frame: Any) -> Any:
    """The hand-written polars query: sort, then the twelve rolling expressions over the customer."""
    import polars as pl

    amount = pl.col("amount")
    columns = []
    for window in WINDOWS:
        columns += [
            amount.is_not_null().cast(pl.Int64).rolling_sum_by(TIME, window).alias(f"amount_count_{window}"),
            amount.rolling_sum_by(TIME, window).alias(f"amount_sum_{window}"),
            amount.rolling_mean_by(TIME, window).alias(f"amount_mean_{window}"),
            amount.rolling_max_by(TIME, window).alias(f"amount_max_{window}"),
        ]
    ordered = frame.lazy().sort(KEY, TIME)
    return ordered.select(KEY, TIME, *(c.over(KEY) for c in columns)).collect()


def prepare_polars(ctx: Context) -> Job:
    import polars as pl

    source = pl.DataFrame(pl.from_arrow(source_frame(ctx)))
    return Job(lambda: polars_windows(source))


def duckdb_sql(table: str) -> str:
    """Twelve window aggregates over three named windows, (t - w, t] each."""
    windows = ",\n  ".join(
        f"w{name} AS (PARTITION BY {KEY} ORDER BY {TIME} "
        f"RANGE BETWEEN to_microseconds({seconds * 1_000_000 - 1}) PRECEDING AND CURRENT ROW)"
        for name, seconds in WINDOWS.items()
    )
    functions = {"count": "count", "sum": "sum", "mean": "avg", "max": "max"}
    selected = ",\n  ".join(
        f"{functions[stat]}(amount) OVER w{window} AS amount_{stat}_{window}" for window in WINDOWS for stat in STATS
    )
    return f"SELECT {KEY}, {TIME},\n  {selected}\nFROM {table}\nWINDOW {windows}"


def prepare_duckdb(ctx: Context) -> Job:
    """DuckDB scanning the Arrow table in place (its best case: no copy), result fetched as Arrow."""
    import duckdb

    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    connection.register("source", source_frame(ctx))
    sql = duckdb_sql("source")
    return Job(lambda: connection.sql(sql).to_arrow_table())


def pandas_windows(frame: Any) -> Any:
    """groupby-rolling per window (count, sum, mean, max), columns assembled by position.

    The three rolling results come back in the same (customer, time) order, so their values are
    put side by side rather than index-aligned, which pandas would do far more slowly.
    """
    import pandas as pd

    ordered = frame.sort_values([KEY, TIME]).set_index(TIME)
    grouped = ordered.groupby(KEY, sort=False)["amount"]
    parts = [grouped.rolling(window).agg(list(STATS)) for window in WINDOWS]
    index = parts[0].index
    values = {
        f"amount_{stat}_{w}": part[stat].to_numpy() for w, part in zip(WINDOWS, parts, strict=True) for stat in STATS
    }
    return pd.DataFrame(values, index=index).reset_index()


def prepare_pandas(ctx: Context) -> Job:
    frame = source_frame(ctx).to_pandas()
    return Job(lambda: pandas_windows(frame))


def save(ctx: Context, engine: str, result: Any) -> None:
    """Any engine's result as a polars frame: keys, then the 12 features (counts as Int64), sorted."""
    import pandas as pd
    import polars as pl

    if isinstance(result, pd.DataFrame):
        frame = pl.from_pandas(result)
    elif isinstance(result, pl.DataFrame):
        frame = result
    else:
        frame = pl.DataFrame(pl.from_arrow(result))
    counts = [f"amount_count_{w}" for w in WINDOWS]
    frame = frame.select(
        KEY,
        pl.col(TIME).cast(pl.Datetime("us", "UTC")),
        *(pl.col(c).cast(pl.Int64) if c in counts else pl.col(c).cast(pl.Float64) for c in FEATURES),
    )
    frame.sort(KEY, TIME).write_parquet(ctx.output(STAGE, engine), compression="lz4")  # fast to write and read


def verify(ctx: Context, engines: list[str]) -> dict[str, Any]:
    """Every engine's rows and keys equal featurelake's; counts exactly, floats within tolerance."""
    import polars as pl

    reference_name = engines[0]
    reference = pl.read_parquet(ctx.output(STAGE, reference_name))
    problems = []
    for engine in engines[1:]:
        frame = pl.read_parquet(ctx.output(STAGE, engine))
        problems += compare(reference, frame, f"{engine} vs {reference_name}")
    if problems:
        raise SystemExit("FEATURE BUILD RESULTS DISAGREE:\n  " + "\n  ".join(problems))
    return {
        "compared": engines,
        "rows": reference.height,
        "columns": reference.columns,
        "tolerance": f"|a - b| <= {ATOL} + {RTOL} * |b| for floats; counts and keys exact",
    }


def compare(expected: Any, actual: Any, label: str) -> list[str]:
    """What differs between two sorted build outputs (empty when they agree)."""
    import polars as pl

    if actual.height != expected.height:
        return [f"{label}: {actual.height:,} rows, expected {expected.height:,}"]
    problems = []
    for column in [KEY, TIME, *FEATURES]:
        a, b = actual[column], expected[column]
        if a.dtype == pl.Float64:
            same = ((a - b).abs() <= ATOL + RTOL * b.abs()) | (a.is_null() & b.is_null())
            same = same.fill_null(False)
        else:
            same = a.eq_missing(b)
        if not same.all():
            where = (~same).arg_true().head(3).to_list()
            problems.append(f"{label}: {column} differs in {int((~same).sum()):,} rows, e.g. rows {where}")
    return problems


STAGES = (
    Stage(
        name=STAGE,
        title="feature build (customer_txn 1h/24h/7d)",
        engines=(
            Engine("featurelake", prepare_featurelake, save, "compute_features(CUSTOMER_TXN, frame)"),
            Engine("polars", prepare_polars, save, "sort + rolling_*_by(...).over(customer_id), by hand"),
            Engine("duckdb", prepare_duckdb, save, "window functions, RANGE ... PRECEDING, over Arrow", max_runs=2),
            Engine("pandas", prepare_pandas, save, "groupby(customer_id).rolling('1h'|'24h'|'7d')", max_runs=1),
        ),
        requires=("features",),
        input_bytes=lambda artifacts: int(artifacts["features"]["build_input_bytes"]),
        verify=verify,
        targets=(
            faster_than("duckdb", 2, "DuckDB"),
            faster_than("pandas", 3, "pandas"),
            within("polars", 1.3, "bare polars"),
        ),
        notes=f"input: the bronze columns {', '.join(SOURCE_COLUMNS)}",
    ),
)
