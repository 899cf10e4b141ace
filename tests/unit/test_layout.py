"""The layout policy: partitioning follows volume, and every layout keeps event_date (issue 16)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from featurelake.core.layout import (
    MONTH_COLUMN,
    PARTITION_BYTES,
    Layout,
    choose_layout,
    layout_for,
    layout_of,
    partition_columns_of,
    with_layout_columns,
)
from tests.catalogs.toy import UTC_US, toy_spec

SPEC = toy_spec()


@pytest.mark.parametrize(
    ("per_day", "expected"),
    [
        (PARTITION_BYTES, Layout.DAY),
        (PARTITION_BYTES - 1, Layout.MONTH),
        (PARTITION_BYTES // 30 + 1, Layout.MONTH),
        (PARTITION_BYTES // 31, Layout.NONE),
    ],
)
def test_a_day_gets_its_own_partition_only_when_it_is_big_enough(per_day: int, expected: Layout) -> None:
    assert choose_layout(per_day * 10, 10) is expected


def test_a_write_that_says_nothing_about_volume_keeps_day_partitions() -> None:
    assert choose_layout(0, 0) is Layout.DAY
    assert layout_for(SPEC, pl.DataFrame(schema=SPEC.output_schema())) is Layout.DAY


def test_a_small_hourly_series_is_not_partitioned() -> None:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    times = pl.datetime_range(start, start + timedelta(hours=8759), "1h", eager=True, time_zone="UTC")
    rows = pl.DataFrame({"user_id": "a", "event_time": times, "score": 1.0}, schema_overrides={"event_time": UTC_US})
    assert layout_for(SPEC, rows) is Layout.NONE


@pytest.mark.parametrize("layout", list(Layout))
def test_every_layout_keeps_event_date_and_is_recognised_from_its_partition_columns(layout: Layout) -> None:
    rows = pl.DataFrame(
        {"user_id": ["a"], "event_time": [datetime(2026, 2, 28, 23, 30, tzinfo=UTC)], "score": [1.0]},
        schema_overrides={"event_time": UTC_US},
    )
    stored = with_layout_columns(SPEC, rows, layout)
    assert stored["event_date"].to_list() == [date(2026, 2, 28)]
    assert set(partition_columns_of(layout)) <= set(stored.columns)
    assert (MONTH_COLUMN in stored.columns) == (layout is Layout.MONTH)
    assert layout_of(partition_columns_of(layout)) is layout


def test_an_unknown_partitioning_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"\['region'\]"):
        layout_of(["region"])
