"""Operating a feature table: its audit trail, rollback to an earlier version, and a safe vacuum.

Every change to a feature table is a Delta commit whose metadata names who and what (flow run,
code revision, spec fingerprint, suite hash); :func:`feature_history` reads that trail back.
A rollback is a Delta restore: a new commit that makes an earlier version current again, so it
is itself in the trail (actor, reason, version restored) and can be undone the same way.

Vacuum is where versions are lost for good. delta-rs decides by age (files removed longer ago
than the retention), not by version, so a model's training data would disappear with age even
though the model can still be asked "what were you trained on". :func:`vacuum` therefore keeps
every file a version pinned by a registered MLflow model version reads, and checks delta-rs's
plan against its own list before anything is deleted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from featurelake.core import commits, events
from featurelake.core.featureset import FeatureSet
from featurelake.core.naming import feature_set_resource_id
from featurelake.io.delta import maintenance
from featurelake.io.delta.store import DeltaStore
from featurelake.io.mlflow import registry
from featurelake.io.prefect.events import emit
from featurelake.io.revision import code_revision
from featurelake.settings import Settings

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


@dataclass(frozen=True)
class RollbackResult:
    """A restore that happened: from which version, to which, as which new version, by whom and why."""

    feature_set: str
    table_uri: str
    previous_version: int
    restored_to: int
    new_version: int
    actor: str
    reason: str
    files_restored: int
    files_removed: int
    #: CHECK constraints the current version has and the restored one had not: the restore drops them.
    dropped_constraints: tuple[str, ...] = ()


@dataclass(frozen=True)
class VacuumResult:
    """What a vacuum removed, and what it kept only because a registered model needs it."""

    #: The feature set (``name:vN``), or the lake path of another table (``bronze/transactions``).
    feature_set: str
    table_uri: str
    retention_hours: int
    dry_run: bool
    #: Versions of this table registered model versions were trained on (or, for bronze, built from).
    protected_versions: tuple[int, ...]
    #: Files removed (in a dry run: that would be), relative to the table root.
    removed: tuple[str, ...]
    #: Files old enough to remove, kept because a protected version reads them.
    kept: tuple[str, ...]
    #: Protected versions the table does not have (it was recreated since): nothing to keep for them.
    unknown_versions: tuple[int, ...] = ()


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


def rollback(
    store: DeltaStore,
    spec: FeatureSet,
    to_version: int,
    *,
    actor: str,
    reason: str,
    extra_metadata: Mapping[str, str] | None = None,
) -> RollbackResult:
    """Make ``to_version`` the current content of the feature table again, as a new audited commit.

    Nothing is rewritten: the restore commit re-adds the old version's files and removes the
    newer ones, so readers pinned to any version still get what they got before. The commit
    records ``featurelake.operation=rollback``, the actor, the reason and both versions;
    ``extra_metadata`` lets a flow add its run id. Announce it with :func:`announce_rollback`.

    Raises:
        ValueError: for a blank actor or reason, a version the table does not have, the current
            version, or a version whose files were vacuumed.
        FileNotFoundError: when the feature table was never published.
    """
    if not actor.strip() or not reason.strip():
        raise ValueError(f"rollback of {spec.ref}: name who rolls back (actor) and why (reason) for the audit trail")
    table = store.existing(spec.table_path)
    current = table.version()
    _check_target(spec, store.uri(spec.table_path), to_version, current)
    target_constraints = maintenance.constraints(store.existing(spec.table_path, to_version))
    dropped = tuple(sorted(set(maintenance.constraints(table)) - set(target_constraints)))
    metadata = {
        **(extra_metadata or {}),
        commits.OPERATION: commits.Operation.ROLLBACK,
        commits.FEATURE_SET: spec.ref,
        commits.ACTOR: actor,
        commits.REASON: reason,
        commits.RESTORED_TO: str(to_version),
        commits.ROLLED_BACK_FROM: str(current),
        commits.CODE_REVISION: code_revision(),
    }
    metrics = maintenance.restore(table, to_version, metadata)
    return RollbackResult(
        feature_set=spec.ref,
        table_uri=store.uri(spec.table_path),
        previous_version=current,
        restored_to=to_version,
        new_version=table.version(),
        actor=actor,
        reason=reason,
        files_restored=int(metrics.get("numRestoredFile", 0)),
        files_removed=int(metrics.get("numRemovedFile", 0)),
        dropped_constraints=dropped,
    )


def _check_target(spec: FeatureSet, table_uri: str, to_version: int, current: int) -> None:
    """Refuse a rollback that would do nothing or name a version that never existed."""
    if to_version == current:
        raise ValueError(f"{spec.ref} ({table_uri}) is already at version {current}: nothing to roll back")
    if not 0 <= to_version < current:
        raise ValueError(
            f"{spec.ref} ({table_uri}) has no version {to_version}: its versions are 0..{current}; "
            f"see `featurelake history {spec.ref}`"
        )


def announce_rollback(settings: Settings, spec: FeatureSet, result: RollbackResult) -> str:
    """Emit ``featurelake.feature-set.rolled-back``; the new Delta version makes its id deterministic.

    The discriminator is the table URI with the new version: the resource id names only the
    feature set, and two lakes (say staging and production) reporting to one Prefect server
    would otherwise give their rollbacks the same id, and Prefect would drop the second.

    Returns:
        The event id.
    """
    table_uri = settings.table_uri(spec.table_path)
    payload = events.FeatureSetRolledBack(
        feature_set=spec.name,
        feature_set_version=spec.version,
        table_uri=table_uri,
        restored_to_version=result.restored_to,
        new_delta_version=result.new_version,
        reason=result.reason,
        actor=result.actor,
    )
    emitted = emit(
        events.FEATURE_SET_ROLLED_BACK,
        feature_set_resource_id(spec),
        payload,
        events.at(table_uri, result.new_version),
        labels={"featurelake.table-uri": table_uri, "featurelake.delta-version": str(result.new_version)},
    )
    return str(emitted)


def protected_versions(settings: Settings, spec: FeatureSet) -> set[int]:
    """Delta versions of this feature table that some registered MLflow model version was trained on."""
    found = registry.model_versions_naming(settings, spec.ref)
    return pinned_versions([v.tags for v in found], spec.ref, settings.lake_uri)


def pinned_versions(tag_sets: Iterable[Mapping[str, str]], ref: str, lake_uri: str) -> set[int]:
    """The versions of feature set ``ref`` that model version tags pin, for models trained on this lake.

    A model names the set that triggered its training (``featurelake.feature_set`` with
    ``featurelake.delta_version``) and every set it read (``featurelake.feature_sets``:
    ``ref@version,...``). A model whose ``featurelake.feature_table`` lies in another lake (a
    registry shared by environments) pins nothing here; one without that tag is assumed to be
    ours, since keeping too much is the safe mistake.
    """
    root = lake_uri.rstrip("/") + "/"
    versions: set[int] = set()
    for tags in tag_sets:
        table = tags.get("featurelake.feature_table")
        if table is not None and not table.startswith(root):
            continue
        if tags.get(commits.FEATURE_SET) == ref and str(tags.get(commits.DELTA_VERSION, "")).isdigit():
            versions.add(int(tags[commits.DELTA_VERSION]))
        for entry in tags.get("featurelake.feature_sets", "").split(","):
            name, _, version = entry.strip().rpartition("@")
            if name == ref and version.isdigit():
                versions.add(int(version))
    return versions


def vacuum(
    store: DeltaStore,
    settings: Settings,
    spec: FeatureSet,
    retention: timedelta,
    *,
    dry_run: bool,
    allow_short_retention: bool = False,
    actor: str | None = None,
) -> VacuumResult:
    """Delete files removed from the table longer than ``retention`` ago, except those a model was trained on.

    The protected versions come from the MLflow registry (:func:`protected_versions`); see
    :func:`vacuum_table` for how they are kept.
    """
    return vacuum_table(
        store,
        spec.table_path,
        spec.ref,
        protected_versions(settings, spec),
        retention,
        dry_run=dry_run,
        allow_short_retention=allow_short_retention,
        metadata={commits.FEATURE_SET: spec.ref} | ({commits.ACTOR: actor} if actor else {}),
    )


def vacuum_table(
    store: DeltaStore,
    path: str,
    name: str,
    protected: set[int],
    retention: timedelta,
    *,
    dry_run: bool,
    allow_short_retention: bool = False,
    metadata: Mapping[str, str] | None = None,
) -> VacuumResult:
    """Vacuum the table at ``path`` (called ``name`` in messages), keeping every file a ``protected`` version reads.

    The files of the protected versions are listed here, from the log, and the versions are
    passed to delta-rs as versions to keep. Before deleting, delta-rs's plan (a dry run on the
    same snapshot) is checked against that list, and the vacuum is refused if the two disagree:
    delta-rs calls its version guard experimental, and a wrong guess cannot be undone.

    Raises:
        ValueError: for a negative or (without ``allow_short_retention``) too short retention, or
            a protected version that can no longer be loaded (its files cannot be known).
        FileNotFoundError: when the table does not exist.
        RuntimeError: when delta-rs plans to delete a protected file (nothing is deleted) or did.
    """
    table = store.existing(path)
    present = sorted(v for v in protected if v <= table.version())
    needed = _files_needed_by(store, path, name, present)
    short = allow_short_retention
    candidates = maintenance.vacuum(table, retention, dry_run=True, allow_short_retention=short)
    removed = maintenance.vacuum(table, retention, keep_versions=present, dry_run=True, allow_short_retention=short)
    _refuse_protected(name, "would delete", removed, needed)
    if not dry_run and removed:
        removed = maintenance.vacuum(
            table,
            retention,
            keep_versions=present,
            dry_run=False,
            allow_short_retention=short,
            metadata=_vacuum_metadata(present, metadata or {}),
        )
        _refuse_protected(name, "deleted", removed, needed)
    return VacuumResult(
        feature_set=name,
        table_uri=store.uri(path),
        retention_hours=maintenance.retention_hours(retention),
        dry_run=dry_run,
        protected_versions=tuple(sorted(protected)),
        removed=tuple(removed),
        kept=tuple(sorted(set(candidates) & needed)),
        unknown_versions=tuple(sorted(protected - set(present))),
    )


def _files_needed_by(store: DeltaStore, path: str, name: str, versions: Iterable[int]) -> set[str]:
    """Every data file the given versions read: what must survive for them to stay readable.

    Raises:
        ValueError: naming a version that can no longer be loaded (its log entry was cleaned up):
            the files it needs are then unknown, and guessing could delete them.
    """
    needed: set[str] = set()
    for version in versions:
        try:
            snapshot = store.existing(path, version)
        except ValueError as error:
            raise ValueError(
                f"vacuum of {name}: version {version} is pinned by a registered model but cannot be loaded; "
                f"its files are unknown, so nothing is vacuumed ({error})"
            ) from error
        needed |= maintenance.data_files(snapshot)
    return needed


def _refuse_protected(name: str, verb: str, files: Iterable[str], needed: set[str]) -> None:
    clash = sorted(set(files) & needed)
    if clash:
        raise RuntimeError(
            f"vacuum of {name}: delta-rs {verb} {len(clash)} file(s) a protected version reads, "
            f"e.g. {clash[0]}; report this (delta-rs keep_versions) and do not vacuum this table meanwhile"
        )


def _vacuum_metadata(protected: list[int], metadata: Mapping[str, str]) -> dict[str, str]:
    return {
        **metadata,
        commits.OPERATION: commits.Operation.VACUUM,
        commits.PROTECTED_VERSIONS: ",".join(map(str, protected)),
        commits.CODE_REVISION: code_revision(),
    }
