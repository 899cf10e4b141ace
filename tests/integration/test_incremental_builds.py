"""Incremental and partitioned builds against the real S3 emulator and Delta tables.

A build after new data recomputes only the days that data reaches and leaves every other day's
files untouched, yet the table always equals a full recomputation from bronze. Builds cut into
chunks (by a row limit, or fanned out on a local Dask cluster) publish the same rows.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import mlflow
import polars as pl
import pyarrow as pa
import pytest
from polars.testing import assert_frame_equal
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

from featurelake.build import publish, report
from featurelake.build.batch import combine_outcomes
from featurelake.build.chunks import build_chunk
from featurelake.build.plan import BuildPlan, plan_build
from featurelake.build.source import read_source
from featurelake.core import commits
from featurelake.core.constraints import check_constraints
from featurelake.core.featureset import PARTITION_COLUMN, compute_features
from featurelake.core.fingerprint import fingerprint
from featurelake.core.naming import feature_quarantine_path
from featurelake.ingest.bronze import SOURCE_ETAG, SOURCE_KEY
from featurelake.io.delta.feature_tables import ensure_check_constraints, read_feature_table
from featurelake.io.delta.store import DeltaStore
from featurelake.local import synthetic
from featurelake.settings import Settings, get_settings
from featurelake.validate.gate import ValidationFailedError
from features.customer_txn import CUSTOMER_TXN
from flows.build_features import build_features
from flows.ingest import ingest
from tests.catalogs.strict import STRICT
from tests.integration.helpers import DATA, upload

KEY = ["customer_id", "event_time"]


def _transaction_objects() -> dict[str, bytes]:
    return {k: v for k, v in synthetic.raw_objects(DATA).items() if k.startswith("transactions/")}


def _files_by_day(store: DeltaStore) -> dict[str, set[str]]:
    actions = pl.from_arrow(pa.table(store.existing(CUSTOMER_TXN.table_path).get_add_actions(flatten=True)))
    assert isinstance(actions, pl.DataFrame)
    grouped = actions.group_by(f"partition.{PARTITION_COLUMN}").agg(pl.col("path"))
    return {str(day): set(paths) for day, paths in grouped.iter_rows()}


def _assert_equals_full_recompute(store: DeltaStore) -> pl.DataFrame:
    """The published table equals compute_features over every bronze row."""
    source, _ = read_source(store, CUSTOMER_TXN)
    expected = compute_features(CUSTOMER_TXN, source).sort(KEY)
    actual = read_feature_table(store, CUSTOMER_TXN).frame.sort(KEY)
    assert_frame_equal(actual, expected, check_exact=False, rtol=1e-9)
    return actual


def _publish_commit(store: DeltaStore, summary: dict[str, object]) -> dict[str, Any]:
    """The commit a build's summary names (its metadata says which days the build replaced)."""
    version = int(str(summary["delta_version"]))  # the latest log: delta-rs misnumbers an old version's history
    return next(c for c in store.history(CUSTOMER_TXN.table_path) if int(c["version"]) == version)


def test_a_new_day_recomputes_only_that_day_and_a_late_row_its_lookback(settings: Settings) -> None:
    objects = sorted(_transaction_objects().items())
    upload(settings, dict(objects[:-1]))  # every day but the last
    ingest()
    store = DeltaStore(settings)
    # created empty as a chunked build creates it, in day partitions: this test is about day files
    # (the demo's volume alone would get none; tests/integration/test_layout_and_backfill.py covers every layout)
    ensure_check_constraints(
        store, CUSTOMER_TXN, check_constraints(CUSTOMER_TXN), pl.DataFrame(schema=CUSTOMER_TXN.output_schema())
    )
    first = build_features("customer_txn", 1)
    _assert_equals_full_recompute(store)
    files_before = _files_by_day(store)
    uploaded_days = [key.split("day=")[1].split("/")[0] for key, _ in objects[:-1]]
    assert _publish_commit(store, first)["featurelake.days"] == f"{uploaded_days[0]}..{uploaded_days[-1]}"

    upload(settings, dict(objects[-1:]))  # the last day arrives
    ingest()
    second = build_features("customer_txn", 1)
    # The demo's 6 days are shorter than the 7-day lookback: every window is still filling up, on
    # both sides, so drift judges nothing rather than flag the warm-up as a shift.
    drift = mlflow.MlflowClient(settings.mlflow_tracking_uri).get_run(str(second["mlflow_run_id"])).data.metrics
    assert (drift["drift_breached_features"], drift["drift_judged_features"]) == (0.0, 0.0)
    new_day = objects[-1][0].split("day=")[1].split("/")[0]
    commit = _publish_commit(store, second)
    assert commit["featurelake.days"] == f"{new_day}..{new_day}", "only the new day was recomputed"
    assert int(commit["featurelake.batch_rows"]) == second["row_count"] > 0
    files_after = _files_by_day(store)
    assert {day: paths for day, paths in files_after.items() if day != new_day} == files_before, (
        "the other days' files were rewritten"
    )
    _assert_equals_full_recompute(store)

    # A late transaction on the second day changes that day and the windows of the 7 days after it.
    days = sorted(files_after)
    late = DATA.transactions.filter(pl.col("event_time").dt.date().cast(pl.String) == days[1]).head(3)
    late = late.with_columns(
        (pl.col("txn_id") + "-late").alias("txn_id"), (pl.col("event_time") + timedelta(minutes=1)).alias("event_time")
    )
    upload(settings, {"transactions/late/part-0.parquet": synthetic._parquet(late)})
    ingest()
    third = build_features("customer_txn", 1)
    assert _publish_commit(store, third)["featurelake.days"] == f"{days[1]}..{days[-1]}"
    _assert_equals_full_recompute(store)


def test_a_build_in_chunks_publishes_the_same_rows_with_one_marker_commit(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    upload(settings, _transaction_objects())
    ingest()
    monkeypatch.setenv("FEATURELAKE_BUILD_CHUNK_ROWS", "4000")  # the demo days hold ~1,500 rows each
    get_settings.cache_clear()
    summary = build_features("customer_txn", 1)
    store = DeltaStore(settings)
    _assert_equals_full_recompute(store)
    history = store.history(CUSTOMER_TXN.table_path)
    chunks = [c for c in history if commits.is_chunk(c)]
    marker = history[0]
    assert len(chunks) >= 2, "the row limit did not split the build"
    assert int(marker["version"]) == summary["delta_version"]
    assert marker["featurelake.chunks"] == str(len(chunks))
    assert (
        int(marker["featurelake.batch_rows"])
        == summary["row_count"]
        == sum(int(c["featurelake.batch_rows"]) for c in chunks)
    )
    again = build_features("customer_txn", 1)  # a retry of the same bronze version changes nothing
    assert again["delta_version"] == summary["delta_version"]
    assert again["row_count"] == summary["row_count"]


def test_a_chunk_that_fails_the_gate_restores_the_table_and_quarantines_its_rows(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FEATURELAKE_FEATURES_MODULE", "tests.catalogs.strict")
    monkeypatch.setenv("FEATURELAKE_BUILD_CHUNK_ROWS", "4000")
    get_settings.cache_clear()
    # Amounts the strict catalog accepts (max ≤ 100), except one on the last day: only its chunk fails.
    small = DATA.transactions.with_columns(pl.col("amount").clip(0, 50))
    last = small["event_time"].max()
    small = small.with_columns(
        pl.when(pl.col("event_time") == last).then(500.0).otherwise(pl.col("amount")).alias("amount")
    )
    objects = synthetic.raw_objects(dataclasses.replace(DATA, transactions=small))
    upload(settings, {k: v for k, v in objects.items() if k.startswith("transactions/")})
    ingest()
    with pytest.raises(ValidationFailedError):
        build_features(STRICT.name, STRICT.version)
    store = DeltaStore(settings)
    table = store.existing(STRICT.table_path)
    assert table.count() == 0, "chunks that passed were not withdrawn"
    history = store.history(STRICT.table_path)
    assert [c for c in history if commits.is_chunk(c)], "no chunk passed the gate: this test needs one that does"
    assert history[0].get("featurelake.operation") == "rollback"
    quarantined = store.read(feature_quarantine_path(STRICT.name, STRICT.version))
    assert quarantined.height > 0
    assert set(quarantined["_bronze_version"].unique()) == {1}
    with pytest.raises(ValidationFailedError):  # a retry quarantines the same rows once, not twice
        build_features(STRICT.name, STRICT.version)
    assert store.read(feature_quarantine_path(STRICT.name, STRICT.version)).height == quarantined.height


def test_chunks_fan_out_on_a_local_dask_cluster_with_concurrent_commits(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect_dask.task_runners import DaskTaskRunner

    upload(settings, _transaction_objects())
    ingest()
    monkeypatch.setenv("FEATURELAKE_BUILD_CHUNK_ROWS", "4000")
    get_settings.cache_clear()
    cluster = {"n_workers": 2, "threads_per_worker": 1, "processes": True}
    on_dask = build_features.with_options(task_runner=DaskTaskRunner(cluster_kwargs=cluster))
    summary = on_dask("customer_txn", 1)
    store = DeltaStore(settings)
    _assert_equals_full_recompute(store)
    chunks = [c for c in store.history(CUSTOMER_TXN.table_path) if commits.is_chunk(c)]
    assert len(chunks) >= 2
    assert len({c["featurelake.days"] for c in chunks}) == len(chunks)
    assert summary["delta_version"] == store.version(CUSTOMER_TXN.table_path)


def _local_bronze(tmp_path: Path) -> tuple[DeltaStore, list[pl.DataFrame]]:
    """An empty local-disk lake, and the demo transactions by day with bronze's bookkeeping columns."""
    by_day = sorted(
        DATA.transactions.with_columns(pl.col("event_time").dt.date().alias("_day"))
        .partition_by("_day", as_dict=True)
        .items()
    )
    days = [
        rows.drop("_day").with_columns(
            pl.lit(f"transactions/day={day}/part-0.parquet").alias(SOURCE_KEY), pl.lit(f'"{day}"').alias(SOURCE_ETAG)
        )
        for (day,), rows in by_day
    ]
    return DeltaStore(Settings(lake_uri=str(tmp_path / "lake"))), days


def _append(store: DeltaStore, rows: pl.DataFrame) -> int:
    return store.write("bronze/transactions", rows, mode="append", metadata={"featurelake.operation": "ingest"})


def _publish(store: DeltaStore) -> BuildPlan:
    """Plan and run a build as the flow does (chunks, then the publish the protocol says); returns the plan."""
    bronze_version = store.version("bronze/transactions")
    assert bronze_version is not None
    build_plan = plan_build(store, CUSTOMER_TXN, bronze_version, max_rows=None)
    audit = {"featurelake.fingerprint": fingerprint(CUSTOMER_TXN)}
    if not build_plan.chunks:
        publish.publish_unchanged(store, CUSTOMER_TXN, build_plan, audit)
        return build_plan
    publish.prepare(store, CUSTOMER_TXN, build_plan)
    instructions = publish.chunk_instructions(build_plan, CUSTOMER_TXN, audit)
    results = [
        build_chunk(
            store,
            CUSTOMER_TXN,
            chunk,
            bronze_version=bronze_version,
            instructions=instructions,
            user_expectations=[],
            sample_rows=100,
        )
        for chunk in build_plan.chunks
    ]
    outcome = combine_outcomes([r.outcome for r in results])
    publish.finish(store, CUSTOMER_TXN, build_plan, results, audit, outcome)
    return build_plan


def test_a_bronze_compaction_changes_nothing_to_rebuild_unless_it_merged_new_rows(tmp_path: Path) -> None:
    store, days = _local_bronze(tmp_path)
    for rows in days[:4]:
        _append(store, rows)
    _publish(store)
    store.existing("bronze/transactions").optimize.compact()  # nightly maintenance: four files become one
    compacted = store.version("bronze/transactions")
    assert compacted is not None
    assert plan_build(store, CUSTOMER_TXN, compacted, max_rows=None).chunks == (), "a compaction alone caused work"
    _append(store, days[4])
    fifth = str(days[4]["event_time"].dt.date().min())
    assert [c.label for c in _publish(store).chunks] == [f"{fifth}..{fifth}"]
    _assert_equals_full_recompute(store)

    _append(store, days[5])  # the new day is compacted together with the old files before the next build
    store.existing("bronze/transactions").optimize.compact()
    merged = _publish(store)
    first, sixth = (str(d["event_time"].dt.date().min()) for d in (days[0], days[5]))
    assert [c.label for c in merged.chunks] == [f"{first}..{sixth}"], "new rows inside a compaction were missed"
    _assert_equals_full_recompute(store)


def test_a_build_after_only_a_compaction_computes_and_announces_nothing(settings: Settings) -> None:
    objects = sorted(_transaction_objects().items())
    for batch in (objects[:3], objects[3:]):  # two ingests: two bronze files for the compaction to merge
        upload(settings, dict(batch))
        ingest()
    first = build_features("customer_txn", 1)
    store = DeltaStore(settings)
    rows = read_feature_table(store, CUSTOMER_TXN).frame.sort(KEY)
    bronze = store.existing("bronze/transactions")
    assert bronze.optimize.compact()["numFilesRemoved"] >= 2
    again = build_features("customer_txn", 1)
    assert again["unchanged"] is True
    assert again["row_count"] == 0
    assert int(str(again["delta_version"])) == int(str(first["delta_version"])) + 1  # only the marker
    assert_frame_equal(read_feature_table(store, CUSTOMER_TXN).frame.sort(KEY), rows)
    description, summary = _build_artifact()
    assert description == report.UNCHANGED
    assert "changed no day" in summary["outcome"]
    assert "no new data" in summary["outcome"]

    rerun = build_features("customer_txn", 1)  # e.g. build-features/adhoc on the already published version
    assert rerun["delta_version"] == again["delta_version"]
    description, summary = _build_artifact()
    assert description == report.REANNOUNCED == "Re-announced an existing publish (no new data)"
    assert str(summary["outcome"]).startswith(f"re-announced: bronze version {again['bronze_version']}")
    assert first["outcome"] == "published"


def _build_artifact() -> tuple[str, dict[str, Any]]:
    """The description and the row of the newest build summary artifact of customer_txn."""
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["build-customer-txn"]))
        )
    newest = max(found, key=lambda a: a.created or 0)
    data = newest.data if isinstance(newest.data, list) else json.loads(str(newest.data))
    return str(newest.description), data[0]
