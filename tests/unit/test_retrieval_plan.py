"""File pruning never drops a file that holds a requested row (issue 16: reads that scale with the request)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from featurelake.core.retrieval_plan import FileRequest, plan_files, sorted_keys

T0 = datetime(2026, 1, 1, tzinfo=UTC)
UTC_US = pl.Datetime("us", "UTC")

# One file: (partition day or None for an unpartitioned layout, rows as (key, hours after T0 + microseconds)).
_row = st.tuples(st.integers(0, 20), st.integers(0, 24 * 3 - 1), st.integers(0, 999))
_file = st.lists(_row, min_size=0, max_size=8)


def _rows(files: list[list[tuple[int, int, int]]]) -> pl.DataFrame:
    """Every row of every file, with its file's path and the UTC day of its time."""
    records = [
        {"path": f"f{i:02d}", "k": k, "t": T0 + timedelta(hours=h, microseconds=us)}
        for i, rows in enumerate(files)
        for k, h, us in rows
    ]
    frame = pl.DataFrame(records, schema={"path": pl.String, "k": pl.Int64, "t": UTC_US})
    return frame.with_columns(pl.col("t").dt.date().alias("event_date"))


def _actions(rows: pl.DataFrame, files: int, *, partitioned: bool) -> pl.DataFrame:
    """The add actions delta-rs would log: stats per file (times truncated to ms), partition values."""
    stats = rows.group_by("path").agg(
        pl.len().alias("num_records"),
        pl.col("k").min().alias("min.k"),
        pl.col("k").max().alias("max.k"),
        pl.col("t").min().dt.truncate("1ms").alias("min.t"),
        pl.col("t").max().dt.truncate("1ms").alias("max.t"),
        pl.col("event_date").min().alias("min.event_date"),
        pl.col("event_date").max().alias("max.event_date"),
    )
    paths = pl.DataFrame({"path": [f"f{i:02d}" for i in range(files)]})
    actions = paths.join(stats, on="path", how="left").with_columns(pl.lit(1000).alias("size_bytes"))
    if partitioned:  # one day per file in the day layout: the partition value, no stats on it
        actions = actions.with_columns(pl.col("min.event_date").alias("partition.event_date"))
        actions = actions.drop("min.event_date", "max.event_date")
    return actions


@settings(max_examples=300, deadline=None)
@given(
    files=st.lists(_file, min_size=1, max_size=8),
    keys=st.none() | st.lists(st.integers(0, 20), max_size=5),
    window=st.none() | st.tuples(st.integers(0, 24 * 3 - 1), st.integers(0, 30), st.integers(0, 999)),
    days=st.none() | st.tuples(st.integers(0, 3), st.integers(0, 2)),
    partitioned=st.booleans(),
)
def test_pruned_files_are_a_superset_of_files_holding_matches(
    files: list[list[tuple[int, int, int]]],
    keys: list[int] | None,
    window: tuple[int, int, int] | None,
    days: tuple[int, int] | None,
    partitioned: bool,
) -> None:
    if partitioned:  # a day partition holds rows of one day only
        files = [[(k, h % 24 + 24 * (i % 3), us) for k, h, us in rows] for i, rows in enumerate(files)]
    rows = _rows(files)
    start = T0 + timedelta(hours=window[0], microseconds=window[2]) if window else T0  # sub-ms: stats are truncated
    bounds = (start, start + timedelta(hours=window[1])) if window else None
    span = (date(2026, 1, 1 + days[0]), date(2026, 1, 1 + sum(days))) if days else None
    request = FileRequest(
        time_column="t",
        day_column="event_date",
        partition_columns=("event_date",) if partitioned else (),
        days=span,
        window=bounds,
        key_column="k" if keys is not None else None,
        keys=sorted_keys(pl.DataFrame({"k": keys or []}, schema={"k": pl.Int64}), "k") if keys is not None else None,
    )
    matching = rows
    if keys is not None:
        matching = matching.filter(pl.col("k").is_in(keys))
    if bounds is not None:
        matching = matching.filter(pl.col("t").is_between(*bounds))
    if span is not None:
        matching = matching.filter(pl.col("event_date").is_between(*span))
    plan = plan_files(_actions(rows, len(files), partitioned=partitioned), request)
    assert set(matching["path"]) <= set(plan.paths)
    assert plan.files_total == len(files)
    assert plan.bytes_read == 1000 * len(plan.paths)


def test_files_are_chosen_by_key_range_and_ordered_by_partition_then_time() -> None:
    actions = pl.DataFrame(
        {
            "path": ["b", "a", "c", "d"],
            "size_bytes": [10, 20, 30, 40],
            "num_records": [1, 1, 1, 1],
            "partition.event_date": [date(2026, 1, 2), date(2026, 1, 2), date(2026, 1, 1), date(2026, 1, 3)],
            "min.k": ["m", "a", "a", "x"],
            "max.k": ["p", "c", "z", "z"],
            "min.t": [T0 + timedelta(days=1, hours=2), T0 + timedelta(days=1), T0, T0 + timedelta(days=2)],
            "max.t": [T0 + timedelta(days=1, hours=3), T0 + timedelta(days=1, hours=1), T0, T0 + timedelta(days=2)],
        },
        schema_overrides={"min.t": UTC_US, "max.t": UTC_US},
    )
    request = FileRequest(
        time_column="t",
        day_column="event_date",
        partition_columns=("event_date",),
        days=(date(2026, 1, 1), date(2026, 1, 2)),
        key_column="k",
        keys=pl.Series(["b", "n"]),
    )
    plan = plan_files(actions, request)
    assert plan.paths == ["c", "a", "b"]  # d is outside the days; c holds b and n; order: day, then min time
    assert (plan.files_total, plan.bytes_total, plan.bytes_read) == (4, 100, 60)


def test_files_of_one_write_are_read_by_lowest_key_and_later_writes_follow_in_time() -> None:
    """One write cut into files by key range overlaps in time: read by lowest key, it is one sorted run."""
    hours = [T0 + timedelta(hours=h) for h in range(13)]
    actions = pl.DataFrame(
        {
            "path": ["x", "y", "z", "w"],
            "size_bytes": [1, 1, 1, 1],
            "num_records": [1, 1, 1, 1],
            "min.k": ["m", "a", "a", None],
            "max.k": ["z", "l", "z", None],
            "min.t": [hours[0], hours[1], hours[11], None],
            "max.t": [hours[10], hours[9], hours[12], None],
        },
        schema_overrides={"min.t": UTC_US, "max.t": UTC_US},
    )
    request = FileRequest(time_column="t", day_column="event_date", order_key="k")
    assert plan_files(actions, request).paths == ["y", "x", "z", "w"]  # no statistics: last
    unkeyed = FileRequest(time_column="t", day_column="event_date")
    assert plan_files(actions, unkeyed).paths == ["x", "y", "z", "w"]  # by time, then path


def test_files_without_statistics_are_always_kept() -> None:
    actions = pl.DataFrame(
        {"path": ["x"], "size_bytes": [1], "num_records": [1], "min.k": [None], "max.k": [None]},
        schema_overrides={"min.k": pl.String, "max.k": pl.String},
    )
    request = FileRequest(time_column="t", day_column="event_date", key_column="k", keys=pl.Series(["q"]))
    assert plan_files(actions, request).paths == ["x"]


def test_no_requested_entity_opens_no_file() -> None:
    actions = pl.DataFrame({"path": ["x"], "size_bytes": [1], "num_records": [1], "min.k": ["a"], "max.k": ["z"]})
    request = FileRequest(time_column="t", day_column="event_date", key_column="k", keys=pl.Series([], dtype=pl.String))
    assert plan_files(actions, request).paths == []


def test_a_row_past_its_files_millisecond_statistics_is_still_found() -> None:
    """delta-rs truncates timestamp statistics to milliseconds: a row at .0005 s has max .000 in the log."""
    rows = _rows([[(1, 0, 500)]])
    window = (T0 + timedelta(microseconds=300), T0 + timedelta(hours=1))
    request = FileRequest(time_column="t", day_column="event_date", window=window)
    assert plan_files(_actions(rows, 1, partitioned=False), request).paths == ["f00"]
