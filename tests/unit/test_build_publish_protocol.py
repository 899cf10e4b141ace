"""The publish protocol of a build, decided in one place (featurelake.build.publish), checked on a local-disk lake.

One chunk publishes in its own commit with the idempotency marker and prepares the table itself;
several chunks write chunk commits and a marker commit is the publish; no chunk writes a marker
of zero chunks. A backfill names its bronze version without being a publish.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from featurelake.build import publish
from featurelake.build.chunks import DRIFT_SAMPLE_ROWS, chunk_jobs
from featurelake.build.plan import BuildPlan
from featurelake.core import commits
from featurelake.core.drift_basis import DriftBasis
from featurelake.core.increments import DayChunk
from featurelake.io.delta.store import DeltaStore
from featurelake.settings import Settings
from featurelake.validate.gate import ValidationOutcome
from features.customer_txn import CUSTOMER_TXN

AUDIT = {commits.FLOW_RUN_ID: "run-1", commits.FINGERPRINT: "fp"}
WEEK1, WEEK2 = DayChunk(date(2026, 1, 1), date(2026, 1, 7)), DayChunk(date(2026, 1, 8), date(2026, 1, 14))


def _plan(*chunks: DayChunk, bronze_version: int = 7) -> BuildPlan:
    return BuildPlan(CUSTOMER_TXN.ref, bronze_version, None, chunks, 0, "test")


@dataclass(frozen=True)
class _Chunk:
    rows: int
    delta_version: int | None


def _outcome() -> ValidationOutcome:
    return ValidationOutcome(evaluated=3, failures=(), suite_hash="suite-1", result={})


@pytest.fixture
def store(tmp_path: Path) -> DeltaStore:
    return DeltaStore(Settings(lake_uri=str(tmp_path / "lake")))


def test_a_single_chunk_is_the_publish_and_prepares_the_table_itself() -> None:
    instructions = publish.chunk_instructions(_plan(WEEK1), CUSTOMER_TXN, AUDIT)
    assert instructions.prepare_table
    assert instructions.app_transaction is not None
    assert instructions.app_transaction.app_id == commits.build_app_id(CUSTOMER_TXN)
    assert instructions.app_transaction.version == 7
    metadata = instructions.commit_metadata(42, WEEK1, "suite-1")
    assert commits.published_bronze_version(metadata) == 7
    assert metadata[commits.BATCH_ROWS] == "42"
    assert metadata[commits.DAYS] == WEEK1.label
    assert metadata[commits.SUITE_HASH] == "suite-1"
    assert metadata[commits.FLOW_RUN_ID] == "run-1"
    assert not commits.is_chunk(metadata)


def test_several_chunks_write_chunk_commits_without_the_marker() -> None:
    instructions = publish.chunk_instructions(_plan(WEEK1, WEEK2), CUSTOMER_TXN, AUDIT)
    assert not instructions.prepare_table
    assert instructions.app_transaction is None
    metadata = instructions.commit_metadata(10, WEEK2, "suite-1")
    assert commits.is_chunk(metadata)
    assert commits.published_bronze_version(metadata) is None
    assert commits.chunk_days(metadata) == [(WEEK2.start, WEEK2.end)]


def test_the_jobs_of_a_plan_share_its_instructions_and_split_the_drift_sample() -> None:
    basis = DriftBasis(3, (WEEK1.start, WEEK2.end), 0, datetime(2026, 1, 8, tzinfo=UTC), timedelta(days=7))
    jobs = chunk_jobs(CUSTOMER_TXN, _plan(WEEK1, WEEK2), basis, AUDIT)
    assert [j.chunk for j in jobs] == [WEEK1, WEEK2]
    expected = publish.chunk_instructions(_plan(WEEK1, WEEK2), CUSTOMER_TXN, AUDIT)
    assert all(j.instructions == expected for j in jobs)
    assert {(j.sample_rows, j.drift_basis, j.bronze_version) for j in jobs} == {(DRIFT_SAMPLE_ROWS // 2, basis, 7)}


def test_finishing_a_single_chunk_build_writes_nothing_more(store: DeltaStore) -> None:
    assert publish.finish(store, CUSTOMER_TXN, _plan(WEEK1), [_Chunk(5, 3)], AUDIT, _outcome()) == 3
    assert store.version(CUSTOMER_TXN.table_path) is None


def test_several_chunks_end_with_a_marker_commit_that_is_the_publish(store: DeltaStore) -> None:
    plan = _plan(WEEK1, WEEK2)
    publish.prepare(store, CUSTOMER_TXN, plan)  # the table and its constraints exist before the chunks
    assert store.version(CUSTOMER_TXN.table_path) is not None
    version = publish.finish(store, CUSTOMER_TXN, plan, [_Chunk(5, 1), _Chunk(6, 2)], AUDIT, _outcome())
    marker = store.history(CUSTOMER_TXN.table_path, 1)[0]
    assert int(marker["version"]) == version
    assert commits.published_bronze_version(marker) == 7
    assert (marker[commits.BATCH_ROWS], marker[commits.CHUNKS], marker[commits.SUITE_HASH]) == ("11", "2", "suite-1")
    assert store.app_version(CUSTOMER_TXN.table_path, commits.build_app_id(CUSTOMER_TXN)) == 7
    assert publish.published_commit(store, CUSTOMER_TXN, 7) is not None
    assert publish.published_commit(store, CUSTOMER_TXN, 8) is None


def test_a_build_with_nothing_to_recompute_publishes_a_marker_of_zero_chunks(store: DeltaStore) -> None:
    version = publish.publish_unchanged(store, CUSTOMER_TXN, _plan(), AUDIT)
    marker = store.history(CUSTOMER_TXN.table_path, 1)[0]
    assert int(marker["version"]) == version
    assert (marker[commits.CHUNKS], marker[commits.BATCH_ROWS]) == ("0", "0")
    assert commits.published_bronze_version(marker) == 7


def test_a_backfill_names_its_bronze_version_without_being_a_publish() -> None:
    metadata = publish.backfill_metadata(CUSTOMER_TXN, AUDIT, WEEK1, 4, "suite-1")
    assert commits.operation_of(metadata) == commits.Operation.BACKFILL
    assert commits.published_bronze_version(metadata) is None
    assert commits.source_bronze_version(metadata) == 4
    assert commits.is_publish(metadata)  # it put rows in the table: staleness resets
    assert commits.chunk_days(metadata) == [(WEEK1.start, WEEK1.end)]


def test_the_start_of_a_build_says_whether_its_input_is_already_published() -> None:
    fresh = publish.BuildStart(7, "fp", "rev", None)
    done = publish.BuildStart(7, "fp", "rev", {"version": 12})
    assert "building bronze version 7" in fresh.describe(CUSTOMER_TXN)
    assert "already published as customer_txn:v1 version 12" in done.describe(CUSTOMER_TXN)
