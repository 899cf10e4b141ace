"""Drift compares like with like: the same span of the previous publish, rows whose windows are full.

The scenarios are the demo's own data, computed with the build's transform: the first
incremental day (every window still filling up), a steady-state new day, a shifted copy of
existing data (last week replayed as a new day), and a real shift of amounts. A lake on local
disk checks how a build finds its basis from the previous publish's log.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from featurelake.build.batch import BuildBatch
from featurelake.build.plan import BuildPlan
from featurelake.build.reference import drift_basis_of
from featurelake.core import commits
from featurelake.core.drift import drift_report
from featurelake.core.drift_basis import DriftBasis
from featurelake.core.featureset import compute_features
from featurelake.core.increments import DayChunk
from featurelake.io.delta.feature_tables import write_feature_table
from featurelake.io.delta.store import DeltaStore
from featurelake.local import synthetic
from featurelake.observe.drift import drift_metrics
from featurelake.observe.status import drift_from_run
from featurelake.settings import Settings
from featurelake.validate.gate import ValidationOutcome
from features.customer_txn import CUSTOMER_TXN

TIME = CUSTOMER_TXN.event_time
NAMES = list(CUSTOMER_TXN.feature_names)
WEEK = timedelta(days=7)
PASSED = ValidationOutcome(evaluated=1, failures=(), suite_hash="s", result={})


def _day(frame: pl.DataFrame, day: date) -> pl.DataFrame:
    return frame.filter(pl.col(TIME).dt.date() == day)


def _until(frame: pl.DataFrame, day: date) -> pl.DataFrame:
    return frame.filter(pl.col(TIME).dt.date() <= day)


def _days(frame: pl.DataFrame) -> list[date]:
    return sorted(frame[TIME].dt.date().unique().to_list())


def _batch(sample: pl.DataFrame, reference: pl.DataFrame) -> BuildBatch:
    return BuildBatch(0, 0, pl.DataFrame(), sample, reference, PASSED)


def _append_a_day(before: pl.DataFrame, after: pl.DataFrame) -> tuple[BuildBatch, DriftBasis]:
    """The batch and basis of a build that appends the last day of ``after`` to a table built from ``before``."""
    published, rebuilt = compute_features(CUSTOMER_TXN, before), compute_features(CUSTOMER_TXN, after)
    new_day, last_published = _days(after)[-1], _days(before)[-1]
    settled = max(before[TIME].min(), after[TIME].min()) + CUSTOMER_TXN.lookback  # type: ignore[operator]
    basis = DriftBasis(4, (new_day, new_day), (new_day - last_published).days, settled, CUSTOMER_TXN.lookback)
    first, last = basis.reference_days(new_day, new_day)
    reference = published.filter(pl.col(TIME).dt.date().is_between(first, last))
    return _batch(_day(rebuilt, new_day), reference), basis


def test_the_reference_is_the_same_days_or_the_latest_days_before_new_ones() -> None:
    replaced = DriftBasis(3, (date(2026, 1, 2), date(2026, 1, 9)), 0, None, WEEK)
    assert replaced.reference_days(date(2026, 1, 2), date(2026, 1, 9)) == (date(2026, 1, 2), date(2026, 1, 9))
    assert "the same days of Delta version 3" in replaced.describe()
    appended = DriftBasis(3, (date(2026, 1, 10), date(2026, 1, 11)), 2, None, WEEK)
    assert appended.reference_days(date(2026, 1, 10), date(2026, 1, 11)) == (date(2026, 1, 8), date(2026, 1, 9))
    assert "days 2026-01-08..2026-01-09 of Delta version 3" in appended.describe()
    mixed = DriftBasis(3, (date(2026, 1, 2), date(2026, 1, 10)), 1, None, WEEK)  # a late row and a new day
    assert mixed.reference_days(date(2026, 1, 2), date(2026, 1, 10)) == (date(2026, 1, 1), date(2026, 1, 9))


def test_rows_whose_windows_reach_before_the_first_source_row_are_left_out() -> None:
    settled_from = datetime(2026, 1, 8, tzinfo=UTC)
    basis = DriftBasis(3, (date(2026, 1, 9), date(2026, 1, 9)), 1, settled_from, WEEK)
    frame = pl.DataFrame({TIME: [settled_from - timedelta(seconds=1), settled_from]})
    assert basis.settled(frame, TIME)[TIME].to_list() == [settled_from]
    assert "Rows before 2026-01-08 00:00 UTC are left out on both sides: their 7-day windows" in basis.describe()
    assert DriftBasis(3, basis.batch_days, 1, None, WEEK).settled(frame, TIME).height == 2


def test_the_demo_first_incremental_day_is_not_judged_where_the_old_reference_breached() -> None:
    transactions = synthetic.generate().transactions  # the demo: 6 days, shorter than the 7-day lookback
    last = _days(transactions)[-1]
    batch, basis = _append_a_day(_until(transactions, last - timedelta(days=1)), transactions)

    report, reference_version = batch.drift(CUSTOMER_TXN, basis) or pytest.fail("no drift report")

    assert reference_version == 4
    assert (report.breached, report.judged) == ((), ())
    assert "still filling up" in report.basis
    assert "still filling up" in report.to_markdown()
    metrics = drift_metrics(report)
    assert (metrics["drift_breached_features"], metrics["drift_judged_features"]) == (0.0, 0.0)
    status = drift_from_run({"run_id": "r", "tags": {}, "metrics": metrics})
    assert status is not None
    assert status.describe().startswith("not judged")
    # What the build compared before: the previous publish's rows on the new day's lookback days.
    published = compute_features(CUSTOMER_TXN, _until(transactions, last - timedelta(days=1)))
    new_day = _day(compute_features(CUSTOMER_TXN, transactions), last)
    assert len(drift_report(CUSTOMER_TXN.drift, published, new_day, NAMES).breached) >= 4


@pytest.fixture(scope="module")
def weeks() -> pl.DataFrame:
    """17 days of the demo's generator: two full weeks of history and three more days."""
    return synthetic.generate(days=17).transactions


def test_a_steady_state_new_day_is_judged_and_stable(weeks: pl.DataFrame) -> None:
    day = _days(weeks)
    batch, basis = _append_a_day(_until(weeks, day[13]), _until(weeks, day[14]))
    report, _ = batch.drift(CUSTOMER_TXN, basis) or pytest.fail("no drift report")
    assert report.judged == tuple(NAMES)
    assert report.breached == ()


def test_a_shifted_copy_does_not_fire_and_a_real_shift_after_it_does(weeks: pl.DataFrame) -> None:
    day = _days(weeks)
    history = _until(weeks, day[14])
    # The shifted copy: day 9's transactions replayed a week later as day 16 (same customers, amounts, times).
    replay = _day(weeks, day[8]).with_columns(pl.col(TIME) + WEEK, pl.col("txn_id") + "-replay")
    copied = pl.concat([history, replay])
    batch, basis = _append_a_day(history, copied)
    report, _ = batch.drift(CUSTOMER_TXN, basis) or pytest.fail("no drift report")
    assert report.judged == tuple(NAMES)
    assert report.breached == ()

    shifted = pl.concat([copied, _day(weeks, day[16]).with_columns(pl.col("amount") * 1.5)])
    batch, basis = _append_a_day(copied, shifted)
    report, _ = batch.drift(CUSTOMER_TXN, basis) or pytest.fail("no drift report")
    assert {"amount_sum_24h", "amount_mean_7d", "amount_max_1h"} <= set(report.breached)
    assert not {"amount_count_1h", "amount_count_24h", "amount_count_7d"} & set(report.breached)


def test_rebuilt_days_with_unchanged_rows_show_no_drift_at_all(weeks: pl.DataFrame) -> None:
    features = compute_features(CUSTOMER_TXN, weeks)
    days = (_days(weeks)[9], _days(weeks)[12])
    basis = DriftBasis(4, days, 0, weeks[TIME].min() + CUSTOMER_TXN.lookback, CUSTOMER_TXN.lookback)  # type: ignore[operator]
    span = features.filter(pl.col(TIME).dt.date().is_between(*days))
    report, _ = _batch(span, span).drift(CUSTOMER_TXN, basis) or pytest.fail("no drift report")
    assert {f.psi for f in report.features} == {f.ks for f in report.features} == {0.0}


def test_no_previous_rows_on_the_span_means_no_report() -> None:
    basis = DriftBasis(4, (date(2026, 1, 9), date(2026, 1, 9)), 1, None, WEEK)
    features = compute_features(CUSTOMER_TXN, synthetic.generate(days=2).transactions)
    assert _batch(features, pl.DataFrame()).drift(CUSTOMER_TXN, basis) is None
    assert _batch(features, features).drift(CUSTOMER_TXN, None) is None


def test_a_build_finds_its_basis_in_the_previous_publish(tmp_path: Path) -> None:
    store = DeltaStore(Settings(lake_uri=str(tmp_path / "lake")))
    transactions = synthetic.generate(days=10).transactions
    days = _days(transactions)
    published = compute_features(CUSTOMER_TXN, _until(transactions, days[8]))
    metadata = commits.publish_metadata(CUSTOMER_TXN.ref, 3, {}, rows=published.height)
    version = write_feature_table(store, CUSTOMER_TXN, published, metadata=metadata)
    plan = BuildPlan(CUSTOMER_TXN.ref, 4, 3, (DayChunk(days[9], days[9]),), 0, "", transactions[TIME].min())

    basis = drift_basis_of(store, CUSTOMER_TXN, plan, version)

    assert basis is not None
    assert (basis.version, basis.batch_days, basis.new_days) == (version, (days[9], days[9]), 1)
    first = transactions[TIME].min()
    assert isinstance(first, datetime)
    assert basis.settled_from is not None
    assert abs(basis.settled_from - (first + CUSTOMER_TXN.lookback)) < timedelta(milliseconds=1)
    assert drift_basis_of(store, CUSTOMER_TXN, plan, None) is None
    empty = BuildPlan(CUSTOMER_TXN.ref, 4, 3, (), 0, "")
    assert drift_basis_of(store, CUSTOMER_TXN, empty, version) is None
