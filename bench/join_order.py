"""Issue 16, step 1: what the spine's double sort cost and what joining in time order saves.

A dense spine over a few string entities ("station-017"), as in the issue's public-data shape:
``--spine-rows`` rows (default 1,000,000) over 40 stations, about hourly per station, in time
order (how labels are logged) and the same rows shuffled, plus a label and a weight column.
The feature frame (``--feature-rows``, default 300,000) is laid out as tables are read: by UTC
day, then station, then time. Each case times

* ``baseline``: the previous ``join_as_of`` (copied below): sort the whole spine by (keys,
  time), ``join_asof``, sort back by row index;
* ``featurelake``: the current ``featurelake.core.pointintime.join_as_of``;
* ``polars join_asof``: polars' bare ``join_asof`` on the time-sorted spine, as a floor.

Runs alternate baseline / featurelake (A/B) ``--runs`` times; medians and the ratio are printed
as a markdown table. Nothing is written to ``bench/results``.

    .venv/bin/python bench/join_order.py
    .venv/bin/python bench/join_order.py --spine-rows 100000 --feature-rows 30000 --runs 3   # smoke
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
from polars.testing import assert_frame_equal

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from featurelake.core.pointintime import ensure_time_order, join_as_of
from tests.pit_reference import reference_join

KEYS = ("station",)
COLUMNS = {"temp": "temp", "humidity": "humidity"}
TTL = timedelta(hours=6)
T0 = datetime(2023, 1, 1, tzinfo=UTC)
STATIONS = 40


def _station_times(rows: int, hours: int, seed: int) -> pl.DataFrame:
    """``rows`` (station, time) pairs over ``hours``, each station evenly spaced with ±20 min jitter."""
    per_station = rows // STATIONS
    span_us = hours * 3_600_000_000
    frame = pl.DataFrame({"i": pl.int_range(per_station * STATIONS, eager=True)}).select(
        pl.format("station-{}", (pl.col("i") % STATIONS).cast(pl.String).str.zfill(3)).alias("station"),
        (
            pl.lit(T0)
            + pl.duration(
                microseconds=(pl.col("i") // STATIONS) * (span_us // per_station)
                + (pl.col("i").hash(seed) % 2_400_000_000).cast(pl.Int64)
                - 1_200_000_000
            )
        ).alias("t"),
    )
    return frame.with_columns(pl.col("t").dt.cast_time_unit("us").dt.replace_time_zone("UTC"))


def inputs(spine_rows: int, feature_rows: int) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    hours = spine_rows // STATIONS  # the spine: one row per station per hour
    spine = (
        _station_times(spine_rows, hours, seed=1)
        .rename({"t": "label_time"})
        .sort("label_time", maintain_order=True)
        .with_columns(
            pl.int_range(pl.len()).mod(2).alias("label"),
            (pl.int_range(pl.len()).shuffle(2) / pl.len()).alias("weight"),
        )
    )
    shuffled = spine.select(pl.all().shuffle(3))
    features = (
        _station_times(feature_rows, hours, seed=4)
        .with_columns(
            (pl.int_range(pl.len()).shuffle(5) % 400 / 10).alias("temp"),
            (pl.int_range(pl.len()).shuffle(6) % 100).cast(pl.Float64).alias("humidity"),
        )
        .sort([pl.col("t").dt.date(), "station", "t"])  # as read_feature_table returns a table
    )
    return spine, shuffled, features


def timed(run: Callable[[], object]) -> float:
    gc.collect()
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--spine-rows", type=int, default=1_000_000)
    parser.add_argument("--feature-rows", type=int, default=300_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    spine, shuffled, features = inputs(args.spine_rows, args.feature_rows)
    call = {"keys": KEYS, "spine_time": "label_time", "feature_time": "t", "ttl": TTL, "columns": COLUMNS}
    right = ensure_time_order(features.select(*KEYS, "t", *COLUMNS).rename({"t": "label_time"}), KEYS, "label_time")
    left = spine.select(*KEYS, "label_time")

    def bare() -> object:
        return left.join_asof(right, on="label_time", by=list(KEYS), tolerance=TTL, check_sortedness=False)

    print(
        f"spine {spine.height:,} rows ({STATIONS} string entities), features {features.height:,} rows, "
        f"TTL {TTL}, polars {pl.__version__}, {pl.thread_pool_size()} threads, {args.runs} runs A/B\n"
    )
    hits = join_as_of(spine, features, **call)["temp"].is_not_null().mean()
    print(f"{hits:.0%} of spine rows find a feature row within the TTL\n")
    print("| spine order | baseline (s) | featurelake (s) | baseline / featurelake | polars join_asof (s) |")
    print("|---|---:|---:|---:|---:|")
    for name, frame in [("time-sorted", spine), ("shuffled", shuffled)]:
        assert_frame_equal(join_as_of(frame, features, **call), reference_join(frame, features, **call))
        old, new, floor = [], [], []
        for _ in range(args.runs):
            old.append(timed(lambda frame=frame: reference_join(frame, features, **call)))
            new.append(timed(lambda frame=frame: join_as_of(frame, features, **call)))
            floor.append(timed(bare))
        o, n, f = (statistics.median(x) for x in (old, new, floor))
        print(f"| {name} | {o:.3f} | {n:.3f} | {o / n:.2f}× | {f:.3f} |")


if __name__ == "__main__":
    main()
