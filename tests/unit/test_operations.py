"""Audit rows, model pins, retention and path handling of featurelake.operate (no servers).

The delta-rs behaviours the operations rely on (restore refusing vacuumed files, the retention
guard, vacuum's path spellings) are checked on small tables in a temporary directory.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from deltalake import DeltaTable, write_deltalake

from featurelake.cli import output
from featurelake.cli.ops import history_table
from featurelake.io.delta import maintenance
from featurelake.operate.history import history_row
from featurelake.operate.vacuum import pinned_versions

LAKE = "s3://lake-a"
TABLE = f"{LAKE}/features/customer_txn/v1"


def test_a_publish_row_carries_its_audit_fields_and_counts() -> None:
    commit = {
        "version": 2,
        "timestamp": 1_793_491_200_123,
        "operation": "WRITE",
        "operationMetrics": {"num_added_rows": 10, "num_added_files": 3, "num_removed_files": 2},
        "featurelake.flow_run_id": "run-1",
        "featurelake.code_revision": "abc123",
        "featurelake.fingerprint": "fp",
        "featurelake.suite_hash": "sh",
        "featurelake.bronze_version": "4",
    }

    row = history_row(commit)

    assert row["timestamp"] == "2026-11-01T00:00:00.123000+00:00"
    assert (row["version"], row["operation"], row["action"]) == (2, "WRITE", "publish")
    assert (row["rows_added"], row["rows_removed"], row["files_added"], row["files_removed"]) == (10, None, 3, 2)
    assert (row["flow_run_id"], row["code_revision"], row["fingerprint"], row["suite_hash"]) == (
        "run-1",
        "abc123",
        "fp",
        "sh",
    )
    assert row["deployment"] is None
    assert row["bronze_version"] == "4"


def test_a_restore_row_names_the_restored_version_even_without_featurelake_metadata() -> None:
    foreign = {"version": 5, "timestamp": 0, "operation": "RESTORE", "operationParameters": {"version": "1"}}
    ours = {**foreign, "featurelake.operation": "rollback", "featurelake.restored_to": "2", "featurelake.actor": "a"}

    assert history_row(foreign)["restored_to"] == "1"
    assert history_row(foreign)["action"] is None
    assert history_row(ours)["restored_to"] == "2"
    assert (history_row(ours)["action"], history_row(ours)["actor"]) == ("rollback", "a")


def test_deleted_rows_are_counted_where_delta_rs_records_them() -> None:
    delete = {"version": 1, "timestamp": 0, "operation": "DELETE", "operationMetrics": {"num_deleted_rows": 7}}

    assert history_row(delete)["rows_removed"] == 7


def test_pins_come_from_the_trigger_tag_and_the_manifest_tag_of_models_in_this_lake() -> None:
    tag_sets = [
        {
            "featurelake.feature_set": "customer_txn:v1",
            "featurelake.feature_table": TABLE,
            "featurelake.delta_version": "3",
            "featurelake.feature_sets": "customer_txn:v1@3,merchant_risk:v1@9",
        },
        {
            "featurelake.feature_set": "merchant_risk:v1",
            "featurelake.feature_table": f"{LAKE}/features/merchant_risk/v1",
            "featurelake.delta_version": "9",
            "featurelake.feature_sets": "merchant_risk:v1@9,customer_txn:v1@5",
        },
        {"featurelake.feature_set": "customer_txn:v1", "featurelake.delta_version": "6"},  # no table tag: kept
        {
            "featurelake.feature_set": "customer_txn:v1",
            "featurelake.feature_table": "s3://lake-b/features/customer_txn/v1",
            "featurelake.delta_version": "7",
        },
        {"featurelake.feature_sets": "customer_txn:v10@8,customerXtxn:v1@8"},  # LIKE over-matches: not ours
    ]

    assert pinned_versions(tag_sets, "customer_txn:v1", LAKE) == {3, 5, 6}
    assert pinned_versions(tag_sets, "customer_txn:v1", "s3://lake-a/") == {3, 5, 6}
    assert pinned_versions([], "customer_txn:v1", LAKE) == set()


def test_a_prefix_lake_does_not_claim_a_longer_named_lake() -> None:
    tags = {
        "featurelake.feature_set": "customer_txn:v1",
        "featurelake.feature_table": "s3://lake-ab/features/customer_txn/v1",
        "featurelake.delta_version": "1",
    }

    assert pinned_versions([tags], "customer_txn:v1", LAKE) == set()


@pytest.mark.parametrize(
    ("retention", "hours"),
    [(timedelta(0), 0), (timedelta(hours=168), 168), (timedelta(minutes=1), 1), (timedelta(hours=1.5), 2)],
)
def test_retention_rounds_up_to_whole_hours(retention: timedelta, hours: int) -> None:
    assert maintenance.retention_hours(retention) == hours


def test_a_negative_retention_is_refused() -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        maintenance.retention_hours(timedelta(hours=-1))


@pytest.mark.parametrize(
    "path",
    [
        "day=2026-11-01/part-0.parquet",
        f"{TABLE}/day=2026-11-01/part-0.parquet",
        "features/customer_txn/v1/day=2026-11-01/part-0.parquet",
        "day%3D2026-11-01/part-0.parquet",
    ],
)
def test_file_paths_are_compared_relative_and_decoded(path: str) -> None:
    assert maintenance.relative_path(path, TABLE + "/") == "day=2026-11-01/part-0.parquet"


def test_local_absolute_paths_are_made_relative() -> None:
    assert maintenance.relative_path("/tmp/t/a b/x.parquet", "file:///tmp/t/a%20b/") == "x.parquet"


def test_history_renders_who_and_why() -> None:
    rows = [
        history_row(
            {
                "version": 1,
                "timestamp": 0,
                "operation": "RESTORE",
                "featurelake.operation": "rollback",
                "featurelake.actor": "cli/alice",
                "featurelake.reason": "bad batch",
                "featurelake.restored_to": "0",
            }
        ),
        history_row(
            {
                "version": 0,
                "timestamp": 0,
                "operation": "WRITE",
                "operationMetrics": {"num_added_rows": 3},
                "featurelake.flow_run_id": "run-1",
                "featurelake.deployment": "build-features/daily",
                "featurelake.bronze_version": "2",
            }
        ),
    ]

    lines = output.plain(history_table(rows)).splitlines()

    assert lines[0].split()[:3] == ["version", "time", "(UTC)"]
    assert "cli/alice" in lines[1]
    assert lines[1].endswith("restored to 0; reason: bad batch")
    assert "flow-run/run-1 (build-features/daily)" in lines[2]
    assert lines[2].endswith("bronze 2")
    assert lines[2].split()[4] == "3"  # +rows


def _table(tmp_path: Path, versions: int) -> DeltaTable:
    for i in range(versions):
        frame = pl.DataFrame({"a": [i], "day": ["2026-11-01"]})
        write_deltalake(tmp_path / "t", frame.to_arrow(), mode="overwrite", partition_by=["day"])
    return DeltaTable(tmp_path / "t")


def test_vacuum_below_the_table_minimum_is_refused_unless_allowed(tmp_path: Path) -> None:
    table = _table(tmp_path, 2)

    with pytest.raises(ValueError, match="allow a shorter retention"):
        maintenance.vacuum(table, timedelta(0), dry_run=True)
    assert len(maintenance.vacuum(table, timedelta(0), dry_run=True, allow_short_retention=True)) == 1


def test_restore_of_vacuumed_files_is_refused_and_kept_versions_survive(tmp_path: Path) -> None:
    table = _table(tmp_path, 3)
    kept = maintenance.data_files(DeltaTable(tmp_path / "t", version=1))

    removed = maintenance.vacuum(table, timedelta(0), keep_versions=[1], dry_run=False, allow_short_retention=True)

    assert removed == sorted(maintenance.data_files(DeltaTable(tmp_path / "t", version=0)))
    assert not set(removed) & kept
    with pytest.raises(ValueError, match="its data files were vacuumed"):
        maintenance.restore(table, 0, {"featurelake.operation": "rollback"})
    maintenance.restore(table, 1, {"featurelake.operation": "rollback"})
    assert pl.from_arrow(table.to_pyarrow_table())["a"].to_list() == [1]  # type: ignore[index]
