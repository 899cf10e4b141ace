"""Delta table maintenance: restore, compact, checkpoint, vacuum and clean up the log.

These are the delta-rs calls behind :mod:`featurelake.operate` and the nightly maintenance;
they take a loaded :class:`~deltalake.DeltaTable` so that a plan and its execution see one
snapshot (and a compaction planned on a snapshot a writer has since changed loses its commit
race instead of overwriting that writer's work).

File paths are compared in one spelling: relative to the table root and percent-decoded. The
log stores them relative and URI-encoded, while delta-rs vacuum reports object-store locations
(relative on success, absolute for a file that was already gone), so raw strings would not match.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import unquote, urlparse

import polars as pl
import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, WriterProperties
from deltalake.exceptions import CommitFailedError, DeltaError

from featurelake.core.layout import ROW_GROUP_ROWS

#: Prefix of the table properties that hold Delta CHECK constraints.
CONSTRAINT_PREFIX = "delta.constraints."
#: The table property that lets every writer delete expired log entries after its checkpoints.
WRITER_LOG_CLEANUP = "delta.enableExpiredLogCleanup"


class LostCommitRaceError(RuntimeError):
    """A compaction or vacuum lost its commit race to a concurrent writer: nothing changed, the next run retries."""


@dataclass(frozen=True)
class FileStats:
    """The data files one snapshot of a table reads."""

    files: int
    bytes: int


def retention_hours(retention: timedelta) -> int:
    """delta-rs takes whole hours: round up, so a vacuum never keeps less than it was asked to.

    Raises:
        ValueError: for a negative retention.
    """
    if retention < timedelta(0):
        raise ValueError(f"vacuum retention must not be negative, got {retention}")
    return math.ceil(retention / timedelta(hours=1))


def relative_path(path: str, table_uri: str) -> str:
    """A data file's path relative to the table root, percent-decoded.

    Accepts the log's relative form, a full URI under the table, an absolute local path, or a
    bucket key that includes the table's prefix.
    """
    root = unquote(table_uri.rstrip("/") + "/")
    key = urlparse(root).path
    decoded = unquote(path)
    for prefix in (root, key, key.lstrip("/")):
        if prefix.strip("/") and decoded.startswith(prefix):
            return decoded[len(prefix) :]
    return decoded


def data_files(table: DeltaTable) -> set[str]:
    """The data files the loaded version of ``table`` reads (relative, decoded paths)."""
    paths = pa.table(table.get_add_actions(flatten=False)).column("path").to_pylist()
    return {relative_path(str(p), table.table_uri) for p in paths}


def constraints(table: DeltaTable) -> dict[str, str]:
    """The CHECK constraints of the loaded version (name → expression)."""
    configuration = table.metadata().configuration
    return {k.removeprefix(CONSTRAINT_PREFIX): v for k, v in configuration.items() if k.startswith(CONSTRAINT_PREFIX)}


def restore(table: DeltaTable, version: int, metadata: Mapping[str, str]) -> dict[str, Any]:
    """Restore ``table`` to ``version`` in one commit carrying ``metadata``; returns delta-rs's metrics.

    The table object moves to the new version. delta-rs checks that every file it re-adds still
    exists, and refuses rather than commit a table that points at vacuumed files.

    Raises:
        ValueError: when files of ``version`` were already removed by a vacuum.
    """
    try:
        return table.restore(version, commit_properties=CommitProperties(custom_metadata=dict(metadata)))
    except DeltaError as error:
        if "missing file" in str(error).lower():
            raise ValueError(
                f"cannot restore {table.table_uri} to version {version}: its data files were vacuumed ({error})"
            ) from error
        raise


def vacuum(
    table: DeltaTable,
    retention: timedelta,
    *,
    keep_versions: Iterable[int] = (),
    dry_run: bool,
    allow_short_retention: bool = False,
    metadata: Mapping[str, str] | None = None,
) -> list[str]:
    """Delete (or, in a dry run, list) removed files older than ``retention``, except those of ``keep_versions``.

    This is delta-rs's "lite" vacuum: only files the log marks as removed are candidates, never
    files a commit did not finish writing. ``keep_versions`` is delta-rs's own guard (it loads
    each version and skips its files); callers should still check the plan against their own view.
    A real run writes two commits (VACUUM START and VACUUM END) carrying ``metadata``.

    Returns:
        Relative, decoded paths of the files removed (or that would be), sorted.

    Raises:
        ValueError: when ``retention`` is shorter than the table's ``delta.deletedFileRetentionDuration``
            (7 days by default) and ``allow_short_retention`` is not set.
        LostCommitRaceError: when a concurrent writer committed first (delta-rs then deletes nothing).
    """
    keep = sorted(set(keep_versions))
    try:
        removed = table.vacuum(
            retention_hours(retention),
            dry_run=dry_run,
            enforce_retention_duration=not allow_short_retention,
            commit_properties=CommitProperties(custom_metadata=dict(metadata or {})),
            keep_versions=keep or None,
        )
    except CommitFailedError as error:
        raise _lost_race("vacuum", table, error) from error
    except DeltaError as error:
        if "invalid retention period" in str(error).lower():
            raise ValueError(
                f"vacuum of {table.table_uri}: {error}. Readers of older snapshots may still need those files; "
                "allow a shorter retention explicitly if no job reads this table now"
            ) from error
        raise
    return sorted({relative_path(p, table.table_uri) for p in removed})


def file_stats(table: DeltaTable) -> FileStats:
    """How many data files the loaded snapshot reads, and their total size."""
    sizes = pa.table(table.get_add_actions(flatten=False)).column("size_bytes").to_pylist()
    return FileStats(len(sizes), sum(int(size) for size in sizes))


def small_file_partitions(table: DeltaTable, target_size: int, min_files: int) -> list[tuple[dict[str, Any], int]]:
    """The partitions worth compacting (column → value), each with its number of files under ``target_size``.

    A partition is worth it with at least ``min_files`` small files; one with fewer is left
    alone: rewriting it would cost a commit (and, for a table whose files incremental builds
    compare, a rebuild of the days it spans) for little gain. An unpartitioned table is one
    partition, ``{}``; so is the whole table when a crowded partition has a null value (a
    delta-rs partition filter cannot name a null).
    """
    actions = pl.from_arrow(pa.table(table.get_add_actions(flatten=True)))
    assert isinstance(actions, pl.DataFrame)
    columns = [f"partition.{name}" for name in table.metadata().partition_columns]
    small = actions.filter(pl.col("size_bytes") < target_size)
    if not columns:
        return [({}, small.height)] if small.height >= min_files else []
    crowded = small.group_by(columns).len().filter(pl.col("len") >= min_files).sort(columns)
    found = [
        ({column.removeprefix("partition."): row[column] for column in columns}, int(row["len"]))
        for row in crowded.iter_rows(named=True)
    ]
    if any(value is None for partition, _ in found for value in partition.values()):
        return [({}, small.height)]
    return found


def compact(
    table: DeltaTable, target_size: int, partition: Mapping[str, Any], metadata: Mapping[str, str]
) -> dict[str, Any]:
    """Rewrite the small files of one partition (``{}``: the whole table) into files of about ``target_size``.

    The rows stay the same, in the same order within the partition (delta-rs preserves
    insertion order), and the commit marks its files as not changing data. A concurrent writer
    that removed a file this compaction read makes it lose: delta-rs refuses the commit, no
    reader ever sees it, and the files it wrote are orphans for a later vacuum.

    Returns:
        delta-rs's metrics (``numFilesAdded``, ``numFilesRemoved``, ``partitionsOptimized``...).

    Raises:
        LostCommitRaceError: when a concurrent commit won the race.
    """
    filters = [(column, "=", value) for column, value in partition.items()] or None
    try:
        return table.optimize.compact(
            partition_filters=filters,
            target_size=target_size,
            # the row groups feature tables are written with, so compacted files still prune by key
            writer_properties=WriterProperties(max_row_group_size=ROW_GROUP_ROWS),
            commit_properties=CommitProperties(custom_metadata=dict(metadata)),
        )
    except CommitFailedError as error:
        raise _lost_race("compaction", table, error) from error


def checkpoint(table: DeltaTable) -> int:
    """Write a checkpoint of the loaded version, so readers replay one file instead of every commit.

    Returns:
        The version checkpointed.
    """
    table.create_checkpoint()
    return table.version()


def cleanup_log(table: DeltaTable) -> None:
    """Delete log entries that expired (``delta.logRetentionDuration``, 30 days by default) before the loaded version.

    delta-rs deletes only entries older than the newest expired checkpoint at or before the
    loaded version, so that version and every later one stay loadable. Load the table at the
    oldest version that must stay readable (a version a model was trained on) to keep it.
    """
    table.cleanup_metadata()


def writers_clean_log(table: DeltaTable) -> bool:
    """Whether writers delete expired log entries after their automatic checkpoints (Delta's default)."""
    return table.metadata().configuration.get(WRITER_LOG_CLEANUP, "true").strip().lower() != "false"


def stop_writer_log_cleanup(table: DeltaTable, metadata: Mapping[str, str]) -> None:
    """Set ``delta.enableExpiredLogCleanup=false``: only a cleanup that knows the protected versions runs.

    A writer's automatic cleanup (after every 100th commit) knows nothing of the versions models
    were trained on, and would make those older than the log retention unloadable: their files
    could then no longer be told apart, and every later vacuum of the table would be refused.

    Raises:
        LostCommitRaceError: when a concurrent writer committed first.
    """
    try:
        table.alter.set_table_properties(
            {WRITER_LOG_CLEANUP: "false"}, commit_properties=CommitProperties(custom_metadata=dict(metadata))
        )
    except CommitFailedError as error:
        raise _lost_race(f"setting {WRITER_LOG_CLEANUP}=false", table, error) from error


def _lost_race(operation: str, table: DeltaTable, error: Exception) -> LostCommitRaceError:
    return LostCommitRaceError(
        f"{operation} of {table.table_uri} lost a commit race to a concurrent writer "
        f"({str(error).partition(chr(10))[0]}); nothing changed, the next run does it again"
    )
