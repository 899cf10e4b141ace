"""Every layout replaces exactly a backfill's days, and small tables are written as few files (real S3 via moto).

The day predicate of backfills and incremental builds is on ``event_date``, which every layout
keeps as a column; delta-rs rewrites the files holding those days and refuses rows outside them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from featurelake.core import commits
from featurelake.core.layout import Layout, partition_columns_of, with_layout_columns
from featurelake.io.delta import maintenance
from featurelake.io.delta.feature_tables import read_feature_table, write_feature_table
from featurelake.io.delta.published import published_span
from featurelake.io.delta.store import DeltaStore
from featurelake.settings import Settings
from tests.catalogs.toy import UTC_US, toy_spec

SPEC = toy_spec("layouts")
T0 = datetime(2026, 1, 30, tzinfo=UTC)
DAY = date(2026, 2, 1)


def _hourly(entities: int, hours: int, start: datetime = T0) -> pl.DataFrame:
    times = pl.datetime_range(start, start + timedelta(hours=hours - 1), "1h", eager=True, time_zone="UTC")
    frames = [pl.DataFrame({"user_id": f"station-{i:03d}", "event_time": times}) for i in range(entities)]
    rows = pl.concat(frames).with_columns(pl.col("event_time").cast(UTC_US))
    return rows.with_columns(pl.int_range(pl.len()).cast(pl.Float64).alias("score"))


def _metadata(rows: pl.DataFrame) -> dict[str, str]:
    return commits.publish_metadata(SPEC.ref, 1, {}, rows=rows.height)


def _created(store: DeltaStore, layout: Layout) -> None:
    """The empty table in ``layout``, as a first publish of the matching volume would create it."""
    empty = with_layout_columns(SPEC, _hourly(1, 1).clear(), layout)
    store.existing_or_created_empty(SPEC.table_path, empty, partition_columns_of(layout))


@pytest.mark.parametrize("layout", list(Layout))
def test_backfill_of_one_day_replaces_exactly_that_day(settings: Settings, layout: Layout) -> None:
    store = DeltaStore(settings)
    _created(store, layout)
    rows = _hourly(3, 24 * 5)  # 2026-01-30 .. 2026-02-03: across a month boundary
    write_feature_table(store, SPEC, rows, metadata=_metadata(rows))
    on_day = pl.col("event_time").dt.date() == DAY
    redone = rows.filter(on_day).with_columns(-pl.col("score"))

    version = write_feature_table(store, SPEC, redone, metadata=_metadata(redone), days=(DAY, DAY))

    table = store.existing(SPEC.table_path)
    assert table.metadata().partition_columns == partition_columns_of(layout)
    read = read_feature_table(store, SPEC).frame
    ascending = read.select((pl.col("event_time").diff().over("user_id").dt.total_microseconds() > 0).all()).item()
    assert ascending in (True, None)  # times ascend within every entity, whatever files the backfill left
    after = read.sort("user_id", "event_time")
    expected = pl.concat([rows.filter(~on_day), redone]).sort("user_id", "event_time")
    assert_frame_equal(after, expected)
    assert published_span(store, SPEC, version) == (T0, date(2026, 2, 3))
    outside = rows.filter(pl.col("event_time").dt.date() == date(2026, 2, 2))
    with pytest.raises(Exception, match=r"(?i)invalid data|failed validation|predicate"):
        write_feature_table(store, SPEC, outside, metadata=_metadata(outside), days=(DAY, DAY))
    assert_frame_equal(read_feature_table(store, SPEC).frame.sort("user_id", "event_time"), expected)


@pytest.mark.parametrize("layout", list(Layout))
def test_compaction_keeps_the_rows_and_reads_stay_exact(settings: Settings, layout: Layout) -> None:
    store = DeltaStore(settings)
    _created(store, layout)
    rows = _hourly(2, 24 * 4)
    write_feature_table(store, SPEC, rows, metadata=_metadata(rows))
    for day in (date(2026, 1, 31), DAY):  # two backfills leave small files behind
        redone = rows.filter(pl.col("event_time").dt.date() == day)
        write_feature_table(store, SPEC, redone, metadata=_metadata(redone), days=(day, day))
    table = store.existing(SPEC.table_path)

    for partition, _ in maintenance.small_file_partitions(table, 1 << 30, 2):
        maintenance.compact(table, 1 << 30, partition, {commits.OPERATION: commits.Operation.COMPACT})

    read = read_feature_table(store, SPEC, entities=pl.DataFrame({"user_id": ["station-001"]}))
    assert_frame_equal(read.frame, rows.filter(pl.col("user_id") == "station-001"))


def test_a_small_hourly_table_is_written_as_few_files(settings: Settings) -> None:
    store = DeltaStore(settings)
    rows = _hourly(3, 8760, datetime(2025, 1, 1, tzinfo=UTC))  # a year of 3 hourly series: 26,280 rows

    write_feature_table(store, SPEC, rows, metadata=_metadata(rows))

    table = store.existing(SPEC.table_path)
    read = read_feature_table(store, SPEC, entities=pl.DataFrame({"user_id": ["station-002"]}))
    assert table.metadata().partition_columns == []
    assert read.files_total == 1  # was 365 day files
    assert_frame_equal(read.frame, rows.filter(pl.col("user_id") == "station-002"))
