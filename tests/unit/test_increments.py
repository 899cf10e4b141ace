"""Which days a build recomputes and how they are cut into chunks (pure; no tables)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from featurelake.build.budget import max_rows_for_budget, source_row_bytes
from featurelake.build.plan import BuildPlan
from featurelake.core.featureset import compute_features
from featurelake.core.increments import (
    DayChunk,
    affected_days,
    changed_spans,
    features_for_days,
    merge_ranges,
    open_outer_bounds,
    plan_chunks,
    rows_per_day,
)
from features.customer_txn import CUSTOMER_TXN

D = date(2026, 3, 1)
WEEK = timedelta(days=7)


def _at(day: int, hour: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=UTC)


def _spans(rows: list[tuple[str, int, datetime | None, datetime | None]]) -> pl.DataFrame:
    schema = {
        "path": pl.String,
        "rows": pl.Int64,
        "min_time": pl.Datetime("us", "UTC"),
        "max_time": pl.Datetime("us", "UTC"),
    }
    return pl.DataFrame(rows, schema=schema, orient="row")


def test_merge_ranges_joins_overlapping_and_touching_days() -> None:
    ranges = [(date(2026, 3, 10), date(2026, 3, 12)), (D, date(2026, 3, 2)), (date(2026, 3, 3), date(2026, 3, 4))]
    assert merge_ranges(ranges) == [(D, date(2026, 3, 4)), (date(2026, 3, 10), date(2026, 3, 12))]


def test_changed_spans_are_the_files_added_or_removed() -> None:
    before = _spans([("a", 10, _at(1), _at(1, 23)), ("b", 10, _at(2), _at(2, 23))])
    after = _spans([("a", 10, _at(1), _at(1, 23)), ("c", 5, _at(3), _at(3, 1))])
    assert sorted(changed_spans(before, after)["path"].to_list()) == ["b", "c"]


def test_a_new_day_affects_that_day_and_a_late_row_its_lookback_capped_at_the_data() -> None:
    new_day = _spans([("n", 100, _at(20), _at(20, 23))])
    assert affected_days(new_day, WEEK, last_day=date(2026, 3, 20)) == [(date(2026, 3, 20), date(2026, 3, 20))]
    late = _spans([("l", 3, _at(5, 9), _at(5, 9))])
    assert affected_days(late, WEEK, last_day=date(2026, 3, 20)) == [(date(2026, 3, 5), date(2026, 3, 12))]
    assert affected_days(late, WEEK, last_day=date(2026, 3, 8)) == [(date(2026, 3, 5), date(2026, 3, 8))]


def test_a_file_without_time_statistics_makes_every_later_day_affected() -> None:
    spans = _spans([("s", 3, _at(5), _at(5, 1)), ("unknown", 7, None, None)])
    assert affected_days(spans, WEEK, last_day=date(2026, 3, 20)) == [(date(2026, 3, 5), date(2026, 3, 20))]


def test_rows_per_day_spreads_a_file_over_the_days_it_spans() -> None:
    per_day = rows_per_day(_spans([("a", 30, _at(1, 12), _at(3, 12)), ("b", 5, _at(3), _at(3, 1))]))
    assert per_day == {D: 10.0, date(2026, 3, 2): 10.0, date(2026, 3, 3): 15.0}


@given(
    days=st.lists(st.integers(0, 500), min_size=1, max_size=40),
    lookback_days=st.integers(0, 10),
    max_rows=st.one_of(st.none(), st.integers(1, 3_000)),
)
@settings(max_examples=200, deadline=None)
def test_chunks_cover_every_day_once_and_fit_the_row_limit(
    days: list[int], lookback_days: int, max_rows: int | None
) -> None:
    per_day = {D + timedelta(days=i): float(rows) for i, rows in enumerate(days)}
    ranges = [(D, D + timedelta(days=len(days) - 1))]
    chunks = plan_chunks(ranges, per_day, timedelta(days=lookback_days), max_rows)
    covered = [c.start + timedelta(days=i) for c in chunks for i in range(c.days)]
    assert covered == sorted(per_day), "days skipped or computed twice"
    for chunk in chunks:
        window = sum(r for d, r in per_day.items() if chunk.start - timedelta(days=lookback_days) <= d <= chunk.end)
        assert max_rows is None or chunk.days == 1 or window <= max_rows


def test_a_full_rebuild_opens_its_outer_chunks() -> None:
    chunks = open_outer_bounds([DayChunk(D, D), DayChunk(date(2026, 3, 2), date(2026, 3, 3))])
    assert [c.write_bounds() for c in chunks] == [(None, D), (date(2026, 3, 2), None)]


def _transactions(seed: int, rows: int, days: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    start = datetime(2026, 3, 1, tzinfo=UTC)
    seconds = np.sort(rng.integers(0, days * 86_400, rows))
    return pl.DataFrame(
        {
            "txn_id": [f"t{i}" for i in range(rows)],
            "customer_id": rng.integers(0, 25, rows).astype(str).tolist(),
            "amount": rng.lognormal(3, 1, rows).round(2),
            "event_time": [start + timedelta(seconds=int(s)) for s in seconds],
        }
    ).with_columns(pl.col("event_time").dt.cast_time_unit("us"))


@given(seed=st.integers(0, 10_000), cut=st.integers(1, 13))
@settings(max_examples=25, deadline=None)
def test_features_computed_in_day_chunks_equal_one_full_computation(seed: int, cut: int) -> None:
    source = _transactions(seed, rows=600, days=14)
    full = compute_features(CUSTOMER_TXN, source)
    first, _ = features_for_days(CUSTOMER_TXN, source, D, D + timedelta(days=cut - 1))
    second, _ = features_for_days(CUSTOMER_TXN, source, D + timedelta(days=cut), D + timedelta(days=13))
    chunked = pl.concat([first, second]).sort("customer_id", "event_time")
    assert_frame_equal(chunked, full.sort("customer_id", "event_time"), check_exact=False, rtol=1e-9)


def test_a_memory_budget_turns_into_a_row_limit_and_a_too_small_one_is_refused() -> None:
    width = source_row_bytes(CUSTOMER_TXN)
    limit = max_rows_for_budget(CUSTOMER_TXN, 1000 * 2**20, resident_bytes=400 * 2**20)
    assert limit is not None
    assert 0 < limit * width < 200 * 2**20
    assert max_rows_for_budget(CUSTOMER_TXN, None, resident_bytes=400 * 2**20) is None
    with pytest.raises(ValueError, match="FEATURELAKE_BUILD_MEMORY_BUDGET"):
        max_rows_for_budget(CUSTOMER_TXN, 700 * 2**20, resident_bytes=400 * 2**20)


def test_a_budget_smaller_than_one_day_plus_the_lookback_is_reported_in_the_plan() -> None:
    """A day is the smallest chunk: when it cannot fit, the plan says so instead of going over in silence."""
    chunks = tuple(
        plan_chunks([(D, D + timedelta(days=2))], {D + timedelta(days=i): 100.0 for i in range(3)}, WEEK, 50)
    )
    assert len(chunks) == 3  # one day each, every one over the limit
    over = BuildPlan(CUSTOMER_TXN.ref, 1, None, chunks, 300, "first build", None, max_rows=50, largest_chunk_rows=300)
    assert over.over_budget is not None
    assert "300 source rows" in over.over_budget
    assert "FEATURELAKE_BUILD_MEMORY_BUDGET" in over.summary()["over_budget"]  # type: ignore[operator]
    fits = BuildPlan(CUSTOMER_TXN.ref, 1, None, chunks, 300, "first build", None, max_rows=500, largest_chunk_rows=300)
    unbounded = BuildPlan(CUSTOMER_TXN.ref, 1, None, chunks, 300, "first build")
    assert fits.over_budget is None
    assert unbounded.over_budget is None
    assert "over_budget" not in fits.summary()
