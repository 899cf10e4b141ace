"""A feature table's audit trail: every commit with who and what (flow run, code revision, fingerprint, suite).

Every change to a feature table is a Delta commit whose metadata names who and what (see
:mod:`featurelake.core.commits`); :func:`feature_history` reads that trail back as rows a person can scan.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from featurelake.core import commits
from featurelake.core.featureset import FeatureSet
from featurelake.io.delta.store import DeltaStore

#: Commit metadata keys of the audit trail, as they appear in a history row.
AUDIT_KEYS = {
    "flow_run_id": commits.FLOW_RUN_ID,
    "deployment": commits.DEPLOYMENT,
    "code_revision": commits.CODE_REVISION,
    "fingerprint": commits.FINGERPRINT,
    "suite_hash": commits.SUITE_HASH,
    "actor": commits.ACTOR,
    "reason": commits.REASON,
    "restored_to": commits.RESTORED_TO,
    "bronze_version": commits.BRONZE_VERSION,
    "days": commits.DAYS,
}


#: delta-rs and Spark name the same counts differently per operation; the first one present wins.
_ROWS_ADDED = ("num_added_rows", "num_inserted_rows", "num_target_rows_inserted", "numOutputRows")


_ROWS_REMOVED = ("num_removed_rows", "num_deleted_rows", "num_target_rows_deleted", "numDeletedRows")


_FILES_ADDED = ("num_added_files", "numRestoredFile", "num_target_files_added", "numFilesAdded", "numAddedFiles")


_FILES_REMOVED = ("num_removed_files", "numRemovedFile", "num_target_files_removed", "numFilesRemoved")


def feature_history(store: DeltaStore, spec: FeatureSet, limit: int | None = None) -> list[dict[str, Any]]:
    """The audit trail of a feature table, newest commit first (empty if it was never published)."""
    return [history_row(commit) for commit in store.history(spec.table_path, limit)]


def history_row(commit: Mapping[str, Any]) -> dict[str, Any]:
    """One Delta commit as an audit row: when, what, how many rows, and who/why from its metadata.

    ``rows_removed`` is None where delta-rs does not count them (an overwrite counts only the
    rows it adds). A restore made without featurelake still shows the version it restored.
    """
    metrics: Mapping[str, Any] = commit.get("operationMetrics") or {}
    row: dict[str, Any] = {
        "version": int(commit["version"]),
        "timestamp": datetime.fromtimestamp(int(commit["timestamp"]) / 1000, tz=UTC).isoformat(),
        "operation": str(commit.get("operation", "")),
        "action": commits.operation_of(commit),
        "rows_added": _first_count(metrics, _ROWS_ADDED),
        "rows_removed": _first_count(metrics, _ROWS_REMOVED),
        "files_added": _first_count(metrics, _FILES_ADDED),
        "files_removed": _first_count(metrics, _FILES_REMOVED),
    }
    row |= {field: _text(commit.get(key)) for field, key in AUDIT_KEYS.items()}
    if row["restored_to"] is None and row["operation"] == "RESTORE":
        row["restored_to"] = _text((commit.get("operationParameters") or {}).get("version"))
    return row


def _first_count(metrics: Mapping[str, Any], keys: Iterable[str]) -> int | None:
    for key in keys:
        if metrics.get(key) is not None:
            return int(metrics[key])
    return None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
