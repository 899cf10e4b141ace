"""Reads cost what they ask for: a few entities over a few days open a few files (real S3 via moto, Delta).

Each read is compared with a full read filtered in polars: pruning may only skip files, never rows.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from featurelake.core import commits
from featurelake.core.constraints import check_constraints
from featurelake.io.delta.feature_tables import ensure_check_constraints, read_feature_table, write_feature_table
from featurelake.io.delta.store import DeltaStore
from featurelake.settings import Settings
from tests.catalogs.toy import UTC_US, toy_spec

SPEC = toy_spec("reads")
T0 = datetime(2026, 3, 1, tzinfo=UTC)
DAYS = 10


def _rows() -> pl.DataFrame:
    """Hourly rows of entity ``u0i`` on days i and i+1 only: each day's file spans two entities."""
    frames = []
    for i in range(DAYS):
        start = T0 + timedelta(days=i)
        times = pl.datetime_range(start, start + timedelta(hours=47), "1h", eager=True, time_zone="UTC")
        frames.append(pl.DataFrame({"user_id": f"u{i:02d}", "event_time": times, "score": float(i)}))
    return pl.concat(frames).with_columns(pl.col("event_time").cast(UTC_US))


@pytest.fixture
def store(settings: Settings) -> DeltaStore:
    """The table published with day partitions (created empty first, as a chunked build does)."""
    lake = DeltaStore(settings)
    rows = _rows()
    ensure_check_constraints(lake, SPEC, check_constraints(SPEC), rows.clear())
    write_feature_table(lake, SPEC, rows, metadata=commits.publish_metadata(SPEC.ref, 1, {}, rows=rows.height))
    return lake


def _expected(full: pl.DataFrame, users: list[str], window: tuple[datetime, datetime] | None) -> pl.DataFrame:
    rows = full.filter(pl.col("user_id").is_in(users))
    return rows.filter(pl.col("event_time").is_between(*window)) if window else rows


def test_a_few_entities_over_a_few_days_open_few_files(store: DeltaStore) -> None:
    full = read_feature_table(store, SPEC)
    assert full.files_read == full.files_total == DAYS + 1
    assert full.bytes_read == full.bytes_total > 0
    window = (T0 + timedelta(days=3, hours=5), T0 + timedelta(days=4, hours=6))
    entities = pl.DataFrame({"user_id": ["u03", "u07"]})

    few = read_feature_table(store, SPEC, entities=entities, window=window)

    assert few.files_read == 2  # days 3 and 4; u07's days are outside the window
    assert few.files_read < few.files_total
    assert few.bytes_read < few.bytes_total
    assert_frame_equal(few.frame, _expected(full.frame, ["u03", "u07"], window))


def test_entities_alone_open_only_the_files_whose_key_range_holds_them(store: DeltaStore) -> None:
    full = read_feature_table(store, SPEC).frame

    read = read_feature_table(store, SPEC, entities=pl.DataFrame({"user_id": ["u02"]}))

    assert read.files_read == 2  # u02 lives on days 2 and 3 only
    assert_frame_equal(read.frame, _expected(full, ["u02"], None))


def test_days_and_columns_narrow_the_read_and_times_ascend_per_entity(store: DeltaStore) -> None:
    full = read_feature_table(store, SPEC).frame

    read = read_feature_table(store, SPEC, days=(date(2026, 3, 5), date(2026, 3, 6)), columns=[])

    assert read.frame.columns == ["user_id", "event_time"]
    assert read.files_read == 2
    day = pl.col("event_time").dt.date().is_between(date(2026, 3, 5), date(2026, 3, 6))
    assert_frame_equal(read.frame, full.filter(day).select("user_id", "event_time"))
    ascending = read.frame.select((pl.col("event_time").diff().over("user_id").dt.total_microseconds() > 0).all())
    assert ascending.item() in (True, None)


def test_an_entity_the_table_never_saw_reads_no_file_and_no_row(store: DeltaStore) -> None:
    read = read_feature_table(store, SPEC, entities=pl.DataFrame({"user_id": ["nobody"]}))

    assert (read.files_read, read.frame.height) == (0, 0)
    assert read.frame.schema == read_feature_table(store, SPEC).frame.schema


def test_multi_key_entities_are_filtered_exactly(settings: Settings) -> None:
    lake = DeltaStore(settings)
    source = dataclasses.replace(
        SPEC.source,
        columns={**SPEC.source.columns, "region": pl.String()},
        primary_key=("user_id", "region", "event_time"),
    )
    spec = dataclasses.replace(SPEC, name="reads_two_keys", entity_keys=("user_id", "region"), source=source)
    rows = _rows().with_columns(
        pl.when(pl.col("event_time").dt.hour() < 12).then(pl.lit("eu")).otherwise(pl.lit("us")).alias("region")
    )
    rows = rows.select("user_id", "region", "event_time", "score")
    ensure_check_constraints(lake, spec, check_constraints(spec), rows.clear())
    write_feature_table(lake, spec, rows, metadata=commits.publish_metadata(spec.ref, 1, {}, rows=rows.height))
    wanted = pl.DataFrame({"user_id": ["u01", "u01", "u05"], "region": ["eu", "eu", "us"]})  # a duplicate too

    read = read_feature_table(lake, spec, entities=wanted, days=(date(2026, 3, 2), date(2026, 3, 6)))

    full = read_feature_table(lake, spec).frame
    day = pl.col("event_time").dt.date().is_between(date(2026, 3, 2), date(2026, 3, 6))
    expected = full.join(wanted.unique(), on=["user_id", "region"], how="semi", maintain_order="left").filter(day)
    assert read.files_read == 5 < read.files_total
    assert_frame_equal(read.frame, expected)
