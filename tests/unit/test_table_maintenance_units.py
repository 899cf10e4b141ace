"""The pieces of table maintenance that need no server: pin resolution over commit histories, and
which partitions a compaction rewrites (on small Delta tables in a temporary directory)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from deltalake import DeltaTable, write_deltalake

from featurelake.io.delta import maintenance
from featurelake.operate.maintenance_plan import MaintenanceOptions
from featurelake.operate.pins import UnresolvedPinError, bronze_version_behind
from featurelake.operate.uploads import upload_buckets
from featurelake.settings import Settings


def commit(version: int, operation: str = "WRITE", **metadata: Any) -> dict[str, Any]:
    return {"version": version, "operation": operation, **{k.replace("__", "."): v for k, v in metadata.items()}}


HISTORY = [  # newest first, as delta-rs returns it
    commit(7, "VACUUM END", featurelake__operation="vacuum"),
    commit(6, "RESTORE", featurelake__operation="rollback", featurelake__restored_to="2"),
    commit(5, "WRITE", featurelake__bronze_version="40"),
    commit(4, "SET TBLPROPERTIES", featurelake__operation="keep-log"),
    commit(3, "OPTIMIZE", featurelake__operation="compact"),
    commit(2, "WRITE", featurelake__bronze_version="12"),
    commit(1, "ADD CONSTRAINT", featurelake__operation="add-constraints"),
    commit(0, "CREATE TABLE", featurelake__operation="create-table"),
]


@pytest.mark.parametrize(
    ("version", "bronze"),
    [
        (2, 12),  # a publish names its bronze version
        (3, 12),  # a compaction holds what the publish before it held
        (4, 12),  # so does a property change after it
        (5, 40),
        (6, 12),  # a rollback holds what the version it restored held
        (7, 12),  # a vacuum after the rollback too
        (1, None),  # constraints on the empty table: no rows, nothing behind it
        (0, None),
    ],
)
def test_the_bronze_version_behind_a_feature_version_follows_commits_that_change_no_rows(
    version: int, bronze: int | None
) -> None:
    assert bronze_version_behind(HISTORY, version) == bronze


def test_a_backfill_commit_names_its_bronze_version_under_its_own_key() -> None:
    history = [commit(2, "WRITE", featurelake__source_bronze_version="9"), *HISTORY[-2:]]
    assert bronze_version_behind(history, 2) == 9


def test_a_pin_whose_chain_is_broken_is_unresolved_rather_than_guessed() -> None:
    history = [commit(9, "WRITE"), commit(8, "OPTIMIZE"), *HISTORY]  # someone wrote without featurelake
    with pytest.raises(UnresolvedPinError, match=r"commit 9 \(WRITE\) changed rows but names no bronze version"):
        bronze_version_behind(history, 8 + 1)
    with pytest.raises(UnresolvedPinError, match="commit 12 is no longer in the log"):
        bronze_version_behind(HISTORY, 12)
    looping = [commit(1, "RESTORE", featurelake__restored_to="0"), commit(0, "RESTORE", featurelake__restored_to="1")]
    with pytest.raises(UnresolvedPinError, match="loop"):
        bronze_version_behind(looping, 1)


def small_table(path: Path, days: list[date | None], partitioned: bool = True) -> DeltaTable:
    """One append (one small file) per entry of ``days``."""
    for n, day in enumerate(days):
        frame = pl.DataFrame({"day": [day], "x": [n]}, schema={"day": pl.Date, "x": pl.Int64})
        write_deltalake(str(path), frame.to_arrow(), mode="append", partition_by=["day"] if partitioned else None)
    return DeltaTable(str(path))


def test_only_partitions_crowded_with_small_files_are_compacted(tmp_path: Path) -> None:
    first, second = date(2026, 11, 1), date(2026, 11, 2)
    table = small_table(tmp_path / "t", [first] * 5 + [second] * 2)

    assert maintenance.small_file_partitions(table, 2**20, min_files=4) == [({"day": first}, 5)]
    assert maintenance.small_file_partitions(table, 2**20, min_files=2) == [({"day": first}, 5), ({"day": second}, 2)]
    assert maintenance.small_file_partitions(table, 10, min_files=2) == []  # no file is below 10 bytes

    metrics = maintenance.compact(table, 2**20, {"day": first}, {"featurelake.operation": "compact"})

    assert (metrics["numFilesRemoved"], metrics["numFilesAdded"]) == (5, 1)
    assert maintenance.file_stats(table).files == 3  # the other partition was left alone
    assert table.history(1)[0]["featurelake.operation"] == "compact"


def test_an_unpartitioned_table_or_a_null_partition_is_compacted_whole(tmp_path: Path) -> None:
    flat = small_table(tmp_path / "flat", [date(2026, 11, 1)] * 3, partitioned=False)
    with_null = small_table(tmp_path / "null", [None, None, date(2026, 11, 1)])

    assert maintenance.small_file_partitions(flat, 2**20, min_files=3) == [({}, 3)]
    assert maintenance.small_file_partitions(flat, 2**20, min_files=4) == []
    assert maintenance.small_file_partitions(with_null, 2**20, min_files=2) == [({}, 3)]


def test_a_compaction_planned_on_an_old_snapshot_loses_to_the_writer_that_changed_it(tmp_path: Path) -> None:
    table = small_table(tmp_path / "t", [date(2026, 11, 1)] * 3, partitioned=False)
    stale = DeltaTable(str(tmp_path / "t"))
    table.delete("x = 0")  # a writer removes a file the compaction is about to read

    with pytest.raises(
        maintenance.LostCommitRaceError, match=r"compaction .* lost a commit race.*next run does it again"
    ):
        maintenance.compact(stale, 2**20, {}, {})

    assert sorted(pl.from_arrow(DeltaTable(str(tmp_path / "t")).to_pyarrow_table())["x"].to_list()) == [1, 2]


def test_a_vacuum_planned_on_an_old_snapshot_loses_to_a_writer_and_deletes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "t"
    table = small_table(path, [date(2026, 11, 1)] * 3, partitioned=False)
    table.optimize.compact()  # three removed files, old enough for a zero retention
    stale = DeltaTable(str(path))
    DeltaTable(str(path)).delete("x = 1")  # a writer commits after the vacuum loaded its snapshot
    on_disk = set(path.glob("*.parquet"))

    with pytest.raises(maintenance.LostCommitRaceError, match=r"vacuum .* lost a commit race"):
        maintenance.vacuum(stale, timedelta(0), dry_run=False, allow_short_retention=True)

    assert set(path.glob("*.parquet")) == on_disk


def test_writers_stop_cleaning_the_log_once_told(tmp_path: Path) -> None:
    table = small_table(tmp_path / "t", [date(2026, 11, 1)], partitioned=False)
    assert maintenance.writers_clean_log(table)

    maintenance.stop_writer_log_cleanup(table, {"featurelake.operation": "keep-log"})

    reloaded = DeltaTable(str(tmp_path / "t"))
    assert not maintenance.writers_clean_log(reloaded)
    assert reloaded.history(1)[0]["featurelake.operation"] == "keep-log"


def test_failed_tables_are_named_and_a_report_summarises_itself_in_one_line() -> None:
    from featurelake.operate.maintenance import TableReport, failed_tables

    done = TableReport("bronze/t", "bronze", 3, 20, 2**20, 4, 2, 2**20, removed=18, notes=["held"])
    broken = TableReport("features/f/v1", "features", 1, 1, 1, error="vacuum: registry down")
    assert failed_tables([done, broken]) == ["features/f/v1"]
    assert done.summary() == "bronze/t: files 20 → 2, removed 18, notes: held"
    assert broken.summary() == "features/f/v1: vacuum: registry down"


def test_maintenance_cleans_the_uploads_of_the_raw_and_lake_buckets_only_for_a_lake_on_s3(tmp_path: Path) -> None:
    assert upload_buckets(Settings(lake_uri=str(tmp_path))) == []
    on_s3 = Settings(raw_bucket="raw", lake_uri="s3://lake/team/prod")
    assert upload_buckets(on_s3) == [("raw", ""), ("lake", "team/prod/")]
    assert upload_buckets(Settings(raw_bucket="one", lake_uri="s3://one/lake")) == [("one", "")]
    hours = MaintenanceOptions.from_parameters(
        retain_hours=1, target_file_mb=1, min_small_files=2, dry_run=False, allow_short_retention=False
    )
    assert hours.abort_uploads_after == timedelta(hours=24)
