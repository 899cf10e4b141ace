"""Delta table maintenance: restore to an earlier version, list the files a version needs, vacuum.

These are the delta-rs calls behind ``featurelake.operations``; they take a loaded
:class:`~deltalake.DeltaTable` so that a plan and its execution see one snapshot.

File paths are compared in one spelling: relative to the table root and percent-decoded. The
log stores them relative and URI-encoded, while delta-rs vacuum reports object-store locations
(relative on success, absolute for a file that was already gone), so raw strings would not match.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import unquote, urlparse

import pyarrow as pa
from deltalake import CommitProperties, DeltaTable
from deltalake.exceptions import DeltaError

#: Prefix of the table properties that hold Delta CHECK constraints.
CONSTRAINT_PREFIX = "delta.constraints."


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
    except DeltaError as error:
        if "invalid retention period" in str(error).lower():
            raise ValueError(
                f"vacuum of {table.table_uri}: {error}. Readers of older snapshots may still need those files; "
                "allow a shorter retention explicitly if no job reads this table now"
            ) from error
        raise
    return sorted({relative_path(p, table.table_uri) for p in removed})
