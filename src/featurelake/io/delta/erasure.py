"""Delta-level primitives of an erasure: delete a subject's rows, find and purge their files, scrub the log.

The orchestrator (:mod:`featurelake.erase`) calls these in order: :func:`delete_rows` and
:func:`rewrite_raw_content` remove the rows logically (one commit per table, carrying the
request id and naming no value); :func:`referenced_files` and :func:`files_containing` find
every data file that still holds the subject, in any loadable version;
:func:`purge_files` deletes those from storage; :func:`scrub_log` removes what the log still
says about them; :func:`set_stats_columns` keeps personal columns out of future statistics.
The file and log parts live in :mod:`~featurelake.io.delta.erasure_files` and
:mod:`~featurelake.io.delta.log_scrub`, and are re-exported here.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

import pyarrow as pa
from deltalake import CommitProperties, DeltaTable
from deltalake.exceptions import CommitFailedError

from featurelake.core.contracts import RAW_CONTENT
from featurelake.core.erasure import without_subject_lines
from featurelake.io.delta.erasure_files import (
    LOG_DIR,
    FileRecord,
    decoded,
    files_containing,
    files_on_storage,
    lake_fs,
    purge_files,
    read_bytes,
    referenced_files,
)
from featurelake.io.delta.log_scrub import PersonalPartitionError, ScrubResult, scrub_log
from featurelake.io.delta.store import DeltaStore

__all__ = [
    "DeleteOutcome",
    "FileRecord",
    "PersonalPartitionError",
    "ScrubResult",
    "delete_rows",
    "files_containing",
    "files_on_storage",
    "purge_files",
    "referenced_files",
    "rewrite_raw_content",
    "scrub_log",
    "set_stats_columns",
]

logger = logging.getLogger(__name__)

#: Quarantine's column holding a rejected row as JSON, or the start of a rejected file as NDJSON
#: (``featurelake.ingest.bronze.RAW_CONTENT``; io cannot import ingest).
RAW_COLUMN = RAW_CONTENT  # quarantine's raw-content column
#: The table property that limits which columns get min/max statistics in new files.
STATS_COLUMNS = "delta.dataSkippingStatsColumns"
_NEW_RAW = "__erasure_new_raw"
_BACKOFF_BASE, _BACKOFF_CAP = 0.1, 2.0
T = TypeVar("T")


@dataclass(frozen=True)
class DeleteOutcome:
    """One erasure commit on one table.

    ``version`` is the commit's version, None when nothing was committed (no such table, or
    nothing of the subject in it). ``files_removed`` are the data files the commit removed:
    they held the subject and are still on storage until purged.
    """

    version: int | None
    rows_deleted: int
    files_removed: tuple[str, ...]
    #: Quarantine records kept with the subject's lines taken out of their raw content.
    rows_rewritten: int = 0


def delete_rows(
    store: DeltaStore, path: str, predicate: str, metadata: Mapping[str, str], attempts: int = 5
) -> DeleteOutcome:
    """Delta DELETE of the rows ``predicate`` selects, in one commit carrying ``metadata``.

    A concurrent writer that wins the commit race (an ingest adding rows) makes delta-rs refuse
    the commit; the delete is then re-run on the newer snapshot, so the other writer's rows are
    kept and its rows of the subject deleted too. delta-rs writes no commit when nothing matches.

    Raises:
        CommitFailedError: when every attempt lost its race.
    """

    def once() -> DeleteOutcome:
        table = store.table(path)
        if table is None:
            return DeleteOutcome(None, 0, ())
        metrics = table.delete(predicate, commit_properties=CommitProperties(custom_metadata=dict(metadata)))
        if not metrics.get("num_deleted_rows"):
            return DeleteOutcome(None, 0, ())
        return DeleteOutcome(table.version(), int(metrics["num_deleted_rows"]), commit_removes(store, path, table))

    return _retried(once, attempts, f"delete from {store.uri(path)}")


def rewrite_raw_content(
    store: DeltaStore,
    path: str,
    column: str,
    values: frozenset[str],
    metadata: Mapping[str, str],
    attempts: int = 5,
) -> DeleteOutcome:
    """Take the subject's lines out of a quarantine table's raw content, in one MERGE commit.

    A record holding only the subject's lines is deleted; one holding other lines too keeps them.
    The MERGE joins on the raw text itself (the rewrite depends on nothing else, and identical
    records get identical treatment), so its commit names columns, never a value.

    Returns:
        ``rows_deleted``: the subject's lines removed (each a raw row); ``rows_rewritten``: records kept.
    """

    def once() -> DeleteOutcome:
        table = store.table(path)
        if table is None or not values:
            return DeleteOutcome(None, 0, ())
        texts = pa.table(table.to_pyarrow_table(columns=[RAW_COLUMN])).column(RAW_COLUMN).to_pylist()
        source, lines, kept = _raw_rewrites(texts, column, values)
        if not lines:
            return DeleteOutcome(None, 0, ())
        (
            table.merge(
                source,
                predicate=f"t.{RAW_COLUMN} = s.{RAW_COLUMN}",
                source_alias="s",
                target_alias="t",
                commit_properties=CommitProperties(custom_metadata=dict(metadata)),
            )
            .when_matched_delete(predicate=f"s.{_NEW_RAW} IS NULL")
            .when_matched_update(updates={RAW_COLUMN: f"s.{_NEW_RAW}"})
            .execute()
        )
        return DeleteOutcome(table.version(), lines, commit_removes(store, path, table), kept)

    return _retried(once, attempts, f"raw-content rewrite of {store.uri(path)}")


def _raw_rewrites(texts: list[str | None], column: str, values: frozenset[str]) -> tuple[pa.Table, int, int]:
    """The MERGE source (each affected raw text → its rewrite, null to delete), lines removed, records kept."""
    counts: dict[str, int] = {}
    for text in texts:
        if text is not None:
            counts[text] = counts.get(text, 0) + 1
    old, new, lines, kept = [], [], 0, 0
    for text, count in counts.items():
        rewritten, removed = without_subject_lines(text, column, values)
        if removed:
            keep = rewritten.strip() != ""
            old.append(text)
            new.append(rewritten if keep else None)
            lines, kept = lines + removed * count, kept + (count if keep else 0)
    source = pa.table({RAW_COLUMN: pa.array(old, pa.string()), _NEW_RAW: pa.array(new, pa.string())})
    return source, lines, kept


def commit_removes(store: DeltaStore, path: str, table: DeltaTable) -> tuple[str, ...]:
    """The data files the commit that made ``table``'s loaded version removed (from its log entry)."""
    data = read_bytes(lake_fs(store, path), f"{LOG_DIR}/{table.version():020d}.json")
    actions = [json.loads(line) for line in data.decode("utf-8").splitlines() if line.strip()]
    return tuple(sorted({str(decoded(a["remove"]["path"])) for a in actions if "remove" in a}))


def _retried(operation: Callable[[], T], attempts: int, what: str) -> T:
    """Run ``operation``; on a lost commit race, again on the newer snapshot, with jittered backoff."""
    for attempt in range(1, attempts):
        try:
            return operation()
        except CommitFailedError as error:
            delay = random.uniform(0, min(_BACKOFF_CAP, _BACKOFF_BASE * 2**attempt))
            logger.info("%s lost a commit race (attempt %d/%d: %s)", what, attempt, attempts, str(error).split("\n")[0])
            time.sleep(delay)
    return operation()


def set_stats_columns(
    store: DeltaStore, path: str, columns: list[str], metadata: Mapping[str, str] | None = None
) -> None:
    """Record min/max statistics only for ``columns`` in files written from now on.

    Statistics of a personal column copy its values into the log (and every checkpoint), where
    a DELETE does not reach them. No commit when the property already has this value.

    Raises:
        FileNotFoundError: when the table does not exist.
        ValueError: for an empty column list (delta-rs would then index its default columns).
    """
    if not columns:
        raise ValueError(f"{STATS_COLUMNS} of {store.uri(path)} needs at least one column")
    wanted = ",".join(columns)

    def once() -> None:
        table = store.existing(path)
        if table.metadata().configuration.get(STATS_COLUMNS) != wanted:
            properties = CommitProperties(custom_metadata=dict(metadata or {}))
            table.alter.set_table_properties({STATS_COLUMNS: wanted}, commit_properties=properties)

    _retried(once, 5, f"setting {STATS_COLUMNS} on {store.uri(path)}")
